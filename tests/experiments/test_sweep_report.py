"""experiments.sweep_report on hand-built multirun folders (no fitting): swept-key detection, the wide
table, unfinished jobs, figures, and one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from experiments import sweep_report as sr
from tests.conftest import ROOT

ARMS = ("good/all", "mixed/eqs_filtered")
METRICS = ("roi_mape", "budget_regret")
GOLDS = (70, 80)
SHARES = (0.25, 0.75)


def median_of(gold, share, arm, metric):
    """The value the fake summary_long.csv holds, so the table can be checked against it."""
    return gold / 1000 + share + ARMS.index(arm) * 10 + METRICS.index(metric) * 100


def write_job(folder, gold, share, status="complete", summary=True, extra=None, out="/sweep"):
    folder.mkdir(parents=True)
    cfg = {"seed": 0, "out": out, "jobs": 1, "study": {"name": "quick", "worlds": {"fashion": 1}},
           "eqs": {"tiers": {"gold": gold, "silver": 50}}, "scenarios": {"mixed": {"bad_share": share}},
           "priors": {"roi": [0.2, 1.0]}, **(extra or {})}
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    (folder / "manifest.json").write_text(json.dumps({"status": status}))
    if summary:
        rows = [{"arm": a, "metric": m, "n": 8, "median": median_of(gold, share, a, m),
                 "q25": -1.0, "q75": 1.0, "ci_low": median_of(gold, share, a, m) - 0.5,
                 "ci_high": median_of(gold, share, a, m) + 0.5, "baseline_median": 0.3, "arm_median": 0.2,
                 "ratio_of_means": 0.1 * (gold == GOLDS[1])}
                for a in ARMS for m in METRICS]
        pd.DataFrame(rows).to_csv(folder / "summary_long.csv", index=False)


@pytest.fixture
def sweep(tmp_path):
    """A 2 x 2 multirun (eqs.tiers.gold x scenarios.mixed.bad_share); folder names say nothing about
    the values, so the keys must come from the configs."""
    d = tmp_path / "sweep"
    for i, (g, s) in enumerate((g, s) for g in GOLDS for s in SHARES):
        write_job(d / f"job{i}", g, s)
    (d / "multirun.yaml").write_text(yaml.safe_dump({"hydra": {"overrides": {"task": [
        "study=quick", "eqs.tiers.gold=70,80", "scenarios.mixed.bad_share=0.25,0.75", f"out={d}"]}}}))
    return d


def test_flatten_gives_dotted_keys_and_keeps_lists():
    assert sr.flatten({"a": {"b": 1, "c": {"d": "x"}}, "e": [1, 2], "f": {}}) == \
        {"a.b": 1, "a.c.d": "x", "e": [1, 2], "f": {}}


@pytest.mark.parametrize("configs, keys", [
    ([{"a": 1, "b": 2}, {"a": 1, "b": 3}], ["b"]),
    ([{"a": [1, 2]}, {"a": [1, 3]}], ["a"]),                     # lists compare by value
    ([{"a": 1, "b": 1}, {"a": 1}], ["b"]),                       # absent in one job = differs
    ([{"out": "x", "jobs": 1, "a": 1}, {"out": "y", "jobs": 2, "a": 1}], []),   # never part of a sweep
    ([{"a": 1}, {"a": 1}], []),
])
def test_swept_keys_table(configs, keys):
    assert sr.swept_keys(configs) == keys


def test_keys_that_vary_together_form_one_factor():
    configs = [{"calibration.method": "m1", "calibration.prior": "x", "seed": 0},
               {"calibration.method": "m2", "calibration.prior": "y", "seed": 0},
               {"calibration.method": "m1", "calibration.prior": "x", "seed": 1}]
    keys = sr.swept_keys(configs)
    assert keys == ["calibration.method", "calibration.prior", "seed"]
    assert sr.factors(configs, keys) == {"calibration.method": ["calibration.method", "calibration.prior"],
                                         "seed": ["seed"]}


def test_sweep_csv_has_one_row_per_job_and_arm_with_swept_values_and_wide_metrics(sweep, tmp_path):
    out = tmp_path / "report"
    assert sr.main([f"sweep={sweep}", f"out={out}", "figures=false"]) == 0
    t = pd.read_csv(out / "sweep.csv")
    assert list(t.columns[:4]) == ["job", "eqs.tiers.gold", "scenarios.mixed.bad_share", "arm"]
    stats = ["n", "median", "q25", "q75", "ci_low", "ci_high", "baseline_median", "arm_median", "ratio_of_means"]
    assert list(t.columns[4:]) == [f"{m}.{s}" for m in METRICS for s in stats]
    assert len(t) == len(GOLDS) * len(SHARES) * len(ARMS)
    assert set(zip(t["eqs.tiers.gold"], t["scenarios.mixed.bad_share"])) == {(g, s) for g in GOLDS for s in SHARES}
    for _, r in t.iterrows():
        g, sh = r["eqs.tiers.gold"], r["scenarios.mixed.bad_share"]
        for m in METRICS:
            assert r[f"{m}.median"] == pytest.approx(median_of(g, sh, r["arm"], m))
            assert r[f"{m}.ci_high"] - r[f"{m}.ci_low"] == pytest.approx(1.0)
        assert r["roi_mape.ratio_of_means"] == pytest.approx(0.1 * (g == GOLDS[1]))    # a column the lead adds
    assert (t["roi_mape.n"] == 8).all() and t["roi_mape.n"].dtype.kind == "i"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["swept_keys"] == ["eqs.tiers.gold", "scenarios.mixed.bad_share"]
    assert manifest["expected_jobs"] == 4 and manifest["skipped_jobs"] == {}
    assert yaml.safe_load((out / "config.yaml").read_text())["sweep"] == str(sweep)
    assert "git_revision" in manifest and manifest["command"].startswith("python -m experiments.sweep_report")


def test_unfinished_jobs_are_listed_and_skipped(sweep, tmp_path, capsys):
    write_job(sweep / "job_running", 90, 0.25, status="running", summary=False)
    write_job(sweep / "job_nosummary", 90, 0.75, status="complete", summary=False)
    out = tmp_path / "report"
    assert sr.main([f"sweep={sweep}", f"out={out}", "figures=false"]) == 0
    err = capsys.readouterr().err
    assert "job_running (status 'running')" in err and "job_nosummary (no summary_long.csv)" in err
    assert "asks for 4 jobs; 6 job folder(s)" in err
    t = pd.read_csv(out / "sweep.csv")
    assert set(t["job"]) == {f"job{i}" for i in range(4)}
    assert set(t["eqs.tiers.gold"]) == set(GOLDS)      # 90 only in unfinished jobs: no rows, still a swept value
    skipped = json.loads((out / "manifest.json").read_text())["skipped_jobs"]
    assert skipped == {"job_nosummary": "no summary_long.csv", "job_running": "status 'running'"}


def test_figures_one_per_swept_key_png_and_pdf(sweep):
    assert sr.main([f"sweep={sweep}"]) == 0          # out defaults to the sweep folder
    names = sorted(p.name for p in (sweep / "figures").iterdir())
    assert names == ["sweep_eqs.tiers.gold.pdf", "sweep_eqs.tiers.gold.png",
                     "sweep_scenarios.mixed.bad_share.pdf", "sweep_scenarios.mixed.bad_share.png"]
    assert all((sweep / "figures" / n).stat().st_size > 1000 for n in names)
    # a rerun does not mistake figures/ or its own files for a job
    assert sr.main([f"sweep={sweep}", "figures=false"]) == 0
    assert len(pd.read_csv(sweep / "sweep.csv")) == 8


def test_rows_follow_the_swept_values_as_numbers_not_folder_names(tmp_path):
    d = tmp_path / "sweep"
    for name, gold in (("a", 100), ("b", 65), ("c", 9)):
        write_job(d / name, gold, 0.5)
    t = sr.run({"sweep": str(d), "out": str(d), "figures": False})
    t = pd.read_csv(t)
    assert t["eqs.tiers.gold"].tolist() == [9, 9, 65, 65, 100, 100]
    assert t["arm"].tolist() == list(ARMS) * 3


def test_a_key_absent_from_some_jobs_is_a_swept_value_and_still_drawn(tmp_path):
    d = tmp_path / "sweep"
    write_job(d / "a", 70, 0.5, extra={"model": {"max_lag": 8}})
    write_job(d / "b", 80, 0.5)
    write_job(d / "c", 70, 0.5, extra={"model": {"max_lag": 4}})
    assert sr.main([f"sweep={d}"]) == 0
    t = pd.read_csv(d / "sweep.csv")
    assert set(t.columns[1:3]) == {"eqs.tiers.gold", "model.max_lag"}
    assert t.groupby("job")["model.max_lag"].first().isna().tolist() == [False, True, False]
    assert (d / "figures" / "sweep_model.max_lag.png").exists()


def test_string_valued_sweep_draws_categorical_axis(tmp_path):
    d = tmp_path / "sweep"
    for i, cal in enumerate(("m1", "m2")):
        write_job(d / f"j{i}", 70, 0.5, extra={"calibration": {"method": cal}})
    assert sr.main([f"sweep={d}"]) == 0
    assert (d / "figures" / "sweep_calibration.method.png").exists()
    assert list(pd.read_csv(d / "sweep.csv")["calibration.method"].unique()) == ["m1", "m2"]


@pytest.mark.parametrize("setup, args, message", [
    (lambda d: None, ["sweep={d}/missing"], "no such directory"),
    (lambda d: (d / "empty").mkdir(), ["sweep={d}/empty"], "no job folders"),
    (lambda d: (d / "m").mkdir() or (d / "m" / "multirun.yaml").write_text("hydra: {}\n"), ["sweep={d}/m"],
     "rerun it with out=DIR"),
    (lambda d: write_job(d / "s" / "a", 70, 0.5, status="running", summary=False), ["sweep={d}/s"],
     "no finished jobs"),
    (lambda d: (d / "run").mkdir() or (d / "run" / "fits.parquet").write_text(""), ["sweep={d}/run"],
     "a single study run, not a multirun folder"),
    (lambda d: None, ["{d}"], "usage:"),
    (lambda d: None, ["sweep={d}", "bogus=1"], "bogus"),
    (lambda d: write_job(d / "s" / "a", 70, 0.5), ["sweep={d}/s", "figures=maybe"], "figures: must be true or false"),
    (lambda d: write_job(d / "s" / "a", 70, 0.5) or write_job(d / "s" / "b", 80, 0.5)
     or (d / "s" / "b" / "summary_long.csv").write_text("x,y\n1,2\n"), ["sweep={d}/s"], "missing column(s) arm, metric"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, setup, args, message):
    setup(tmp_path)
    assert sr.main([a.format(d=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err
    assert all(not line.startswith("Traceback") for line in err)


def test_out_into_a_study_run_folder_is_refused(sweep, tmp_path, capsys):
    write_job(tmp_path / "run", 70, 0.5)
    (tmp_path / "run" / "fits.parquet").write_text("")
    assert sr.main([f"sweep={sweep}", f"out={tmp_path / 'run'}"]) == 2
    assert "would be overwritten" in capsys.readouterr().err


def test_command_line_entry_point(sweep, tmp_path):
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "experiments.sweep_report", f"sweep={sweep}", "figures=false"],
                        capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("sweep.csv"), ok.stderr
    bad = subprocess.run([sys.executable, "-m", "experiments.sweep_report", f"sweep={tmp_path / 'nope'}"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
