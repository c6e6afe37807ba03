"""Issue 17's targets on a ``study=out_of_family`` run: channel-level, pooled over the run.

    python benchmarks/oof_targets.py RUN_DIR [RUN_DIR ...]

For each run and arm: the share of channels whose 90% ROI interval covers the true ROI, the median
relative mROI error at current spend, the median relative ROI error, and the share of channels whose
interval misses the true ROI by more than 2x (truth > 2 q95 or < q05 / 2); then the median mROI error
per world for the uncalibrated arm, and the per-world split of the
mROI error into the ROI's error and the fitted elasticity (mROI / ROI). Every fit with an estimate counts, whatever its status (a diverged fit is still the estimator's
answer); failed fits have none and are left out (:func:`experiments.channel_errors.channel_rows`);
the count of rows not ``ok`` is printed.
Targets (uncalibrated, NUTS): coverage >= 0.85, median mROI error <= 0.25, 2x misses < 0.05.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.channel_errors import channel_rows  # noqa: E402


def channels(fits: pd.DataFrame) -> pd.DataFrame:
    """:func:`channel_rows` with coverage, the 2x miss, the relative errors and the ratios added."""
    c = channel_rows(fits)
    return c.assign(cover=(c.q05 <= c.true) & (c.true <= c.q95), miss2x=(c.q05 > 2 * c.true) | (c.q95 < c.true / 2),
                    roi_err=(c.hat - c.true).abs() / c.true, mroi_err=(c.mroi_hat - c.mroi_true).abs() / c.mroi_true,
                    roi_ratio=c.hat / c.true, mroi_ratio=c.mroi_hat / c.mroi_true,
                    elasticity_true=c.mroi_true / c.true, elasticity_fit=c.mroi_hat / c.hat)


def main(argv):
    for run in argv:
        c = channels(pd.read_parquet(f"{run}/fits.parquet"))
        print(f"\n{run}: {len(c)} channel fits, {int((c.status != 'ok').sum())} from fits not ok")
        t = c.groupby("arm").agg(n=("cover", "size"), cov90=("cover", "mean"), mroi_err=("mroi_err", "median"),
                                 roi_err=("roi_err", "median"), miss2x=("miss2x", "mean"))
        print(t.round(3).to_string())
        g = c[c.arm == "none"].groupby("world")
        w = g.agg(cov90=("cover", "mean"), mroi_err=("mroi_err", "median"), roi_err=("roi_err", "median"),
                  miss2x=("miss2x", "mean"))
        w["roi_hat/roi"] = g.roi_ratio.median()
        print(w.round(3).to_string())
        e = g[["roi_ratio", "mroi_ratio", "elasticity_true", "elasticity_fit"]].median()
        e["mroi_ratio_q25"] = g.mroi_ratio.quantile(0.25)
        e["mroi_ratio_q75"] = g.mroi_ratio.quantile(0.75)
        print("uncalibrated medians: estimate / truth, and elasticity mROI / ROI (true and fitted)")
        print(e.round(3).to_string())


if __name__ == "__main__":
    main(sys.argv[1:])
