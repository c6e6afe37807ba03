"""The study's steps: layout independence, pads from the data, the one config tree."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from experiments import pipeline as P
from experiments.layout import Arm, Shard
from experiments.study import _context, load_world
from tests.conftest import ROOT


def _cfg(*overrides):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return compose(config_name="study", overrides=list(overrides))


def _ctx(*overrides):
    cfg = _cfg(*overrides)
    plain = OmegaConf.to_container(cfg, resolve=True)
    return _context(plain, {w: load_world(w) for w in plain["study"]["worlds"]}, 0), plain


def test_estimator_settings_override_from_the_study_command_line():
    """Every estimator setting is reachable without '+': inference, calibration, model, priors, worlds."""
    ctx, plain = _ctx("inference.lockstep=2", "calibration.m1_with_default_prior=true", "model.max_lag=8",
                      "study.worlds.fashion=3", "priors.roi=[0.2,1.0]", "inference.target_ess=500")
    assert ctx.cal_spec.inference.lockstep == 2 and ctx.base_spec.inference.lockstep == 2
    assert ctx.cal_spec.calibration.m1_with_default_prior and ctx.cal_spec.calibration.method == "m1"
    assert ctx.base_spec.calibration.method == "none"
    assert ctx.cal_spec.model.max_lag == 8 and ctx.base_spec.model.max_lag == 8
    assert ctx.cal_spec.priors.roi == (0.2, 1.0) and ctx.cal_spec.inference.target_ess == 500
    assert plain["study"]["worlds"]["fashion"] == 3


def test_an_unknown_estimator_setting_names_the_field():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="inference.no_such_key"):
        _cfg("inference.no_such_key=1")


def _small(ctx, world, **spec_changes):
    spec = dataclasses.replace(ctx.worlds[world], **spec_changes)
    return dataclasses.replace(ctx, worlds={**ctx.worlds, world: spec})


def test_a_dataset_gets_the_same_data_and_tests_in_any_shard():
    """Truth 1 simulated in a shard of its own and inside a shard of two: identical data and tests."""
    ctx, _ = _ctx("inference=fast")
    one = P.simulate_step(ctx, Shard("fashion", 1, 1, 2, 0, 0))
    two = P.simulate_step(ctx, Shard("fashion", 0, 2, 2, 0, 0))
    np.testing.assert_array_equal(one.dataset.kpi, two.dataset.kpi[2:])
    e1, e2 = P.experiments_step(ctx, one), P.experiments_step(ctx, two)
    for a, b in zip(e1.tests, e2.tests[2:]):
        assert [t.lift for t in a["mixed"]] == [t.lift for t in b["mixed"]]
        assert [t.test_id for t in a["good"]] == [t.test_id for t in b["good"]]


@pytest.mark.slow
def test_pads_come_from_the_data_for_a_seven_channel_world():
    """A 7-channel world with 2 tests per channel under M2: 14 test rows, more than any old fixed
    pad, fitted without error (fast path, one truth, one replicate)."""
    ctx, _ = _ctx("inference=fast", "calibration=m2", "inference.laplace_draws=200")
    base = ctx.worlds["home_goods"]
    extra = dataclasses.replace(base.channels[-1], name="affiliate")
    seven = dataclasses.replace(base, name="seven", channels=base.channels + (extra,))
    ctx = dataclasses.replace(ctx, worlds={"seven": seven}, n_channels=7)
    fits, eqs = P.run_shard(ctx, Shard("seven", 0, 1, 1, 0, 0), (Arm("good", "all"),), ())
    assert list(fits["arm"]) == ["none", "good/all"]
    assert fits["n_tests_used"].tolist() == [0, 14]
    assert np.isfinite(fits["roi_mape"]).all() and len(fits["roi_hat"].iloc[1]) == 7
    assert len(eqs) == 14 * 3        # good, bad and mixed scenarios


def test_budget_recommendation_is_on_the_truths_budget_and_bounds():
    """The model's recommendation spends exactly the truth's reference budget, inside the bounds."""
    ctx, _ = _ctx("inference=fast", "inference.laplace_draws=200")
    sim = P.simulate_step(ctx, Shard("fashion", 0, 1, 1, 0, 0))
    n = len(sim.observed)
    fs = P.fit_set(ctx, sim, range(n), [Arm("none", "none")] * n, [None] * n, ctx.base_spec, "test")
    b = fs.analysis.allocation[:, :5]
    np.testing.assert_allclose(b.sum(1), sim.truth.reference_budget, rtol=1e-9)
    assert np.all(b <= sim.truth.bounds[:, :, 1] * (1 + 1e-9)) and np.all(b >= -1e-9)
    # The truth's counterfactual under the observed plan (every factor 1) is its own contribution total.
    n_fit = sim.dataset.n_train
    now = P.R.media_totals_under(sim.truth, np.ones((1, 5)), n_fit, ctx.worlds["fashion"].burn_in_weeks)[:, 0]
    np.testing.assert_allclose(now, sim.truth.contributions[:, :n_fit].sum((1, 2)), rtol=1e-10)
