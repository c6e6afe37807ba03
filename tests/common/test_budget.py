"""The one budget optimiser (common/budget.py) against brute force, batched and alone."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common.budget import check_bounds, optimise, optimise_batch
from common.transforms import hill as hill_jnp
from harness.errors import ConfigError

BETA = np.array([100.0, 60.0, 80.0])
HALF = np.array([50.0, 20.0, 80.0])


def hill(slope):
    return lambda b: BETA * hill_jnp(b, HALF, slope)


def brute(f, budget, lo, hi, n=1201):
    g = np.linspace(0.0, budget, n)
    b1, b2 = np.meshgrid(g, g, indexing="ij")
    pts = np.stack([b1.ravel(), b2.ravel(), budget - b1.ravel() - b2.ravel()], -1)
    ok = np.all((pts >= lo - 1e-12) & (pts <= hi + 1e-12), 1)
    v = np.asarray(f(jnp.asarray(pts[ok]))).sum(1)
    return v.max(), pts[ok][v.argmax()]


CASES = [  # slope, budget, floors, ceilings
    ([1.0, 0.8, 0.9], 150.0, [10, 5, 0], [90, 60, 100]),     # concave
    ([0.6, 1.0, 0.7], 60.0, [0, 0, 0], [200, 200, 200]),    # concave, loose bounds
    ([1.0, 1.0, 1.0], 120.0, [30, 30, 30], [40, 45, 50]),   # bounds bind
    ([2.5, 2.0, 3.0], 150.0, [10, 5, 0], [90, 60, 100]),    # S-shaped (the DP is global on its grid)
    ([1.0, 1.0, 1.0], 133.7, [30, 30, 30], [40, 45, 50]),   # near the sum of ceilings: grid rounding
]


@pytest.mark.parametrize("slope,budget,lo,hi", CASES)
def test_matches_brute_force_and_respects_bounds(slope, budget, lo, hi):
    """Never worse than a 1,201 x 1,201 grid (tolerance 1e-7 of the response), bounds and budget exact."""
    f = hill(np.array(slope))
    lo, hi = np.array(lo, float), np.array(hi, float)
    with jax.enable_x64(True):
        a = optimise(f, budget, lo, hi)
        best, _ = brute(f, budget, lo, hi)
    assert float(a.total) >= best * (1 - 1e-7)
    spend = np.asarray(a.spend)
    assert np.all(spend >= lo - 1e-9) and np.all(spend <= hi + 1e-9)
    assert spend.sum() == pytest.approx(budget, rel=1e-12)


def test_concave_optimum_equalises_marginal_returns():
    f = hill(np.array([1.0, 0.8, 0.9]))
    with jax.enable_x64(True):
        a = optimise(f, 150.0, np.zeros(3), np.full(3, 150.0))
        eps = 1e-4
        b = np.asarray(a.spend)
        marg = (np.asarray(f(jnp.asarray(b[None] + eps)))[0] - np.asarray(f(jnp.asarray(b[None] - eps)))[0]) / (2 * eps)
    assert np.ptp(marg) / marg.mean() < 1e-4


def test_batched_equals_alone():
    """optimise_batch gives each problem exactly what optimise gives it alone."""
    rng = np.random.default_rng(3)
    n, k = 5, 4
    p = {"beta": rng.uniform(1, 5, (n, k)), "h": rng.uniform(0.5, 2, (n, k)), "s": rng.uniform(0.8, 3, (n, k))}
    resp = lambda q, b: q["beta"] * hill_jnp(b, q["h"], q["s"])
    with jax.enable_x64(True):
        batch = optimise_batch(resp, jax.tree.map(jnp.asarray, p), jnp.full(n, 4.0), jnp.zeros((n, k)),
                               jnp.full((n, k), 2.0))
        for i in range(n):
            one = optimise(lambda b: resp({key: jnp.asarray(v[i]) for key, v in p.items()}, b), 4.0,
                           np.zeros(k), np.full(k, 2.0))
            np.testing.assert_allclose(np.asarray(batch.spend[i]), np.asarray(one.spend), rtol=1e-12, atol=1e-12)


def test_infeasible_budget_is_a_config_error():
    with pytest.raises(ConfigError, match="budget"):
        check_bounds(10.0, np.full(3, 5.0), np.full(3, 9.0))
    with pytest.raises(ConfigError, match="budget"):
        check_bounds(100.0, np.zeros(3), np.full(3, 20.0))
    with pytest.raises(ConfigError, match="bounds"):
        check_bounds(1.0, np.ones(3), np.zeros(3))
    check_bounds(10.0, np.zeros(3), np.full(3, 5.0))
