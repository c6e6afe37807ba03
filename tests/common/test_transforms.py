"""Media transforms: closed forms, properties, jit on/off, batch shapes."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common import transforms as tf

JIT = [pytest.param(False, id="eager"), pytest.param(True, id="jit")]


def maybe_jit(fn, on):
    return jax.jit(fn, static_argnums=()) if on else fn


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.8])
def test_geometric_weights_closed_form(jit, alpha):
    w = maybe_jit(lambda a: tf.geometric_weights(a, 6), jit)(jnp.float32(alpha))
    np.testing.assert_allclose(w, alpha ** np.arange(6), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("jit", JIT)
@pytest.mark.parametrize("batch", [(), (3,), (2, 4)])
@pytest.mark.parametrize("normalise", [True, False])
def test_adstock_impulse_response_and_batch_shapes(jit, batch, normalise):
    """An impulse at t=2 comes back as the (normalised) weights, for every batch shape."""
    n_t, n_k, n_l = 12, 3, 5
    alpha = jnp.array([0.2, 0.5, 0.7])
    w = tf.geometric_weights(jnp.broadcast_to(alpha, batch + (n_k,)), n_l)     # [*batch, K, L]
    x = jnp.zeros(batch + (n_t, n_k)).at[..., 2, :].set(1.0)
    y = maybe_jit(lambda x, w: tf.adstock(x, w, normalise), jit)(x, w)
    assert y.shape == batch + (n_t, n_k)
    expect = np.asarray(w) / (np.asarray(w).sum(-1, keepdims=True) if normalise else 1.0)
    np.testing.assert_allclose(np.moveaxis(np.asarray(y)[..., 2:2 + n_l, :], -1, -2), expect, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(y)[..., :2, :], 0.0)


@pytest.mark.parametrize("jit", JIT)
def test_normalised_adstock_settles_at_constant_and_preserves_total(jit):
    n_l = 6
    w = tf.delayed_weights(jnp.array([0.5, 0.8]), jnp.array([1.0, 2.5]), n_l)
    x = jnp.full((20, 2), 3.0)
    y = maybe_jit(lambda x, w: tf.adstock(x, w, True), jit)(x, w)
    np.testing.assert_allclose(y[n_l - 1:], 3.0, rtol=1e-6)
    pulse = jnp.zeros((20, 2)).at[4:7].set(2.0)          # ends well before T - L
    y = tf.adstock(pulse, w, True)
    np.testing.assert_allclose(y.sum(0), pulse.sum(0), rtol=1e-6)


def test_delayed_weights_peak_at_theta():
    w = tf.delayed_weights(jnp.array([0.6, 0.6, 0.6]), jnp.array([0.0, 2.0, 4.0]), 10)
    np.testing.assert_array_equal(np.argmax(w, axis=-1), [0, 2, 4])


def test_weibull_weights_delay_peak_for_shape_above_one():
    w = tf.weibull_weights(jnp.array([1.0, 3.0]), jnp.array([2.0, 4.0]), 13)
    assert int(jnp.argmax(w[0])) == 0 and int(jnp.argmax(w[1])) >= 2


@pytest.mark.parametrize("jit", JIT)
def test_hill_closed_form_points(jit):
    h = jnp.array([1.0, 2.0, 5.0])
    s = jnp.array([0.7, 1.0, 2.5])
    f = maybe_jit(tf.hill, jit)
    np.testing.assert_allclose(f(h, h, s), 0.5, rtol=1e-6)
    np.testing.assert_allclose(f(jnp.zeros(3), h, s), 0.0)
    x = jnp.array([2.0, 2.0, 2.0])
    np.testing.assert_allclose(f(x, h, s), x**s / (x**s + h**s), rtol=1e-6)


def test_hill_monotone_bounded_and_concave_for_slope_below_one():
    x = jnp.linspace(0.0, 10.0, 201)[:, None]
    y = tf.hill(x, jnp.array([1.0, 1.0]), jnp.array([0.8, 2.0]))
    assert bool(jnp.all(jnp.diff(y, axis=0) >= 0)) and bool(jnp.all(y < 1.0))
    second = jnp.diff(y[1:, 0], 2)      # skip the kink at 0
    assert bool(jnp.all(second <= 1e-6))
    # S-shaped for slope 2: convex somewhere below h.
    assert bool(jnp.any(jnp.diff(y[:20, 1], 2) > 0))


def test_exponential_saturation_half_point():
    np.testing.assert_allclose(tf.exponential_saturation(jnp.array([3.0]), jnp.array([3.0])), 0.5, rtol=1e-6)


@pytest.mark.parametrize("alpha,share", [(0.5, 0.9), (0.3, 0.5), (0.0, 0.9)])
def test_carryover_lag_matches_hand_computation(alpha, share):
    n_l = 13
    w = np.asarray(tf.geometric_weights(jnp.float32(alpha), n_l), dtype=np.float64)
    w = w / w.sum()
    cum = np.cumsum(w)
    first = int(np.argmax(cum >= share))
    expect = 7.0 * (first + (share - (cum[first] - w[first])) / w[first])
    got = float(tf.carryover_lag(jnp.asarray(w), share))
    assert got == pytest.approx(expect, rel=1e-4)


@settings(max_examples=25, deadline=None)
@given(a=st.floats(-3, 3), b=st.floats(-3, 3), alpha=st.floats(0.0, 0.95), seed=st.integers(0, 10_000))
def test_adstock_is_linear(a, b, alpha, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(2, 16, 2))
    w = tf.geometric_weights(jnp.array([alpha, alpha / 2]), 4)
    lhs = tf.adstock(a * x + b * y, w, True)
    rhs = a * tf.adstock(x, w, True) + b * tf.adstock(y, w, True)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4, atol=1e-4)
