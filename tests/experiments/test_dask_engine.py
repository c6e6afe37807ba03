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


@pytest.mark.slow
def test_a_study_on_a_dask_cluster_matches_the_local_run(tmp_path):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)]
    try:
        time.sleep(3)
        for i in range(2):
            procs.append(subprocess.Popen([DASK, "worker", f"tcp://127.0.0.1:{port}", "--nworkers", "1",
                                           "--nthreads", "1", "--no-dashboard", "--name", f"w{i}"],
                                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          cwd=tmp_path))
        from distributed import Client

        with Client(f"tcp://127.0.0.1:{port}", timeout="30s") as c:
            c.wait_for_workers(2, timeout=120)
            assert len(c.scheduler_info()["workers"]) == 2
        remote = run(_cfg("jobs.engine=dask", f"jobs.scheduler=tcp://127.0.0.1:{port}", f"out={tmp_path / 'dask'}"))
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
    local = run(_cfg("jobs=1", f"out={tmp_path / 'local'}"))
    a, b = (pd.read_parquet(p / "fits.parquet").drop(columns=["fit_seconds"]) for p in (local, remote))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(pd.read_parquet(local / "eqs.parquet"), pd.read_parquet(remote / "eqs.parquet"))
    assert (local / "summary.csv").read_text() == (remote / "summary.csv").read_text()
