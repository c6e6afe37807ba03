"""Faults: workers die with their parent, a SIGKILL at a random point then a rerun gives the same
tables, stale ``running`` manifests are recognised, every fit is a row with a status."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import psutil
import pytest

from experiments import faults
from experiments.status import classify, counts, with_exclusions
from harness.errors import ConfigError
from tests.conftest import ROOT

TINY = ["inference=fast", "~study.worlds.home_goods", "study.worlds.fashion=2", "study.replicates=1",
        "study.mixed.truths.fashion=1", "study.shard_truths=1", "figures=false"]


def _study(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "MMM_PROGRESS": "0"}
    return subprocess.Popen([sys.executable, "-m", "experiments.study", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_workers(proc, n, timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        kids = [c for c in psutil.Process(proc.pid).children(recursive=True) if "loky" in " ".join(c.cmdline())]
        if len(kids) >= n:
            return kids
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        time.sleep(0.5)
    raise AssertionError("workers did not start")


@pytest.mark.slow  # moved out of the default suite to keep make test well under 10 min
def test_workers_die_with_their_parent(tmp_path):
    """SIGKILL to the study process alone (as an out-of-memory kill does): its two worker
    processes end within 10 s instead of going on writing shards."""
    proc = _study(TINY + ["jobs=2", f"out={tmp_path / 'run'}"], tmp_path)
    try:
        workers = _wait_for_workers(proc, 2)
        time.sleep(20)                            # the workers are inside their shards by now
        assert all(w.is_running() for w in workers)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, [w.cmdline()[:3] for w in alive]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_stale_and_live_manifests_are_told_apart(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = faults.owner()["host"]
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"status": "running", "run": {"pid": dead.pid, "host": host, "started_at": "then"}}))
    assert faults.previous_run(tmp_path)["state"] == "stale"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "manifest.json").write_text(json.dumps(
            {"status": "running", "run": {"pid": live.pid, "host": host, "started_at": "now"}}))
        assert faults.previous_run(tmp_path)["state"] == "live"
        from tests.experiments.test_study import tiny_cfg
        from experiments.study import run

        with pytest.raises(ConfigError, match="another study"):
            run(tiny_cfg(f"out={tmp_path}"))
    finally:
        live.kill()
    (tmp_path / "manifest.json").write_text(json.dumps({"status": "complete"}))
    assert faults.previous_run(tmp_path) is None


def _row(**kw):
    base = {"arm": "good/all", "roi_hat": [1.0, 2.0], "roi_mape": 0.2, "divergences": 0, "draws_per_chain": 100,
            "inference": "nuts", "quality_ok": True, "quality": "ok"}
    return {**base, **kw}


def test_every_fit_gets_a_status_and_reason():
    fits = pd.DataFrame([_row(), _row(roi_hat=[np.nan, 1.0]), _row(roi_mape=np.inf), _row(divergences=40),
                         _row(quality_ok=False, quality="ROI R-hat 1.030 > 1.01 after 1000 draws per chain"),
                         _row(inference="fast", quality_ok=False), _row(arm="none"),
                         _row(inference="fast", map_grad_norm=5.0),
                         _row(inference="fast", roi_sd_ratio=[0.5, 1.5], channels=["tv", "search"]),
                         _row(inference="fast", roi_sd_ratio=[0.5, 1.05], map_grad_norm=0.5)])
    out = classify(fits, ["roi_mape"], chains=4)
    assert out["status"].tolist() == ["ok", "failed", "failed", "diverged", "below_quality_bar", "ok", "ok",
                                      "approximation_unreliable", "approximation_unreliable", "ok"]
    assert out["reason"][1] == "non-finite ROI estimate" and out["reason"][2] == "non-finite roi_mape"
    assert "40 divergent transitions (10.0% of 400 draws" in out["reason"][3]
    assert out["reason"][4].startswith("ROI R-hat 1.030")
    assert out["reason"][7] == "MAP gradient norm 5 > 1"
    assert out["reason"][8] == "Laplace ROI posterior of search wider than its prior (sd ratio 1.50)"
    assert counts(out) == {"ok": 4, "approximation_unreliable": 2, "below_quality_bar": 1, "diverged": 1,
                           "failed": 2}


def test_summaries_count_the_fits_they_left_out():
    fits = pd.DataFrame({"arm": ["none"] * 3 + ["good/all"] * 3})
    long = pd.DataFrame({"arm": ["good/all"], "metric": ["roi_mape"], "n": [2]})
    assert with_exclusions(long, fits)[["n_pairs", "n_excluded"]].iloc[0].tolist() == [3, 1]


@pytest.mark.slow
def test_sigkill_at_a_random_point_then_rerun_gives_identical_tables(tmp_path):
    """The whole process group killed at a random moment inside the run, then the same command
    rerun: the rerun reports the stale manifest and ends with the uninterrupted run's fits.parquet
    and summary.csv (wall-clock column aside). The moment is measured from the run's first
    written shard (seed 14: uniform in 0-2 s after it) of 6 shards on 2 workers, so it falls
    inside the run however fast the machine is; a fixed clock time did not (the run ended first)."""
    six = [a for a in TINY if not a.startswith("study.worlds.fashion=")] + ["study.worlds.fashion=6"]
    ref = _study(six + ["jobs=1", f"out={tmp_path / 'ref'}"], tmp_path)
    assert ref.wait(timeout=1200) == 0, ref.stderr.read()[-2000:]
    delay = random.Random(14).uniform(0.0, 2.0)
    run = _study(six + ["jobs=2", f"out={tmp_path / 'run'}"], tmp_path)
    shards = tmp_path / "run" / "shards"
    deadline = time.time() + 600
    while run.poll() is None and time.time() < deadline and not list(shards.glob("*.fits.parquet")):
        time.sleep(0.1)
    time.sleep(delay)
    if run.poll() is None:
        os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL, "the run ended before the kill: the test would prove nothing"
    done_at_kill = len(list(shards.glob("*.fits.parquet")))
    assert 1 <= done_at_kill < 6, done_at_kill
    again = _study(six + ["jobs=2", f"out={tmp_path / 'run'}"], tmp_path)
    _, err = again.communicate(timeout=1200)
    assert again.returncode == 0, err[-2000:]
    assert "stopped without finishing" in err
    a, b = (pd.read_parquet(tmp_path / d / "fits.parquet").drop(columns=["fit_seconds"]) for d in ("ref", "run"))
    pd.testing.assert_frame_equal(a, b)
    assert (tmp_path / "ref" / "summary.csv").read_text() == (tmp_path / "run" / "summary.csv").read_text()


@pytest.mark.slow  # moved out of the default suite to keep make test well under 10 min
def test_a_shard_that_raises_becomes_failed_rows_and_a_rerun_retries_it(tmp_path, monkeypatch):
    """An exception inside one shard's analysis (injected in-process, jobs=1): the study goes on
    with the other shard, every planned fit of the failing shard is a ``failed`` row with the
    exception as its reason, counted in status.csv, summary.csv, summary_long.csv and the
    manifest, and the study ends with FitError (exit 3). The other shard's rows equal a clean
    run's; a rerun without the fault retries the failed shard and ends with the clean tables."""
    from experiments import pipeline
    from experiments.study import run
    from harness.errors import FitError
    from tests.experiments.test_study import tiny_cfg

    clean = run(tiny_cfg(f"out={tmp_path / 'clean'}", "figures=false"))
    real = pipeline.analyse_step

    def broken(ctx, batch, post, n_k):
        if any(i.startswith("fashion-t001") for i in batch.meta.dataset_ids):
            raise FloatingPointError("injected\nfault in the analysis")
        return real(ctx, batch, post, n_k)

    monkeypatch.setattr(pipeline, "analyse_step", broken)
    out = tmp_path / "faulty"
    with pytest.raises(FitError, match=r"1 of 2 shard\(s\) raised \(fashion-t001: shard raised FloatingPointError"):
        run(tiny_cfg(f"out={out}", "figures=false"))
    fits = pd.read_parquet(out / "fits.parquet")
    ref = pd.read_parquet(clean / "fits.parquet")
    assert len(fits) == len(ref) == 16
    bad = fits["dataset_id"].str.startswith("fashion-t001")
    # fashion-t001: 2 replicates x (none, good/all, bad/all); it has no mixed dataset
    assert bad.sum() == 6 and (fits.loc[bad, "status"] == "failed").all()
    assert set(fits.loc[bad, "reason"]) == {"shard raised FloatingPointError: injected fault in the analysis"}
    assert fits.loc[bad, "roi_mape"].isna().all()
    assert sorted(fits.loc[bad, "arm"]) == sorted(ref.loc[ref["dataset_id"].str.startswith("fashion-t001"), "arm"])
    cols = [c for c in ref.columns if c != "fit_seconds"]
    pd.testing.assert_frame_equal(fits.loc[~bad, cols].reset_index(drop=True),
                                  ref.loc[~bad, cols].reset_index(drop=True), check_dtype=False)
    assert set(fits.loc[~bad, "status"]) <= {"ok", "approximation_unreliable"}
    status = pd.read_csv(out / "status.csv", index_col=0)
    assert status["failed"].to_dict() == {"bad/all": 2, "good/all": 2, "mixed/all": 0, "mixed/eqs_filtered": 0,
                                          "mixed/eqs_weighted": 0, "mixed/single_best": 0, "none": 2}
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    label = "fits not ok: failed / diverged / below quality bar / approximation unreliable"
    assert summary.loc[label, "good/all"].startswith("2 / 0 / 0 / ")
    long = pd.read_csv(out / "summary_long.csv")
    roi = long[(long["arm"] == "good/all") & (long["metric"] == "roi_mape")].iloc[0]
    assert (roi["n_pairs"], roi["n"], roi["n_excluded"]) == (4, 2, 2)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete_with_failures" and manifest["n_fits_by_status"]["failed"] == 6
    assert list(manifest["failed_shards"]) == ["fashion-t001"]
    shards = out / "shards"
    assert not (shards / "fashion-t001.fits.parquet").exists()
    assert "FloatingPointError" in (shards / "fashion-t001.failed.txt").read_text()
    # the rerun without the fault retries the failed shard only
    monkeypatch.setattr(pipeline, "analyse_step", real)
    again = run(tiny_cfg(f"out={out}", "figures=false"))
    assert not list(shards.glob("*.failed.*"))
    pd.testing.assert_frame_equal(pd.read_parquet(again / "fits.parquet").drop(columns=["fit_seconds"]),
                                  ref.drop(columns=["fit_seconds"]))
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"
    assert (clean / "summary.csv").read_text() == (out / "summary.csv").read_text()
