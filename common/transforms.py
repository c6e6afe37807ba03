"""Media transforms: adstock (carryover) and saturation, as pure jnp functions.

One module for both rooms: the simulator builds its worlds with these functions and the
estimator builds its model with the same code. Every function is pure, jit-able and
broadcasts over leading batch axes.

Conventions: time is the second-to-last axis and channel the last, so a spend array has
shape ``[..., T, K]``; lag-weight arrays have shape ``[..., K, L]`` (``L`` = max lag in
periods, lag 0 first). Two layouts of the same adstock exist because they serve different
hot paths: :func:`adstock` shifts a ``[..., T, K]`` series (simulation, counterfactuals),
and :func:`lag_stack` + :func:`apply_lags` contract a precomputed channel-major stack
``[K, L, T]`` (the model's likelihood, whose gradient is cheapest that way on the CPU).
A test checks that the two agree.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "geometric_weights",
    "delayed_weights",
    "weibull_weights",
    "normalised_weights",
    "adstock",
    "lag_stack",
    "apply_lags",
    "hill",
    "hill_derivative",
    "exponential_saturation",
    "exponential_saturation_derivative",
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


def normalised_weights(alpha, theta, delayed, max_lag: int):
    """Normalised lag weights ``[..., K, L]``, geometric or delayed-peak per channel.

    Args:
        alpha: retention ``[..., K]``.
        theta: delayed-peak lag ``[..., K]`` (ignored where ``delayed`` is 0).
        delayed: 1 (or True) for delayed-peak channels ``[..., K]``.
        max_lag: ``L``.
    """
    w = jnp.where(jnp.asarray(delayed)[..., None] > 0,
                  delayed_weights(alpha, theta, max_lag), geometric_weights(alpha, max_lag))
    return w / jnp.maximum(w.sum(-1, keepdims=True), _EPS)


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
    lagged = jnp.stack([xp[..., n_l - 1 - l: n_l - 1 - l + n_t, :] for l in range(n_l)], axis=-3)
    wl = jnp.swapaxes(w, -1, -2)[..., :, None, :]          # [..., L, 1, K]
    return jnp.sum(lagged * wl, axis=-3)


def lag_stack(series: np.ndarray, n_lag: int, n_out: int) -> np.ndarray:
    """``out[..., l, t] = series[..., n_lag - 1 + t - l]``: a lag stack ``[..., L, n_out]``.

    ``series`` carries ``L - 1`` weeks of history before the first output week
    (numpy; built once per dataset, outside the compiled model).
    """
    idx = n_lag - 1 + np.arange(n_out)[None, :] - np.arange(n_lag)[:, None]
    return np.asarray(series)[..., idx]


def apply_lags(spend_lag, weights):
    """Adstock from a lag stack: ``[..., K, L, T] x [..., K, L] -> [..., K, T]``.

    Equals :func:`adstock` (transposed) with normalised weights on the series the
    stack was cut from. Channel-major with weeks last is deliberate: on the CPU,
    adstock plus Hill and their gradient took 12 us per lane this way against 32 us
    with a ``[L, T, K]`` stack and ``[T, K]`` output (156 weeks, 6 channels, 13 lags,
    4 vmapped lanes).
    """
    return jnp.einsum("...klt,...kl->...kt", spend_lag, weights)


def hill(x, half_saturation, slope):
    """Hill saturation ``x**s / (x**s + h**s)``, in [0, 1), zero at zero.

    Written as ``sigmoid(s * log(x / h))`` with a stable logistic, so that neither the
    value nor the gradient overflows when ``s * log(x / h)`` is large (the plain form
    gives NaN gradients there, which show up as NUTS divergences). Zero where
    ``x / h <= 1e-12``.

    Args:
        x: input, shape ``[..., T, K]`` or anything broadcasting with the parameters
            (negative values count as zero).
        half_saturation: ``h > 0``, the input level giving 0.5, ``[..., K]``.
        slope: ``s > 0``; ``s <= 1`` is concave, ``s > 1`` S-shaped, ``[..., K]``.
    """
    ratio = jnp.maximum(jnp.asarray(x), 0.0) / half_saturation
    pos = ratio > _EPS
    z = slope * jnp.log(jnp.where(pos, ratio, 1.0))
    return jnp.where(pos, jax.nn.sigmoid(z), 0.0)


def hill_derivative(x, half_saturation, slope):
    """Derivative of :func:`hill` in ``x``: ``s / x * H (1 - H)`` with ``H = hill(x; h, s)``.

    Closed form of ``d/dx x**s / (x**s + h**s)``; zero where ``x / h <= 1e-12`` (the limit for
    ``s > 1``; the derivative at zero spend is not used by the project). Shapes broadcast as in
    :func:`hill`.
    """
    x = jnp.asarray(x)
    h = hill(x, half_saturation, slope)
    pos = jnp.maximum(x, 0.0) / half_saturation > _EPS
    return jnp.where(pos, slope / jnp.where(pos, x, 1.0) * h * (1.0 - h), 0.0)


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


def exponential_saturation_derivative(x, half_saturation):
    """Derivative of :func:`exponential_saturation` in ``x``: ``ln2 / h * exp(-x ln2 / h)`` for ``x >= 0``."""
    k = jnp.log(2.0) / half_saturation
    return k * jnp.exp(-k * jnp.maximum(jnp.asarray(x), 0.0))


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
    frac = jnp.clip((share - prev) / jnp.maximum(w, _EPS), 0.0, 1.0)
    crossed = cum >= share - 1e-9
    first = jnp.argmax(crossed, axis=-1)
    frac_at = jnp.take_along_axis(frac, first[..., None], axis=-1)[..., 0]
    return (first + frac_at) * period_days
