"""What the data identify: mROI (the response's derivative at mean spend), the posterior-over-prior
sd ratios and the identification rule."""
from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import transforms as tf
from estimators.decisions.identification import (IdentificationSpec, identify_fits, mroi_draws, prior_key,
                                                  prior_summary, reason_text)
from estimators.inference.posterior import fit
from estimators.model.batch import build_batch
from estimators.model.prior_predictive import prior_datasets
from estimators.model.priors import Priors
from harness.errors import ConfigError
from synth import template

HILLS = [(0.5, 1.0, 1.0), (1.0, 1.2, 1.3), (2.0, 0.6, 2.0), (0.3, 2.5, 0.8)]   # (x, h, s)


@pytest.mark.parametrize("x,h,s", HILLS)
def test_hill_derivative_is_the_closed_form_and_the_finite_difference(x, h, s):
    closed = s * h**s * x ** (s - 1) / (h**s + x**s) ** 2
    with jax.enable_x64(True):
        got = float(tf.hill_derivative(jnp.float64(x), h, s))
        e = 1e-6 * x
        fd = (float(tf.hill(x + e, h, s)) - float(tf.hill(x - e, h, s))) / (2 * e)
        grad = float(jax.grad(lambda v: tf.hill(v, h, s))(jnp.float64(x)))
    assert got == pytest.approx(closed, rel=1e-10)
    assert got == pytest.approx(fd, rel=1e-6) and got == pytest.approx(grad, rel=1e-10)


def test_exponential_derivative_is_its_gradient():
    with jax.enable_x64(True):
        for x, h in ((0.5, 1.0), (2.0, 0.7)):
            g = float(jax.grad(lambda v: tf.exponential_saturation(v, h))(jnp.float64(x)))
            assert float(tf.exponential_saturation_derivative(x, h)) == pytest.approx(g, rel=1e-10)


@pytest.fixture(scope="module")
def fitted(fast_spec, prior_draws):
    obs = [d.observed for d in prior_draws]
    b = build_batch(obs, None, fast_spec)
    post = fit(jax.random.key(0), b, fast_spec)
    return b, post


def test_mroi_draws_are_the_slope_of_the_reported_response_in_kpi_per_currency(fitted):
    """Per draw, mROI equals the central difference of ``beta * hill(b)`` at the mean weekly spend,
    in the same units as the response curves (KPI per week over spend per week)."""
    b, post = fitted
    m = post.spend_mean[:, None, None, :]
    e = 1e-4 * m
    with jax.enable_x64(True):
        r = lambda x: post.beta * np.asarray(tf.hill(jnp.asarray(x, jnp.float64), post.half_saturation, post.slope))
        fd = (r(m + e) - r(m - e)) / (2 * e)
    got = mroi_draws(post)
    ok = np.isfinite(got)
    np.testing.assert_allclose(got[ok], fd[ok], rtol=1e-5)


def test_prior_summary_is_the_prior_and_deterministic(fitted, fast_spec):
    """The ROI prior is LogNormal(mu, sd) (the spec's): sd of the log sd (tolerance 4%) and 90%
    interval exp(mu -+ 1.645 sd), from 4000 draws; the quantiles' tolerance on the log scale is 3
    Monte Carlo sds of a sample 5% quantile, 3 sqrt(0.05 x 0.95 / 4000) / phi(1.645) x sd; the same
    key gives the same numbers."""
    b, _ = fitted
    mu, sd = fast_spec.priors.roi
    key = prior_key(jax.random.key(0))
    p = prior_summary(key, b, fast_spec, 4000)
    np.testing.assert_allclose(p.roi_log_sd, sd, rtol=0.04)
    tol = 3 * np.sqrt(0.05 * 0.95 / 4000) / 0.10314 * sd
    np.testing.assert_allclose(np.log(p.roi_q05), mu - 1.645 * sd, atol=tol)
    np.testing.assert_allclose(np.log(p.roi_q95), mu + 1.645 * sd, atol=tol)
    assert np.all(p.mroi_log_sd > 0) and np.all(p.mroi_q05 < p.mroi_q95)
    again = prior_summary(key, b, fast_spec, 4000)
    for a, c in zip(p, again):
        np.testing.assert_array_equal(a, c)
    other = prior_summary(prior_key(jax.random.key(1)), b, fast_spec, 4000)
    assert not np.array_equal(p.mroi_log_sd, other.mroi_log_sd)


def _ratios(spec, tpl, gen_spec, seed=11):
    draws = prior_datasets(jax.random.key(seed), tpl, gen_spec, 3)
    b = build_batch([d.observed for d in draws], None, spec)
    post = fit(jax.random.key(0), b, spec)
    return identify_fits(prior_key(jax.random.key(0)), post, b, spec, IdentificationSpec())


def test_sd_ratio_is_one_where_the_data_say_nothing(fast_spec):
    """A channel spending 1e-4 of the others' (its contribution far below the noise) leaves its
    ROI and mROI posteriors at the prior: ratios within 0.9-1.1 on three prior-predictive
    datasets (seed 11; measured 1.01-1.02), and the flag says so."""
    tpl = template(5, n_weeks=104, n_channels=3)
    spend = tpl.spend.copy()
    spend[:, 2] *= 1e-4
    ident = _ratios(fast_spec, tpl._replace(spend=spend), fast_spec)
    assert np.all((ident.roi_sd_ratio[:, 2] > 0.9) & (ident.roi_sd_ratio[:, 2] < 1.1))
    assert np.all((ident.mroi_sd_ratio[:, 2] > 0.9) & (ident.mroi_sd_ratio[:, 2] < 1.1))
    assert not ident.roi_identified[:, 2].any()
    assert all(r.startswith("mostly prior") for r in ident.reason[:, 2])


def test_sd_ratio_is_well_below_one_in_a_strongly_informative_world(fast_spec):
    """Spend at 30% of the KPI with dark weeks, KPI noise about 1% (generated with noise prior
    LogNormal(-4.6, 0.1), fitted with the default priors): every channel is identified and the
    median ROI ratio is below 0.3 (seed 11; measured 0.01-0.56, median 0.18)."""
    tpl = template(5, n_weeks=104, n_channels=3, spend_ratio=0.3)
    ident = _ratios(fast_spec, tpl, replace(fast_spec, priors=Priors(noise_sigma=(-4.6, 0.1))))
    assert ident.roi_identified.all()
    assert np.median(ident.roi_sd_ratio) < 0.3 and np.median(ident.mroi_sd_ratio) < 0.3


def test_the_rule_and_its_reason():
    spec = IdentificationSpec(max_sd_ratio=0.7)
    assert reason_text(0.7, 0.2, 0.1, spec).startswith("identified")
    r = reason_text(0.71, 0.3, 0.0, spec)
    assert r.startswith("mostly prior") and "marginal return" in r and "no week below 0.5" in r
    assert "marginal return" not in reason_text(0.9, 0.8, 0.25, spec)
    assert "25% of weeks" in reason_text(0.9, 0.8, 0.25, spec)


@pytest.mark.parametrize("cfg,field", [({"max_sd_ratio": 0}, "max_sd_ratio"), ({"prior_draws": 10}, "prior_draws"),
                                       ({"prior_draws": 150.5}, "prior_draws"),
                                       ({"low_spend_fraction": 1.5}, "low_spend_fraction"),
                                       ({"max_sd_ratio": "high"}, "max_sd_ratio"), ({"threshold": 1}, "threshold")])
def test_bad_identification_settings_name_the_field(cfg, field):
    with pytest.raises(ConfigError, match=f"identification.{field}"):
        IdentificationSpec.from_config(cfg)
