"""The study app end to end on a tiny layout (fast path): outputs, fit counts, resume identity, figures."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir

from experiments.study import run
from tests.conftest import ROOT

TINY = ["inference=fast", "~study.worlds.home_goods", "study.worlds.fashion=2", "study.replicates=2",
        "study.mixed.truths.fashion=1", "study.shard_truths=1", "jobs=1"]


def tiny_cfg(*extra):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return compose(config_name="study", overrides=TINY + list(extra))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One uninterrupted run, one killed after its first shard and then resumed, and one
    computed by two worker processes (one shard each)."""
    base = tmp_path_factory.mktemp("study")
    whole = run(tiny_cfg(f"out={base / 'whole'}"))
    part = run(tiny_cfg(f"out={base / 'part'}", "max_new_shards=1"))
    assert not (part / "fits.parquet").exists() and len(list((part / "shards").glob("*.fits.parquet"))) == 1
    resumed = run(tiny_cfg(f"out={base / 'part'}"))
    parallel = run(tiny_cfg(f"out={base / 'parallel'}", "jobs=2"))
    return whole, resumed, parallel


def test_outputs_of_a_run(runs):
    out = runs[0]
    for name in ("config.yaml", "manifest.json", "fits.parquet", "eqs.parquet", "summary.csv", "summary_long.csv"):
        assert (out / name).exists(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["seed"] == 0 and manifest["config_hash"]
    assert {"git_revision", "packages", "n_fits", "wall_seconds_last_invocation"} <= set(manifest)
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["inference"]["method"] == "fast" and cfg["study"]["name"] == "quick"
    figs = {p.name for p in (out / "figures").iterdir()}
    for stem in ("scenarios", "strategies_mixed", "eqs_vs_change", "distributions"):
        assert {f"{stem}.png", f"{stem}.pdf"} <= figs


def test_fit_table_has_every_fit_and_column(runs):
    fits = pd.read_parquet(runs[0] / "fits.parquet")
    # 2 truths x 2 replicates x (none, good/all, bad/all) + 1 mixed dataset x 4 strategies
    assert len(fits) == 2 * 2 * 3 + 4
    assert fits.groupby("arm").size().to_dict() == {
        "none": 4, "good/all": 4, "bad/all": 4, "mixed/all": 1, "mixed/single_best": 1,
        "mixed/eqs_filtered": 1, "mixed/eqs_weighted": 1}
    for col in ("dataset_id", "world", "truth_id", "replicate", "scenario", "strategy", "calibration", "inference",
                "roi_mape", "attribution_error", "holdout_mape", "counterfactual_mape", "budget_regret",
                "allocation_error", "coverage90", "divergences", "fit_seconds", "status"):
        assert col in fits.columns, col
    assert set(fits["status"]) <= {"ok", "approximation_unreliable"}
    assert set(fits.loc[fits["arm"] == "none", "calibration"]) == {"none"}
    assert set(fits.loc[fits["arm"] != "none", "calibration"]) == {"m1"}
    assert fits["coverage90"].between(0, 1).all() and (fits["map_grad_norm"] <= 1.0).all()
    # a fast fit is flagged exactly when a channel's Laplace ROI posterior is wider than its prior,
    # and the flagged fits are the ones whose ROI error can be absurd
    wide = fits["roi_sd_ratio"].map(lambda v: max(v) > 1.1)
    assert ((fits["status"] == "approximation_unreliable") == wide).all()
    assert fits.loc[~wide, "roi_mape"].between(0, 10).all()


def test_identification_columns_and_their_summary(runs):
    """fits.parquet carries mROI and the identification per channel; summary_identified.csv splits
    each arm's channels by the baseline's flag, and its groups add up to the arm's channels."""
    fits = pd.read_parquet(runs[0] / "fits.parquet")
    for col in ("mroi_error", "roi_identified_share", "mroi_hat", "mroi_true", "roi_identified", "roi_sd_ratio",
                "mroi_sd_ratio", "low_spend_share", "test_kind"):
        assert col in fits.columns, col
    n_ch = fits["roi_hat"].map(len)
    assert (fits["roi_identified"].map(len) == n_ch).all() and (fits["mroi_true"].map(len) == n_ch).all()
    share = fits["roi_identified"].map(lambda v: sum(map(bool, v)) / len(v))
    assert (share == fits["roi_identified_share"]).all()
    assert (fits["mroi_error"] > 0).all() and fits["mroi_error"].notna().all()
    assert set(fits.loc[fits["arm"] == "none", "test_kind"]) == {"none"}
    assert set(fits.loc[fits["arm"] == "good/all", "test_kind"]) == {"go_dark"}
    ident = pd.read_csv(runs[0] / "summary_identified.csv")
    assert set(ident["group"]) <= {"identified", "not identified"}
    assert set(ident["metric"]) == {"roi_error", "mroi_error", "coverage90"}
    per = ident[ident["metric"] == "roi_error"].groupby("arm")
    channels = {a: int(n_ch[fits["arm"] == a].sum()) for a in fits["arm"].unique() if a != "none"}
    assert per["channels"].sum().to_dict() == channels
    assert per["share"].sum().round(9).eq(1.0).all()
    kinds = pd.read_csv(runs[0] / "summary_test_kind.csv")
    assert set(kinds["metric"]) == {"roi_mape", "mroi_error"} and "go_dark" in set(kinds["test_kind"])


def test_summary_and_eqs_tables(runs):
    summary = pd.read_csv(runs[0] / "summary.csv", index_col=0)
    assert {"good/all", "bad/all", "mixed/single_best"} <= set(summary.columns)
    assert "attribution error" in summary.index and "ROI instability across replicates" in summary.index
    eqs = pd.read_parquet(runs[0] / "eqs.parquet")
    for col in ("eqs_uncertainty", "eqs_alignment", "eqs_holdout", "eqs_model", "eqs_total", "eqs_tier",
                "iroas_error", "lift_error", "channel_error_change_all"):
        assert col in eqs.columns, col
    assert set(eqs["eqs_tier"]) <= {"Gold", "Silver", "Red"}
    assert (eqs.loc[eqs["scenario"] == "bad", "bad_design"]).all()
    assert not (eqs.loc[eqs["scenario"] == "good", "bad_design"]).any()


def test_resumed_run_ends_with_the_same_table(runs):
    """Killed after one shard and rerun: the same rows and values (wall-clock column aside)."""
    whole, resumed, _ = (pd.read_parquet(p / "fits.parquet").drop(columns=["fit_seconds"]) for p in runs)
    pd.testing.assert_frame_equal(whole, resumed)
    assert (runs[0] / "summary.csv").read_text() == (runs[1] / "summary.csv").read_text()


def test_worker_processes_give_the_same_table(runs):
    """jobs=2 (two worker processes, one shard each) reproduces the single-process table."""
    whole, _, parallel = (pd.read_parquet(p / "fits.parquet").drop(columns=["fit_seconds"]) for p in runs)
    pd.testing.assert_frame_equal(whole, parallel)
    assert (runs[0] / "summary.csv").read_text() == (runs[2] / "summary.csv").read_text()


@pytest.mark.parametrize("value", ["0", "many"])
def test_bad_jobs_value_names_the_field(value):
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="jobs"):
        run(tiny_cfg(f"jobs={value}", "out=/tmp/never-written-jobs"))


def test_figures_command_redraws_from_saved_tables(runs, tmp_path):
    out = runs[0]
    for p in (out / "figures").iterdir():
        p.unlink()
    proc = subprocess.run([sys.executable, "-m", "experiments.figures", f"run={out}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (out / "figures" / "scenarios.pdf").exists() and (out / "figures" / "eqs_vs_change.png").exists()
    bad = subprocess.run([sys.executable, "-m", "experiments.figures", f"run={tmp_path}"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "missing" in bad.stderr


def test_bad_study_config_names_the_field():
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="study.arms"):
        run(tiny_cfg("study.arms=[good,ugly]", "out=/tmp/never-written"))


def test_reference_publishes_what_the_figures_need(runs, tmp_path):
    """experiments.reference copies the tables the figures are drawn from, and refuses an unfinished run."""
    from experiments import reference

    dest = tmp_path / "ref"
    assert reference.main([f"run={runs[0]}", f"dest={dest}"]) == 0
    for name in ("summary.csv", "summary_long.csv", "manifest.json", "config.yaml", "fits.parquet", "eqs.parquet",
                 "comparison.md"):
        assert (dest / name).exists(), name
    assert "| seeds/000 claim |" in (dest / "comparison.md").read_text()
    # every top-level table the run wrote is published (a new summary the list forgot fails here)
    written = {p.name for p in runs[0].iterdir() if p.is_file() and p.suffix in (".csv", ".parquet")}
    assert written and written <= set(reference.PUBLISHED), written - set(reference.PUBLISHED)
    assert {"summary_identified.csv", "summary_test_kind.csv", "status.csv"} <= written
    for name in written:
        assert (dest / name).read_bytes() == (runs[0] / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(dest / "fits.parquet"), pd.read_parquet(runs[0] / "fits.parquet"))
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "manifest.json").write_text(json.dumps({"status": "running"}))
    assert reference.main([f"run={unfinished}", f"dest={tmp_path / 'never'}"]) == 2


@pytest.mark.slow  # moved out of the default suite to keep make test well under 10 min
def test_multirun_gives_each_job_its_own_folder_and_leaves_nothing_behind(tmp_path):
    """``-m ... out=DIR``: one folder per job under DIR (named by its overrides), multirun.yaml in
    DIR, and nothing written to the working directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    out = tmp_path / "sweep"
    args = [sys.executable, "-m", "experiments.study", "-m", "inference=fast", "inference.laplace_draws=100",
            "~study.worlds.home_goods", "study.worlds.fashion=1", "study.mixed.truths.fashion=0",
            "study.replicates=1", "jobs=1", "figures=false", "seed=0,1", f"out={out}"]
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert jobs == ["seed=0", "seed=1"], jobs
    for j in jobs:
        assert (out / j / "fits.parquet").exists() and (out / j / "manifest.json").exists()
    a, b = (pd.read_parquet(out / j / "fits.parquet") for j in jobs)
    assert not a["roi_mape"].equals(b["roi_mape"])          # two seeds, two results
    assert (out / "multirun.yaml").exists()
    assert list(cwd.iterdir()) == []
