"""experiments.channel_errors: channel-level ROI error, coverage and 2x misses from fits.parquet."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from experiments.channel_errors import table


def test_table_counts_errors_coverage_and_two_fold_misses():
    fits = pd.DataFrame([
        # truth 1 and 2; intervals: covers, misses high by > 2x
        dict(world="w", arm="none", dataset_id="a", status="ok", channels=("x", "y"),
             roi_hat=np.array([1.5, 5.0]), roi_q05=np.array([0.5, 4.5]), roi_q95=np.array([2.0, 6.0]),
             roi_true=np.array([1.0, 2.0])),
        # misses low but within 2x (q95 0.6 >= 1/2): not a 2x miss
        dict(world="w", arm="none", dataset_id="b", status="ok", channels=("x", "y"),
             roi_hat=np.array([0.5, 2.0]), roi_q05=np.array([0.4, 1.0]), roi_q95=np.array([0.6, 3.0]),
             roi_true=np.array([1.0, 2.0])),
        dict(world="w", arm="none", dataset_id="c", status="failed", channels=("x", "y"),
             roi_hat=None, roi_q05=None, roi_q95=None, roi_true=np.array([1.0, 2.0])),
    ])
    t = table(fits).loc[("w", "none")]
    assert t["n"] == 4
    assert t["err"] == pytest.approx(np.median([0.5, 1.5, 0.5, 0.0]))
    assert t["cover90"] == pytest.approx(2 / 4)
    assert t["miss2x"] == pytest.approx(1 / 4)
    assert t["ratio"] == pytest.approx(np.median([1.5, 2.5, 0.5, 1.0]))


def test_channel_rows_carry_status_and_mroi_with_a_nan_fallback():
    """One row per (fit, channel) with its status and mROI; a table written before the mROI columns
    existed gives NaN there, and a failed fit gives no rows."""
    from experiments.channel_errors import channel_rows

    base = dict(world="w", arm="none", channels=("x", "y"), roi_hat=np.array([1.5, 5.0]),
                roi_q05=np.array([0.5, 4.5]), roi_q95=np.array([2.0, 6.0]), roi_true=np.array([1.0, 2.0]))
    new = pd.DataFrame([dict(base, dataset_id="a", status="diverged", mroi_hat=np.array([0.9, 3.0]),
                             mroi_true=np.array([0.8, 1.5])),
                        dict(base, dataset_id="c", status="failed", roi_hat=None, mroi_hat=None,
                             mroi_true=np.array([0.8, 1.5]))])
    rows = channel_rows(new)
    assert rows[["dataset_id", "channel", "status"]].values.tolist() == [["a", "x", "diverged"], ["a", "y", "diverged"]]
    np.testing.assert_allclose(rows.mroi_hat, [0.9, 3.0])
    np.testing.assert_allclose(rows.mroi_true, [0.8, 1.5])
    old = pd.DataFrame([dict(base, dataset_id="b", status="ok")])
    assert channel_rows(old)[["mroi_hat", "mroi_true"]].isna().all().all()
