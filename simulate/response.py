"""The truth's response: one API for everything the true media model answers.

The world's channels respond through ``beta * saturate(adstock(spend))``, Hill or (when
misspecified) exponential saturation. Everything the study needs to know of the truth's
response goes through the functions here, all jnp and batched over datasets:

* :func:`saturate` and :func:`steady_response`: the steady-state weekly response at a
  constant weekly spend (with normalised adstock a constant spend settles at itself);
* :func:`marginal_at`: the derivative of that response at a weekly spend (the true marginal
  ROI, KPI per unit of spend, at e.g. the observed mean weekly spend);
* :func:`channel_media`: one channel's weekly contribution for arbitrary spend histories
  (the lift-test replays);
* :func:`media_totals_under`: total media contribution when the observed spend is scaled by
  counterfactual plans (the history before the data stays as it was);
* :func:`optimal_allocation`: the optimum of the reference budget, with the project's one
  optimiser (:mod:`common.budget`).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from common import budget as B
from common import transforms as tf
from common.blocks import run_blocked

BLOCK = 8       # datasets per compiled call (fixed: results never depend on the batch)


class ResponseParams(NamedTuple):
    """The true response of ``K`` channels (leading batch axes allowed), jnp or numpy."""

    beta: np.ndarray          # [..., K] weekly KPI at full saturation
    half: np.ndarray          # [..., K] half-saturation, weekly national spend
    slope: np.ndarray         # [..., K] Hill slope (unused where misspecified)
    misspecified: np.ndarray  # [..., K] bool: exponential saturation


def params_of(truth) -> ResponseParams:
    """The response parameters of a :class:`simulate.truth.Truth` batch."""
    return ResponseParams(np.asarray(truth.beta), np.asarray(truth.half_saturation),
                          np.asarray(truth.slope), np.asarray(truth.misspecified))


def saturate(x, half, slope, misspecified):
    """Hill where well specified, exponential saturation where misspecified; broadcasts."""
    return jnp.where(misspecified, tf.exponential_saturation(x, half), tf.hill(x, half, slope))


def steady_response(p: ResponseParams, weekly_spend):
    """Steady-state weekly response at constant weekly spend: ``[..., M, K]`` for spend ``[..., M, K]``.

    ``p`` has leading axes matching ``weekly_spend``'s leading axes (without ``M``).
    """
    e = lambda a: jnp.asarray(a)[..., None, :]
    return e(p.beta) * saturate(weekly_spend, e(p.half), e(p.slope), e(p.misspecified))


def marginal_at(p: ResponseParams, weekly_spend) -> np.ndarray:
    """True marginal ROI: ``d steady_response / d spend`` at weekly spend ``[..., K]`` -> ``[..., K]``.

    Closed form, ``beta * hill'(x; h, s)`` where well specified and ``beta * ln2 / h * exp(-x ln2 / h)``
    where the saturation is exponential (float64 numpy). KPI per unit of spend, like ROI: it is
    the return of the next unit of weekly spend once the adstock has settled.

    Args:
        p: response parameters with the same leading axes as ``weekly_spend`` (e.g. ``[N, K]``).
        weekly_spend: e.g. each channel's observed mean weekly spend ``[N, K]``.
    """
    with jax.enable_x64(True):
        f = lambda a: jnp.asarray(a, jnp.float64)
        x, h, s = f(weekly_spend), f(p.half), f(p.slope)
        d = jnp.where(jnp.asarray(p.misspecified), tf.exponential_saturation_derivative(x, h),
                      tf.hill_derivative(x, h, s))
        return np.asarray(f(p.beta) * d)


def channel_media(weights, beta, half, slope, misspecified, series, burn_in: int):
    """One channel's weekly contribution for spend histories ``series [..., T0+T]`` -> ``[..., T]``.

    Args:
        weights: the channel's normalised lag weights ``[..., L]``.
        beta, half, slope, misspecified: the channel's response (broadcast with ``series``' batch).
        series: national spend including ``burn_in`` weeks before the data.
        burn_in: ``T0``.
    """
    ad = tf.adstock(jnp.asarray(series)[..., :, None], jnp.asarray(weights)[..., None, :], normalise=True)
    ad = ad[..., burn_in:, 0]
    return jnp.asarray(beta)[..., None] * saturate(ad, jnp.asarray(half)[..., None],
                                                   jnp.asarray(slope)[..., None],
                                                   jnp.asarray(misspecified)[..., None])


def _totals_one(weights, p: ResponseParams, full_spend, factors, burn_in: int, n_fit: int):
    """Total media over the first ``n_fit`` observed weeks under each plan: ``[P]`` (one dataset)."""
    n_all = full_spend.shape[0]
    observed = (jnp.arange(n_all) >= burn_in)[:, None]
    # Adstock is linear: adstock(history + f * observed) = adstock(history) + f * adstock(observed).
    a_hist = tf.adstock(jnp.where(observed, 0.0, full_spend), weights)[burn_in:burn_in + n_fit]
    a_obs = tf.adstock(jnp.where(observed, full_spend, 0.0), weights)[burn_in:burn_in + n_fit]
    ad = a_hist[None] + factors[:, None, :] * a_obs[None]                      # [P, T, K]
    contrib = p.beta * saturate(ad, p.half, p.slope, p.misspecified)
    return contrib.sum((1, 2))


def media_totals_under(truth, factors, n_fit: int, burn_in: int) -> np.ndarray:
    """True total media contribution over the first ``n_fit`` weeks under spend plans.

    Args:
        truth: a :class:`simulate.truth.Truth` batch of ``N`` datasets.
        factors: ``[P, K]`` multipliers of each channel's observed weekly spend.
        n_fit: weeks counted (the fitted weeks).
        burn_in: the world's burn-in weeks.
    Returns:
        ``[N, P]`` totals (float64).
    """
    with jax.enable_x64(True):
        return run_blocked(_totals_program(burn_in, n_fit), (np.asarray(truth.adstock_weights), params_of(truth),
                                                             np.asarray(truth.full_spend)), BLOCK,
                           shared=(jnp.asarray(factors, jnp.float64),))


_PROGRAMS: dict = {}


def _totals_program(burn_in: int, n_fit: int):
    key = ("totals", burn_in, n_fit)
    if key not in _PROGRAMS:
        _PROGRAMS[key] = jax.jit(jax.vmap(lambda w, p, s, f: _totals_one(w, p, s, f, burn_in, n_fit),
                                          in_axes=(0, 0, 0, None)))
    return _PROGRAMS[key]


def _response_one(p: ResponseParams, b):
    return steady_response(p, b)


def optimal_allocation(p: ResponseParams, budget, lower, upper) -> B.Allocation:
    """The true optimum of each budget under per-channel bounds (batched, float64).

    Args:
        p: response parameters ``[N, K]``.
        budget: ``[N]``; lower, upper: ``[N, K]``.
    Returns:
        an :class:`common.budget.Allocation` with numpy arrays ``[N, K]`` / ``[N]``.
    """
    B.check_bounds(np.asarray(budget), lower, upper)
    f64 = lambda a: np.asarray(a, np.float64)
    p = ResponseParams(f64(p.beta), f64(p.half), f64(p.slope), np.asarray(p.misspecified))
    with jax.enable_x64(True):
        return B.Allocation(*run_blocked(lambda *a: B.optimise_batch(_response_one, *a),
                                         (p, f64(budget), f64(lower), f64(upper)), BLOCK))


def response_at(p: ResponseParams, spend) -> np.ndarray:
    """True steady-state weekly response of allocations ``spend [N, K]`` -> ``[N, K]`` (float64)."""
    with jax.enable_x64(True):
        return np.asarray(steady_response(jax.tree.map(jnp.asarray, p), jnp.asarray(spend)[:, None, :])[:, 0])
