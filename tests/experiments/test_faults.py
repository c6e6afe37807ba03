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
                         _row(inference="fast", quality_ok=False), _row(arm="none")])
    out = classify(fits, ["roi_mape"], chains=4)
    assert out["status"].tolist() == ["ok", "failed", "failed", "diverged", "below_quality_bar", "ok", "ok"]
    assert out["reason"][1] == "non-finite ROI estimate" and out["reason"][2] == "non-finite roi_mape"
    assert "40 divergent transitions (10.0% of 400 draws" in out["reason"][3]
    assert out["reason"][4].startswith("ROI R-hat 1.030")
    assert counts(out) == {"ok": 3, "below_quality_bar": 1, "diverged": 1, "failed": 2}


def test_summaries_count_the_fits_they_left_out():
    fits = pd.DataFrame({"arm": ["none"] * 3 + ["good/all"] * 3})
    long = pd.DataFrame({"arm": ["good/all"], "metric": ["roi_mape"], "n": [2]})
    assert with_exclusions(long, fits)[["n_pairs", "n_excluded"]].iloc[0].tolist() == [3, 1]


@pytest.mark.slow
def test_sigkill_at_a_random_point_then_rerun_gives_identical_tables(tmp_path):
    """The whole process group killed at a random moment (seed 14: uniform in 15-120 s), then the
    same command rerun: the rerun reports the stale manifest and ends with the uninterrupted
    run's fits.parquet and summary.csv (wall-clock column aside)."""
    ref = _study(TINY + ["jobs=1", f"out={tmp_path / 'ref'}"], tmp_path)
    assert ref.wait(timeout=1200) == 0, ref.stderr.read()[-2000:]
    when = random.Random(14).uniform(15, 120)
    run = _study(TINY + ["jobs=2", f"out={tmp_path / 'run'}"], tmp_path)
    time.sleep(when)
    if run.poll() is None:
        os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL, "the run ended before the kill: the test would prove nothing"
    again = _study(TINY + ["jobs=2", f"out={tmp_path / 'run'}"], tmp_path)
    _, err = again.communicate(timeout=1200)
    assert again.returncode == 0, err[-2000:]
    assert "stopped without finishing" in err
    a, b = (pd.read_parquet(tmp_path / d / "fits.parquet").drop(columns=["fit_seconds"]) for d in ("ref", "run"))
    pd.testing.assert_frame_equal(a, b)
    assert (tmp_path / "ref" / "summary.csv").read_text() == (tmp_path / "run" / "summary.csv").read_text()
