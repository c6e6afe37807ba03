"""Multirun: every job its own folder even with ``out=`` (``DIR/<override string>``), and nothing
left in the working directory (issue 14: two ``estimators.fit`` jobs wrote one folder and left
``multirun.yaml`` behind)."""
from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.harness.runner import ROOT
from tests.harness.test_malformed_inputs import _write, base_data, base_lift, base_score


def _run(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env=env)


@pytest.mark.slow
def test_fit_multirun_gives_each_job_its_own_folder(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    dp, lp = _write(base_data(), tmp_path / "data.csv"), _write(base_lift(), tmp_path / "lift.csv")
    out = tmp_path / "fits"
    proc = _run(["estimators.fit", "-m", f"data={dp}", f"lift_tests={lp}", "calibration=none,m2",
                 "inference=fast", "inference.laplace_draws=200", f"out={out}"], cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    jobs = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert jobs == ["calibration=m2", "calibration=none"], jobs
    a, b = (pd.read_csv(out / j / "posterior_summary.csv") for j in jobs)
    assert not a["roi_mean"].equals(b["roi_mean"])          # two calibrations, two results, none lost
    assert (out / "multirun.yaml").exists()
    assert list(cwd.iterdir()) == []


def test_score_multirun_puts_each_table_in_its_own_folder(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    sp = _write(base_score(), tmp_path / "tests.csv")
    proc = _run(["estimators.score", "-m", f"experiments={sp}", "eqs.tiers.gold=70,90",
                 f"out={tmp_path / 'scored' / 'scored.csv'}"], cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for j in ("eqs.tiers.gold=70", "eqs.tiers.gold=90"):
        assert (tmp_path / "scored" / j / "scored.csv").exists(), j
    assert list(cwd.iterdir()) == []
