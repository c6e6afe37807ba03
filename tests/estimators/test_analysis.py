"""Posterior analysis (estimators/decisions/analysis.py): counterfactual plans and the recommendation."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import transforms as tf
from common.budget import optimise
from estimators.decisions import analysis as A


def _draws(seed=0, s=60, t=80, k=4):
    rng = np.random.default_rng(seed)
    return {"alpha": rng.uniform(0.1, 0.6, (s, k)), "theta": rng.uniform(0, 2, (s, k)),
            "beta": rng.uniform(1e4, 5e4, (s, k)), "half": rng.uniform(5e3, 2e4, (s, k)),
            "slope": rng.uniform(0.8, 2, (s, k)), "delayed": np.array([0.0, 1.0, 0.0, 0.0])[:k],
            "spend": rng.uniform(5e3, 2e4, (t, k)), "n_fit": t - 10}


@pytest.mark.parametrize("pre_first", [True, False])
def test_plan_totals_equal_a_direct_adstock_of_each_plan(pre_first):
    """One adstock per draw and one total per distinct factor == adstocking every plan's full series
    (float64, 1e-12), including the history before the data, which no plan scales."""
    d = _draws()
    k = d["spend"].shape[1]
    f = np.vstack([np.ones(k), np.diag(np.full(k, 0.5)) + (1 - np.eye(k)), np.full((1, k), 1.25)])
    levels, index = np.unique(f, return_inverse=True)
    with jax.enable_x64(True):
        got = np.asarray(A._plans_one(**{n: jnp.asarray(v) for n, v in d.items()}, levels=jnp.asarray(levels),
                                      index=jnp.asarray(index.reshape(f.shape)), max_lag=13, pre_first=pre_first))
        w = tf.normalised_weights(jnp.asarray(d["alpha"]), jnp.asarray(d["theta"]), jnp.asarray(d["delayed"])[None], 13)
        pre = np.repeat(d["spend"][:1], 12, 0) if pre_first else np.zeros((12, k))
        ref = []
        for p in f:
            ad = tf.adstock(jnp.asarray(np.concatenate([pre, d["spend"] * p[None]]))[None], w)[:, 12:]
            c = d["beta"][:, None, :] * tf.hill(ad, d["half"][:, None, :], d["slope"][:, None, :])
            ref.append(float(c[:, :d["n_fit"]].sum((1, 2)).mean()))
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert got[1] < got[0] < got[-1]          # halving a channel lowers media, +25% everywhere raises it


def test_recommendation_is_the_one_optimiser_on_the_posterior_mean_curve():
    """_analyse_one's allocation is common.budget.optimise of the mean over draws of beta hill(b)."""
    d = _draws(1)
    k = d["spend"].shape[1]
    hist = d["spend"].mean(0)
    d.update(budget=hist.sum(), lower=np.zeros(k), upper=3 * hist)
    with jax.enable_x64(True):
        x = {n: jnp.asarray(v) for n, v in d.items()}
        _, spend, resp = A._analyse_one(x, jnp.asarray([1.0]), jnp.zeros((1, k), jnp.int32), 13, True)
        curve = lambda b: jnp.mean(x["beta"][:, None] * tf.hill(b[None], x["half"][:, None], x["slope"][:, None]), 0)
        ref = optimise(curve, d["budget"], d["lower"], d["upper"])
        at_spend = np.asarray(curve(jnp.asarray(spend)[None])[0])
    np.testing.assert_allclose(np.asarray(spend), np.asarray(ref.spend), rtol=1e-12)
    assert float(np.asarray(spend).sum()) == pytest.approx(d["budget"], rel=1e-12)
    np.testing.assert_allclose(np.asarray(resp), at_spend, rtol=1e-12)
