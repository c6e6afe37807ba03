"""Media transforms: adstock (carryover) and saturation, as pure jnp functions.

Every function here is pure, jit-able and broadcasts over leading batch axes.
Conventions: time is the second-to-last axis and channel the last, so a spend
array has shape ``[..., T, K]``; lag-weight arrays have shape ``[..., K, L]``
(``L`` = max lag in periods, lag 0 first).

These functions carry no truth: the simulator uses them to build the world and
the estimator uses the same code to build its model (``estimators/`` may import
this module; see ``tests/test_wall.py``).
"""
from __future__ import annotations

import jax.numpy as jnp

__all__ = [
    "geometric_weights",
    "delayed_weights",
    "weibull_weights",
    "adstock",
    "hill",
    "exponential_saturation",
    "carryover_lag",
]

_EPS = 1e-12


def geometric_weights(alpha, max_lag: int):
    """Geometric decay weights ``w_l = alpha**l``.

    Args:
        alpha: decay per period in [0, 1), shape ``[...]``.
        max_lag: number of lags ``L`` (lag 0 included).
    Returns:
        unnormalised weights, shape ``[..., L]``.
    """
    lags = jnp.arange(max_lag, dtype=jnp.result_type(alpha, jnp.float32))
    return jnp.power(jnp.asarray(alpha)[..., None], lags)


def delayed_weights(alpha, theta, max_lag: int):
    """Delayed-peak adstock of Jin et al. (2017): ``w_l = alpha**((l - theta)**2)``.

    The peak sits at lag ``theta`` (periods); ``alpha`` in (0, 1) sets the spread.

    Args:
        alpha: retention, shape ``[...]``.
        theta: peak delay in periods, shape ``[...]`` (broadcast with alpha).
        max_lag: number of lags ``L``.
    Returns:
        unnormalised weights, shape ``[..., L]``.
    """
    alpha = jnp.asarray(alpha)
    theta = jnp.asarray(theta)
    lags = jnp.arange(max_lag, dtype=jnp.result_type(alpha, theta, jnp.float32))
    return jnp.power(alpha[..., None], (lags - theta[..., None]) ** 2)


def weibull_weights(shape, scale, max_lag: int):
    """Weibull-density adstock: ``w_l ∝ ((l+1)/scale)**(shape-1) * exp(-((l+1)/scale)**shape)``.

    With ``shape > 1`` the peak is delayed; this family is not offered by the
    estimator and serves as the misspecification knob.

    Args:
        shape: Weibull shape k > 0, ``[...]``.
        scale: Weibull scale in periods > 0, ``[...]``.
        max_lag: number of lags ``L``.
    Returns:
        unnormalised weights, shape ``[..., L]``.
    """
    shape = jnp.asarray(shape)[..., None]
    scale = jnp.asarray(scale)[..., None]
    u = (jnp.arange(max_lag, dtype=jnp.result_type(shape, scale, jnp.float32)) + 1.0) / scale
    return jnp.power(u, shape - 1.0) * jnp.exp(-jnp.power(u, shape))


def adstock(x, weights, normalise: bool = True):
    """Apply carryover: ``y[t] = sum_l w[l] * x[t - l]`` (zero before the series starts).

    Args:
        x: spend, shape ``[..., T, K]``.
        weights: lag weights, shape ``[..., K, L]`` (broadcast against x's batch axes).
        normalise: divide the weights by their sum, so a constant input ``c``
            settles at ``c`` and total adstocked spend equals total spend
            (up to what spills past the last period).
    Returns:
        adstocked spend, shape ``[..., T, K]``.
    """
    x = jnp.asarray(x)
    w = jnp.asarray(weights)
    if normalise:
        w = w / jnp.maximum(jnp.sum(w, axis=-1, keepdims=True), _EPS)
    n_t = x.shape[-2]
    n_l = w.shape[-1]
    # Lagged copies of x: [..., L, T, K]; lag l shifts x down by l periods.
    pad = [(0, 0)] * (x.ndim - 2) + [(n_l - 1, 0), (0, 0)]
    xp = jnp.pad(x, pad)
    lagged = jnp.stack([xp[..., n_l - 1 - l : n_l - 1 - l + n_t, :] for l in range(n_l)], axis=-3)
    # weights [..., K, L] -> [..., L, 1, K]
    wl = jnp.swapaxes(w, -1, -2)[..., :, None, :]
    return jnp.sum(lagged * wl, axis=-3)


def hill(x, half_saturation, slope):
    """Hill saturation ``x**s / (x**s + h**s)``, in [0, 1), zero at zero.

    Args:
        x: non-negative input, shape ``[..., T, K]`` (or any shape broadcasting
            with the parameters).
        half_saturation: ``h > 0``, input level giving 0.5, shape ``[..., K]``.
        slope: ``s > 0``; ``s <= 1`` is concave, ``s > 1`` S-shaped, ``[..., K]``.
    Returns:
        saturated response, same shape as the broadcast of the inputs.
    """
    x = jnp.asarray(x)
    ratio = jnp.maximum(x, 0.0) / half_saturation
    log_r = jnp.log(jnp.maximum(ratio, _EPS))
    # 1 / (1 + (h/x)**s), written as a sigmoid for stability.
    out = 1.0 / (1.0 + jnp.exp(-slope * log_r))
    return jnp.where(ratio > 0, out, 0.0)


def exponential_saturation(x, half_saturation):
    """Exponential saturation ``1 - exp(-x ln2 / h)``, concave, 0.5 at ``x = h``.

    Not offered by the estimator: used by the misspecification knob.

    Args:
        x: non-negative input, ``[..., T, K]``.
        half_saturation: ``h > 0``, ``[..., K]``.
    Returns:
        saturated response in [0, 1), same shape as the broadcast of the inputs.
    """
    return 1.0 - jnp.exp(-jnp.log(2.0) * jnp.maximum(jnp.asarray(x), 0.0) / half_saturation)


def carryover_lag(weights, share: float = 0.9, period_days: float = 7.0):
    """Days until ``share`` of a pulse's total carryover has occurred.

    The normalised weights are read as the mass falling in each period; mass is
    spread uniformly inside a period, so the answer interpolates linearly
    within the period where the cumulative mass crosses ``share``.

    Args:
        weights: lag weights, shape ``[..., L]``.
        share: cumulative share in (0, 1].
        period_days: days per period.
    Returns:
        lag in days, shape ``[...]``.
    """
    w = jnp.asarray(weights)
    w = w / jnp.maximum(jnp.sum(w, axis=-1, keepdims=True), _EPS)
    cum = jnp.cumsum(w, axis=-1)
    prev = cum - w
    # Fraction of period l needed to reach `share`, clipped to [0, 1].
    frac = jnp.clip((share - prev) / jnp.maximum(w, _EPS), 0.0, 1.0)
    # Periods fully passed before crossing + the fraction inside the crossing one.
    crossed = cum >= share - 1e-9
    first = jnp.argmax(crossed, axis=-1)
    frac_at = jnp.take_along_axis(frac, first[..., None], axis=-1)[..., 0]
    return (first + frac_at) * period_days
