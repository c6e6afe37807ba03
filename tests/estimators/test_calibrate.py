"""``python -m estimators.calibrate`` end to end on the fast path, the report's checks, one-line errors."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from estimators.calibrate import open_map_overrides
from estimators.workflow.compare import CHANNEL_COLUMNS
from userdata_fixtures import COLUMN_OVERRIDES, write_user_files

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("roi_forest", "prior_posterior", "shares_budget", "response_curves")
TABLES = ("tests", "channels", "identification", "belief_revision", "budget", "tested_levels",
          "disagreement_checklist", "monitor", "fit_details")
# Tiny and fast: the fast path, few draws, a short curve grid.
FAST = ["inference=fast", "inference.laplace_draws=400", "inference.adam_steps=150", "model.n_fourier=2",
        "model.max_lag=8", "analysis_draws=60", "curve_points=11", "holdout_weeks=8"]


def compose(overrides):
    from hydra import compose as hcompose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        cfg = hcompose(config_name="calibrate", overrides=open_map_overrides(overrides))
    GlobalHydra.instance().clear()
    return cfg


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from estimators.calibrate import run

    base = tmp_path_factory.mktemp("calibrate")
    f = write_user_files(base / "in")
    out = base / "out"
    run(compose([f"data={f['data']}", f"lift_tests={f['tests']}", f"out={out}", "calibration=m2",
                 "strategy=single_best", "seed=1", "decay.lambda=0.02"] + COLUMN_OVERRIDES + FAST))
    return out, f


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.figures, self.tables, self.imgs, self.stack = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href", "data", "poster", "srcset", "action"):
            if k in a:
                self.refs.append(a[k])
        if tag in ("link", "script", "iframe", "object", "embed"):
            self.refs.append(f"<{tag}>")
        if tag == "figure":
            self.figures.append(a.get("data-figure"))
        if tag == "table":
            self.tables.append(a.get("data-table"))
        if tag == "img":
            self.imgs.append(a.get("src", ""))


def check_self_contained(text: str) -> _Refs:
    p = _Refs()
    p.feed(text)
    p.close()
    bad = [r for r in p.refs if not (r.startswith("data:") or r.startswith("#"))]
    assert not bad, f"external references: {bad[:3]}"
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", text) and "@import" not in text
    return p


def test_outputs_and_fixed_tables(run_dir):
    out, f = run_dir
    ch = pd.read_csv(out / "channels.csv")
    assert list(ch.columns[1:1 + len(CHANNEL_COLUMNS)]) == list(CHANNEL_COLUMNS)
    assert list(ch["channel"]) == ["tv", "search", "social"]
    # what the data identify, for both fits, after the fixed columns; the flag follows the rule
    for tag in ("before", "after"):
        assert (ch[f"roi_identified_{tag}"] == (ch[f"roi_sd_ratio_{tag}"] <= 0.7)).all()
        assert (ch[f"mroi_q05_{tag}"] <= ch[f"mroi_mean_{tag}"]).all() and (ch[f"mroi_mean_{tag}"] <= ch[f"mroi_q95_{tag}"]).all()
        assert ch[f"identification_reason_{tag}"].str.match("identified|mostly prior").all()
    assert ch["low_spend_share"].between(0, 1).all() and (ch["roi_prior_q05"] < ch["roi_prior_q95"]).all()
    assert np.all(ch["roi_q05_before"] <= ch["roi_mean_before"]) and np.all(ch["roi_mean_before"] <= ch["roi_q95_before"])
    assert np.all(ch["roi_q05_after"] <= ch["roi_q95_after"])
    # the CSV keeps 6 significant digits: each of the 3 shares is off by at most 5e-7
    assert ch["share_before"].sum() == pytest.approx(1.0, abs=3 * 5e-7 + 1e-9)
    budget = ch["budget_current"].sum()
    for col in ("budget_before", "budget_after"):      # the optimiser spends the current total
        assert ch[col].sum() == pytest.approx(budget, rel=1e-5)   # CSV keeps 6 digits
    ts = pd.read_csv(out / "tests.csv")
    for col in ("eqs_uncertainty", "eqs_alignment", "eqs_holdout", "eqs_model", "eqs_total", "eqs_tier",
                "used", "reason"):
        assert col in ts.columns
    assert set(ts["eqs_tier"]) <= {"Gold", "Silver", "Red"}
    np.testing.assert_allclose(ts[["eqs_uncertainty", "eqs_alignment", "eqs_holdout", "eqs_model"]].sum(axis=1), ts["eqs_total"])
    # the baseline forecasts every test it can place on its curve: a finite z exactly where M2 could use it
    np.testing.assert_array_equal(np.isfinite(ts["model_z"]), ts["m2_ready"])
    ts = ts.set_index("test_id")
    # M2 refuses the readout without population_share / spend_baseline, with the reason
    assert not ts.loc["search-ci", "used"] and "population_share" in ts.loc["search-ci", "reason"]
    assert "M2" in ts.loc["search-ci", "reason"]
    # the old test is flagged; its SE inflated by eq. (14) with lambda 0.02 per month
    assert ts.loc["social-old", "retired"] and not ts.loc["tv-2024", "retired"]
    assert ts.loc["social-old", "se_factor"] == pytest.approx(np.exp(0.02 * ts.loc["social-old", "age_months"] / 2))
    assert ts.loc["social-old", "lift_se"] == pytest.approx(6000.0 * ts.loc["social-old", "se_factor"], rel=1e-6)
    # unknown quality scores low (5) on holdout
    assert ts.loc["social-old", "eqs_holdout"] == 5
    for _, r in ts.iterrows():
        assert r["reason"] and ("\n" not in r["reason"])
        if not r["used"] and r["eqs_tier"] == "Red" and r["m2_ready"]:
            assert r["reason"].startswith("refused: Red")
    # backed channels = channels with a used test; coverage = their share of spend
    used_ch = set(ts.loc[ts["used"], "channel"])
    assert set(ch.loc[ch["backed"], "channel"]) == used_ch
    data = f["frame"]
    spend = {c: data[f"{c}_cost"].sum() for c in ("tv", "search", "social")}
    import json
    facts = json.loads((out / "diagnostics.json").read_text())["facts"]
    assert facts["coverage"] == pytest.approx(sum(spend[c] for c in used_ch) / sum(spend.values()))
    assert facts["holdout_mape_before"] is not None and 0 <= facts["holdout_mape_before"] < 1


def test_report_is_self_contained_and_complete(run_dir):
    out, _ = run_dir
    text = (out / "report.html").read_text()
    p = check_self_contained(text)
    assert sorted(p.figures) == sorted(FIGURES)
    assert set(TABLES) <= set(p.tables)
    assert all(s.startswith("data:image/png;base64,") for s in p.imgs) and len(p.imgs) == len(FIGURES)
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 1000 and (out / f"{name}.pdf").read_bytes()[:4] == b"%PDF"
    for name in TABLES:
        assert (out / f"{name}.csv").is_file()
    assert text.index('id="summary"') < text.index('data-table="tests"')    # summary at the top
    assert "tier-Gold" in text or "tier-Silver" in text or "tier-Red" in text
    assert "@media print" in text
    for tid in ("tv-2024", "search-ci", "social-iroas", "social-old"):
        assert tid in text


def test_builder_is_general(tmp_path):
    """A page that is not the calibration report: one section, one table, one figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from estimators.report.html import Figure, Report, Section, Table, Text, write_report

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    df = pd.DataFrame({"channel": ["a", "b"], "eig": [0.5, 0.25]})
    rep = Report("What to test next", (Section("Candidates", (Text(("Two designs.",)),
                                                              Table("candidates", "Designs", df),
                                                              Figure("eig", "EIG", fig))),),
                 summary=Text(("Test a.",), ("a has the higher EIG",)))
    path = write_report(rep, tmp_path, "plan.html")
    p = check_self_contained(path.read_text())
    assert p.figures == ["eig"] and p.tables == ["candidates"]
    assert pd.read_csv(tmp_path / "candidates.csv").equals(df)
    assert (tmp_path / "eig.pdf").is_file() and "<script" not in path.read_text()
    with pytest.raises(ValueError, match="used twice"):
        write_report(Report("x", (Section("s", (Table("t", "a", df), Table("t", "b", df))),)), tmp_path)


def _cli(*args, timeout=300):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "estimators.calibrate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_bad_input_one_line_exit_2(tmp_path):
    f = write_user_files(tmp_path / "in")
    t = f["tests_frame"].copy()
    t.loc[2, "iroas_ci_low"] = 9.0
    t.to_csv(tmp_path / "bad.csv", index=False)
    r = _cli(f"data={f['data']}", f"lift_tests={tmp_path / 'bad.csv'}", f"out={tmp_path / 'o'}", *COLUMN_OVERRIDES)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.strip().splitlines() if not x.startswith("calibrate [")]
    assert len(lines) == 1 and "bad.csv, row 4, field 'iroas_ci_low'" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    r = _cli(f"data={f['data']}", f"lift_tests={f['tests']}", f"out={tmp_path / 'o'}")   # no column map
    assert r.returncode == 2 and "missing column" in r.stderr and "sales.csv" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
def test_report_renders_in_headless_chromium(run_dir):
    exe = chromium()
    if exe is None:
        pytest.fail("chromium not installed (apt-get install -y chromium)")
    out, _ = run_dir
    profile = tempfile.mkdtemp(prefix="wt-chromium-")
    try:
        r = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            f"--user-data-dir={profile}", "--dump-dom", (out / "report.html").resolve().as_uri()],
                           capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-2000:]
    dom = r.stdout
    for text in ("MMM calibration report", "Summary", "calibration coverage", "Experiments and their quality",
                 "ROI before and after", "When experiment and MMM disagree", "tv-2024", "search-ci", "refused for M2"):
        assert text in dom, text
    p = check_self_contained(dom)
    assert len(p.imgs) == len(FIGURES)


def test_report_rebuilds_from_saved_tables(run_dir, tmp_path):
    """Figures read saved tables: the page is rebuilt from the run's CSVs without refitting."""
    from estimators.report.calibrate_page import build, result_from_folder
    from estimators.report.html import write_report

    out, _ = run_dir
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for name in FIGURES:
        (copy / f"{name}.png").unlink()
    (copy / "report.html").unlink()
    write_report(build(result_from_folder(copy)), copy)
    p = check_self_contained((copy / "report.html").read_text())
    assert sorted(p.figures) == sorted(FIGURES) and set(TABLES) <= set(p.tables)
    pd.testing.assert_frame_equal(pd.read_csv(copy / "channels.csv"), pd.read_csv(out / "channels.csv"))
