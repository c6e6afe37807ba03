"""The population-scaled difference-in-differences readout of a geo test, in jnp.

With treated and control aggregates ``y_T``, ``y_C`` and the population ratio
``r = pop(T) / pop(C)``::

    d_t   = y_T,t - r * y_C,t
    lift  = n_W * (mean_{t in W} d_t - mean_{t in pre} d_t)

The standard error treats the residuals of ``d`` as AR(1): the lag-1 autocorrelation is
estimated from the pre-period residuals (Kendall bias-corrected) and the variances of the
window sum and of the pre-period mean use the exact AR(1) sum factor. Every function is
pure and vmaps over tests: the window start and length are traced integers, the pre-period
length is static.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def ar1_sum_factor(n, rho, n_max: int):
    """``Var(sum of n AR(1) terms) / sigma^2 = n + 2 sum_{k<n} (n-k) rho^k`` for traced ``n <= n_max``."""
    k = jnp.arange(1, n_max, dtype=jnp.result_type(rho, float))
    terms = jnp.where(k < n, (n - k) * rho ** k, 0.0)
    return n + 2.0 * jnp.sum(terms)


def did_se(sigma, rho, n_pre: int, n_window, n_max: int):
    """Standard error of :func:`did_point` for AR(1) residuals (sd ``sigma``, lag-1 ``rho``)."""
    var_w = sigma ** 2 * ar1_sum_factor(n_window, rho, n_max)
    var_pre_mean = sigma ** 2 * ar1_sum_factor(n_pre, rho, n_pre + 1) / n_pre ** 2
    return jnp.sqrt(var_w + n_window ** 2 * var_pre_mean)


def _window_mean(d, start, n_window):
    t = jnp.arange(d.shape[-1])
    inside = (t >= start) & (t < start + n_window)
    return jnp.sum(jnp.where(inside, d, 0.0)) / jnp.maximum(n_window, 1)


def did_point(y_t, y_c, ratio, start, n_window, pre_from: int, pre_len: int):
    """DiD estimate of the total lift over the window ``[start, start + n_window)``.

    Args:
        y_t, y_c: treated and control aggregate KPI, ``[T]``.
        ratio: population ratio treated / control.
        start, n_window: first window week and window length (traced).
        pre_from, pre_len: the pre-period is ``[start - pre_from, start - pre_from + pre_len)``.
    """
    d = y_t - ratio * y_c
    pre = jax.lax.dynamic_slice(d, (start - pre_from,), (pre_len,))
    return n_window * (_window_mean(d, start, n_window) - pre.mean())


def did_readout(y_t, y_c, ratio, start, n_window, n_pre: int, t_quantile):
    """DiD estimate with its AR(1)-corrected standard error and a sensitivity check.

    Args:
        y_t, y_c: treated and control aggregate KPI, ``[T]``.
        ratio: population ratio treated / control.
        start, n_window: window start and length (traced integers).
        n_pre: pre-period weeks before ``start`` (static).
        t_quantile: the CI's t quantile (``t_{n_pre-1}`` at the CI level).
    Returns:
        ``(lift, se, ci_low, ci_high, sign_flip)``; ``sign_flip`` is True when the readout on
        either half of the pre-period has the other sign.
    """
    lift = did_point(y_t, y_c, ratio, start, n_window, n_pre, n_pre)
    d = y_t - ratio * y_c
    e = jax.lax.dynamic_slice(d, (start - n_pre,), (n_pre,))
    e = e - e.mean()
    ss = jnp.sum(e ** 2)
    sigma = jnp.sqrt(ss / (n_pre - 1))
    rho_hat = jnp.sum(e[1:] * e[:-1]) / jnp.maximum(ss, 1e-300)
    rho = jnp.clip((n_pre * rho_hat + 1.0) / (n_pre - 3.0), 0.0, 0.95)     # Kendall bias correction
    se = did_se(sigma, rho, n_pre, n_window, d.shape[-1])
    half = n_pre // 2
    late = did_point(y_t, y_c, ratio, start, n_window, half, half)
    early = did_point(y_t, y_c, ratio, start, n_window, n_pre, n_pre - half)
    flip = (jnp.sign(late) != jnp.sign(lift)) | (jnp.sign(early) != jnp.sign(lift))
    return lift, se, lift - t_quantile * se, lift + t_quantile * se, flip
