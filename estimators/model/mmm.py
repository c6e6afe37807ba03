"""The MMM: pure jnp building blocks and the numpyro model.

Generative model on the scaled problem of :mod:`estimators.batch` (one dataset;
``t`` weeks, ``k`` channels)::

    w_k      = normalised adstock weights: geometric alpha_k**l, or delayed alpha_k**((l - theta_k)**2)
    a[k, t]  = sum_l w_k[l] x[t - l, k]                        (adstock of scaled spend)
    s[k, t]  = hill(a[k, t], h_k, slope_k)
    beta_k   = ROI_k * sum_t spend[t, k] / kpi_scale / sum_t s[k, t]    (ROI parameterisation)
    mu[t]    = b0 + b_trend t/T + season[t] . gamma + holiday[t] . eta + controls[t] . delta
               + sum_k beta_k s[k, t]
    y[t]     = mu[t] + e[t],  e[t] = rho e[t-1] + sigma eps[t]   (eps Normal or Student-t)
    M1:  log ROI_k ~ Normal(roi_mu_k, roi_sd_k) (the tests' prior where they replace the default);
         with the default prior kept, m_k ~ Normal(ROI_k, s_k) for the tests' combined iROAS m_k
    M2:  lift_j / kpi_scale ~ Normal(g_j(theta), lift_se_j / kpi_scale)

Priors: :mod:`estimators.model.priors`. Sums over t in beta run over the data's real
weeks, so ROI_k is exactly the model's total contribution over total spend.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from common import transforms as tf
from common.transforms import apply_lags, hill
from common.transforms import normalised_weights as adstock_weights
from estimators.model.batch import ModelData
from estimators.model.priors import Priors
from estimators.model.spec import ModelSpec

_EPS = 1e-12


def media(params: dict, d: ModelData, max_lag: int):
    """Saturated adstock ``s [K, T]``, weights ``[K, L]`` and ``beta [K]`` (scaled KPI units)."""
    w = adstock_weights(params["alpha"], params["theta"], d.delayed, max_lag)
    sat = hill(apply_lags(d.spend_lag, w), params["half_saturation"][..., :, None],
               params["slope"][..., :, None])
    denom = jnp.sum(sat * d.week_mask[..., None, :], axis=-1)
    beta = params["roi"] * d.spend_sum / jnp.maximum(denom, _EPS)
    beta = jnp.where(denom > 0, beta, 0.0)
    return sat, w, beta


def baseline(params: dict, d: ModelData):
    """Non-media part of the mean ``[T]``."""
    return (params["intercept"] + params["trend"] * d.trend
            + d.season @ params["season"] + d.holiday @ params["holiday"]
            + d.controls @ (params["control"] * d.control_mask))


def expected_kpi(params: dict, d: ModelData, max_lag: int):
    """Mean scaled KPI ``[T]`` and media contributions ``[T, K]``."""
    sat, _, beta = media(params, d, max_lag)
    contrib = (beta * d.channel_mask)[..., :, None] * sat                       # [K, T]
    return baseline(params, d) + contrib.sum(-2), jnp.swapaxes(contrib, -1, -2)


def lift_g(params: dict, beta, d: ModelData, max_lag: int, weights=None):
    """Model-implied lift of each test, g(theta) of eq. (12), in scaled KPI units ``[J]``.

    ``g_j = p_j * beta_c * sum_w window_w [hill(adstock(test)) - hill(adstock(bau))]``
    on the channel ``c`` of test ``j`` (see :mod:`estimators.evidence.calibration`).

    Args:
        params: needs ``half_saturation``, ``slope`` ``[K]`` (scaled) and, unless
            ``weights`` is given, ``alpha`` and ``theta``.
        beta: ``[K]`` in scaled KPI units.
        d: one dataset's inputs.
        max_lag: ``L``.
        weights: optional normalised lag weights ``[K, L]`` overriding alpha/theta.
    """
    c = d.test_channel
    if weights is None:
        weights = adstock_weights(params["alpha"], params["theta"], d.delayed, max_lag)
    w = weights[c]                                                                   # [J, L]
    h = params["half_saturation"][c][:, None]
    s = params["slope"][c][:, None]
    a_bau = jnp.einsum("jlw,jl->jw", d.seg_bau, w)
    a_test = jnp.einsum("jlw,jl->jw", d.seg_test, w)
    diff = hill(a_test, h, s) - hill(a_bau, h, s)
    return d.test_share * beta[c] * jnp.sum(diff * d.seg_window, -1)


def lift_g_direct(beta, weights, half, slope, spend_national, share, start, end, level, window):
    """Reference g(theta) on a full spend history, straight from :func:`common.transforms.adstock`.

    Used to check :func:`lift_g`; units are whatever the inputs carry.

    Args:
        beta, half, slope: one channel's response scale, half-saturation and slope (scalars).
        weights: its lag weights ``[L]``.
        spend_national: the channel's national spend incl. any pre-sample history ``[T]``.
        share: treated population share.
        start, end: first and last test week (indices into ``spend_national``).
        level: treated geos' weekly spend during the test.
        window: measured weeks from ``start``.
    """
    t = jnp.arange(spend_national.shape[0])
    x_bau = share * spend_national
    x_test = jnp.where((t >= start) & (t <= end), level, x_bau)
    ad = lambda x: tf.adstock((x / share)[:, None], weights[None, :], normalise=True)[:, 0]
    diff = tf.hill(ad(x_test), half, slope) - tf.hill(ad(x_bau), half, slope)
    meas = (t >= start) & (t < start + window)
    return share * beta * jnp.sum(jnp.where(meas, diff, 0.0))


def _fit_mean(x, d: ModelData):
    """Mean of ``x [..., T]`` over the fitted weeks."""
    return jnp.sum(x * d.fit_mask, -1) / jnp.maximum(jnp.sum(d.fit_mask, -1), 1.0)


def resolve(latent: dict, d: ModelData, spec: ModelSpec, priors: Priors):
    """Model parameters from the sampled sites.

    Adds ``theta`` and ``rho`` (from their normal-CDF coordinates) and
    ``intercept`` (from ``level`` when ``spec.level_param``).

    Returns:
        ``(params, sat [K, T], beta [K])``.
    """
    p = dict(latent)
    lo, hi = priors.theta_delayed
    p["theta"] = lo + (hi - lo) * jax.scipy.special.ndtr(p["theta_z"])
    if spec.ar1:
        lo, hi = priors.noise_rho
        p["rho"] = lo + (hi - lo) * jax.scipy.special.ndtr(p["rho_z"])
    else:
        p["rho"] = jnp.zeros((), d.y.dtype)
    sat, _, beta = media(p, d, spec.max_lag)
    if "intercept" not in p:
        media_sum = ((beta * d.channel_mask)[..., :, None] * sat).sum(-2)
        rest = baseline({**p, "intercept": 0.0}, d) + media_sum
        p["intercept"] = p["level"] - _fit_mean(rest, d)
    return p, sat, beta


def mmm_model(d: ModelData, spec: ModelSpec, priors: Priors):
    """numpyro model of one (padded) dataset. ``d.y`` is observed."""
    n_k = d.channel_mask.shape[-1]
    dtype = d.y.dtype
    f = lambda v: jnp.asarray(v, dtype)
    p = {
        "trend": numpyro.sample("trend", dist.Normal(f(priors.trend[0]), f(priors.trend[1]))),
        "season": numpyro.sample("season", dist.Normal(f(priors.seasonality[0]), f(priors.seasonality[1]))
                                 .expand([d.season.shape[-1]]).to_event(1)),
        "holiday": numpyro.sample("holiday", dist.Normal(f(priors.holiday[0]), f(priors.holiday[1]))
                                  .expand([d.holiday.shape[-1]]).to_event(1)),
        "control": numpyro.sample("control", dist.Normal(f(priors.control[0]), f(priors.control[1]))
                                  .expand([d.controls.shape[-1]]).to_event(1)),
        "sigma": numpyro.sample("sigma", dist.LogNormal(f(priors.noise_sigma[0]), f(priors.noise_sigma[1]))),
        "roi": numpyro.sample("roi", dist.LogNormal(d.roi_mu, d.roi_sd).to_event(1)),
        "alpha": numpyro.sample("alpha", dist.Beta(d.alpha_a, d.alpha_b).to_event(1)),
        # Uniform priors are sampled through the normal CDF (theta = lo + (hi - lo) Phi(z),
        # z ~ N(0, 1)): exactly Uniform, and a Gaussian coordinate for the sampler.
        "theta_z": numpyro.sample("theta_z", dist.Normal(f(0.0), f(1.0)).expand([n_k]).to_event(1)),
        "half_saturation": numpyro.sample("half_saturation", dist.LogNormal(
            f(priors.half_saturation[0]), f(priors.half_saturation[1])).expand([n_k]).to_event(1)),
        "slope": numpyro.sample("slope", dist.LogNormal(f(priors.slope[0]), f(priors.slope[1]))
                                .expand([n_k]).to_event(1)),
    }
    if spec.ar1:
        p["rho_z"] = numpyro.sample("rho_z", dist.Normal(f(0.0), f(1.0)))
    intercept_prior = dist.Normal(f(priors.intercept[0]), f(priors.intercept[1]))
    if spec.level_param:
        # Sample the mean fitted level and solve for the intercept (unit Jacobian):
        # the data pin the level tightly, and this makes that an axis of the sampler.
        p["level"] = numpyro.sample("level", dist.ImproperUniform(dist.constraints.real, (), ()))
    else:
        p["intercept"] = numpyro.sample("intercept", intercept_prior)
    p, sat, beta = resolve(p, d, spec, priors)
    if spec.level_param:
        numpyro.factor("intercept_prior", intercept_prior.log_prob(p["intercept"]))
    # M1 with the default prior: the tests' combined iROAS is one more observation of the ROI.
    numpyro.factor("m1_read", jnp.sum(d.roi_obs_mask * dist.Normal(p["roi"], d.roi_obs_se).log_prob(d.roi_obs)))
    media_sum = ((beta * d.channel_mask)[..., :, None] * sat).sum(-2)
    mu = baseline(p, d) + media_sum
    resid = d.y - mu
    prev = jnp.concatenate([jnp.zeros((1,), dtype), resid[:-1]])
    first = jnp.arange(d.y.shape[-1]) == 0
    loc = mu + p["rho"] * prev
    scale = jnp.where(first, p["sigma"] / jnp.sqrt(1.0 - p["rho"] ** 2), p["sigma"])
    noise = (dist.StudentT(f(spec.student_df), loc, scale) if spec.likelihood == "student_t"
             else dist.Normal(loc, scale))
    with numpyro.handlers.mask(mask=d.fit_mask > 0):
        numpyro.sample("kpi", noise.to_event(0), obs=d.y)
    if d.lift.shape[-1] > 0:
        g = lift_g(p, beta, d, spec.max_lag)
        with numpyro.handlers.mask(mask=d.test_mask > 0):
            numpyro.sample("lift", dist.Normal(g, d.lift_se), obs=d.lift)


def simulate_kpi(key, params: dict, d: ModelData, spec: ModelSpec):
    """Draw scaled KPI ``[T]`` from the likelihood given parameters (prior predictive, SBC).

    Gaussian (or Student-t) AR(1) innovations, stationary start.
    """
    mu, _ = expected_kpi(params, d, spec.max_lag)
    n_t = mu.shape[-1]
    if spec.likelihood == "student_t":
        eps = jax.random.t(key, spec.student_df, (n_t,), dtype=mu.dtype)
    else:
        eps = jax.random.normal(key, (n_t,), dtype=mu.dtype)
    rho, sigma = params["rho"], params["sigma"]
    e0 = eps[0] * sigma / jnp.sqrt(1.0 - rho ** 2)

    def step(prev, z):
        cur = rho * prev + sigma * z
        return cur, cur

    _, rest = jax.lax.scan(step, e0, eps[1:])
    return mu + jnp.concatenate([e0[None], rest])
