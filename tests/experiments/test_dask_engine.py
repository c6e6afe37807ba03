"""The Dask engine for real: a ``dask scheduler`` and two ``dask worker`` processes on loopback,
started as separate processes; a small study on them gives the local run's tables row for row."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from experiments.study import run
from harness.engine import Engine, engine_from
from harness.errors import ConfigError
from tests.conftest import ROOT

TINY = ["inference=fast", "~study.worlds.home_goods", "study.worlds.fashion=2", "study.replicates=2",
        "study.mixed.truths.fashion=1", "study.shard_truths=1", "figures=false"]
DASK = str(Path(sys.executable).with_name("dask"))


def _cfg(*extra):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return compose(config_name="study", overrides=TINY + list(extra))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jobs_setting_parses():
    assert engine_from("auto") == Engine("local", "auto", None)
    assert engine_from(2) == Engine("local", 2, None)
    assert engine_from({"workers": 1, "engine": "dask", "scheduler": "tcp://h:8786"}).kind == "dask"
    with pytest.raises(ConfigError, match="jobs.scheduler"):
        engine_from({"engine": "dask", "scheduler": None})
    with pytest.raises(ConfigError, match="jobs.engine"):
        engine_from({"engine": "spark"})


@pytest.mark.slow
def test_unreachable_scheduler_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="no Dask scheduler reachable"):
        run(_cfg("jobs.engine=dask", f"jobs.scheduler=tcp://127.0.0.1:{_free_port()}", f"out={tmp_path}"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A ``dask scheduler`` and two ``dask worker`` processes (one thread each) on loopback;
    yields the scheduler address."""
    port = _free_port()
    cwd = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)]
    try:
        time.sleep(3)
        for i in range(2):
            procs.append(subprocess.Popen([DASK, "worker", f"tcp://127.0.0.1:{port}", "--nworkers", "1",
                                           "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd))
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{port}", timeout="30s") as c:
            c.wait_for_workers(2, timeout=120)
            assert len(c.scheduler_info()["workers"]) == 2
        yield f"tcp://127.0.0.1:{port}"
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)


@pytest.mark.slow
def test_a_study_on_a_dask_cluster_matches_the_local_run(tmp_path, cluster):
    remote = run(_cfg("jobs.engine=dask", f"jobs.scheduler={cluster}", f"out={tmp_path / 'dask'}"))
    local = run(_cfg("jobs=1", f"out={tmp_path / 'local'}"))
    a, b = (pd.read_parquet(p / "fits.parquet").drop(columns=["fit_seconds"]) for p in (local, remote))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(pd.read_parquet(local / "eqs.parquet"), pd.read_parquet(remote / "eqs.parquet"))
    assert (local / "summary.csv").read_text() == (remote / "summary.csv").read_text()


@pytest.mark.slow
def test_a_multirun_on_dask_runs_its_jobs_at_once_with_the_local_tables(tmp_path, cluster):
    """``-m seed=0,1 jobs.engine=dask``: the parallel launcher (picked by itself) runs both jobs
    at once, each in its own process and folder, their shards on the cluster; every job's tables
    equal the local single run's with its seed, and nothing is left in the working directory."""
    cwd, out = tmp_path / "cwd", tmp_path / "sweep"
    cwd.mkdir()
    small = [a for a in TINY if not a.startswith("study.replicates")] + ["study.replicates=1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", "MMM_PROGRESS": "0"}
    proc = subprocess.run([sys.executable, "-m", "experiments.study", "-m", *small, "seed=0,1", "jobs.engine=dask",
                           f"jobs.scheduler={cluster}", f"out={out}"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "2 job(s), 2 at a time (hydra/launcher=parallel)" in proc.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["seed=0", "seed=1"]
    assert list(cwd.iterdir()) == [] and (out / "multirun.yaml").exists()
    import json

    pids = {json.loads((out / j / "manifest.json").read_text())["run"]["pid"] for j in ("seed=0", "seed=1")}
    assert len(pids) == 2                                                  # one process per job
    for seed in (0, 1):
        local = run(_with(small, f"seed={seed}", "jobs=1", f"out={tmp_path / f'local{seed}'}"))
        job = out / f"seed={seed}"
        a, b = (pd.read_parquet(p / "fits.parquet").drop(columns=["fit_seconds"]) for p in (local, job))
        pd.testing.assert_frame_equal(a, b)
        assert (local / "summary.csv").read_text() == (job / "summary.csv").read_text()


def _with(base, *extra):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return compose(config_name="study", overrides=list(base) + list(extra))
