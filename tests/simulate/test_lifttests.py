"""Lift tests on the panel: CI coverage, failure-mode biases, analytic path vs panel path."""
from __future__ import annotations

import copy
import dataclasses

import jax
import numpy as np
import pytest

from harness.errors import ConfigError
from simulate.core import simulate, simulate_all_tests
from simulate.lifttests import (FAILURE_MODES, expected_capture, key_to_rng, lift_spec, panel_of,
                                plan_tests, run_designs)
from tests.conftest import load_lift


def _spec(**over):
    cfg = copy.deepcopy(load_lift("good"))
    modes = over.pop("failure_modes", {})
    cfg.update(over)
    for name, val in modes.items():
        cfg["failure_modes"][name] = val
    return lift_spec(cfg)


def _run(sim, spec, ls, readout, key=11):
    ds, tr = sim
    n = len(ds.dataset_ids)
    return simulate_all_tests(jax.random.key(key), ds, tr, spec, ls, n, 1, readout)


@pytest.fixture(scope="session")
def sim10(fashion_spec):
    """10 fashion truths, seed 7, no confounding or collinearity."""
    spec = dataclasses.replace(fashion_spec, confounding=0.0, collinearity=0.0)
    return spec, simulate(jax.random.key(7), spec, n_datasets=10)


def test_clean_tests_ci_covers_true_lift(sim10):
    """Seed 7 / experiments seed 11: 200 clean tests (4 per channel x 5 channels x 10 datasets),
    treated share 0.4-0.6; the 95% CI covers the true lift in 91-99% of them."""
    spec, sim = sim10
    ls = _spec(tests_per_channel=4, treated_share=[0.4, 0.6])
    res = _run(sim, spec, ls, "panel")
    hits = [t.ci_low <= h.true_lift <= t.ci_high for tests, hidden in res for t, h in zip(tests, hidden)]
    assert len(hits) >= 200
    assert 0.91 <= np.mean(hits) <= 0.99, np.mean(hits)


def _ratios(res, num="lift", den="target_lift"):
    out = []
    for tests, hidden in res:
        for t, h in zip(tests, hidden):
            out.append(getattr(t, num) / getattr(h, den))
    return np.array(out)


def _noise_free(sim10, mode, magnitude):
    spec, sim = sim10
    ls = _spec(tests_per_channel=2, failure_modes={mode: {"prob": 1.0, "magnitude": magnitude}})
    return _run(sim, spec, ls, "noise_free"), sim


def test_clean_noise_free_readout_is_unbiased(sim10):
    spec, sim = sim10
    r = _ratios(_run(sim, spec, _spec(tests_per_channel=2), "noise_free"))
    assert np.median(r) == pytest.approx(1.0, abs=0.02)   # cooldown catches 95% of carryover


@pytest.mark.parametrize("mode,magnitude", [("too_short", 0.6), ("window_mismatch", 0.5)])
def test_short_windows_understate_by_the_missed_carryover(sim10, mode, magnitude):
    """Documented size: readout / target = expected_capture(weights, D, W) (exact when linear);
    tolerance 0.1 on the median over 100 tests."""
    res, (ds, tr) = _noise_free(sim10, mode, magnitude)
    got, expect = [], []
    for i, (tests, hidden) in enumerate(res):
        for t, h in zip(tests, hidden):
            k = ds.channel_names.index(t.channel)
            got.append(t.lift / h.target_lift)
            expect.append(expected_capture(tr.adstock_weights[i, k], t.weeks, t.window_days // 7))
            assert mode in h.failure_modes
    got, expect = np.array(got), np.array(expect)
    assert np.median(got) < 0.9
    assert abs(np.median(got - expect)) < 0.1


def test_contamination_understates_by_about_c(sim10):
    """Documented size: readout / target ~ 1 - c (exact when linear; above on concave curves,
    below on the convex foot of an S-curve). Median within 0.1; 10th percentile above 1 - 1.5c."""
    c = 0.3
    r = _ratios(_noise_free(sim10, "contamination", c)[0])
    assert abs(np.median(r) - (1 - c)) < 0.1 and np.percentile(r, 10) > 1 - 1.5 * c
    assert np.all(r < 1.0)


def test_non_compliance_understates_by_about_m(sim10):
    """Readout is the delivered change's lift; divided by the plan it reads low by about m
    (a little more for go-dark on concave curves); tolerance 0.15."""
    m = 0.4
    res, _ = _noise_free(sim10, "non_compliance", m)
    r = _ratios(res)
    assert abs(np.median(r) - (1 - m)) < 0.15 and np.median(r) < 1 - m + 0.02
    np.testing.assert_allclose(_ratios(res, "lift", "true_lift"), 1.0, atol=0.02)  # the delivered lift itself is right


def test_low_power_is_unbiased_but_imprecise(sim10):
    spec, sim = sim10
    clean = _run(sim, spec, _spec(tests_per_channel=2), "noise_free")
    weak, _ = _noise_free(sim10, "low_power", 0.7)
    assert np.median(_ratios(weak)) == pytest.approx(1.0, abs=0.05)
    rel = lambda res: np.median([t.lift_se / abs(h.target_lift) for ts, hs in res for t, h in zip(ts, hs)])
    assert rel(weak) > 3 * rel(clean)


def test_saturation_point_reads_a_secant_below_the_average_roi(sim10):
    res, _ = _noise_free(sim10, "saturation_point", 2.0)
    iroas = np.array([t.iroas / h.true_iroas for ts, hs in res for t, h in zip(ts, hs)])
    assert np.median(iroas) < 0.8
    assert all(t.spend_delta > 0 for ts, _ in res for t in ts)   # a scale-up, not a go-dark


def test_true_lift_shares_the_sign_of_the_spend_change(sim10):
    spec, sim = sim10
    for ts, hs in _run(sim, spec, _spec(tests_per_channel=1, test_type="scale_up"), "noise_free") \
            + _run(sim, spec, _spec(tests_per_channel=1), "noise_free"):
        for t, h in zip(ts, hs):
            assert np.sign(h.true_lift) == np.sign(t.spend_delta) != 0


@pytest.mark.parametrize("profile", ["good", "bad"])
def test_analytic_path_matches_panel_path(fashion_spec, profile):
    """Seed 5: 2 truths x 30 noise replicates, 10-20 designs each. On the same designs the panel
    readout and the analytic readout agree: mean error (vs the true lift) within 0.15 theoretical
    SEs, and the spread of (readout - noise-free readout) / SE within 15% of 1."""
    spec = dataclasses.replace(fashion_spec, confounding=0.0, collinearity=0.0)
    ds, tr = simulate(jax.random.key(5), spec, n_datasets=2, n_replicates=30)
    ls = lift_spec(load_lift(profile))
    panel = panel_of(ds, tr, spec)
    owners, designs, z = [], [], []
    for i in range(len(ds.dataset_ids)):
        rng = key_to_rng(jax.random.key(100 + i))
        mine = plan_tests(rng, panel, i, ls)
        owners += [i] * len(mine)
        designs += mine
        z += list(rng.standard_normal(len(mine)))
    free, pan, ana = (run_designs(panel, owners, designs, ls, r, np.array(z))
                      for r in ("noise_free", "panel", "analytic"))
    se = free.se
    z_panel, z_analytic = (pan.lift - free.lift) / se, (ana.lift - free.lift) / se
    err_panel, err_analytic = (pan.lift - free.true_lift) / se, (ana.lift - free.true_lift) / se
    assert len(z_panel) >= 300
    assert abs(z_panel.mean()) < 0.15 and abs(z_analytic.mean()) < 0.15
    assert 0.85 < z_panel.std() < 1.15 and 0.85 < z_analytic.std() < 1.15
    assert abs(np.mean(err_panel) - np.mean(err_analytic)) < 0.15


def test_bad_profile_gives_every_test_a_failure_mode(sim10):
    spec, sim = sim10
    res = _run(sim, spec, lift_spec(load_lift("bad")), "panel")
    modes = [h.failure_modes for _, hs in res for h in hs]
    assert all(len(m) >= 1 for m in modes)
    seen = {m for ms in modes for m in ms}
    assert seen == set(FAILURE_MODES)


def test_observable_checks_reflect_detected_failures(sim10):
    """p_detect = 1: contamination shows as leakage and an unverified holdout; non-compliance
    fails the spend-delivery check."""
    spec, sim = sim10
    ls = _spec(tests_per_channel=1, p_detect=1.0,
               failure_modes={"contamination": {"prob": 1.0, "magnitude": 0.2},
                              "non_compliance": {"prob": 1.0, "magnitude": 0.3}})
    for ts, _ in _run(sim, spec, ls, "panel"):
        for t in ts:
            assert t.leakage == pytest.approx(0.2) and t.holdout_verified is False
            assert t.spend_delivery_ok is False


@pytest.mark.parametrize("field,value,match", [
    ("failure_modes", {"bogus": {"prob": 0.1, "magnitude": 0.1}}, "lift.failure_modes.bogus"),
    ("test_type", "go_bright", "lift.test_type"),
    ("duration_weeks", [8, 4], "lift.duration_weeks"),
])
def test_bad_lift_config_names_the_field(field, value, match):
    cfg = copy.deepcopy(load_lift("good"))
    if field == "failure_modes":
        cfg[field].update(value)
    else:
        cfg[field] = value
    with pytest.raises(ConfigError, match=match):
        lift_spec(cfg)


def test_planner_tests_a_funded_window_even_when_the_channel_is_mostly_dark(fashion_spec):
    """Seed 2: pinterest dark 90% of weeks; every planned test still changes a positive spend."""
    spec = dataclasses.replace(fashion_spec, channels=tuple(
        dataclasses.replace(c, dark_prob=0.9) if c.name == "pinterest" else c for c in fashion_spec.channels))
    ds, tr = simulate(jax.random.key(2), spec, n_datasets=3)
    ls = _spec(tests_per_channel=3, failure_modes={"too_short": {"prob": 0.5, "magnitude": 0.8}})
    for ts, _ in simulate_all_tests(jax.random.key(3), ds, tr, spec, ls, 3, 1, "noise_free"):
        for t in ts:
            assert t.spend_baseline > 0 and t.spend_delta < 0 and np.isfinite(t.iroas)
