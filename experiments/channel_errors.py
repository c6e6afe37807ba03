"""Channel-level ROI errors of a study run, per world and arm, from its ``fits.parquet``.

``python -m experiments.channel_errors run=DIR [by=world,arm|world,arm,channel]`` prints, over
every channel of every fit (failed fits have no estimate and are left out, counted in ``n_failed``):

* ``err``: the median of ``|ROI_hat - ROI| / ROI`` (posterior mean);
* ``cover90``: the share of channels whose 90% interval holds the true ROI;
* ``ratio``: the median of ``ROI_hat / ROI``;
* ``miss2x``: the share of channels whose interval misses the true ROI by more than 2x
  (``q05 > 2 ROI`` or ``q95 < ROI / 2``), the issue-17 target's measure;
* ``n``: channels counted.

Reads saved tables only; computes nothing new about the fits.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd


def channel_rows(fits: pd.DataFrame) -> pd.DataFrame:
    """One row per (fit, channel): the ROI estimate, its 90% interval and the truth, and the mROI estimate and truth."""
    keep = ["world", "arm", "dataset_id"]
    out = []
    for _, r in fits.iterrows():
        if r.get("status", "ok") == "failed" or r["roi_hat"] is None:
            continue
        n = len(r["channels"])
        nan = [np.nan] * n  # tables written before the mROI columns existed
        out.append(pd.DataFrame({**{k: [r[k]] * n for k in keep}, "status": r.get("status", "ok"),
                                 "channel": list(r["channels"]),
                                 "hat": r["roi_hat"], "q05": r["roi_q05"], "q95": r["roi_q95"],
                                 "true": r["roi_true"], "mroi_hat": r.get("mroi_hat", nan), "mroi_true": r.get("mroi_true", nan)}))
    return pd.concat(out, ignore_index=True)


def table(fits: pd.DataFrame, by=("world", "arm")) -> pd.DataFrame:
    d = channel_rows(fits)
    d = d.assign(err=(d.hat - d.true).abs() / d.true, cover90=(d.q05 <= d.true) & (d.true <= d.q95),
                 ratio=d.hat / d.true, miss2x=(d.q05 > 2 * d.true) | (d.q95 < d.true / 2))
    return d.groupby(list(by)).agg(err=("err", "median"), cover90=("cover90", "mean"), ratio=("ratio", "median"),
                                   miss2x=("miss2x", "mean"), n=("err", "size")).round(3)


def main(argv) -> int:
    args = dict(a.split("=", 1) for a in argv)
    fits = pd.read_parquet(Path(args["run"]) / "fits.parquet")
    by = tuple(args.get("by", "world,arm").split(","))
    print(f"n_failed: {int((fits.get('status', pd.Series(dtype=str)) == 'failed').sum())}")
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(table(fits, by).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
