"""Closed forms and identities: unit conversions, lag stacks, g(theta), priors, scaling."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimators.evidence import calibration as cal
from estimators.model.batch import ModelData, build_batch
from estimators.model.mmm import adstock_weights, apply_lags, lift_g, lift_g_direct, media
from estimators.model.spec import CalibrationSpec, FitSpec, ModelSpec
from common import transforms as tf
from common.records import LiftTest
from synth import template


def _test(channel="ch0", start=60, end=65, window_days=70, share=0.4, base=1000.0, delta=-1000.0,
          lift=-4000.0, se=500.0):
    return LiftTest("t", channel, start, end, window_days, share, base, delta, lift, se,
                    lift - 1.96 * se, lift + 1.96 * se, 10, np.nan, True, True, False)


def test_iroas_units():
    t = _test(start=10, end=13, delta=-500.0, lift=-6000.0, se=800.0)   # 4 weeks
    m, s = cal.iroas(t)
    assert m == pytest.approx(6000.0 / (500.0 * 4))
    assert s == pytest.approx(800.0 / (500.0 * 4))
    assert t.iroas == pytest.approx(m)


@pytest.mark.parametrize("means,ses", [([2.0], [0.5]), ([1.0, 3.0], [1.0, 1.0]), ([1.0, 4.0], [0.2, 2.0])])
def test_precision_combination(means, ses):
    m, s = cal.combine_precision(means, ses)
    w = 1 / np.square(ses)
    assert m == pytest.approx(np.sum(w * np.array(means)) / w.sum())
    assert s == pytest.approx(w.sum() ** -0.5)
    assert s <= min(ses) + 1e-12


@pytest.mark.parametrize("mean,sd", [(2.0, 0.1), (0.8, 0.04), (4.0, 0.2)])
def test_replacement_prior_of_a_precise_read_has_its_moments(mean, sd):
    """A precise read (CV 5%): the LogNormal's mean and sd match the read's to 1% and 5%."""
    mu, s = cal.replacement_prior(mean, sd)
    m = np.exp(mu + s ** 2 / 2)
    assert m == pytest.approx(mean, rel=0.01)
    assert m * np.sqrt(np.expm1(s ** 2)) == pytest.approx(sd, rel=0.05)


@pytest.mark.parametrize("mean,sd", [(0.5, 1.0), (0.0, 1.0), (-1.0, 0.5), (-5.0, 0.1), (1.0, 10.0)])
def test_replacement_prior_of_an_imprecise_or_negative_read_is_wide_not_confident(mean, sd):
    """Imprecise or negative reads give a wide prior (log-sd 0.8-1.3) whose 95% point is at least
    the read's own scale, not a confident low prior."""
    mu, s = cal.replacement_prior(mean, sd)
    assert np.isfinite(mu) and 0.8 <= s <= 1.3
    assert np.exp(mu + 1.645 * s) >= min(sd, sd ** 2 / max(abs(mean), 1e-9))


def test_replacement_prior_covers_unbiased_reads_at_the_nominal_rate():
    """Seed 0: 1,000 unbiased reads N(roi, cv * roi), roi log-uniform on 0.5-5, cv log-uniform on
    0.05-3: the prior's 90% interval covers the true ROI in 85-95% of them, and in 85-95% of the
    imprecise ones (cv >= 1) too."""
    rng = np.random.default_rng(0)
    roi = np.exp(rng.uniform(np.log(0.5), np.log(5.0), 1000))
    cv = np.exp(rng.uniform(np.log(0.05), np.log(3.0), 1000))
    reads = roi + cv * roi * rng.standard_normal(1000)
    lohi = np.array([[m - 1.645 * s, m + 1.645 * s] for m, s in
                     (cal.replacement_prior(r, c * t) for r, c, t in zip(reads, cv, roi))])
    cover = (np.exp(lohi[:, 0]) <= roi) & (roi <= np.exp(lohi[:, 1]))
    assert 0.85 <= cover.mean() <= 0.95, cover.mean()
    assert 0.85 <= cover[cv >= 1].mean() <= 0.95, cover[cv >= 1].mean()


@pytest.mark.parametrize("mean,sd", [(2.0, 0.3), (0.8, 0.8), (4.0, 0.05)])
def test_moment_conversion_keeps_mean_and_sd(mean, sd):
    """The earlier runs' conversion (m1_conversion=moment): a LogNormal with the read's mean and sd
    (seeded Monte Carlo, 400,000 draws, 1% and 2%), and a negative read floored at 0.05."""
    mu, s = cal.moment_prior(mean, sd)
    x = np.random.default_rng(0).lognormal(mu, s, 400_000)
    assert x.mean() == pytest.approx(mean, rel=0.01) and x.std() == pytest.approx(sd, rel=0.02)
    neg_mu, neg_s = cal.moment_prior(-1.0, 2.0)
    assert np.exp(neg_mu + neg_s ** 2 / 2) == pytest.approx(cal.MOMENT_FLOOR) and neg_s > 2.0    # confident near 0
    tests = [_test("ch0", lift=+100.0, se=5000.0)]
    moment = cal.m1_inputs(tests, ["ch0"], (0.6, 0.6), conversion="moment")
    assert (moment.mu[0], moment.sd[0]) == pytest.approx(cal.moment_prior(*cal.iroas(tests[0])))


def test_m1_inputs_only_on_tested_channels():
    tests = [_test("ch1", lift=-6000.0, se=300.0), _test("ch1", lift=-7000.0, se=300.0)]
    p = cal.m1_inputs(tests, ["ch0", "ch1"], default=(0.6, 0.6))
    assert p.mu[0] == 0.6 and p.sd[0] == 0.6 and p.mask.tolist() == [0.0, 0.0]
    m, s = cal.combine_precision(*zip(*[cal.iroas(t) for t in tests]))
    assert (p.mu[1], p.sd[1]) == pytest.approx(cal.replacement_prior(m, s))
    kept = cal.m1_inputs(tests, ["ch0", "ch1"], default=(0.6, 0.6), with_default_prior=True)
    assert kept.mu.tolist() == [0.6, 0.6] and kept.sd.tolist() == [0.6, 0.6]
    assert kept.mask.tolist() == [0.0, 1.0] and (kept.obs[1], kept.se[1]) == pytest.approx((m, s))


def test_m1_with_default_prior_adds_exactly_the_reads_likelihood():
    """potential(m1_prior) - potential(none) = -log Normal(m; ROI, s) at any point (float64, 1e-8)."""
    from estimators.inference.laplace import example, model_fns, potential, prior_centre

    obs = template(6, n_weeks=80, n_channels=3)
    t = _test("ch2", start=40, end=45, lift=-9000.0, se=900.0)
    kept = FitSpec(calibration=CalibrationSpec(method="m1", m1_with_default_prior=True))
    none = FitSpec()
    with jax.enable_x64(True):
        bk = build_batch([obs], [[t]], kept, dtype=np.float64)
        bn = build_batch([obs], [[t]], none, dtype=np.float64)
        fns = model_fns(example(bk.data), kept.model, kept.priors)
        dk, dn = (ModelData(*[jnp.asarray(a[0]) for a in b.data]) for b in (bk, bn))
        u = prior_centre(dk, fns, kept.priors) + 0.1
        roi = fns.transforms["roi"](fns.unravel(u)["roi"])
        m, s = cal.iroas(t)
        expect = -float(jax.scipy.stats.norm.logpdf(m, roi[2], s))
        diff = float(potential(u, dk, fns, kept.model, kept.priors) - potential(u, dn, fns, none.model, none.priors))
    assert diff == pytest.approx(expect, rel=1e-8)


def test_lag_stack_matches_transforms_adstock():
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 1.0, size=(40, 3))
    n_l = 6
    full = np.concatenate([np.zeros((n_l - 1, 3)), x])
    idx = n_l - 1 + np.arange(40)[None, :] - np.arange(n_l)[:, None]
    with jax.enable_x64(True):
        w = np.asarray(tf.geometric_weights(jnp.array([0.2, 0.5, 0.7]), n_l))
        ours = apply_lags(jnp.asarray(np.transpose(full[idx], (2, 0, 1))),
                          jnp.asarray(w / w.sum(-1, keepdims=True))).T
        ref = tf.adstock(jnp.asarray(x), jnp.asarray(w), normalise=True)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("delta,start,window_days", [(-1.0, 40, 70), (0.5, 30, 35), (-1.0, 90, 140)])
def test_lift_g_matches_direct(delta, start, window_days):
    """g(theta) from the batch's lag stacks == g recomputed from the full series via tf.adstock."""
    obs = template(3, n_weeks=104, n_channels=3)
    base = 0.4 * obs.spend[start:start + 6, 1].mean()
    t = _test("ch1", start=start, end=start + 5, window_days=window_days, share=0.4, base=base,
              delta=delta * base)
    spec = FitSpec(model=ModelSpec(pre_sample="zero"), calibration=CalibrationSpec(method="m2"))
    b = build_batch([obs], [[t]], spec, dtype=np.float64)
    with jax.enable_x64(True):
        d = ModelData(*[jnp.asarray(a[0]) for a in b.data])
        p = {"alpha": jnp.array([0.3, 0.6, 0.2]), "theta": jnp.array([0.0, 1.5, 0.0]),
             "half_saturation": jnp.array([1.0, 0.8, 1.3]), "slope": jnp.array([1.2, 2.0, 0.9]),
             "roi": jnp.array([2.0, 1.5, 3.0])}
        d = d._replace(delayed=jnp.array([0.0, 1.0, 0.0]))
        _, w, beta = media(p, d, 13)
        g = lift_g(p, beta, d, 13)[0]
        m = b.meta.spend_mean[0]
        ref = lift_g_direct(beta[1], w[1], p["half_saturation"][1], p["slope"][1],
                            jnp.asarray(obs.spend[:, 1] / m[1]), 0.4, start, start + 5,
                            (base + delta * base) / m[1], window_days // 7)
    assert float(g) == pytest.approx(float(ref), rel=1e-10)
    assert np.sign(float(g)) == np.sign(delta)


def test_roi_parameterisation_is_exact():
    """Total model contribution / total spend == the ROI parameter, per channel."""
    obs = template(4, n_weeks=80, n_channels=3)
    b = build_batch([obs], None, FitSpec(), dtype=np.float64)
    with jax.enable_x64(True):
        d = ModelData(*[jnp.asarray(a[0]) for a in b.data])
        roi = jnp.array([0.7, 2.5, 4.0])
        p = {"alpha": jnp.array([0.3, 0.5, 0.1]), "theta": jnp.zeros(3),
             "half_saturation": jnp.array([1.0, 0.5, 2.0]), "slope": jnp.array([1.0, 2.0, 0.8]), "roi": roi}
        sat, _, beta = media(p, d, 13)
        contrib = np.asarray(beta[:, None] * sat).T * b.meta.kpi_scale[0]
    np.testing.assert_allclose(contrib.sum(0) / obs.spend.sum(0), roi, rtol=1e-10)


def test_adstock_weights_normalised_and_family():
    w = adstock_weights(jnp.array([0.5, 0.5]), jnp.array([2.0, 2.0]), jnp.array([0.0, 1.0]), 13)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)
    assert int(jnp.argmax(w[0])) == 0 and int(jnp.argmax(w[1])) == 2


def test_stable_hill_matches_transforms_and_has_finite_gradients():
    from common.transforms import hill

    x = jnp.array([0.0, 1e-6, 0.3, 1.0, 2.0, 40.0])
    with jax.enable_x64(True):
        xd = jnp.asarray(np.asarray(x), jnp.float64)
        np.testing.assert_allclose(hill(xd, 1.3, 1.7), tf.hill(xd, 1.3, 1.7), rtol=1e-12, atol=1e-15)
    g = jax.grad(lambda s: hill(x, 1.0, s).sum())(jnp.float32(60.0))     # s * log(x/h) << -88
    assert np.isfinite(float(g))


@pytest.mark.parametrize("likelihood,ar1", [("normal", True), ("student_t", True), ("normal", False)])
def test_potential_is_finite_for_every_likelihood_option(likelihood, ar1):
    from estimators.inference.laplace import example, potential, prior_centre, model_fns

    spec = FitSpec(model=ModelSpec(likelihood=likelihood, ar1=ar1, n_fourier=1))
    b = build_batch([template(2, n_weeks=40, n_channels=2)], None, spec)
    fns = model_fns(example(b.data), spec.model, spec.priors)
    d = ModelData(*[jnp.asarray(a[0]) for a in b.data])
    u = prior_centre(d, fns, spec.priors)
    val, g = jax.value_and_grad(lambda x: potential(x, d, fns, spec.model, spec.priors))(u)
    assert np.isfinite(float(val)) and np.all(np.isfinite(np.asarray(g)))
    assert ("rho_z" in fns.transforms) == ar1


@pytest.mark.parametrize("field,value", [("lockstep", 0), ("chains", 0), ("warmup", -1),
                                         ("method", "hmc")])
def test_inference_spec_rejects_bad_values(field, value):
    from harness.errors import ConfigError
    from estimators.model.spec import InferenceSpec

    with pytest.raises(ConfigError, match=f"inference.{field}"):
        InferenceSpec(**{field: value}).validate()


def test_blocks_cover_the_batch_once_and_nuts_never_samples_a_filler():
    """MAP / fast blocks are fixed-size (the last repeats its last index, rows discarded);
    NUTS blocks hold real datasets only (a short last block runs at its own size)."""
    from estimators.inference import nuts
    from estimators.inference.laplace import blocks

    assert [b.tolist() for b in blocks(5, 2)] == [[0, 1], [2, 3], [4, 4]]
    assert [b.tolist() for b in blocks(4, 2)] == [[0, 1], [2, 3]]
    assert [b.tolist() for b in nuts._blocks(5, 2)] == [[0, 1], [2, 3], [4]]
    assert sorted(np.concatenate(nuts._blocks(7, 3)).tolist()) == list(range(7))
