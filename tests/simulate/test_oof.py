"""Out-of-family world options (issue 17): each does what it says, and each is off by default.

Options: per-channel ``spend_floor`` (always-on spend) and ``follows_demand`` (spend tracks the
unobserved demand driver), ``knobs.latent_demand`` (the driver moves the KPI only), and the
profiles ``conf/world/oof_*.yaml`` (near-linear response, ROIs below and above the shipped ones).
Each world spec is compiled once per session (the options are static), so the cases share batches.
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from harness.errors import ConfigError
from simulate import response as R
from simulate import world as W
from simulate.config import world_spec
from simulate.core import key_tree, simulate, simulate_all_tests
from simulate.lifttests import lift_spec
from tests.conftest import load_lift, load_yaml

OOF = ("oof_linear", "oof_low_roi", "oof_high_roi", "oof_demand")
SEED, N = 3, 8   # truths per check (two blocks of the world generator)


@lru_cache(maxsize=None)
def spec_of(name: str):
    return world_spec(load_yaml(f"conf/world/{name}.yaml"))


def with_channels(spec, **values):
    """``spec`` with every channel's fields set to ``values`` (a field: a scalar or one per channel)."""
    chans = []
    for i, c in enumerate(spec.channels):
        chans.append(dataclasses.replace(c, **{k: (v[i] if isinstance(v, (list, tuple)) else v)
                                               for k, v in values.items()}))
    return dataclasses.replace(spec, channels=tuple(chans))


def worlds(spec, seed=SEED, n=N) -> W.World:
    """``n`` truths' worlds (numpy, float64) from the same keys ``simulate`` would use."""
    keys = key_tree(jax.random.split(jax.random.key(seed), n), 1)[0]
    with jax.enable_x64(True):
        return jax.tree.map(np.asarray, W.draw_worlds(keys, spec))


def observed(w: W.World, spec) -> np.ndarray:
    return w.full_spend[:, spec.burn_in_weeks:]                                   # [n, T, K]


def _corr(a, b):
    return float(np.corrcoef(a, b)[0, 1])


# --- off by default ------------------------------------------------------------------------------
def test_options_are_off_when_absent_and_explicit_zeros_change_no_bit(fashion_cfg, fashion_spec):
    assert all(c.spend_floor == 0.0 and c.follows_demand == 0.0 for c in fashion_spec.channels)
    assert fashion_spec.latent_demand == 0.0
    cfg = {**fashion_cfg, "knobs": {**fashion_cfg["knobs"], "latent_demand": 0.0},
           "media": {**fashion_cfg["media"],
                     "channels": [{**c, "spend_floor": 0.0, "follows_demand": 0.0}
                                  for c in fashion_cfg["media"]["channels"]]}}
    zeros = world_spec(cfg)
    assert zeros == fashion_spec
    a, b = worlds(fashion_spec), worlds(zeros)
    for f in W.World._fields:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)


@pytest.mark.parametrize("edit,field", [
    (lambda c: c["media"]["channels"][0].update(spend_floor=0.99), "channels[0].spend_floor"),
    (lambda c: c["media"]["channels"][1].update(spend_floor=-0.1), "channels[1].spend_floor"),
    (lambda c: c["media"]["channels"][0].update(follows_demand=1.5), "channels[0].follows_demand"),
    (lambda c: c["knobs"].update(latent_demand=2.0), "knobs.latent_demand"),
    (lambda c: c["media"]["channels"][0].update(follows_demand="yes"), "channels[0].follows_demand"),
])
def test_out_of_range_options_are_refused_naming_the_field(fashion_cfg, edit, field):
    import copy

    cfg = copy.deepcopy(fashion_cfg)
    edit(cfg)
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        world_spec(cfg)


# --- always-on spend -----------------------------------------------------------------------------
def test_spend_floor_keeps_every_week_above_the_floor_and_the_mean_unchanged(fashion_spec):
    """Fashion has dark weeks (tiktok 15%, youtube 25%, pinterest 20%); with spend_floor 0.5 none is
    below half the mean, in the data and the burn-in, and each channel's mean spend is unchanged."""
    floored = with_channels(fashion_spec, spend_floor=0.5)
    off, on = worlds(fashion_spec), worlds(floored)
    s_off, s_on = observed(off, fashion_spec), observed(on, floored)
    mean = s_on.mean(1, keepdims=True)                                            # [n, 1, K]
    np.testing.assert_allclose(mean, s_off.mean(1, keepdims=True), rtol=1e-12)
    assert (on.full_spend >= 0.5 * mean - 1e-9 * mean).all()
    assert (s_off == 0).mean() > 0.05 and (s_on == 0).sum() == 0
    assert (s_off < 0.5 * mean).mean() > 0.1 and (s_on < 0.5 * mean - 1e-9 * mean).sum() == 0
    # the varying part is the old spend, compressed by (1 - floor)
    np.testing.assert_allclose(on.full_spend, 0.5 * mean + 0.5 * off.full_spend, rtol=1e-9)


@pytest.mark.parametrize("name", ["oof_linear", pytest.param("oof_low_roi", marks=pytest.mark.slow),
                                  pytest.param("oof_high_roi", marks=pytest.mark.slow)])
def test_always_on_channels_of_the_profiles_have_no_week_below_their_floor(name):
    spec = spec_of(name)
    s = observed(worlds(spec), spec)
    floor = np.array([c.spend_floor for c in spec.channels])
    on = floor > 0
    assert on.any()
    mean = s.mean(1, keepdims=True)
    assert (s[..., on] >= floor[on] * mean[..., on] * (1 - 1e-9)).all()


# --- unsaturated response ------------------------------------------------------------------------
def _elasticity(w: W.World, x):
    """``x R'(x) / R(x)`` of the steady-state response at weekly spend ``x [n, K]``."""
    p = R.ResponseParams(w.beta, w.half_saturation, w.slope, w.misspecified)
    with jax.enable_x64(True):
        xs = jnp.asarray(x)[:, None, :]
        r, dr = jax.jvp(lambda s: R.steady_response(jax.tree.map(jnp.asarray, p), s), (xs,), (jnp.ones_like(xs),))
    return np.asarray(xs * dr / r)[:, 0]


def test_oof_linear_response_is_nearly_linear_over_the_observed_spend(fashion_spec):
    """Elasticity >= 0.95 at mean spend and >= 0.85 at the largest observed week, every channel
    and truth (fashion, for contrast: median elasticity at mean spend below 0.8)."""
    spec = spec_of("oof_linear")
    w = worlds(spec)
    s = observed(w, spec)
    assert _elasticity(w, s.mean(1)).min() >= 0.95
    assert _elasticity(w, s.max(1)).min() >= 0.85
    # the curve over 0 .. max observed spend stays within 15% of the chord through the origin
    grid = np.linspace(1e-6, 1.0, 21)[None, :, None] * s.max(1)[:, None, :]       # [n, 21, K]
    p = R.ResponseParams(w.beta, w.half_saturation, w.slope, w.misspecified)
    with jax.enable_x64(True):
        r = np.asarray(R.steady_response(jax.tree.map(jnp.asarray, p), jnp.asarray(grid)))
    slope0 = w.beta / w.half_saturation                                           # Hill s=1: R'(0)
    assert (r / (slope0[:, None, :] * grid)).min() >= 0.85
    fw = worlds(fashion_spec)
    assert np.median(_elasticity(fw, observed(fw, fashion_spec).mean(1))) < 0.8


# --- ROI ranges ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name,lo,hi", [("oof_low_roi", 0.2, 1.0), ("oof_high_roi", 3.0, 10.0),
                                        ("oof_linear", 0.5, 5.0)])
def test_roi_ranges_beyond_the_shipped_profiles_are_drawn_as_written(name, lo, hi):
    spec = spec_of(name)
    roi = worlds(spec).roi
    assert (roi >= lo).all() and (roi <= hi).all()
    assert roi.min() < lo + 0.3 * (hi - lo) and roi.max() > hi - 0.3 * (hi - lo)


# --- spend that follows unobserved demand --------------------------------------------------------
@pytest.mark.slow  # moved out of the default suite to keep make test well under 10 min
def test_follows_demand_ties_one_channels_spend_to_the_unobserved_driver(fashion_spec):
    """Channel 0 with follows_demand 1 (confounding, collinearity, unobserved_driver 0): its log
    spend correlates with the driver (> 0.7, mean over 8 truths); the others do not (|r| < 0.25)."""
    base = dataclasses.replace(fashion_spec, confounding=0.0, collinearity=0.0, unobserved_driver=0.0)
    spec = with_channels(base, follows_demand=[1.0, 0.0, 0.0, 0.0, 0.0])
    w_off, w_on = worlds(base), worlds(spec)
    s_off, s_on = observed(w_off, base), observed(w_on, spec)

    def corr(s, w, k):
        live = [np.log(s[i, :, k][s[i, :, k] > 0]) for i in range(N)]
        drv = [w.driver[i][s[i, :, k] > 0] for i in range(N)]
        return np.mean([_corr(a, b) for a, b in zip(live, drv)])

    assert abs(corr(s_off, w_off, 0)) < 0.25 and corr(s_on, w_on, 0) > 0.7
    assert max(abs(corr(s_on, w_on, k)) for k in range(1, 5)) < 0.25
    np.testing.assert_allclose(s_on[..., 1:], s_off[..., 1:], rtol=1e-12)   # the others are unchanged
    np.testing.assert_allclose(w_on.baseline, w_off.baseline, rtol=1e-12)   # spend only, not the KPI


@pytest.mark.slow  # moved out of the default suite to keep make test well under 10 min
def test_latent_demand_moves_the_kpi_not_the_spend_and_roi_stays_causal(fashion_spec):
    """latent_demand 0.4 adds level x 0.04 x driver to the baseline, leaves spend, contributions and
    ROI as they were; the true ROI is the response to spend alone (contributions / spend)."""
    spec = with_channels(dataclasses.replace(fashion_spec, latent_demand=0.4), follows_demand=[0.8, 0, 0, 0, 0])
    ref = with_channels(fashion_spec, follows_demand=[0.8, 0, 0, 0, 0])
    w_on, w_ref = worlds(spec), worlds(ref)
    np.testing.assert_allclose(w_on.full_spend, w_ref.full_spend, rtol=1e-12)
    np.testing.assert_allclose(w_on.contributions, w_ref.contributions, rtol=1e-12)
    np.testing.assert_allclose(w_on.roi, w_ref.roi, rtol=1e-12)
    extra = w_on.baseline - w_ref.baseline
    np.testing.assert_allclose(extra, w_on.level[:, None] * 0.04 * w_on.driver, rtol=1e-9, atol=1e-6)
    s = observed(w_on, spec)
    np.testing.assert_allclose(w_on.roi, w_on.contributions.sum(1) / s.sum(1), rtol=1e-9)


def test_oof_demand_brand_search_spend_and_kpi_share_the_latent_driver():
    spec = spec_of("oof_demand")
    ds, tr = simulate(jax.random.key(SEED), spec, n_datasets=4)
    k = spec.channel_names.index("brand_search")
    c_spend = np.mean([_corr(np.log(ds.spend[i, :, k]), tr.driver[i]) for i in range(4)])
    # the baseline is level x (1 + trend + seasonal + promo + 0.04 driver) and the seasonal part is
    # affine in the season index: what the observed terms leave is the driver
    t = np.arange(spec.n_weeks)
    c_base = []
    for i in range(4):
        x = np.column_stack([np.ones_like(t), t, tr.season_index[i], ds.controls[i]])
        resid = lambda y: y - x @ np.linalg.lstsq(x, y, rcond=None)[0]
        c_base.append(_corr(resid(tr.baseline[i]), resid(tr.driver[i])))      # partial correlation
    assert c_spend > 0.7 and min(c_base) > 0.99, (c_spend, c_base)
    assert "driver" not in ds.control_names
    np.testing.assert_allclose(tr.roi, tr.contributions.sum(1) / ds.spend.sum(1), rtol=1e-9)


# --- lift tests on always-on worlds --------------------------------------------------------------
@pytest.mark.parametrize("design", ["good", "bad"])
def test_go_dark_tests_run_on_an_always_on_world_and_read_the_average_return(design):
    """oof_linear has no dark week: a go-dark test still finds spend to cut (every planned week is
    set to zero, spend_delta = -spend_baseline < 0). With a near-linear response, a good test's
    target iROAS (full-carryover lift per unit of spend change) is the channel's ROI within 10%."""
    spec = spec_of("oof_linear")
    key = jax.random.key(SEED)
    ds, tr = simulate(key, spec, n_datasets=2)
    per = simulate_all_tests(key, ds, tr, spec, lift_spec(load_lift(design)), 2, 1)
    n_tests = 0
    for i, (tests, hidden) in enumerate(per):
        assert len(tests) == 2 * spec.n_channels
        for t, h in zip(tests, hidden):
            n_tests += 1
            assert t.spend_baseline > 0 and np.isfinite(t.lift) and t.lift_se > 0
            if design == "good":
                assert t.spend_delta == pytest.approx(-t.spend_baseline, rel=1e-12)
                weeks = t.end_week - t.start_week + 1
                iroas = h.target_lift / (t.spend_delta * weeks)
                k = spec.channel_names.index(t.channel)
                assert iroas == pytest.approx(tr.roi[i, k], rel=0.10)
            else:
                assert t.spend_delta != 0 and h.failure_modes
    assert n_tests == 2 * 2 * spec.n_channels
