"""Fair verdicts: calibrations side by side, fixed experiments, truth bootstrap, stability split,
precision bins, the model's forecast of a test and the filters built on it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from common.records import LiftTest
from estimators.evidence import strategies as S
from estimators.evidence.eqs import EqsSpec, ModelView, score
from experiments import aggregate as A
from experiments import metrics as M
from experiments import pipeline as P
from experiments.layout import Shard, layout
from harness.errors import ConfigError
from tests.experiments.test_pipeline import _ctx

STUDY = {"worlds": {"fashion": 2}, "replicates": 2, "arms": ["good", "bad"],
         "mixed": {"truths": {"fashion": 1}, "replicate": 0, "strategies": ["all", "single_best"]}}


def test_layout_names_every_calibration_and_draw_variant():
    lay = layout({**STUDY, "calibrations": ["m1", "m2"], "fixed_experiments": "both"}, "all", 2)
    names = [a.name for a in lay.arms]
    assert names == ["good/all/m1/redrawn", "good/all/m1/fixed", "good/all/m2/redrawn", "good/all/m2/fixed",
                     "bad/all/m1/redrawn", "bad/all/m1/fixed", "bad/all/m2/redrawn", "bad/all/m2/fixed"]
    assert {a.calibration for a in lay.mixed_arms} == {"m1", "m2"} and len(lay.mixed_arms) == 8
    # 4 datasets x (1 + 8) + 1 mixed dataset x 8
    assert lay.n_fits == 4 * 9 + 8
    # One calibration and one draw design keep the earlier names (and so the earlier fit keys).
    plain = layout({**STUDY, "fixed_experiments": True}, "all", 2, "m2")
    assert [a.name for a in plain.arms] == ["good/all", "bad/all"]
    assert {a.draws for a in plain.arms} == {"fixed"} and {a.calibration for a in plain.arms} == {"m2"}


@pytest.mark.parametrize("change,match", [
    ({"calibrations": ["m2", "m2"]}, "twice"),
    ({"calibrations": ["none"]}, "baseline"),
    ({"fixed_experiments": "sometimes"}, "false, true or both"),
])
def test_layout_refuses_bad_calibration_and_draw_settings(change, match):
    with pytest.raises(ConfigError, match=match):
        layout({**STUDY, **change}, "all", 2)


def test_unknown_calibration_name_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match="known: .*m1_prior"):
        _ctx("inference=fast", "study.calibrations=[m1,m9]")


@pytest.mark.slow  # moved out of the default suite to keep make test well under 10 min
def test_calibrations_side_by_side_share_datasets_tests_and_baseline():
    """One shard, M1 and M1-with-the-default-prior side by side on fixed experiments: one baseline
    per dataset, the same tests in both calibrated arms, a calibration column that names each, and
    the same readouts for both replicates of the truth. (M2 side by side: tests/experiments/
    test_study.py's slow run.)"""
    ctx, _ = _ctx("inference=fast", "inference.laplace_draws=100", "study.calibrations=[m1,m1_prior]",
                  "study.fixed_experiments=true")
    assert list(ctx.cal_specs) == ["m1", "m1_prior"] and ctx.cal_specs["m1_prior"].calibration.m1_with_default_prior
    lay = layout({**STUDY, "calibrations": ["m1", "m1_prior"], "fixed_experiments": True, "arms": ["good"],
                  "mixed": {}}, "all", 1)
    fits, eqs = P.run_shard(ctx, Shard("fashion", 0, 1, 2, 0, 0), lay.arms, ())
    assert sorted(fits["arm"]) == ["good/all/m1"] * 2 + ["good/all/m1_prior"] * 2 + ["none"] * 2
    assert set(fits.loc[fits["arm"] != "none", "calibration"]) == {"m1", "m1_prior"}
    assert set(fits.loc[fits["arm"] != "none", "experiments"]) == {"fixed"}
    used = fits.groupby("arm")["n_tests_used"].apply(list)
    assert used["good/all/m1"] == used["good/all/m1_prior"] and min(used["good/all/m1"]) > 0
    assert not np.allclose(np.stack(fits.loc[fits["arm"] == "good/all/m1", "roi_hat"].map(np.asarray)),
                           np.stack(fits.loc[fits["arm"] == "good/all/m1_prior", "roi_hat"].map(np.asarray)))
    good = eqs[eqs["scenario"] == "good"]
    by_rep = good.groupby("replicate")["test_id"].apply(list)
    assert by_rep.iloc[0] == by_rep.iloc[1]                      # replicate 1 got replicate 0's tests
    assert {"used_all_m1", "used_all_m1_prior", "model_z", "eqs_tier_precise"} <= set(eqs.columns)
    assert np.isfinite(good["model_z"]).all()
    assert np.isfinite(fits["test_rel_se"].where(fits["arm"] != "none", 1.0)).all()


def test_fixed_experiments_repeat_readouts_and_redrawn_ones_do_not():
    ctx, _ = _ctx("inference=fast")
    sim = P.simulate_step(ctx, Shard("fashion", 0, 1, 3, 0, 0))
    fixed, redrawn = P.experiments_step(ctx, sim, fixed=True), P.experiments_step(ctx, sim)
    lifts = lambda e, r: [t.lift for t in e.tests[r]["good"]]
    assert lifts(fixed, 0) == lifts(fixed, 1) == lifts(fixed, 2)
    assert lifts(redrawn, 0) == lifts(fixed, 0)                  # replicate 0 runs the same experiments
    assert lifts(redrawn, 1) != lifts(redrawn, 0)


def test_truth_bootstrap_keeps_replicates_together():
    groups = np.array(["a", "a", "a", "b", "c", "c"])
    w = M.truth_weights(groups, 500, 0)
    assert w.shape == (500, 6)
    assert np.all(w[:, 0] == w[:, 1]) and np.all(w[:, 1] == w[:, 2]) and np.all(w[:, 4] == w[:, 5])
    np.testing.assert_allclose(w[:, [0, 3, 4]].sum(1), 3.0)     # three truths drawn per resample


def test_paired_stats_report_median_ratio_of_means_and_share():
    """Per-dataset improvements and the ratio of means can disagree; both are reported."""
    base = np.array([1.0, 1.0, 1.0, 10.0])
    arm = np.array([0.5, 0.5, 0.5, 14.0])
    imp = M.improvement(base, arm)
    s = M.paired_stats(base, arm, imp, np.arange(4), 0)
    assert s["median"] == pytest.approx(0.5) and s["share_improved"] == pytest.approx(0.75)
    assert s["ratio_of_means"] == pytest.approx(1 - 15.5 / 13.0)   # worse on average
    assert s["rom_ci_low"] <= s["ratio_of_means"] <= s["rom_ci_high"]
    assert s["n"] == 4 and s["n_truths"] == 4


def _fits(rows):
    return pd.DataFrame(rows)


def test_stability_split_recovers_bias_and_variance():
    """Two truths, one channel, three replicates: x = ROI_hat / ROI of (1.2, 1.2, 1.2) has bias^2
    0.04 and variance 0; (0.8, 1.0, 1.2) has bias 0 and variance 0.04."""
    rows = []
    for t, xs in (("t0", (1.2, 1.2, 1.2)), ("t1", (0.8, 1.0, 1.2))):
        for r, x in enumerate(xs):
            rows.append({"arm": "none", "truth_id": t, "replicate": r, "roi_hat": [2 * x], "roi_true": [2.0]})
    out = A.stability_split(_fits(rows)).iloc[0]
    assert out["bias2"] == pytest.approx(0.02) and out["variance"] == pytest.approx(0.02)
    assert out["variance_share"] == pytest.approx(0.5) and out["n_truths"] == 2


def test_verdicts_by_precision_bin():
    rows = []
    for i, (rel, base_err, arm_err) in enumerate([(0.1, 0.4, 0.2), (0.2, 0.4, 0.2), (0.9, 0.4, 0.6)]):
        for arm, err, r in (("none", base_err, np.nan), ("good/all", arm_err, rel)):
            rows.append({"dataset_id": f"d{i}", "truth_id": f"t{i}", "arm": arm, "test_rel_se": r,
                         **{m: err for m in ("roi_mape", "attribution_error", "counterfactual_delta_mape",
                                              "budget_regret")}})
    out = A.by_precision(_fits(rows), metrics=("roi_mape",))
    got = out.set_index("precision_bin")["median"]
    assert got["[0, 0.25)"] == pytest.approx(0.5) and got["[0.5, 1)"] == pytest.approx(-0.5)
    assert out.set_index("precision_bin")["n"]["[0, 0.25)"] == 2


def _test(i, lift=100.0, se=10.0):
    """A scale-up test on ``tv``: 6 weeks of +50 spend; window 49 days (14 from the last changed week)."""
    return LiftTest(test_id=f"x{i}", channel="tv", start_week=10, end_week=15, window_days=49,
                    population_share=0.5, spend_baseline=50.0, spend_delta=50.0, lift=lift, lift_se=se,
                    ci_low=lift - 1.96 * se, ci_high=lift + 1.96 * se, n_geos=5, leakage=0.0,
                    holdout_verified=True, spend_delivery_ok=True, sensitivity_sign_flip=False)


def test_model_z_filter_and_precise_gold():
    """z = (lift - forecast) / sqrt(se^2 + sd^2); model_consistent drops |z| > z_max; a Gold whose
    uncertainty score is not high is Silver once Gold requires precision."""
    tests = [_test(0, lift=100.0, se=10.0), _test(1, lift=160.0, se=10.0), _test(2, lift=100.0, se=30.0)]
    view = ModelView(np.full(3, 14.0), np.full(3, 0.5), np.full(3, 2.0), np.full(3, 100.0), np.full(3, 20.0))
    sc = score(tests, view, EqsSpec())
    np.testing.assert_allclose(sc.model_z, [0.0, 60 / np.sqrt(500), 0.0])
    assert sc.tier.tolist() == ["Gold", "Gold", "Gold"]
    sel = S.STRATEGIES["model_consistent"](None, tests, sc, EqsSpec(model_z_max=2.0))
    assert sel.used.tolist() == [True, False, True]
    assert sc.tier[2] == "Gold" and sc.uncertainty[2] < EqsSpec().high and sc.tier_precise[2] != "Gold"
    assert sc.tier_precise[0] == sc.tier[0] == "Gold"
    filtered = S.STRATEGIES["eqs_filtered_precise"](None, tests, sc, EqsSpec())
    assert filtered.used.tolist() == [True, True, False]


def test_weighted_median_matches_numpy_on_repeated_samples():
    rng = np.random.default_rng(3)
    v = rng.normal(size=7)
    w = rng.integers(0, 4, size=(50, 7)).astype(float)
    w[:, 0] += 1                                   # never an empty resample
    got = M.weighted_median(v, w)
    want = [np.median(np.repeat(v, wi.astype(int))) for wi in w]
    np.testing.assert_allclose(got, want)
    assert M.weighted_median(v, np.ones((1, 7)))[0] == pytest.approx(np.median(v))


def test_iroas_decomposition_parts_add_up_and_split_the_variance():
    """A design with no readout noise has all of its variance in the mismatch; a noisy one splits
    it; the read's quartiles are those of iROAS / ROI - 1."""
    from experiments.decompose import iroas_decomposition

    rng = np.random.default_rng(0)
    n = 200
    denom = -rng.uniform(100, 200, n)                      # go-dark: spend_delta x weeks < 0
    roi = rng.uniform(1, 3, n)
    true_lift = denom * roi * rng.uniform(0.8, 1.2, n)
    noise = rng.normal(0, 30, n)
    bad = np.arange(n) >= 100
    lift = true_lift + np.where(bad, 0.0, noise)
    eqs = pd.DataFrame({"test_id": np.arange(n).astype(str), "lift": lift, "true_lift": true_lift,
                        "iroas": lift / denom, "true_roi": roi, "bad_design": bad})
    d = iroas_decomposition(eqs).set_index("design")
    assert d.loc["bad", "mismatch_var_share"] == pytest.approx(1.0) and d.loc["bad", "noise_var_share"] == 0
    g = d.loc["good"]
    assert 0 < g["noise_var_share"] < 1 and 0 < g["mismatch_var_share"] < 1
    total = lift / denom / roi - 1
    assert g["total_median"] == pytest.approx(np.median(total[:100]))


@pytest.mark.parametrize("preset,median,lo,hi", [("roi_half", 0.911, 0.34, 2.44), ("roi_double", 3.644, 1.36, 9.78),
                                                 ("roi_wide", 1.414, 0.20, 10.0)])
def test_prior_presets_move_only_the_roi_prior(preset, median, lo, hi):
    """priors=<preset> composes over the profile-matched set (priors=profiles): the ROI prior's
    median and 90% interval as documented, every other prior unchanged, in the baseline and the
    calibrated arms alike."""
    ctx, _ = _ctx("inference=fast", f"priors={preset}")
    default, _ = _ctx("inference=fast", "priors=profiles")
    mu, sd = ctx.base_spec.priors.roi
    assert np.exp(mu) == pytest.approx(median, rel=1e-3)
    assert np.exp(mu - 1.6449 * sd) == pytest.approx(lo, rel=1e-2) and np.exp(mu + 1.6449 * sd) == pytest.approx(hi, rel=1e-2)
    assert ctx.cal_spec.priors == ctx.base_spec.priors
    import dataclasses
    assert dataclasses.replace(ctx.base_spec.priors, roi=default.base_spec.priors.roi) == default.base_spec.priors


def test_gold_requires_precision_setting_changes_the_tiers():
    from estimators.evidence.eqs import eqs_spec
    from tests.experiments.test_pipeline import _cfg
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(_cfg("eqs.tiers.gold_requires_precision=true", "eqs.model_filter.z_max=3"))
    spec = eqs_spec(plain["eqs"])
    assert spec.gold_requires_precision and spec.model_z_max == 3.0
    tests = [_test(0, lift=100.0, se=30.0)]           # Gold on total, mid uncertainty
    view = ModelView(np.full(1, 14.0), np.full(1, 0.5), np.full(1, 2.0))
    assert score(tests, view, EqsSpec()).tier[0] == "Gold"
    assert score(tests, view, spec).tier[0] == "Silver"
    with pytest.raises(ConfigError, match="gold_requires_precision"):
        eqs_spec({**plain["eqs"], "tiers": {**plain["eqs"]["tiers"], "gold_requires_precision": "yes"}})


def test_compare_runs_on_the_truths_both_runs_share(tmp_path):
    """Run A has truths t0-t3, run B t2-t5: with same_truths=true both are summarised on t2-t3 only."""
    from experiments.compare_runs import _longs

    def run(name, truths, better):
        rows = []
        for t in truths:
            for arm, err in (("none", 1.0), ("good/all", 1.0 - better)):
                rows.append({"dataset_id": f"{t}-r0", "truth_id": t, "arm": arm, "replicate": 0,
                             "roi_hat": [1.0], "roi_true": [1.0], **{m: err for m in M.METRICS}})
        d = tmp_path / name
        d.mkdir()
        pd.DataFrame(rows).to_parquet(d / "fits.parquet")
        return d

    a = run("a", ["t0", "t1", "t2", "t3"], 0.5)
    b = run("b", ["t2", "t3", "t4", "t5"], 0.25)
    longs = _longs({"A": a, "B": b}, True)
    for name, want in (("A", 0.5), ("B", 0.25)):
        r = longs[name].set_index("metric").loc["roi_mape"]
        assert r["n"] == 2 and r["median"] == pytest.approx(want)
