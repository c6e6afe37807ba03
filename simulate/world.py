"""The simulated world: baseline demand, media spend, true media effects and a geo panel.

Pure functions of ``(PRNG key, WorldSpec)``. One *truth* (a world's parameters,
spend history and demand) comes from a truth key; each *replicate* of that
truth draws new noise from its own key. Everything runs in float64 under
``jax.enable_x64`` so the bookkeeping identities hold to rounding.

Shapes: ``T0`` burn-in weeks, ``T`` observed weeks, ``K`` channels, ``G`` geos,
``L`` max lag, ``P`` response-curve points.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from common import transforms as tf
from simulate.config import WorldSpec
from simulate.response import saturate

# Spend log-AR(1) persistence, and that of the unobserved driver.
_SPEND_RHO = 0.6
_DRIVER_RHO = 0.9
# Scale of the knobs: log-spend moves by this much per unit of the standardised index.
_KNOB_LOG_SCALE = 0.5
# The unobserved driver's KPI effect at full strength, relative to the revenue level.
_DRIVER_KPI_SCALE = 0.10


class World(NamedTuple):
    """One truth's deterministic series (jnp, float64). See :class:`simulate.truth.Truth`."""

    full_spend: jnp.ndarray      # [T0+T, K]
    contributions: jnp.ndarray   # [T, K]
    baseline: jnp.ndarray        # [T]
    controls: jnp.ndarray        # [T, C]
    roi: jnp.ndarray             # [K]
    beta: jnp.ndarray            # [K]
    weights: jnp.ndarray         # [K, L] normalised
    misspecified: jnp.ndarray    # [K] bool
    half_saturation: jnp.ndarray # [K]
    slope: jnp.ndarray           # [K]
    level: jnp.ndarray           # []
    noise_sd: jnp.ndarray        # [] national noise sd
    noise_ar1: jnp.ndarray       # []
    population: jnp.ndarray      # [G]
    geo_offset: jnp.ndarray      # [G]
    driver: jnp.ndarray          # [T]
    season_index: jnp.ndarray    # [T]


def week_dates(spec: WorldSpec) -> np.ndarray:
    """Observed week start dates, ``datetime64[D]`` of shape ``[T]``."""
    start = np.datetime64(_dt.date.fromisoformat(spec.start_date))
    return start + 7 * np.arange(spec.n_weeks)


def _day_of_year(spec: WorldSpec) -> np.ndarray:
    """Day of year (0-based) of every simulated week including burn-in, ``[T0+T]``."""
    start = np.datetime64(_dt.date.fromisoformat(spec.start_date))
    dates = start + 7 * (np.arange(spec.burn_in_weeks + spec.n_weeks) - spec.burn_in_weeks)
    years = dates.astype("datetime64[Y]")
    return (dates - years.astype("datetime64[D]")).astype(np.float64)


def _uniform(key, rng, shape=()):
    lo, hi = rng
    return jax.random.uniform(key, shape, minval=lo, maxval=hi)


def _uniform_per_channel(key, ranges):
    """Draw one uniform per channel from per-channel ``(lo, hi)`` ranges, ``[K]``."""
    lo = jnp.array([r[0] for r in ranges])
    hi = jnp.array([r[1] for r in ranges])
    return lo + (hi - lo) * jax.random.uniform(key, lo.shape)


def _ar1(key, rho, n, shape=()):
    """Stationary AR(1) with unit marginal variance, time last: ``[*shape, n]``."""
    eps = jax.random.normal(key, (n,) + tuple(shape))
    rho = jnp.asarray(rho)
    innov = jnp.sqrt(1.0 - rho**2)

    def step(prev, e):
        cur = rho * prev + innov * e
        return cur, cur

    _, path = jax.lax.scan(step, eps[0], eps[1:])
    path = jnp.concatenate([eps[:1], path], axis=0)
    return jnp.moveaxis(path, 0, -1)


def _standardise(x, axis=-1):
    return (x - x.mean(axis, keepdims=True)) / jnp.maximum(x.std(axis, keepdims=True), 1e-12)


def _weights(spec: WorldSpec, key, misspecified):
    """Normalised adstock weights per channel, ``[K, L]``, and the drawn parameters."""
    k_a, k_t, k_ws, k_wl = jax.random.split(key, 4)
    alpha = _uniform_per_channel(k_a, [c.alpha for c in spec.channels])
    theta = _uniform_per_channel(k_t, [c.theta for c in spec.channels])
    delayed = jnp.array([c.adstock_family == "delayed" for c in spec.channels])
    w_geo = tf.geometric_weights(alpha, spec.max_lag)
    w_del = tf.delayed_weights(alpha, theta, spec.max_lag)
    # Misspecified channels: a Weibull-density lag the estimator does not offer.
    w_shape = jax.random.uniform(k_ws, alpha.shape, minval=1.5, maxval=3.0)
    w_scale = jax.random.uniform(k_wl, alpha.shape, minval=1.0, maxval=4.0)
    w_wei = tf.weibull_weights(w_shape, w_scale, spec.max_lag)
    w = jnp.where(delayed[:, None], w_del, w_geo)
    w = jnp.where(misspecified[:, None], w_wei, w)
    return w / w.sum(-1, keepdims=True)


KNOBS = ("confounding", "collinearity", "unobserved_driver", "misspecification")


def draw_world(key, spec: WorldSpec) -> World:
    """Draw one truth: parameters, spend history, demand and true media effects.

    The knob strengths are passed to the compiled function as traced values,
    so worlds that differ only in knobs share one compilation.

    Args:
        key: PRNG key of the truth.
        spec: the world profile.
    Returns:
        a :class:`World` (float64 when called under ``jax.enable_x64``).
    """
    static, knobs = _split_knobs(spec)
    return _draw_world(key, static, knobs)


def draw_worlds(keys, spec: WorldSpec) -> World:
    """:func:`draw_world` for a batch of truth keys ``[n]`` in one compiled call (leading axis ``n``)."""
    static, knobs = _split_knobs(spec)
    return _draw_worlds(keys, static, knobs)


def _split_knobs(spec: WorldSpec):
    knobs = jnp.array([getattr(spec, k) for k in KNOBS])
    return dataclasses.replace(spec, **{k: 0.0 for k in KNOBS}), knobs


def _draw_world_impl(key, spec: WorldSpec, knobs) -> World:
    confounding, collinearity, unobserved, misspecification = knobs[0], knobs[1], knobs[2], knobs[3]
    n_all = spec.burn_in_weeks + spec.n_weeks
    t0 = spec.burn_in_weeks
    n_k = spec.n_channels
    keys = jax.random.split(key, 24)
    doy = jnp.asarray(_day_of_year(spec))

    # --- baseline demand ---------------------------------------------------
    level = _uniform(keys[0], spec.revenue_level)
    trend = _uniform(keys[1], spec.trend)
    amp = _uniform(keys[2], spec.seasonality)
    peak = _uniform(keys[3], spec.holiday_peak)
    coef = jax.random.normal(keys[4], (2, 2)) * jnp.array([[1.0], [0.5]])
    phase = 2 * jnp.pi * doy / 365.25
    fourier = (coef[0, 0] * jnp.cos(phase) + coef[0, 1] * jnp.sin(phase)
               + coef[1, 0] * jnp.cos(2 * phase) + coef[1, 1] * jnp.sin(2 * phase))
    fourier = _standardise(fourier)

    def bump(centre, width):
        d = jnp.abs(doy - centre)
        d = jnp.minimum(d, 365.25 - d)
        return jnp.exp(-0.5 * (d / width) ** 2)

    holiday = jnp.maximum(bump(359.0, 9.0), 0.7 * bump(330.0, 3.0))
    seasonal = amp * fourier + peak * holiday                    # relative to level, [T0+T]
    season_index = _standardise(seasonal)
    driver = _ar1(keys[5], _DRIVER_RHO, n_all)                  # unobserved, [T0+T]
    promo_on = jax.random.uniform(keys[6], (n_all,)) < spec.promo_frequency
    promo = jnp.where(promo_on, jax.random.uniform(keys[7], (n_all,), minval=0.5, maxval=1.0), 0.0)
    promo_effect = _uniform(keys[8], spec.promo_effect)
    t_rel = (jnp.arange(n_all) - t0) / spec.n_weeks
    baseline_all = level * (1.0 + trend * t_rel + seasonal + promo_effect * promo
                            + unobserved * _DRIVER_KPI_SCALE * driver)
    # Static options (issue 17) branch in Python, so a profile without them runs the old program.
    if spec.latent_demand > 0:      # the driver moves the KPI without moving every channel's spend
        baseline_all = baseline_all + level * spec.latent_demand * _DRIVER_KPI_SCALE * driver

    # --- spend -------------------------------------------------------------
    shares = jnp.array([c.spend_share for c in spec.channels])
    shares = shares / shares.sum()
    spend_ratio = _uniform(keys[9], spec.spend_to_revenue)
    mean_spend = level * spend_ratio * shares                  # [K]
    cv = _uniform_per_channel(keys[10], [c.spend_cv for c in spec.channels])
    own = _ar1(keys[11], _SPEND_RHO, n_all, (n_k,))            # [K, T0+T]
    common = _ar1(keys[12], _SPEND_RHO, n_all)                  # [T0+T]
    gamma = collinearity
    mixed = jnp.sqrt(1.0 - gamma) * own + jnp.sqrt(gamma) * common
    log_spend = (cv[:, None] * mixed
                 + confounding * _KNOB_LOG_SCALE * season_index
                 + unobserved * _KNOB_LOG_SCALE * driver)
    follows = [c.follows_demand for c in spec.channels]
    if any(f > 0 for f in follows):  # brand-search-like channels: spend tracks the unobserved demand
        log_spend = log_spend + _KNOB_LOG_SCALE * jnp.array(follows)[:, None] * driver
    # Flighting: dark weeks cluster in time; shared flights under collinearity.
    flight_own = _ar1(keys[13], 0.7, n_all, (n_k,))
    flight_common = _ar1(keys[14], 0.7, n_all)
    flight = jnp.sqrt(1.0 - gamma) * flight_own + jnp.sqrt(gamma) * flight_common
    dark_prob = jnp.array([c.dark_prob for c in spec.channels])
    dark = jax.scipy.stats.norm.cdf(flight) < dark_prob[:, None]
    raw = jnp.where(dark, 0.0, jnp.exp(log_spend))            # [K, T0+T]
    raw = raw / jnp.maximum(raw[:, t0:].mean(-1, keepdims=True), 1e-12)
    floor = [c.spend_floor for c in spec.channels]
    if any(f > 0 for f in floor):    # always-on: a share f of the mean every week, the rest varies
        f = jnp.array(floor)[:, None]
        raw = f + (1.0 - f) * raw                               # mean over the observed weeks stays 1
    full_spend = (raw * mean_spend[:, None]).T                  # [T0+T, K]

    # --- media effects -----------------------------------------------------
    misspecified = jax.random.uniform(keys[15], (n_k,)) < misspecification
    weights = _weights(spec, keys[16], misspecified)
    half = _uniform_per_channel(keys[17], [c.half_saturation for c in spec.channels]) * mean_spend
    slope = _uniform_per_channel(keys[18], [c.slope for c in spec.channels])
    roi = _uniform_per_channel(keys[19], [c.roi for c in spec.channels])
    ad = tf.adstock(full_spend, weights, normalise=True)[t0:]   # [T, K]
    sat = saturate(ad, half, slope, misspecified)
    spend_obs = full_spend[t0:]
    beta = roi * spend_obs.sum(0) / jnp.maximum(sat.sum(0), 1e-12)
    contributions = beta * sat

    # --- geo panel structure --------------------------------------------------
    population = jax.random.dirichlet(keys[20], jnp.full((spec.n_geos,), spec.population_concentration))
    u = jax.random.normal(keys[21], (spec.n_geos,))
    geo_offset = spec.geo_effect_sd * level * population * (u - jnp.sum(population * u))
    noise_sd = _uniform(keys[22], spec.noise_sd) * level
    noise_ar1 = _uniform(keys[23], spec.noise_ar1)

    return World(
        full_spend=full_spend,
        contributions=contributions,
        baseline=baseline_all[t0:],
        controls=promo[t0:, None],
        roi=roi,
        beta=beta,
        weights=weights,
        misspecified=misspecified,
        half_saturation=half,
        slope=slope,
        level=level,
        noise_sd=noise_sd,
        noise_ar1=noise_ar1,
        population=population,
        geo_offset=geo_offset,
        driver=driver[t0:],
        season_index=season_index[t0:],
    )


_draw_world = jax.jit(_draw_world_impl, static_argnums=1)
_draw_worlds = jax.jit(jax.vmap(_draw_world_impl, in_axes=(0, None, None)), static_argnums=1)


@partial(jax.jit, static_argnums=2)
def geo_noise(key, world: World, spec: WorldSpec):
    """Geo AR(1) residuals with national sd ``world.noise_sd``, ``[G, T]``.

    A share ``phi = spec.common_noise_share`` of the national variance is a
    common shock shared by all geos in proportion to population (weather,
    macro demand); the rest is idiosyncratic, with geo sd
    ``sqrt(1 - phi) * noise_sd * sqrt(population_g)``. Both are AR(1) with
    the world's coefficient, and the national sum has sd ``noise_sd``.
    """
    k_idio, k_common = jax.random.split(key)
    idio = _ar1(k_idio, world.noise_ar1, spec.n_weeks, (spec.n_geos,))
    common = _ar1(k_common, world.noise_ar1, spec.n_weeks)
    phi = spec.common_noise_share
    return world.noise_sd * (jnp.sqrt(1.0 - phi) * jnp.sqrt(world.population)[:, None] * idio
                             + jnp.sqrt(phi) * world.population[:, None] * common[None, :])


def geo_panel(world: World, noise_g, spec: WorldSpec):
    """Assemble the geo panel from a truth and one replicate's noise.

    Spend in geo ``g`` is ``population_g`` times national spend, and media
    saturate per capita, so geo contributions are ``population_g`` times the
    national ones; the baseline is shared the same way plus a geo level offset
    (the offsets sum to zero).

    Args:
        world: the truth's series.
        noise_g: geo residuals ``[G, T]``.
        spec: the world profile.
    Returns:
        ``(geo_kpi [G, T], geo_spend [G, T, K], geo_baseline [G, T], geo_contrib [G, T, K])``.
    """
    t0 = spec.burn_in_weeks
    pop = world.population
    geo_spend = pop[:, None, None] * world.full_spend[t0:][None]
    geo_contrib = pop[:, None, None] * world.contributions[None]
    geo_base = pop[:, None] * world.baseline[None] + world.geo_offset[:, None]
    geo_kpi = geo_base + geo_contrib.sum(-1) + noise_g
    return geo_kpi, geo_spend, geo_base, geo_contrib


@partial(jax.jit, static_argnums=2)
def replicate_panels(keys, worlds: World, spec: WorldSpec):
    """Noise and geo panels of every replicate of every truth in one call.

    Args:
        keys: noise keys ``[n, R]``.
        worlds: ``n`` truths (leading axis).
        spec: the profile.
    Returns:
        ``(noise [n, R, G, T], geo_kpi [n, R, G, T], geo_base [n, R, G, T], geo_contrib [n, G, T, K])``;
        geo spend is ``population x national spend`` and needs no array of its own.
    """
    def per_truth(ks, w):
        noise = jax.vmap(lambda k: geo_noise(k, w, spec))(ks)                       # [R, G, T]
        _, _, base, contrib = geo_panel(w, noise[0], spec)
        kpi = base[None] + contrib.sum(-1)[None] + noise
        return noise, kpi, jnp.broadcast_to(base, noise.shape), contrib

    return jax.vmap(per_truth)(keys, worlds)
