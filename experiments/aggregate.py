"""From ``fits.parquet`` to the study's tables: paired improvements against the baseline.

Every improvement is paired: the same dataset's uncalibrated fit (arm ``none``)
against its calibrated fit, ``(err_none - err_arm) / err_none`` (positive =
better). Stability is paired per truth: the dispersion of ROI_hat / ROI across
the truth's replicates under ``none`` against the same under the arm (arms fitted
on one replicate only have no stability).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from experiments import metrics as M

# Paired metrics from the registry (conf/metric/*.yaml), in registry order, then stability.
ERROR_METRICS = tuple(n for n, m in M.METRICS.items() if m.paired == "relative")
LABELS = {**{n: m.label for n, m in M.METRICS.items() if m.paired != "none"},
          "stability": "ROI instability across replicates"}


def paired(fits: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Long table: one row per (arm, metric) with the paired improvement summary."""
    base = fits[fits["arm"] == "none"].set_index("dataset_id")
    out = []
    for arm, grp in fits[fits["arm"] != "none"].groupby("arm", sort=False):
        g = grp.set_index("dataset_id")
        b = base.loc[g.index]
        for metric, m in M.METRICS.items():
            if m.paired == "none" or metric not in g.columns:
                continue
            bv, gv = b[metric].to_numpy(), g[metric].to_numpy()
            if m.paired == "relative":
                imp = M.improvement(bv, gv) if m.better == "lower" else -M.improvement(bv, gv)
            else:
                imp = gv - bv if m.better == "higher" else bv - gv
            out.append({"arm": arm, "metric": metric, **M.paired_summary(imp, seed)._asdict(),
                        "baseline_median": float(np.nanmedian(bv)), "arm_median": float(np.nanmedian(gv))})
        stab = stability_pairs(fits, arm)
        if len(stab):
            imp = M.improvement(stab["none"].to_numpy(), stab["arm"].to_numpy())
            out.append({"arm": arm, "metric": "stability", **M.paired_summary(imp, seed)._asdict(),
                        "baseline_median": float(np.median(stab["none"])),
                        "arm_median": float(np.median(stab["arm"]))})
    return pd.DataFrame(out)


def stability_pairs(fits: pd.DataFrame, arm: str) -> pd.DataFrame:
    """Per truth: ROI dispersion across replicates under ``none`` and under ``arm``."""
    rows = []
    for truth_id, grp in fits.groupby("truth_id"):
        b = grp[grp["arm"] == "none"].sort_values("replicate")
        a = grp[grp["arm"] == arm].sort_values("replicate")
        if len(a) < 2 or len(b) < 2:
            continue
        roi = np.asarray(b["roi_true"].iloc[0], float)
        rows.append({"truth_id": truth_id,
                     "none": M.stability(np.stack(b["roi_hat"].map(np.asarray)), roi),
                     "arm": M.stability(np.stack(a["roi_hat"].map(np.asarray)), roi)})
    return pd.DataFrame(rows)


def summary_table(long: pd.DataFrame) -> pd.DataFrame:
    """Rows metrics, columns arms; cells ``median [CI low, CI high]`` in percent (points for coverage)."""
    def cell(r):
        if r["n"] == 0:
            return ""
        f = 100.0
        return f"{f * r['median']:+.1f}% [{f * r['ci_low']:+.1f}, {f * r['ci_high']:+.1f}] (n={int(r['n'])})"

    t = long.assign(cell=long.apply(cell, axis=1)).pivot(index="metric", columns="arm", values="cell")
    order = [m for m in LABELS if m in t.index]
    t = t.loc[order].fillna("n/a")
    t.index = [LABELS[m] for m in order]
    t.index.name = "paired improvement vs none (positive = better)"
    return t
