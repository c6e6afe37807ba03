"""The same config and seed give the same fits.parquet whatever the batch (``study.shard_truths``)
and ``inference.lockstep`` (NUTS), as they do whatever ``jobs`` (test_study) and the engine
(test_dask_engine)."""
from __future__ import annotations

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from experiments.study import run
from tests.conftest import ROOT

NUTS = ["inference=nuts", "inference.chains=2", "inference.draws=150", "inference.readapt_after=0",
        "~study.worlds.home_goods", "study.worlds.fashion=2", "study.replicates=1", "study.mixed.truths.fashion=1",
        "figures=false", "jobs=1", "analysis.draws=50"]


def _cfg(*extra):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return compose(config_name="study", overrides=NUTS + list(extra))


@pytest.mark.slow
def test_fits_do_not_depend_on_batch_or_lockstep(tmp_path):
    ref = run(_cfg("study.shard_truths=1", "inference.lockstep=1", f"out={tmp_path / 'a'}"))
    other = run(_cfg("study.shard_truths=2", "inference.lockstep=2", f"out={tmp_path / 'b'}"))
    # every column but the wall clock and the shard a fit was computed in (bookkeeping of the layout)
    a, b = (pd.read_parquet(p / "fits.parquet").drop(columns=["fit_seconds", "shard"]) for p in (ref, other))
    pd.testing.assert_frame_equal(a, b)
