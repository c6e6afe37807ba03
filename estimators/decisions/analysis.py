"""Posterior analysis: response curves, counterfactual spend plans and the recommended budget.

Everything a decision needs from a fitted posterior, computed with the model's own transforms
and its pre-sample convention, vectorised over datasets in one compiled call per block of
:data:`BLOCK` datasets (a short last block is filled with copies of its last dataset, whose
rows are discarded):

* **counterfactual plans**: the posterior-mean total media contribution over the fitted weeks
  when each channel's observed weekly spend is multiplied by a plan's factor (the spend before
  the data stays as it was);
* **recommended allocation**: the maximiser of the posterior-mean steady-state response
  ``mean_s beta_s hill(b; h_s, slope_s)`` at a weekly budget under per-channel bounds, from the
  project's one optimiser (:mod:`common.budget`);
* **response curves**: mean and 90% band of the steady-state response on a spend grid.

Curves and counterfactuals use ``draws`` evenly spread posterior draws per dataset.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from common import budget as B
from common import transforms as tf
from common.blocks import run_blocked
from estimators.inference.posterior import Posterior, summarise, thinned
from estimators.model.batch import ModelBatch

BLOCK = 8


class Analysis(NamedTuple):
    """Decision quantities of ``N`` fits (numpy float64).

    Attributes:
        roi_mean, roi_q05, roi_q95: ``[N, K]`` posterior ROI mean and 90% interval.
        contribution_total: ``[N, K]`` posterior-mean contribution over the fitted weeks.
        fitted_kpi_total: ``[N]`` posterior-mean expected KPI summed over the fitted weeks.
        plan_media: ``[N, P]`` posterior-mean total media over the fitted weeks under each plan.
        media_now: ``[N]`` the same under the observed spend (every factor 1).
        budget: ``[N]`` weekly budget of the recommendation; lower, upper: ``[N, K]`` its bounds.
        allocation: ``[N, K]`` recommended weekly spend; allocation_response: ``[N, K]`` its
            posterior-mean steady-state weekly response.
    """

    roi_mean: np.ndarray
    roi_q05: np.ndarray
    roi_q95: np.ndarray
    contribution_total: np.ndarray
    fitted_kpi_total: np.ndarray
    plan_media: np.ndarray
    media_now: np.ndarray
    budget: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    allocation: np.ndarray
    allocation_response: np.ndarray


def mean_response(draws, b):
    """Posterior-mean steady-state response: draws ``(beta, half, slope)`` each ``[S, K]``, spend
    ``[M, K]`` -> ``[M, K]`` (with normalised adstock a constant weekly spend settles at itself)."""
    beta, half, slope = draws
    return jnp.mean(beta[:, None, :] * tf.hill(b[None], half[:, None, :], slope[:, None, :]), axis=0)


def _plans_one(alpha, theta, beta, half, slope, delayed, spend, n_fit, levels, index, max_lag: int,
               pre_first: bool):
    """Posterior-mean total media over the first ``n_fit`` weeks under each plan, ``[P]`` (one dataset).

    A plan multiplies channel ``k``'s observed spend by ``levels[index[p, k]]``. Adstock is linear,
    so ``adstock(history + f * observed) = adstock(history) + f * adstock(observed)``: one adstock
    per draw serves every plan, and each channel's total is computed once per distinct factor.
    """
    n_t = spend.shape[0]
    pre = jnp.repeat(spend[:1], max_lag - 1, 0) if pre_first else jnp.zeros((max_lag - 1, spend.shape[1]))
    idx = max_lag - 1 + jnp.arange(n_t)[None, :] - jnp.arange(max_lag)[:, None]          # [L, T]
    stack = lambda x: jnp.transpose(x[idx], (2, 0, 1))                                    # [L-1+T, K] -> [K, L, T]
    lag_hist = stack(jnp.concatenate([pre, jnp.zeros_like(spend)]))
    lag_obs = stack(jnp.concatenate([jnp.zeros_like(pre), spend]))
    w = tf.normalised_weights(alpha, theta, delayed[None, :], max_lag)                   # [S, K, L]
    a_hist = jnp.einsum("klt,skl->skt", lag_hist, w)                                     # [S, K, T]
    a_obs = jnp.einsum("klt,skl->skt", lag_obs, w)
    fitted = (jnp.arange(n_t) < n_fit)
    ad = a_hist[:, None] + levels[None, :, None, None] * a_obs[:, None]                  # [S, U, K, T]
    sat = tf.hill(ad, half[:, None, :, None], slope[:, None, :, None])
    per = jnp.sum(jnp.where(fitted, sat, 0.0), -1) * beta[:, None, :]                    # [S, U, K]
    chan = jnp.arange(per.shape[-1])
    totals = per[:, index, chan[None, :]].sum(-1)                                         # [S, P]
    return totals.mean(0)


def _analyse_one(d, levels, index, max_lag: int, pre_first: bool):
    plans = _plans_one(d["alpha"], d["theta"], d["beta"], d["half"], d["slope"], d["delayed"], d["spend"],
                       d["n_fit"], levels, index, max_lag, pre_first)
    alloc = B.optimise(lambda b: mean_response((d["beta"], d["half"], d["slope"]), b), d["budget"],
                       d["lower"], d["upper"])
    return plans, alloc.spend, alloc.response


@lru_cache(maxsize=8)
def _program(max_lag: int, pre_first: bool):
    one = lambda d, levels, index: _analyse_one(d, levels, index, max_lag, pre_first)
    return jax.jit(jax.vmap(one, in_axes=(0, None, None)))


def analyse(post: Posterior, batch: ModelBatch, factors: np.ndarray, bounds: tuple, *,
            max_lag: int, pre_sample: str = "first", draws: int = 250) -> Analysis:
    """Counterfactual plans and the recommended allocation of every fit, in one call per block.

    Args:
        post: the batch posterior.
        batch: the batch it was fitted on (spend, fitted weeks, delayed-adstock flags).
        factors: ``[P, K]`` spend multipliers of the counterfactual plans (``K`` padded channels).
        bounds: per-channel planning bounds as multiples of historical mean weekly spend.
        max_lag, pre_sample: the model's lag count and pre-sample convention.
        draws: posterior draws per dataset used for the curves.
    Returns:
        an :class:`Analysis`.
    """
    meta = batch.meta
    n = len(post.dataset_ids)
    n_fit = np.asarray(meta.n_fit)
    real_weeks = np.arange(meta.spend.shape[1])[None, :] < np.asarray(meta.n_weeks)[:, None]
    hist = (meta.spend * real_weeks[:, :, None]).sum(1) / np.asarray(meta.n_weeks)[:, None]   # [N, K]
    mask = post.channel_mask
    lower, upper = bounds[0] * hist, bounds[1] * hist
    budget = hist.sum(1)
    B.check_bounds(budget, lower, upper)
    th = lambda a: thinned(np.asarray(a, np.float64), post, draws)
    # Padded channels get a zero response (beta 0) and zero bounds.
    inputs = {"alpha": th(post.params["alpha"]), "theta": th(post.params["theta"]),
              "beta": np.where(mask[:, None, :], th(post.beta), 0.0), "half": th(post.half_saturation),
              "slope": th(post.slope), "delayed": np.asarray(batch.data.delayed, np.float64),
              "spend": np.asarray(meta.spend, np.float64), "n_fit": n_fit, "budget": budget,
              "lower": lower, "upper": upper}
    program = _program(int(max_lag), pre_sample == "first")
    f = np.vstack([factors, np.ones((1, factors.shape[1]))])                   # + the observed plan
    levels, index = np.unique(f, return_inverse=True)
    with jax.enable_x64(True):
        plans, alloc, resp = run_blocked(program, (inputs,), BLOCK, shared=(
            jnp.asarray(levels, jnp.float64), jnp.asarray(index.reshape(f.shape), jnp.int32)))
    plans, now = plans[:, :-1], plans[:, -1]
    s = summarise(post)
    fit_weeks = (np.arange(post.kpi_mean.shape[1])[None, :] < n_fit[:, None])
    return Analysis(
        roi_mean=s.roi_mean, roi_q05=s.roi_q05, roi_q95=s.roi_q95,
        contribution_total=(post.contribution_mean * fit_weeks[:, :, None]).sum(1),
        fitted_kpi_total=(post.kpi_mean * fit_weeks).sum(1), plan_media=plans, media_now=now,
        budget=budget, lower=lower, upper=upper, allocation=alloc, allocation_response=resp)


def response_curves(post: Posterior, points: int = 41, curve_max: float = 3.0) -> dict:
    """Steady-state response curves on ``0 .. curve_max x`` each channel's mean weekly spend.

    Returns:
        dict with ``spend [N, P, K]`` and ``mean``, ``q05``, ``q95`` ``[N, P, K]`` (KPI per week).
    """
    n, c, d, k = post.beta.shape
    grid = np.linspace(0.0, curve_max, points)[None, :, None] * post.spend_mean[:, None, :]
    with jax.enable_x64(True):
        b = post.beta.reshape(n, c * d, 1, k)
        h = post.half_saturation.reshape(n, c * d, 1, k)
        s = post.slope.reshape(n, c * d, 1, k)
        r = b * np.asarray(tf.hill(jnp.asarray(grid[:, None]), jnp.asarray(h), jnp.asarray(s)))
    q = np.nanquantile(r, [0.05, 0.95], axis=1)
    return {"spend": grid, "mean": np.nanmean(r, 1), "q05": q[0], "q95": q[1]}
