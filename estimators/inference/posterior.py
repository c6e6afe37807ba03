"""The typed posterior of a batch fit, its diagnostics and summaries.

``fit(key, batch, spec) -> Posterior`` is the room's entry point for inference: the MAP and
Laplace approximation of every dataset, then the registered method of ``spec.inference``
(:mod:`estimators.inference.methods`). All arrays are numpy with a leading dataset axis ``N``;
draws keep their chain axis, ``[N, C, D, ...]`` (``C = 1`` for the fast path). NUTS runs to a
quality bar, so datasets differ in their number of draws: dataset ``i`` holds ``n_draws[i]``
draws per chain and the draw axis is padded with NaN beyond that. Reductions over draws use
the NaN-aware numpy functions, or :func:`flat_draws` / :func:`thinned`.
"""
from __future__ import annotations

import time
from typing import NamedTuple

import jax
import numpy as np
import pandas as pd

from estimators.inference import laplace as L
from estimators.inference.diagnostics import ess_bulk, rhat_bulk
from estimators.inference.methods import METHODS, Draws
from estimators.model.batch import ModelBatch
from estimators.model.spec import FitSpec


class Diagnostics(NamedTuple):
    """Per-dataset diagnostics, each ``[N]`` unless stated. NaN where undefined."""

    divergences: np.ndarray      # post-warm-up divergent transitions
    rhat_max: np.ndarray         # max rank-normalised split R-hat over real parameters
    ess_bulk_min: np.ndarray     # min bulk ESS over real parameters
    rhat_roi: np.ndarray         # [N, K]
    ess_bulk_roi: np.ndarray     # [N, K]
    quality_ok: np.ndarray       # [N] bool: every ROI meets the quality bar (False on the fast path)
    quality: tuple               # N strings: "ok", the reason it was missed, or "not sampled"
    n_draws: np.ndarray          # [N] draws per chain
    restarts: np.ndarray         # [N] re-adaptations of the sampler (NUTS: draws' covariance as mass matrix)
    mean_steps: np.ndarray       # mean leapfrog steps per draw
    step_size: np.ndarray        # mean adapted step size over chains
    accept_prob: np.ndarray      # mean acceptance probability
    map_grad_norm: np.ndarray    # gradient norm at the MAP
    map_min_eig: np.ndarray      # smallest Hessian eigenvalue at the MAP
    map_seconds: np.ndarray      # [N] each dataset's share of the MAP calls
    seconds: np.ndarray          # [N] wall seconds of each fit (MAP share + its draws)


class Posterior(NamedTuple):
    """Posterior of ``N`` datasets.

    Attributes:
        method: the inference method (``nuts``, ``fast``, ...).
        calibration: ``none``, ``m1`` or ``m2``.
        dataset_ids, channel_names: per dataset.
        channel_mask: ``[N, K]``.
        n_draws: ``[N]`` draws per chain (the draw axis is NaN-padded beyond it).
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
    n_draws: np.ndarray
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


def fit(key, batch: ModelBatch, spec: FitSpec, progress=None) -> Posterior:
    """Fit every dataset of ``batch``.

    Args:
        key: PRNG key; dataset ``i`` uses ``fold_in(key, crc32(dataset_id_i))``, so its draws do
            not depend on its position or on the rest of the batch.
        batch: padded inputs from :func:`estimators.model.batch.build_batch`.
        spec: a validated :class:`estimators.model.spec.FitSpec`.
        progress: optional ``progress(n_done)`` callback, called as datasets finish.
    Returns:
        a :class:`Posterior`.
    """
    return fit_with_draws(key, batch, spec, progress)[0]


def fit_with_draws(key, batch: ModelBatch, spec: FitSpec, progress=None) -> tuple[Posterior, Draws]:
    """:func:`fit`, also returning the method's raw :class:`Draws` (sampler statistics per draw,
    for an ArviZ export: :mod:`estimators.inference.export`)."""
    fk = L.fns_for(batch, spec)
    n = len(batch.meta.dataset_ids)
    t0 = time.perf_counter()
    lap = L.laplace_batch(batch, spec, fk)
    map_seconds = np.full(n, (time.perf_counter() - t0) / n)
    keys = L.dataset_keys(key, batch.meta.dataset_ids)
    draws = METHODS[spec.inference.method](keys, lap, batch, fk, spec, progress)
    return posterior_from(draws, lap, batch, spec, L.model_fns_of(fk), map_seconds), draws


def posterior_from(draws: Draws, lap: L.Laplace, batch: ModelBatch, spec: FitSpec, fns: L.ModelFns,
                   map_seconds: np.ndarray) -> Posterior:
    """Assemble a :class:`Posterior` (business units, diagnostics) from a method's draws."""
    meta = batch.meta
    mask = np.asarray(batch.data.channel_mask) > 0
    scale = meta.kpi_scale
    n = mask.shape[0]
    bshape = (n, 1, 1, 1)
    p = {k: np.asarray(v) for k, v in draws.params.items()}
    diag = _diagnostics(draws, lap, fns, mask, np.asarray(batch.data.delayed) > 0, spec, map_seconds)
    return Posterior(
        method=spec.inference.method, calibration=spec.calibration.label,
        dataset_ids=meta.dataset_ids, channel_names=meta.channel_names, channel_mask=mask,
        n_draws=np.asarray(draws.n_draws), params=p, roi=p["roi"], share=np.asarray(draws.share),
        lag_days=np.asarray(draws.lag_days), beta=np.asarray(draws.beta) * scale.reshape(bshape),
        half_saturation=p["half_saturation"] * meta.spend_mean[:, None, None, :], slope=p["slope"],
        kpi_mean=np.asarray(draws.mu_mean) * scale[:, None],
        contribution_mean=np.asarray(draws.contrib_mean) * scale[:, None, None],
        spend_mean=meta.spend_mean, diagnostics=diag)


def _diagnostics(draws: Draws, lap, fns, mask, delayed, spec: FitSpec, map_seconds) -> Diagnostics:
    from estimators.inference.nuts import check_bar

    n, n_k = mask.shape
    roi_idx = np.array([i for i, lab in enumerate(fns.labels) if lab.startswith("roi[")])
    rhat_max, ess_min = np.full(n, np.nan), np.full(n, np.nan)
    rhat_roi, ess_roi = np.full((n, n_k), np.nan), np.full((n, n_k), np.nan)
    ok = np.zeros(n, bool)
    quality = []
    for i in range(n):
        if not draws.sampled:
            quality.append("not sampled")
            continue
        u = draws.u[i][:, : draws.n_draws[i]]
        real = L.real_coordinates(fns, mask[i], delayed[i])
        r, e = rhat_bulk(u), ess_bulk(u)
        rhat_max[i], ess_min[i] = np.nanmax(r[real]), np.nanmin(e[real])
        rhat_roi[i] = np.where(mask[i], r[roi_idx], np.nan)
        ess_roi[i] = np.where(mask[i], e[roi_idx], np.nan)
        ok[i], reasons = check_bar(u, L.roi_coordinates(fns, mask[i]), real, spec.inference.bar)
        quality.append("ok" if ok[i] else "; ".join(reasons) + f" after {draws.n_draws[i]} draws per chain")
    valid = np.broadcast_to(np.arange(draws.u.shape[2])[None, None, :] < np.asarray(draws.n_draws)[:, None, None],
                            np.shape(draws.num_steps))
    mean_over = lambda a: np.where(valid, a, 0).sum((1, 2)) / valid.sum((1, 2))
    return Diagnostics(
        divergences=np.where(valid, draws.diverging, False).sum((1, 2)) if draws.sampled else np.zeros(n, int),
        rhat_max=rhat_max, ess_bulk_min=ess_min, rhat_roi=rhat_roi, ess_bulk_roi=ess_roi,
        quality_ok=ok, quality=tuple(quality), n_draws=np.asarray(draws.n_draws),
        restarts=np.zeros(n, int) if draws.restarts is None else np.asarray(draws.restarts),
        mean_steps=mean_over(np.asarray(draws.num_steps, float)) if draws.sampled else np.zeros(n),
        step_size=np.nanmean(draws.step_size, 1) if draws.sampled else np.full(n, np.nan),
        accept_prob=mean_over(np.asarray(draws.accept_prob, float)) if draws.sampled else np.full(n, np.nan),
        map_grad_norm=np.asarray(lap.grad_norm), map_min_eig=np.asarray(lap.min_eig),
        map_seconds=np.asarray(map_seconds), seconds=np.asarray(map_seconds) + np.asarray(draws.seconds))


def flat_draws(a: np.ndarray, post: Posterior, i: int) -> np.ndarray:
    """Valid draws of dataset ``i`` of a per-draw array ``[N, C, D, ...]``, flattened to ``[C * n_i, ...]``."""
    x = a[i][:, : post.n_draws[i]]
    return x.reshape((-1,) + x.shape[2:])


def thin_index(post: Posterior, size: int) -> np.ndarray:
    """``[N, size]`` indices into each dataset's flattened valid draws, evenly spread."""
    c = post.roi.shape[1]
    return np.stack([np.linspace(0, c * m - 1, size).round().astype(int) for m in post.n_draws])


def thinned(a: np.ndarray, post: Posterior, size: int) -> np.ndarray:
    """``size`` evenly spread valid draws of every dataset: ``[N, C, D, ...] -> [N, size, ...]``."""
    idx = thin_index(post, size)
    return np.stack([flat_draws(a, post, i)[idx[i]] for i in range(a.shape[0])])


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
    roi = post.roi.reshape(n, c * d, k).astype(np.float64)       # NaN-padded draws drop out below
    q = np.nanquantile(roi, [0.05, 0.5, 0.95], axis=1)
    nan = lambda a: np.where(post.channel_mask, a, np.nan)
    return Summary(
        roi_mean=nan(np.nanmean(roi, 1)), roi_sd=nan(np.nanstd(roi, 1, ddof=1)),
        roi_q05=nan(q[0]), roi_q50=nan(q[1]), roi_q95=nan(q[2]),
        share_mean=nan(np.nanmean(post.share.reshape(n, c * d, k), 1)),
        lag_days=nan(np.nanmean(post.lag_days.reshape(n, c * d, k), 1)),
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
        "draws": int(post.roi.shape[1] * post.n_draws[i]),
        "chains": int(post.roi.shape[1]),
        "draws_per_chain": int(post.n_draws[i]),
        "restarts": int(dg.restarts[i]),
        "quality_ok": bool(dg.quality_ok[i]),
        "quality": dg.quality[i],
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
        "seconds": float(dg.seconds[i]),
    }
