"""Every fit is a row: its ``status`` and ``reason``, and how many fits each summary left out.

Statuses, first match wins:

* ``failed``: a non-finite ROI estimate or metric (the fit produced no usable posterior);
* ``diverged``: NUTS divergent transitions above ``max_divergence_share`` of its post-warm-up draws;
* ``below_quality_bar``: NUTS missed the quality bar (R-hat / ESS), the reason from the sampler;
* ``approximation_unreliable``: a fast-path fit (MAP + Laplace) whose MAP search did not converge
  (gradient norm above ``MAX_MAP_GRAD_NORM``) or whose Laplace ROI posterior is wider than the
  prior on a channel (log-scale sd ratio above ``MAX_FAST_SD_RATIO`` = 1.1): the likelihood bends the
  wrong way at the MAP (for example a test that contradicts the data), the Gaussian is not the
  posterior there, and its mean can be absurd. Refit such datasets with NUTS;
* ``ok``.

A shard whose computation raised gets one ``failed`` row per planned fit (:func:`failed_rows`,
reason ``shard raised <type>: <message>``). A failed fit keeps its row (with NaN metrics); the paired summaries count the pairs they could
not use in ``n_excluded`` beside ``n``, so no fit drops silently out of a median.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

STATUSES = ("ok", "approximation_unreliable", "below_quality_bar", "diverged", "failed")
MAX_DIVERGENCE_SHARE = 0.01
MAX_MAP_GRAD_NORM = 1.0      # estimators.fit warns above the same value
MAX_FAST_SD_RATIO = 1.1      # a Gaussian posterior is never wider than its Gaussian prior; the 10% margin
                             # is 4 Monte Carlo sds of the ratio of two sds from 1000 and 4000 draws


def classify(fits: pd.DataFrame, metrics, chains: int, max_divergence_share: float = MAX_DIVERGENCE_SHARE
             ) -> pd.DataFrame:
    """``fits`` with ``status`` and ``reason`` set on every row.

    Args:
        fits: one row per fit (``experiments.pipeline.score_step``'s table).
        metrics: names of the metric columns that must be finite.
        chains: chains per NUTS fit (for the divergence share).
    """
    out = fits.copy()
    status, reason = [], []
    for _, r in out.iterrows():
        roi = np.asarray(r["roi_hat"], float)
        bad = [m for m in metrics if m in r and not np.isfinite(float(r[m]))]
        n_draws = max(int(r.get("draws_per_chain", 0)) * chains, 1)
        share = float(r.get("divergences", 0)) / n_draws
        if not np.all(np.isfinite(roi)) or bad:
            status.append("failed")
            what = (["ROI estimate"] if not np.all(np.isfinite(roi)) else []) + bad
            reason.append("non-finite " + ", ".join(what))
        elif r.get("inference") == "nuts" and share > max_divergence_share:
            status.append("diverged")
            reason.append(f"{int(r['divergences'])} divergent transitions ({100 * share:.1f}% of "
                          f"{n_draws} draws > {100 * max_divergence_share:g}%)")
        elif r.get("inference") == "nuts" and not bool(r.get("quality_ok", True)):
            status.append("below_quality_bar")
            reason.append(str(r.get("quality", "")))
        elif r.get("inference") == "fast" and _fast_unreliable(r):
            status.append("approximation_unreliable")
            reason.append(_fast_unreliable(r))
        else:
            status.append("ok")
            reason.append("")
    out["status"] = status
    out["reason"] = reason
    return out


def _fast_unreliable(r) -> str:
    """Why a fast-path row's Laplace approximation is not to be trusted ('' if it is)."""
    why = []
    g = float(r.get("map_grad_norm", np.nan))       # NaN: not recorded (a row from before the column)
    if g > MAX_MAP_GRAD_NORM:
        why.append(f"MAP gradient norm {g:.3g} > {MAX_MAP_GRAD_NORM:g}")
    ratio = r.get("roi_sd_ratio", [])
    ratio = np.asarray(ratio if isinstance(ratio, (list, tuple, np.ndarray)) else [], float)
    if ratio.size and np.any(ratio > MAX_FAST_SD_RATIO):
        k = int(np.nanargmax(ratio))
        names = list(r.get("channels", []))
        name = names[k] if k < len(names) else str(k)
        why.append(f"Laplace ROI posterior of {name} wider than its prior (sd ratio {ratio[k]:.2f})")
    return "; ".join(why)


def counts(fits: pd.DataFrame) -> dict:
    """``{status: number of fits}`` over every status (zeros included)."""
    vc = fits["status"].value_counts()
    return {s: int(vc.get(s, 0)) for s in STATUSES}


def counts_by_arm(fits: pd.DataFrame) -> pd.DataFrame:
    """Arms x statuses, number of fits."""
    t = fits.groupby(["arm", "status"]).size().unstack(fill_value=0)
    return t.reindex(columns=list(STATUSES), fill_value=0)


def with_exclusions(long: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """``long`` (the paired table) with ``n_pairs`` (datasets the arm was fitted on) and
    ``n_excluded`` (pairs left out because a value was not finite)."""
    pairs = fits[fits["arm"] != "none"].groupby("arm").size()
    stab = long["metric"] == "stability"
    out = long.copy()
    out["n_pairs"] = [int(pairs.get(a, 0)) for a in out["arm"]]
    out.loc[stab, "n_pairs"] = out.loc[stab, "n"]             # stability pairs truths, not fits
    out["n_excluded"] = (out["n_pairs"] - out["n"]).astype(int)
    return out


def exception_reason(exc: BaseException) -> str:
    """One line: ``<exception type>: <message>`` (whitespace collapsed, at most 300 characters)."""
    msg = " ".join(str(exc).split())
    line = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def failed_rows(planned, world: str, n_channels: int, calibration_of, inference: str, shard_id: str,
                reason: str) -> pd.DataFrame:
    """One ``failed`` row per planned fit of a shard whose computation raised.

    Args:
        planned: ``(dataset_id, truth_id, replicate, arm)`` of every fit
            (:func:`experiments.layout.planned_fits`).
        world: the shard's world; ``n_channels``: its channels (the per-channel columns are
            ``n_channels`` NaNs, so the aggregation's stacking still works and excludes them).
        calibration_of: ``arm -> calibration label`` (``none`` for the baseline).
        inference: the inference method.
        reason: the one-line exception (:func:`exception_reason`).

    Every metric column is left out (NaN once concatenated with the finished shards' rows).
    """
    nan = [float("nan")] * int(n_channels)
    rows = [{"dataset_id": d, "world": world, "truth_id": t, "replicate": int(r), "shard": shard_id,
             "scenario": a.scenario, "strategy": a.strategy, "arm": a.name, "calibration": calibration_of(a),
             "inference": inference, "experiments": "none" if a.scenario == "none" else a.draws,
             "roi_hat": nan, "roi_q05": nan, "roi_q95": nan, "roi_true": nan, "allocation_hat": nan,
             "mroi_hat": nan, "mroi_q05": nan, "mroi_q95": nan, "mroi_true": nan, "roi_sd_ratio": nan,
             "mroi_sd_ratio": nan, "low_spend_share": nan, "roi_identified": [False] * int(n_channels),
             "n_tests_used": 0, "quality_ok": False, "quality": "", "status": "failed",
             "reason": "shard raised " + reason} for d, t, r, a in planned]
    out = pd.DataFrame(rows)
    out["ordinal"] = range(len(out))
    return out
