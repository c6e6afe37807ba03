"""Fits on data from the model's own prior: batch vs alone, padding, calibration behaviour.

Default suite uses the fast path (MAP + Laplace; one compiled program per batch
size); NUTS versions are marked slow. Seeds are fixed in the fixtures: prior
draws with key 11 (conftest), fit key 0.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimators.model.batch import ModelData, build_batch, concat
from estimators.inference.laplace import potential, model_fns, example
from estimators.model.mmm import lift_g, media
from estimators.decisions.analysis import response_curves
from estimators.inference.posterior import fit, summarise, summary_frame
from estimators.model.spec import CalibrationSpec
from common.records import LiftTest
from synth import template

from conftest import N_TESTS

KEY = jax.random.key(0)
START, END, WINDOW_WEEKS, SHARE = 60, 67, 12, 0.45


def _go_dark(obs, channel: int, lift: float, se: float) -> LiftTest:
    base = SHARE * obs.spend[START:END + 1, channel].mean()
    return LiftTest("x", obs.channel_names[channel], START, END, 7 * WINDOW_WEEKS, SHARE, base, -base,
                    lift, se, lift - 1.96 * se, lift + 1.96 * se, 10, 0.0, True, True, False)


def _batch(draw, tests, spec, method):
    s = dataclasses.replace(spec, calibration=CalibrationSpec(method=method))
    obs = draw.observed._replace(dataset_id=f"{draw.observed.dataset_id}-{method}-{len(tests)}")
    return build_batch([obs], [tests], s, kpi_scale=[draw.kpi_scale], n_tests=N_TESTS)


def _true_g(draw, test, spec):
    """g at the draw's true parameters, KPI units (the model's own world: exact)."""
    b = _batch(draw, [test], spec, "m2")
    with jax.enable_x64(True):
        d = ModelData(*[jnp.asarray(a[0] if a.dtype.kind == "i" else np.asarray(a[0], np.float64))
                        for a in b.data])
        p = {k: jnp.asarray(v) for k, v in draw.params.items()}
        _, _, beta = media(p, d, spec.model.max_lag)
        return float(lift_g(p, beta, d, spec.model.max_lag)[0]) * draw.kpi_scale


@pytest.fixture(scope="session")
def cal_setup(prior_draws, fast_spec):
    """One batch: baseline + unbiased/biased M1 and M2 tests on the widest channel."""
    draw = prior_draws[0]
    base_b = _batch(draw, [], fast_spec, "none")
    base = summarise(fit(KEY, base_b, fast_spec))
    k = int(np.nanargmax(base.roi_sd[0] / base.roi_mean[0]))
    roi_true = float(draw.params["roi"][k])
    obs = draw.observed
    weeks = END - START + 1
    probe = _go_dark(obs, k, -1.0, 1.0)
    g_true = _true_g(draw, probe, fast_spec)
    tests = {
        ("m1", 1.0): _go_dark(obs, k, roi_true * probe.spend_delta * weeks, 0.03 * roi_true * abs(probe.spend_delta) * weeks),
        ("m1", 1.6): _go_dark(obs, k, 1.6 * roi_true * probe.spend_delta * weeks, 0.03 * roi_true * abs(probe.spend_delta) * weeks),
        ("m2", 1.0): _go_dark(obs, k, g_true, 0.03 * abs(g_true)),
        ("m2", 1.6): _go_dark(obs, k, 1.6 * g_true, 0.03 * abs(g_true)),
    }
    batches = [base_b] + [_batch(draw, [t], fast_spec, m) for (m, _), t in tests.items()]
    post = fit(KEY, concat(batches), fast_spec)
    return {"k": k, "roi_true": roi_true, "post": post, "summary": summarise(post),
            "labels": ["none"] + list(tests), "base_batch": base_b}


def test_baseline_fit_is_sane(cal_setup):
    s, post = cal_setup["summary"], cal_setup["post"]
    assert np.all(np.isfinite(s.roi_mean[0]))
    assert np.all(post.diagnostics.map_grad_norm < 1.0)
    np.testing.assert_allclose(np.nansum(s.share_mean, -1), 1.0, rtol=1e-5)
    assert np.all((s.roi_q05 <= s.roi_q50) & (s.roi_q50 <= s.roi_q95))


@pytest.mark.parametrize("method", ["m1", "m2"])
def test_unbiased_precise_test_shrinks_and_moves_toward_truth(cal_setup, method):
    s, k, truth = cal_setup["summary"], cal_setup["k"], cal_setup["roi_true"]
    i = cal_setup["labels"].index((method, 1.0))
    assert s.roi_sd[i, k] <= 0.7 * s.roi_sd[0, k], (s.roi_sd[i, k], s.roi_sd[0, k])
    assert abs(s.roi_mean[i, k] - truth) < abs(s.roi_mean[0, k] - truth)


@pytest.mark.parametrize("method", ["m1", "m2"])
def test_biased_precise_test_pulls_toward_the_bias(cal_setup, method):
    s, k, truth = cal_setup["summary"], cal_setup["k"], cal_setup["roi_true"]
    i = cal_setup["labels"].index((method, 1.6))
    biased = 1.6 * truth
    assert abs(s.roi_mean[i, k] - biased) < 0.5 * abs(s.roi_mean[0, k] - biased)
    assert abs(s.roi_mean[i, k] - biased) < abs(s.roi_mean[i, k] - truth)   # ends nearer the bias


def test_batch_vs_alone_fast(cal_setup, fast_spec):
    """The baseline dataset alone (N=1) and inside the 5-dataset batch: identical summaries.

    Same key (from the dataset id) and the same compiled programs (the MAP and the draws run in
    fixed blocks of 8 datasets; a vmapped lane depends on its own inputs only), so the bits agree.
    """
    alone = summarise(fit(KEY, cal_setup["base_batch"], fast_spec))
    inb = cal_setup["summary"]
    for f in ("roi_mean", "roi_sd", "roi_q05", "roi_q50", "roi_q95", "share_mean"):
        np.testing.assert_array_equal(getattr(alone, f)[0], getattr(inb, f)[0])


def test_padding_adds_only_constant_prior_terms(fast_spec):
    """A 2-channel dataset padded to 3 channels has the same log density up to a constant."""
    obs = template(8, n_weeks=60, n_channels=2)
    b2 = build_batch([obs], None, fast_spec, n_tests=0)
    b3 = build_batch([obs], None, fast_spec, n_channels=3, n_tests=0)
    f2 = model_fns(example(b2.data), fast_spec.model, fast_spec.priors)
    f3 = model_fns(example(b3.data), fast_spec.model, fast_spec.priors)
    d2 = ModelData(*[jnp.asarray(a[0]) for a in b2.data])
    d3 = ModelData(*[jnp.asarray(a[0]) for a in b3.data])
    rng = np.random.default_rng(0)
    pad_vals = None
    diffs = []
    for _ in range(4):
        u2 = f2.unravel(jnp.asarray(rng.normal(size=f2.dim) * 0.5, jnp.float32))
        if pad_vals is None:
            pad_vals = {k: rng.normal() for k in u2 if f3.unravel(jnp.zeros(f3.dim))[k].shape[-1:] == (3,)}
        u3 = {k: (jnp.concatenate([v, jnp.full((1,), pad_vals[k], v.dtype)]) if k in pad_vals else v)
              for k, v in u2.items()}
        from jax.flatten_util import ravel_pytree
        p2 = potential(ravel_pytree(u2)[0], d2, f2, fast_spec.model, fast_spec.priors)
        p3 = potential(ravel_pytree(u3)[0], d3, f3, fast_spec.model, fast_spec.priors)
        diffs.append(float(p3 - p2))
    assert np.ptp(diffs) < 1e-3 * max(1.0, abs(diffs[0]))


def test_summary_frame_and_curves(cal_setup):
    post = cal_setup["post"]
    df = summary_frame(post, 0)
    assert list(df.columns) == ["channel", "roi_mean", "roi_sd", "roi_q05", "roi_q50", "roi_q95",
                                "share_mean", "lag_days"]
    assert len(df) == 3 and df["lag_days"].between(0, 91).all()
    cur = response_curves(post, 11, 3.0)
    assert cur["mean"].shape == (post.roi.shape[0], 11, 3)
    assert np.all(np.diff(cur["mean"][0], axis=0) >= -1e-9)    # response increases with spend
    assert np.all(cur["q05"] <= cur["mean"] + 1e-9)
