"""The simulated world: identities, determinism, replicates, knobs, truth optimum."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simulate import world as W
from simulate import response as R
from simulate.core import key_tree, simulate

REL = 1e-9   # float64 bookkeeping identities


def test_kpi_identity_is_exact(fashion_sim):
    ds, tr = fashion_sim
    recon = tr.baseline + tr.contributions.sum(-1) + tr.noise
    np.testing.assert_allclose(ds.kpi, recon, rtol=REL)


def test_national_is_sum_of_geos(fashion_sim):
    ds, _ = fashion_sim
    np.testing.assert_allclose(ds.geo_kpi.sum(1), ds.kpi, rtol=REL)
    np.testing.assert_allclose(ds.geo_spend.sum(1), ds.spend, rtol=REL)
    np.testing.assert_allclose(ds.population.sum(-1), 1.0, rtol=REL)


def test_true_roi_is_total_contribution_over_total_spend_and_matches_the_draw(fashion_sim, fashion_spec):
    ds, tr = fashion_sim
    np.testing.assert_allclose(tr.roi, tr.contributions.sum(1) / ds.spend.sum(1), rtol=REL)
    world_keys = key_tree(jax.random.split(jax.random.key(0), 4), 2)[0]
    with jax.enable_x64(True):
        drawn = np.stack([np.asarray(W.draw_world(k, fashion_spec).roi) for k in world_keys])
    np.testing.assert_allclose(tr.roi[::2], drawn, rtol=1e-9)
    lo = np.array([c.roi[0] for c in fashion_spec.channels])
    hi = np.array([c.roi[1] for c in fashion_spec.channels])
    assert np.all((tr.roi >= lo) & (tr.roi <= hi))


def test_same_key_same_data_other_key_other_data(fashion_spec, fashion_sim):
    ds, tr = fashion_sim
    ds2, tr2 = simulate(jax.random.key(0), fashion_spec, n_datasets=4, n_replicates=2)
    for a, b in zip(ds[1:6], ds2[1:6]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(tr.contributions, tr2.contributions)
    ds3, _ = simulate(jax.random.key(1), fashion_spec, n_datasets=1)
    assert not np.allclose(ds3.kpi[0], ds.kpi[0])


def test_replicates_share_the_truth_but_not_the_noise(fashion_sim):
    ds, tr = fashion_sim
    assert tr.truth_ids[0] == tr.truth_ids[1] and list(tr.replicate[:2]) == [0, 1]
    np.testing.assert_array_equal(ds.spend[0], ds.spend[1])
    np.testing.assert_array_equal(tr.contributions[0], tr.contributions[1])
    np.testing.assert_array_equal(tr.roi[0], tr.roi[1])
    assert not np.allclose(tr.noise[0], tr.noise[1])
    assert tr.truth_ids[0] != tr.truth_ids[2]


def test_spend_shares_follow_the_profile(fashion_sim, fashion_spec):
    """Fashion is Meta-heavy: meta's mean spend share is its profile share (0.50) within 0.05."""
    ds, _ = fashion_sim
    share = ds.spend.sum(1) / ds.spend.sum((1, 2))[:, None]
    profile = np.array([c.spend_share for c in fashion_spec.channels])
    np.testing.assert_allclose(share.mean(0), profile / profile.sum(), atol=0.05)


def _knob_sim(spec, **knobs):
    """Same truths (seed 3) with some knobs set; one compile serves every knob value."""
    return simulate(jax.random.key(3), dataclasses.replace(spec, **knobs), n_datasets=4)


def _corr(a, b):
    return float(np.corrcoef(a, b)[0, 1])


def test_confounding_knob_ties_spend_to_seasonal_demand(fashion_spec):
    off = _knob_sim(fashion_spec, confounding=0.0, collinearity=0.0)
    on = _knob_sim(fashion_spec, confounding=1.0, collinearity=0.0)

    def corr(sim):
        ds, tr = sim
        return np.mean([_corr(np.log1p(ds.spend[i].sum(-1)), tr.season_index[i]) for i in range(4)])

    c_off, c_on = corr(off), corr(on)
    assert abs(c_off) < 0.25 and c_on > 0.6, (c_off, c_on)


def test_collinearity_knob_raises_cross_channel_correlation(fashion_spec):
    def mean_pair_corr(sim):
        ds, _ = sim
        out = []
        for i in range(4):
            c = np.corrcoef(np.log1p(ds.spend[i]).T)
            out.append(c[np.triu_indices_from(c, 1)].mean())
        return float(np.mean(out))

    lo = mean_pair_corr(_knob_sim(fashion_spec, confounding=0.0, collinearity=0.0))
    hi = mean_pair_corr(_knob_sim(fashion_spec, confounding=0.0, collinearity=0.9))
    assert lo < 0.2 and hi > lo + 0.3, (lo, hi)


def test_unobserved_driver_moves_kpi_and_spend_and_is_not_observed(fashion_spec):
    off = _knob_sim(fashion_spec, unobserved_driver=0.0, confounding=0.0)
    on = _knob_sim(fashion_spec, unobserved_driver=1.0, confounding=0.0)

    def corrs(sim):
        ds, tr = sim
        media_free = tr.baseline
        return (np.mean([_corr(np.log1p(ds.spend[i].sum(-1)), tr.driver[i]) for i in range(4)]),
                np.mean([_corr(np.diff(media_free[i]), np.diff(tr.driver[i])) for i in range(4)]))

    (s_off, k_off), (s_on, k_on) = corrs(off), corrs(on)
    assert abs(s_off) < 0.25 and s_on > 0.5, (s_off, s_on)
    assert abs(k_off) < 0.2 and k_on > 0.5, (k_off, k_on)
    ds, _ = on
    assert ds.control_names == ("promo",)   # the driver is never among the observed controls


def test_misspecification_knob_switches_families(fashion_spec):
    _, tr0 = _knob_sim(fashion_spec, misspecification=0.0)
    _, tr1 = _knob_sim(fashion_spec, misspecification=1.0)
    assert not tr0.misspecified.any() and tr1.misspecified.all()
    assert set(np.unique(tr1.adstock_family)) == {"weibull"}
    assert set(np.unique(tr1.saturation_family)) == {"exponential"}
    assert set(np.unique(tr0.saturation_family)) == {"hill"}


def test_truth_optimum_is_feasible_and_beats_random_search(fashion_sim, fashion_spec):
    """Seed 0, 20,000 random feasible allocations: none beats the optimum by more than 1e-6."""
    ds, tr = fashion_sim
    world_keys = key_tree(jax.random.split(jax.random.key(0), 4), 2)[0]
    rng = np.random.default_rng(0)
    for i in range(0, 8, 2):
        alloc = tr.optimal_allocation[i]
        lo, hi = tr.bounds[i, :, 0], tr.bounds[i, :, 1]
        assert alloc.sum() == pytest.approx(tr.reference_budget[i], rel=1e-9)
        assert np.all(alloc >= lo - 1e-9) and np.all(alloc <= hi + 1e-9)
        with jax.enable_x64(True):
            w = jax.tree_util.tree_map(np.asarray, W.draw_world(world_keys[i // 2], fashion_spec))

            p = R.ResponseParams(w.beta, w.half_saturation, w.slope, w.misspecified)

            def resp(b):
                return np.asarray(R.steady_response(p, jnp.asarray(b)))

            best = resp(alloc[None]).sum()
            x = rng.dirichlet(np.full(alloc.size, 0.7), 20_000) * tr.reference_budget[i]
            x = x[(x <= hi).all(1)]
            assert resp(x).sum(1).max() <= best * (1 + 1e-6)
            hist = resp(ds.spend[i].mean(0)[None]).sum()
            assert best >= hist
            # The stored curves are the same response.
            np.testing.assert_allclose(tr.curve_response[i][-1], resp(tr.curve_spend[i][-1:])[0], rtol=1e-9)


def test_truth_optimum_uses_the_one_optimiser_with_the_truths_response(fashion_sim):
    """The stored optimum is common.budget's answer for the truth's own response (float64, 1e-9)."""
    from common.budget import optimise

    _, tr = fashion_sim
    p = R.params_of(tr)
    with jax.enable_x64(True):
        for i in (0, 3):
            pi = R.ResponseParams(*(jnp.asarray(np.asarray(a)[i]) for a in p))
            a = optimise(lambda b: R.steady_response(pi, b), tr.reference_budget[i], tr.bounds[i, :, 0],
                         tr.bounds[i, :, 1])
            np.testing.assert_allclose(np.asarray(a.spend), tr.optimal_allocation[i], rtol=1e-9, atol=1e-6)


def test_optimiser_rejects_an_infeasible_budget():
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="budget"):
        R.optimal_allocation(R.ResponseParams(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)),
                                              np.zeros((1, 2), bool)), np.array([10.0]), np.zeros((1, 2)),
                             np.ones((1, 2)))
