"""Budget optimiser against a brute-force grid on known curves."""
from __future__ import annotations

import numpy as np
import pytest

from estimators.budget import hill_np, optimise, posterior_response
from harness.errors import ConfigError

BETA = np.array([100.0, 60.0, 80.0])
HALF = np.array([50.0, 20.0, 80.0])


def hill(slope):
    return lambda b: BETA * np.maximum(b, 0) ** slope / (np.maximum(b, 0) ** slope + HALF ** slope)


def brute(f, budget, lo, hi, n=1201):
    g = np.linspace(0.0, budget, n)
    b1, b2 = np.meshgrid(g, g, indexing="ij")
    pts = np.stack([b1.ravel(), b2.ravel(), budget - b1.ravel() - b2.ravel()], -1)
    ok = np.all((pts >= lo - 1e-12) & (pts <= hi + 1e-12), 1)
    v = f(pts[ok]).sum(1)
    return v.max(), pts[ok][v.argmax()]


CASES = [  # slope, budget, floors, ceilings
    ([1.0, 0.8, 0.9], 150.0, [10, 5, 0], [90, 60, 100]),     # concave
    ([0.6, 1.0, 0.7], 60.0, [0, 0, 0], [200, 200, 200]),    # concave, loose bounds
    ([1.0, 1.0, 1.0], 120.0, [30, 30, 30], [40, 45, 50]),   # bounds bind
    ([2.5, 2.0, 3.0], 150.0, [10, 5, 0], [90, 60, 100]),    # S-shaped (DP is global on its grid)
]


@pytest.mark.parametrize("slope,budget,lo,hi", CASES)
def test_matches_grid_and_respects_bounds(slope, budget, lo, hi):
    f = hill(np.array(slope))
    lo, hi = np.array(lo, float), np.array(hi, float)
    a = optimise(f, budget, lo, hi)
    best, _ = brute(f, budget, lo, hi)
    assert a.total >= best * (1 - 1e-3)
    assert np.all(a.spend >= lo - 1e-9) and np.all(a.spend <= hi + 1e-9)
    assert a.spend.sum() == pytest.approx(budget, rel=1e-9)


def test_concave_optimum_equalises_marginal_returns():
    slope = np.array([1.0, 0.8, 0.9])
    f = hill(slope)
    a = optimise(f, 150.0, np.zeros(3), np.full(3, 150.0))
    eps = 1e-4
    marg = (f(a.spend[None] + eps)[0] - f(a.spend[None] - eps)[0]) / (2 * eps)
    assert np.ptp(marg) / marg.mean() < 1e-3


def test_infeasible_budget_is_a_config_error():
    with pytest.raises(ConfigError):
        optimise(hill(np.ones(3)), 10.0, np.full(3, 5.0), np.full(3, 9.0))
    with pytest.raises(ConfigError):
        optimise(hill(np.ones(3)), 100.0, np.zeros(3), np.full(3, 20.0))


def test_posterior_response_mean_and_quantile():
    rng = np.random.default_rng(0)
    s = 400
    beta = BETA * rng.lognormal(0, 0.3, (s, 3))
    half = HALF * rng.lognormal(0, 0.2, (s, 3))
    slope = np.ones((s, 3))
    mean_f = posterior_response(beta, half, slope)
    q_f = posterior_response(beta, half, slope, quantile=0.1)
    b = np.array([[40.0, 30.0, 50.0]])
    assert np.all(q_f(b) < mean_f(b))
    direct = (beta * b / (b + half)).mean(0)
    np.testing.assert_allclose(mean_f(b)[0], direct, rtol=1e-10)
    a_mean = optimise(mean_f, 150.0, np.zeros(3), np.full(3, 150.0))
    a_q = optimise(q_f, 150.0, np.zeros(3), np.full(3, 150.0))
    assert a_q.total < a_mean.total and a_q.spend.sum() == pytest.approx(150.0)


def test_hill_np_matches_transforms():
    import jax
    import jax.numpy as jnp

    from simulate.transforms import hill as hill_jnp
    x = np.array([0.0, 1e-3, 0.5, 1.0, 3.0, 50.0])
    with jax.enable_x64(True):
        ref = np.asarray(hill_jnp(jnp.asarray(x), 1.3, 1.7))
    np.testing.assert_allclose(hill_np(x, 1.3, 1.7), ref, rtol=1e-12, atol=1e-15)
