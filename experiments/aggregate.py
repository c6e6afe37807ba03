"""From ``fits.parquet`` to the study's tables: paired improvements against the baseline.

Every improvement is paired: the same dataset's uncalibrated fit (arm ``none``)
against its calibrated fit, ``(err_none - err_arm) / err_none`` (positive =
better). Each is summarised three ways, each with a bootstrap CI that resamples
truths (a truth's replicates stay together): the median of the per-dataset
improvements, the ratio of means ``1 - mean(err_arm) / mean(err_none)``, and the
share of datasets improved. Stability is paired per truth: the dispersion of
ROI_hat / ROI across the truth's replicates under ``none`` against the same under
the arm (arms fitted on one replicate only have no stability); :func:`stability_split`
splits its mean square into bias squared and variance. :func:`by_identification` splits the
channel-level verdicts by whether the baseline identified the channel's ROI, and
:func:`by_test_kind` gives the ROI and mROI verdicts by the kind of test used.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from experiments import metrics as M

# Paired metrics from the registry (conf/metric/*.yaml), in registry order, then stability.
ERROR_METRICS = tuple(n for n, m in M.METRICS.items() if m.paired == "relative")
LABELS = {**{n: m.label for n, m in M.METRICS.items() if m.paired != "none"},
          "stability": "ROI instability across replicates"}


def _improvements(m: M.MetricDef, bv: np.ndarray, gv: np.ndarray) -> np.ndarray:
    if m.paired == "relative":
        return M.improvement(bv, gv) if m.better == "lower" else -M.improvement(bv, gv)
    return gv - bv if m.better == "higher" else bv - gv


def paired(fits: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Long table: one row per (arm, metric) with the paired summaries of :func:`metrics.paired_stats`."""
    base = fits[fits["arm"] == "none"].set_index("dataset_id")
    out = []
    for arm, grp in fits[fits["arm"] != "none"].groupby("arm", sort=False):
        g = grp.set_index("dataset_id")
        b = base.loc[g.index]
        for metric, m in M.METRICS.items():
            if m.paired == "none" or metric not in g.columns:
                continue
            bv, gv = b[metric].to_numpy(float), g[metric].to_numpy(float)
            stats = M.paired_stats(bv, gv, _improvements(m, bv, gv), g["truth_id"].to_numpy(), seed,
                                   ratio=m.paired == "relative" and m.better == "lower")
            out.append({"arm": arm, "metric": metric, **stats,
                        "baseline_median": float(np.nanmedian(bv)), "arm_median": float(np.nanmedian(gv))})
        stab = stability_pairs(fits, arm)
        if len(stab):
            bv, gv = stab["none"].to_numpy(), stab["arm"].to_numpy()
            stats = M.paired_stats(bv, gv, M.improvement(bv, gv), stab["truth_id"].to_numpy(), seed)
            out.append({"arm": arm, "metric": "stability", **stats,
                        "baseline_median": float(np.median(bv)), "arm_median": float(np.median(gv))})
    return pd.DataFrame(out)


def _floats(values) -> np.ndarray:
    """A list column's cell as floats (a failed fit's missing values, stored as nulls, become NaN)."""
    return np.asarray(values, float)


def stability_split(fits: pd.DataFrame) -> pd.DataFrame:
    """Bias squared and variance of ``ROI_hat / ROI`` across each truth's replicates, per arm.

    For every truth and channel with at least two replicates in the arm: ``bias2 = (mean_r x - 1)^2``
    and ``variance = var_r x`` (ddof 1) of ``x = ROI_hat / ROI``; their sum is the mean square
    error of ``x`` about 1 (with the unbiased variance). Rows: arm (``none`` included), with the
    means over truths and channels, the variance's share of their sum, the number of truths, and
    ``n_truths_excluded``: truths left out because a replicate's ROI estimate is not finite.
    """
    rows = []
    for arm, grp in fits.groupby("arm", sort=False):
        b2, var, truths, excluded = [], [], 0, 0
        for _, t in grp.groupby("truth_id"):
            if len(t) < 2:
                continue
            x = np.stack(t["roi_hat"].map(_floats)) / np.asarray(t["roi_true"].iloc[0], float)[None, :]
            if not np.all(np.isfinite(x)):     # a failed fit among the replicates: counted, not averaged
                excluded += 1
                continue
            b2.append((x.mean(0) - 1.0) ** 2)
            var.append(x.var(0, ddof=1))
            truths += 1
        if not truths:
            continue
        b2m, vm = float(np.mean(np.concatenate(b2))), float(np.mean(np.concatenate(var)))
        rows.append({"arm": arm, "n_truths": truths, "n_truths_excluded": excluded, "bias2": b2m, "variance": vm,
                     "mse": b2m + vm,
                     "variance_share": vm / (b2m + vm) if b2m + vm > 0 else float("nan"),
                     "replicates": int(grp.groupby("truth_id").size().median())})
    return pd.DataFrame(rows)


PRECISION_BINS = (0.0, 0.25, 0.5, 1.0, np.inf)


def by_precision(fits: pd.DataFrame, seed: int = 0, bins=PRECISION_BINS,
                 metrics=("roi_mape", "attribution_error", "counterfactual_delta_mape", "budget_regret")) -> pd.DataFrame:
    """The paired verdicts by bins of the realised precision of the tests each fit used
    (``test_rel_se``: median ``lift_se / |lift|`` of its tests): one row per (arm, bin, metric)."""
    if "test_rel_se" not in fits.columns:
        return pd.DataFrame()
    base = fits[fits["arm"] == "none"].set_index("dataset_id")
    cal = fits[(fits["arm"] != "none") & np.isfinite(fits["test_rel_se"])]
    labels = [f"[{lo:g}, {hi:g})" for lo, hi in zip(bins[:-1], bins[1:])]
    cal = cal.assign(precision_bin=pd.cut(cal["test_rel_se"], list(bins), right=False, labels=labels))
    out = []
    for (arm, bin_), grp in cal.groupby(["arm", "precision_bin"], sort=False, observed=True):
        g = grp.set_index("dataset_id")
        b = base.loc[g.index]
        for metric in metrics:
            m = M.METRICS[metric]
            bv, gv = b[metric].to_numpy(float), g[metric].to_numpy(float)
            stats = M.paired_stats(bv, gv, _improvements(m, bv, gv), g["truth_id"].to_numpy(), seed,
                                   ratio=m.paired == "relative" and m.better == "lower")
            out.append({"arm": arm, "precision_bin": str(bin_), "metric": metric, **stats})
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
                     "none": M.stability(np.stack(b["roi_hat"].map(_floats)), roi),
                     "arm": M.stability(np.stack(a["roi_hat"].map(_floats)), roi)})
    return pd.DataFrame(rows)


STATS = {"median": ("median", "ci_low", "ci_high"), "ratio_of_means": ("ratio_of_means", "rom_ci_low", "rom_ci_high"),
         "share_improved": ("share_improved", "share_ci_low", "share_ci_high")}


def summary_table(long: pd.DataFrame, stat: str = "median") -> pd.DataFrame:
    """Rows metrics, columns arms; cells ``value [CI low, CI high]`` in percent (points for coverage)
    of one of :data:`STATS` (the median of per-dataset improvements by default)."""
    v, lo, hi = STATS[stat]

    def cell(r):
        if r["n"] == 0 or not np.isfinite(r[v]):
            return ""
        f, sign = 100.0, "" if stat == "share_improved" else "+"
        return f"{f * r[v]:{sign}.1f}% [{f * r[lo]:{sign}.1f}, {f * r[hi]:{sign}.1f}] (n={int(r['n'])})"

    t = long.assign(cell=long.apply(cell, axis=1)).pivot(index="metric", columns="arm", values="cell")
    order = [m for m in LABELS if m in t.index]
    t = t.loc[order].fillna("n/a")
    t.index = [LABELS[m] for m in order]
    t.index.name = {"median": "median paired improvement vs none (positive = better)",
                    "ratio_of_means": "1 - mean(arm) / mean(none) (positive = better)",
                    "share_improved": "share of datasets improved vs none"}[stat]
    return t


def _channel_errors(fits: pd.DataFrame) -> pd.DataFrame:
    """One row per (fit, channel): ROI and mROI relative errors, 90% coverage of the true ROI and
    the fit's ``roi_identified`` flag (from the per-channel lists of ``fits.parquet``). Failed fits
    (a shard that raised has no per-channel lists) have no channel rows."""
    rows = []
    for f in fits.itertuples():
        if getattr(f, "status", "ok") == "failed" or not isinstance(f.mroi_hat, (list, tuple, np.ndarray)):
            continue
        for c, (hat, lo, hi, tru, mhat, mtru, ok) in enumerate(zip(f.roi_hat, f.roi_q05, f.roi_q95, f.roi_true,
                                                                    f.mroi_hat, f.mroi_true, f.roi_identified)):
            rows.append({"dataset_id": f.dataset_id, "truth_id": f.truth_id, "arm": f.arm, "c": c,
                         "roi_error": abs(hat - tru) / abs(tru), "mroi_error": abs(mhat - mtru) / abs(mtru),
                         "coverage90": float(lo <= tru <= hi), "identified": bool(ok)})
    return pd.DataFrame(rows)


CHANNEL_METRICS = {"roi_error": "relative", "mroi_error": "relative", "coverage90": "difference"}


def by_identification(fits: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The paired channel verdicts split by whether the *baseline* fit identified the channel's ROI.

    Every (calibrated fit, channel) is paired with the same dataset's uncalibrated fit and channel;
    its group is ``identified`` or ``not identified`` by the baseline's ``roi_identified`` (what the
    data alone identify). Rows: (arm, group, metric) with ``channels`` (pairs), the group's
    ``share`` of the arm's channels (the two groups of an arm add up to 1, their channels to the
    arm's), ``arm_identified_share`` (of those channels, the share the calibrated fit identifies),
    baseline and arm medians and means (for ``coverage90`` the mean is the coverage), and the paired summaries of :func:`metrics.paired_stats` (bootstrap
    over truths): ``roi_error``, ``mroi_error`` (relative improvements) and ``coverage90``
    (difference in points). Runs without the identification columns give an empty table.
    """
    need = {"roi_identified", "mroi_hat", "mroi_true"}
    if not need <= set(fits.columns):
        return pd.DataFrame()
    ch = _channel_errors(fits)
    base = ch[ch["arm"] == "none"].set_index(["dataset_id", "c"])
    out = []
    for arm, grp in ch[ch["arm"] != "none"].groupby("arm", sort=False):
        g = grp.set_index(["dataset_id", "c"])
        b = base.loc[g.index]
        ident = b["identified"].to_numpy()
        for flag, name in ((True, "identified"), (False, "not identified")):
            m = ident == flag
            for metric, kind in CHANNEL_METRICS.items():
                bv, gv = b[metric].to_numpy(float)[m], g[metric].to_numpy(float)[m]
                imp = M.improvement(bv, gv) if kind == "relative" else gv - bv
                stats = M.paired_stats(bv, gv, imp, g["truth_id"].to_numpy()[m], seed, ratio=kind == "relative")
                out.append({"arm": arm, "group": name, "metric": metric, "channels": int(m.sum()),
                            "share": float(m.mean()) if m.size else float("nan"),
                            "arm_identified_share": float(g["identified"].to_numpy()[m].mean()) if m.any() else float("nan"),
                            "baseline_median": float(np.nanmedian(bv)) if m.any() else float("nan"),
                            "arm_median": float(np.nanmedian(gv)) if m.any() else float("nan"),
                            "baseline_mean": float(np.nanmean(bv)) if m.any() else float("nan"),
                            "arm_mean": float(np.nanmean(gv)) if m.any() else float("nan"), **stats})
    return pd.DataFrame(out)


def by_test_kind(fits: pd.DataFrame, seed: int = 0, metrics=("roi_mape", "mroi_error")) -> pd.DataFrame:
    """Which quantity each kind of test fixes: the paired ROI and mROI verdicts by the kind of the
    tests a fit used (``test_kind``: ``go_dark``, ``scale_up``, ``mixed``; fits that used none are
    left out). One row per (arm, test kind, metric), with baseline and arm medians."""
    if "test_kind" not in fits.columns or "mroi_error" not in fits.columns:
        return pd.DataFrame()
    base = fits[fits["arm"] == "none"].set_index("dataset_id")
    cal = fits[(fits["arm"] != "none") & (fits["test_kind"] != "none")]
    out = []
    for (arm, kind), grp in cal.groupby(["arm", "test_kind"], sort=False):
        g = grp.set_index("dataset_id")
        b = base.loc[g.index]
        for metric in metrics:
            m = M.METRICS[metric]
            bv, gv = b[metric].to_numpy(float), g[metric].to_numpy(float)
            stats = M.paired_stats(bv, gv, _improvements(m, bv, gv), g["truth_id"].to_numpy(), seed, ratio=True)
            out.append({"arm": arm, "test_kind": kind, "metric": metric, **stats,
                        "baseline_median": float(np.nanmedian(bv)), "arm_median": float(np.nanmedian(gv))})
    return pd.DataFrame(out)
