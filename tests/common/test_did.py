"""The jnp DiD readout (common/did.py) against a plain numpy rendering of its formulas."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from common import did


def _factor(n, rho):
    k = np.arange(1, n)
    return n + 2.0 * np.sum((n - k) * rho ** k)


def numpy_readout(y_t, y_c, ratio, start, n_w, n_pre, q):
    d = y_t - ratio * y_c
    pre, win = d[start - n_pre:start], d[start:start + n_w]
    lift = n_w * (win.mean() - pre.mean())
    e = pre - pre.mean()
    sigma = np.sqrt(np.sum(e ** 2) / (n_pre - 1))
    rho = np.clip((n_pre * np.sum(e[1:] * e[:-1]) / np.sum(e ** 2) + 1) / (n_pre - 3), 0, 0.95)
    se = np.sqrt(sigma ** 2 * _factor(n_w, rho) + n_w ** 2 * sigma ** 2 * _factor(n_pre, rho) / n_pre ** 2)
    half = n_pre // 2
    late = n_w * (win.mean() - d[start - half:start].mean())
    early = n_w * (win.mean() - d[start - n_pre:start - half].mean())
    flip = np.sign(late) != np.sign(lift) or np.sign(early) != np.sign(lift)
    return lift, se, lift - q * se, lift + q * se, flip


@pytest.mark.parametrize("seed,start,n_w", [(0, 60, 8), (1, 70, 13), (2, 53, 1), (3, 90, 20)])
def test_matches_numpy(seed, start, n_w):
    """Seeded AR(1)-ish panels; every output within 1e-10 relative of the numpy formulas."""
    rng = np.random.default_rng(seed)
    t = 120
    y_t = 100 + np.cumsum(rng.normal(0, 1, t)) * 0.3 + rng.normal(0, 1, t)
    y_c = 300 + rng.normal(0, 2, t)
    y_t[start:start + n_w] -= 5.0
    ref = numpy_readout(y_t, y_c, 0.4, start, n_w, 52, 2.0)
    with jax.enable_x64(True):
        got = jax.jit(did.did_readout, static_argnums=(5,))(jnp.asarray(y_t), jnp.asarray(y_c), 0.4, start, n_w,
                                                            52, 2.0)
    for a, b in zip(got[:4], ref[:4]):
        assert float(a) == pytest.approx(float(b), rel=1e-10)
    assert bool(got[4]) == bool(ref[4])


def test_vmaps_over_tests_with_different_windows():
    """One vmapped call over tests with different starts and lengths equals the calls one by one."""
    rng = np.random.default_rng(5)
    y_t, y_c = rng.normal(50, 1, (3, 100)), rng.normal(80, 1, (3, 100))
    starts, lens = np.array([55, 60, 70]), np.array([4, 9, 20])
    with jax.enable_x64(True):
        f = jax.vmap(lambda a, b, s, n: did.did_readout(a, b, 0.5, s, n, 52, 1.96))
        many = f(jnp.asarray(y_t), jnp.asarray(y_c), jnp.asarray(starts), jnp.asarray(lens))
        for i in range(3):
            one = did.did_readout(jnp.asarray(y_t[i]), jnp.asarray(y_c[i]), 0.5, int(starts[i]), int(lens[i]), 52, 1.96)
            np.testing.assert_allclose([float(x[i]) for x in many[:4]], [float(x) for x in one[:4]], rtol=1e-12)
