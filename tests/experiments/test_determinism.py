"""The same config and seed give the same fits.parquet whatever the batch (``study.shard_truths``)
and, for a fixed run length, ``inference.lockstep`` (NUTS), as they do whatever ``jobs``
(test_study) and the engine (test_dask_engine)."""
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


def _same(p, q):
    # every column but the wall clock and where a fit sat in the layout (its shard and row there)
    a, b = (pd.read_parquet(x / "fits.parquet").drop(columns=["fit_seconds", "shard", "ordinal"]) for x in (p, q))
    pd.testing.assert_frame_equal(a, b)
    assert (p / "summary.csv").read_text() == (q / "summary.csv").read_text()


@pytest.mark.slow
def test_fits_do_not_depend_on_the_batch(tmp_path):
    _same(run(_cfg("study.shard_truths=1", f"out={tmp_path / 'a'}")),
          run(_cfg("study.shard_truths=2", f"out={tmp_path / 'b'}")))


@pytest.mark.slow
def test_lockstep_changes_nuts_draws_only_within_monte_carlo_error(tmp_path):
    """Not bitwise: a block of 2 datasets runs a program compiled for 2 lanes, whose rounding
    differs from the 1-lane program's, and NUTS trajectories amplify it, so draws differ even at a
    fixed run length (``adaptive=false``; with the adaptive bar a block also samples until its
    slowest dataset meets it). The ROI means must still agree within Monte Carlo error: every
    |difference| below 0.5 of the posterior sd (sd from the 90% interval, 150 x 2 draws, seed 0)."""
    import numpy as np

    a, b = (pd.read_parquet(run(_cfg("inference.adaptive=false", f"inference.lockstep={n}",
                                     f"out={tmp_path / str(n)}")) / "fits.parquet") for n in (1, 2))
    ra, rb = (np.stack(x["roi_hat"].map(np.asarray)) for x in (a, b))
    sd = (np.stack(a["roi_q95"].map(np.asarray)) - np.stack(a["roi_q05"].map(np.asarray))) / 3.29
    assert a["dataset_id"].tolist() == b["dataset_id"].tolist() and a["arm"].tolist() == b["arm"].tolist()
    assert np.all(np.abs(ra - rb) < 0.5 * sd), np.max(np.abs(ra - rb) / sd)
