"""Issue 17's targets on a ``study=out_of_family`` run: channel-level, pooled over the run.

    python benchmarks/oof_targets.py RUN_DIR [RUN_DIR ...]

For each run and arm: the share of channels whose 90% ROI interval covers the true ROI, the median
relative mROI error at current spend, the median relative ROI error, and the share of channels whose
interval misses the true ROI by more than 2x (truth > 2 q95 or < q05 / 2); then the median mROI error
per world for the uncalibrated arm, and the per-world split of the
mROI error into the ROI's error and the fitted elasticity (mROI / ROI). Every fit's row counts, whatever its status (the targets are about
the estimator, and a diverged fit is still its answer); the count of rows not ``ok`` is printed.
Targets (uncalibrated, NUTS): coverage >= 0.85, median mROI error <= 0.25, 2x misses < 0.05.
"""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd


def channels(fits: pd.DataFrame) -> pd.DataFrame:
    """One row per (fit, channel) with ROI and mROI truth, estimate and interval."""
    rows = []
    for _, r in fits.iterrows():
        for j in range(len(r["roi_true"])):
            rows.append({"world": r["world"], "arm": r["arm"], "status": r["status"],
                         "roi_true": r["roi_true"][j], "roi_hat": r["roi_hat"][j],
                         "q05": r["roi_q05"][j], "q95": r["roi_q95"][j],
                         "mroi_true": r["mroi_true"][j], "mroi_hat": r["mroi_hat"][j]})
    c = pd.DataFrame(rows)
    c["cover"] = (c.q05 <= c.roi_true) & (c.roi_true <= c.q95)
    c["miss2x"] = (c.roi_true > 2 * c.q95) | (c.roi_true < c.q05 / 2)
    c["roi_err"] = (c.roi_hat - c.roi_true).abs() / c.roi_true
    c["mroi_err"] = (c.mroi_hat - c.mroi_true).abs() / c.mroi_true
    return c


def main(argv):
    for run in argv:
        c = channels(pd.read_parquet(f"{run}/fits.parquet"))
        print(f"\n{run}: {len(c)} channel fits, {int((c.status != 'ok').sum())} from fits not ok")
        t = c.groupby("arm").agg(n=("cover", "size"), cov90=("cover", "mean"), mroi_err=("mroi_err", "median"),
                                 roi_err=("roi_err", "median"), miss2x=("miss2x", "mean"))
        print(t.round(3).to_string())
        w = c[c.arm == "none"].groupby("world").agg(cov90=("cover", "mean"), mroi_err=("mroi_err", "median"),
                                                    roi_err=("roi_err", "median"), miss2x=("miss2x", "mean"))
        w["roi_hat/roi"] = c[c.arm == "none"].assign(q=lambda d: d.roi_hat / d.roi_true).groupby("world").q.median()
        print(w.round(3).to_string())
        u = c[c.arm == "none"].assign(roi_ratio=lambda d: d.roi_hat / d.roi_true,
                                      mroi_ratio=lambda d: d.mroi_hat / d.mroi_true,
                                      elasticity_true=lambda d: d.mroi_true / d.roi_true,
                                      elasticity_fit=lambda d: d.mroi_hat / d.roi_hat)
        g = u.groupby("world")
        e = g[["roi_ratio", "mroi_ratio", "elasticity_true", "elasticity_fit"]].median()
        e["mroi_ratio_q25"] = g.mroi_ratio.quantile(0.25)
        e["mroi_ratio_q75"] = g.mroi_ratio.quantile(0.75)
        print("uncalibrated medians: estimate / truth, and elasticity mROI / ROI (true and fitted)")
        print(e.round(3).to_string())


if __name__ == "__main__":
    main(sys.argv[1:])
