"""The typed posterior of a batch fit, its summaries and response curves.

``fit(key, batch, spec) -> Posterior`` is the room's entry point for inference.
All arrays are numpy with a leading dataset axis ``N``; draws keep their chain
axis: ``[N, C, D, ...]`` (``C = 1`` for the fast path).
"""
from __future__ import annotations

import time
from typing import NamedTuple

import jax
import numpy as np
import pandas as pd

from estimators.batch import ModelBatch
from estimators.diagnostics import ess_bulk, rhat_bulk
from estimators.inference import fit_raw
from estimators.spec import FitSpec
from simulate import transforms as tf


class Diagnostics(NamedTuple):
    """Per-dataset diagnostics, each ``[N]`` unless stated. NaN where undefined."""

    divergences: np.ndarray      # post-warm-up divergent transitions
    rhat_max: np.ndarray         # max rank-normalised split R-hat over real parameters
    ess_bulk_min: np.ndarray     # min bulk ESS over real parameters
    rhat_roi: np.ndarray         # [N, K]
    ess_bulk_roi: np.ndarray     # [N, K]
    mean_steps: np.ndarray       # mean leapfrog steps per draw
    step_size: np.ndarray        # mean adapted step size over chains
    accept_prob: np.ndarray      # mean acceptance probability
    map_grad_norm: np.ndarray    # gradient norm at the MAP
    map_min_eig: np.ndarray      # smallest Hessian eigenvalue at the MAP
    seconds: float               # wall time of the whole batch (incl. compile on first call)


class Posterior(NamedTuple):
    """Posterior of ``N`` datasets.

    Attributes:
        method: ``nuts`` or ``fast``.
        calibration: ``none``, ``m1`` or ``m2``.
        dataset_ids, channel_names: per dataset.
        channel_mask: ``[N, K]``.
        params: constrained parameters on the scaled problem, ``{name: [N, C, D, ...]}``.
        roi: ``[N, C, D, K]`` ROI (KPI per unit spend over the data's weeks).
        share: ``[N, C, D, K]`` share of total media contribution.
        lag_days: ``[N, C, D, K]`` days to ``lag_share`` of the carryover.
        beta: ``[N, C, D, K]`` weekly KPI at full saturation (KPI units).
        half_saturation: ``[N, C, D, K]`` weekly national spend giving half of beta.
        slope: ``[N, C, D, K]`` Hill slope.
        kpi_mean: ``[N, T]`` posterior mean of the expected KPI (KPI units).
        contribution_mean: ``[N, T, K]`` posterior mean weekly contributions (KPI units).
        spend_mean: ``[N, K]`` mean weekly spend of each channel over the data.
        diagnostics: :class:`Diagnostics`.
    """

    method: str
    calibration: str
    dataset_ids: tuple
    channel_names: tuple
    channel_mask: np.ndarray
    params: dict
    roi: np.ndarray
    share: np.ndarray
    lag_days: np.ndarray
    beta: np.ndarray
    half_saturation: np.ndarray
    slope: np.ndarray
    kpi_mean: np.ndarray
    contribution_mean: np.ndarray
    spend_mean: np.ndarray
    diagnostics: Diagnostics


def fit(key, batch: ModelBatch, spec: FitSpec) -> Posterior:
    """Fit every dataset of ``batch`` in one compiled, vectorised call.

    Args:
        key: PRNG key; dataset ``i`` uses ``fold_in(key, crc32(dataset_id_i))``, so
            its draws do not depend on its position or on the rest of the batch.
        batch: padded inputs from :func:`estimators.batch.build_batch`.
        spec: a validated :class:`estimators.spec.FitSpec`.
    Returns:
        a :class:`Posterior`.
    """
    t0 = time.perf_counter()
    raw, der, fns = fit_raw(key, batch, spec)
    raw, der = jax.device_get((raw, der))
    seconds = time.perf_counter() - t0
    meta = batch.meta
    mask = np.asarray(batch.data.channel_mask) > 0
    scale = meta.kpi_scale
    n, n_k = mask.shape
    bshape = (n, 1, 1, 1)
    p = {k: np.asarray(v) for k, v in der.params.items()}
    diag = _diagnostics(raw, fns, mask, np.asarray(batch.data.delayed) > 0, spec, seconds)
    return Posterior(
        method=spec.inference.method,
        calibration=spec.calibration.method,
        dataset_ids=meta.dataset_ids,
        channel_names=meta.channel_names,
        channel_mask=mask,
        params=p,
        roi=np.asarray(der.roi),
        share=np.asarray(der.share),
        lag_days=np.asarray(der.lag_days),
        beta=np.asarray(der.beta) * scale.reshape(bshape),
        half_saturation=p["half_saturation"] * meta.spend_mean[:, None, None, :],
        slope=p["slope"],
        kpi_mean=np.asarray(der.kpi_mean) * scale[:, None],
        contribution_mean=np.asarray(der.contrib_mean) * scale[:, None, None],
        spend_mean=meta.spend_mean,
        diagnostics=diag,
    )


def _diagnostics(raw, fns, mask, delayed, spec: FitSpec, seconds: float) -> Diagnostics:
    u = np.asarray(raw.u)
    n, n_k = mask.shape
    real = np.ones((n, fns.dim), bool)
    ch = fns.channel_of
    # theta only matters for delayed channels; elsewhere it is prior-only and left out
    is_theta = np.array([lab.startswith("theta_z") for lab in fns.labels])
    for i in range(n):
        real[i] = ((ch < 0) | mask[i][np.maximum(ch, 0)]) & ~(is_theta & ~delayed[i][np.maximum(ch, 0)])
    nuts = spec.inference.method == "nuts"
    rhat_max = np.full(n, np.nan)
    ess_min = np.full(n, np.nan)
    rhat_roi = np.full((n, n_k), np.nan)
    ess_roi = np.full((n, n_k), np.nan)
    roi_idx = np.array([i for i, lab in enumerate(fns.labels) if lab.startswith("roi[")])
    if nuts:
        for i in range(n):
            r = rhat_bulk(u[i])
            e = ess_bulk(u[i])
            keep = real[i]
            rhat_max[i] = np.nanmax(r[keep])
            ess_min[i] = np.nanmin(e[keep])
            rhat_roi[i] = np.where(mask[i], r[roi_idx], np.nan)
            ess_roi[i] = np.where(mask[i], e[roi_idx], np.nan)
    lap = raw.laplace
    return Diagnostics(
        divergences=np.asarray(raw.diverging).sum((1, 2)) if nuts else np.zeros(n, int),
        rhat_max=rhat_max, ess_bulk_min=ess_min, rhat_roi=rhat_roi, ess_bulk_roi=ess_roi,
        mean_steps=np.asarray(raw.num_steps, float).mean((1, 2)) if nuts else np.zeros(n),
        step_size=np.asarray(raw.step_size).mean(1) if nuts else np.full(n, np.nan),
        accept_prob=np.asarray(raw.accept_prob).mean((1, 2)) if nuts else np.full(n, np.nan),
        map_grad_norm=np.asarray(lap.grad_norm), map_min_eig=np.asarray(lap.min_eig),
        seconds=seconds,
    )


class Summary(NamedTuple):
    """Per-channel posterior summaries, each ``[N, K]`` (NaN on padded channels)."""

    roi_mean: np.ndarray
    roi_sd: np.ndarray
    roi_q05: np.ndarray
    roi_q50: np.ndarray
    roi_q95: np.ndarray
    share_mean: np.ndarray
    lag_days: np.ndarray      # posterior mean


def summarise(post: Posterior) -> Summary:
    """ROI mean / sd / 5-50-95% quantiles, mean contribution share and mean lag window."""
    n, c, d, k = post.roi.shape
    roi = post.roi.reshape(n, c * d, k).astype(np.float64)
    q = np.quantile(roi, [0.05, 0.5, 0.95], axis=1)
    nan = lambda a: np.where(post.channel_mask, a, np.nan)
    return Summary(
        roi_mean=nan(roi.mean(1)), roi_sd=nan(roi.std(1, ddof=1)),
        roi_q05=nan(q[0]), roi_q50=nan(q[1]), roi_q95=nan(q[2]),
        share_mean=nan(post.share.reshape(n, c * d, k).mean(1)),
        lag_days=nan(post.lag_days.reshape(n, c * d, k).mean(1)),
    )


SUMMARY_COLUMNS = ("channel", "roi_mean", "roi_sd", "roi_q05", "roi_q50", "roi_q95",
                   "share_mean", "lag_days")


def summary_frame(post: Posterior, i: int = 0, summary: Summary | None = None) -> pd.DataFrame:
    """The ``posterior_summary.csv`` table of dataset ``i``."""
    s = summary or summarise(post)
    names = post.channel_names[i]
    k = len(names)
    cols = {"channel": list(names)}
    for name in SUMMARY_COLUMNS[1:]:
        cols[name] = getattr(s, name)[i, :k]
    return pd.DataFrame(cols, columns=list(SUMMARY_COLUMNS))


def diagnostics_dict(post: Posterior, i: int = 0) -> dict:
    """JSON-ready diagnostics of dataset ``i``."""
    dg = post.diagnostics
    k = len(post.channel_names[i])
    f = lambda x: None if not np.isfinite(x) else float(x)
    return {
        "method": post.method,
        "calibration": post.calibration,
        "dataset_id": post.dataset_ids[i],
        "draws": int(post.roi.shape[1] * post.roi.shape[2]),
        "chains": int(post.roi.shape[1]),
        "divergences": int(dg.divergences[i]),
        "rhat_max": f(dg.rhat_max[i]),
        "ess_bulk_min": f(dg.ess_bulk_min[i]),
        "rhat_roi": {c: f(v) for c, v in zip(post.channel_names[i], dg.rhat_roi[i, :k])},
        "ess_bulk_roi": {c: f(v) for c, v in zip(post.channel_names[i], dg.ess_bulk_roi[i, :k])},
        "mean_leapfrog_steps": f(dg.mean_steps[i]),
        "step_size": f(dg.step_size[i]),
        "accept_prob": f(dg.accept_prob[i]),
        "map_grad_norm": f(dg.map_grad_norm[i]),
        "map_min_hessian_eig": f(dg.map_min_eig[i]),
        "seconds_batch": float(dg.seconds),
    }


def response(post: Posterior, weekly_spend: np.ndarray) -> np.ndarray:
    """Steady-state weekly response per draw at constant weekly spend.

    With normalised adstock a constant spend ``x`` settles at ``x``, so the
    weekly response is ``beta * hill(x, h, s)``.

    Args:
        post: posterior.
        weekly_spend: national weekly spend ``[N, P, K]`` (or ``[P, K]`` for all datasets).
    Returns:
        response ``[N, C*D, P, K]`` in KPI units.
    """
    n, c, d, k = post.beta.shape
    x = np.broadcast_to(np.asarray(weekly_spend, np.float64), (n,) + np.shape(weekly_spend)[-2:])
    b = post.beta.reshape(n, c * d, 1, k)
    h = post.half_saturation.reshape(n, c * d, 1, k)
    s = post.slope.reshape(n, c * d, 1, k)
    return b * np.asarray(tf.hill(x[:, None], h, s))


def response_curves(post: Posterior, points: int = 41, curve_max: float = 3.0) -> dict:
    """Response curves on ``0 .. curve_max x`` each channel's mean spend.

    Returns:
        dict with ``spend [N, P, K]``, ``mean``, ``q05``, ``q95`` ``[N, P, K]``.
    """
    grid = np.linspace(0.0, curve_max, points)[None, :, None] * post.spend_mean[:, None, :]
    r = response(post, grid)
    q = np.quantile(r, [0.05, 0.95], axis=1)
    return {"spend": grid, "mean": r.mean(1), "q05": q[0], "q95": q[1]}
