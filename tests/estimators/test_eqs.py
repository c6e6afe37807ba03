"""EQS: every cell of the four seeds/000 tables, unknowns, tier boundaries; the strategies."""
from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from estimators.evidence.eqs import ModelView, eqs_spec, experiment_window_days, score
from estimators.evidence.strategies import STRATEGIES, dersimonian_laird, select, used_mask
from harness.errors import ConfigError
from common.records import LiftTest
from tests.conftest import load_yaml

SPEC = eqs_spec(load_yaml("conf/eqs/default.yaml"))


def make_test(**kw) -> LiftTest:
    """A Gold-on-every-dimension test unless overridden: 4 weeks changed, 28-day window,
    lift -1000 with CI +-200 (ratio 0.2), verified clean holdout, iROAS 1000/(250*4) = 1.0."""
    base = dict(test_id="t", channel="meta", start_week=10, end_week=13, window_days=28,
                population_share=0.4, spend_baseline=250.0, spend_delta=-250.0, lift=-1000.0,
                lift_se=100.0, ci_low=-1200.0, ci_high=-800.0, n_geos=10, leakage=0.0,
                holdout_verified=True, spend_delivery_ok=True, sensitivity_sign_flip=False)
    base.update(kw)
    return LiftTest(**base)


# Model: lag 7 days (the window from the last changed week is 28 - 21 = 7), ROI interval [0.8, 1.2].
GOOD_MODEL = dict(lag=7.0, lo=0.8, hi=1.2)


def one(test, lag=GOOD_MODEL["lag"], lo=GOOD_MODEL["lo"], hi=GOOD_MODEL["hi"], spec=SPEC):
    s = score([test], ModelView(np.array([lag]), np.array([lo]), np.array([hi])), spec)
    return {k: (v[0] if k in ("tier", "tier_precise") else float(v[0])) for k, v in s._asdict().items()}


def _ci(ratio):
    return dict(ci_low=-1000.0 - 1000.0 * ratio, ci_high=-1000.0 + 1000.0 * ratio)


# Dimension 1: statistical uncertainty (CI half-width / |estimate|, sensitivity sign flips)
@pytest.mark.parametrize("kw,points", [
    (dict(**_ci(0.10)), 25),
    (dict(**_ci(0.25)), 25),                                  # boundary: <= 0.25
    (dict(**_ci(0.26)), 15),
    (dict(**_ci(0.75)), 15),                                  # boundary: <= 0.75
    (dict(**_ci(0.76)), 5),
    (dict(**_ci(0.10), sensitivity_sign_flip=True), 5),       # a sign flip breaks it
    (dict(**_ci(0.50), sensitivity_sign_flip=True), 5),
    (dict(**_ci(0.10), sensitivity_sign_flip=None), 15),      # unchecked: capped at mid
    (dict(ci_low=float("nan"), ci_high=float("nan")), 5),    # unknown CI
    (dict(lift=0.0, ci_low=-100.0, ci_high=100.0), 5),        # zero estimate: infinite ratio
])
def test_uncertainty_dimension(kw, points):
    assert one(make_test(**kw))["uncertainty"] == points


# Dimension 2: measurement alignment (|window - model lag| in days)
@pytest.mark.parametrize("window_days,lag,points", [
    (28, 7.0, 25), (28, 4.0, 25), (28, 10.0, 25),            # |gap| <= 3
    (28, 3.9, 15), (28, 14.0, 15), (28, 0.0, 15),             # 3 < |gap| <= 7
    (28, 14.1, 5), (56, 7.0, 5),                              # > 7
    (28, float("nan"), 5),                                    # unknown model lag
])
def test_alignment_dimension(window_days, lag, points):
    assert one(make_test(window_days=window_days), lag=lag)["alignment"] == points


def test_alignment_window_reads_from_the_last_changed_week():
    t = make_test(start_week=0, end_week=5, window_days=63)    # 6 weeks changed, 9-week window
    assert experiment_window_days([t])[0] == 63 - 35
    assert experiment_window_days([t], "total")[0] == 63


# Dimension 3: holdout quality
@pytest.mark.parametrize("kw,points", [
    (dict(holdout_verified=True, leakage=0.0), 25),
    (dict(holdout_verified=True, leakage=0.03), 15),
    (dict(holdout_verified=True, leakage=0.0499), 15),
    (dict(holdout_verified=True, leakage=0.05), 5),           # >= 5%: known contamination
    (dict(holdout_verified=True, leakage=0.3), 5),
    (dict(holdout_verified=False, leakage=0.0), 5),           # unverified
    (dict(holdout_verified=None, leakage=float("nan")), 5),   # unknown
    (dict(holdout_verified=True, leakage=float("nan")), 5),   # leakage unknown
    (dict(holdout_verified=True, leakage=0.0, spend_delivery_ok=False), 5),   # failed delivery check
    (dict(holdout_verified=True, leakage=0.0, spend_delivery_ok=None), 25),   # unchecked delivery is not a failure
])
def test_holdout_dimension(kw, points):
    assert one(make_test(**kw))["holdout"] == points


# Dimension 4: model alignment (experiment ROI vs the baseline's interval [0.8, 1.2], centre 1, half 0.2)
@pytest.mark.parametrize("lift,points", [
    (-1000.0, 25), (-800.0, 25), (-1200.0, 25),               # iROAS 1.0, 0.8, 1.2: inside
    (-1300.0, 15), (-610.0, 15), (-1390.0, 15),               # inside 2x half-width: [0.6, 1.4]
    (-1410.0, 5), (-590.0, 5), (1000.0, 5),                   # outside; a sign flip is far outside
])
def test_model_dimension(lift, points):
    t = make_test(lift=lift, ci_low=lift - 100, ci_high=lift + 100)
    assert one(t)["model"] == points


def test_model_dimension_unknown_interval_scores_low():
    assert one(make_test(), lo=float("nan"), hi=float("nan"))["model"] == 5


# Tiers: Gold >= 75, Silver 50-74, Red < 50
@pytest.mark.parametrize("dims,total,tier", [
    ((25, 25, 25, 25), 100, "Gold"),
    ((25, 25, 15, 15), 80, "Gold"),
    ((25, 25, 25, 5), 80, "Gold"),
    ((25, 15, 15, 15), 70, "Silver"),
    ((15, 15, 15, 5), 50, "Silver"),
    ((15, 15, 5, 5), 40, "Red"),
    ((5, 5, 5, 5), 20, "Red"),
])
def test_totals_and_tiers(dims, total, tier):
    lift = {25: -1000.0, 15: -1300.0, 5: -3000.0}[dims[3]]
    ratio = {25: 0.1, 15: 0.5, 5: 1.0}[dims[0]]
    kw = dict(lift=lift, ci_low=lift - ratio * abs(lift), ci_high=lift + ratio * abs(lift),
              window_days={25: 28, 15: 33, 5: 50}[dims[1]])
    kw.update({25: dict(), 15: dict(leakage=0.02), 5: dict(holdout_verified=False)}[dims[2]])
    s = one(make_test(**kw))
    assert (s["uncertainty"], s["alignment"], s["holdout"], s["model"]) == dims
    assert s["total"] == total and s["tier"] == tier


@pytest.mark.parametrize("total,tier", [(75, "Gold"), (74, "Silver"), (50, "Silver"), (49, "Red")])
def test_tier_boundaries_74_75_49_50(total, tier):
    """Default tiers; a weight on the one dimension that scores 25 sets the total exactly."""
    cfg = load_yaml("conf/eqs/default.yaml")
    cfg["weights"] = {"uncertainty": total / 25.0, "alignment": 0.0, "holdout": 0.0, "model": 0.0}
    s = one(make_test(), spec=eqs_spec(cfg))
    assert s["total"] == pytest.approx(total) and s["tier"] == tier


def test_thresholds_are_config_values():
    cfg = load_yaml("conf/eqs/default.yaml")
    cfg["uncertainty"]["high_ratio"] = 0.05
    assert one(make_test(), spec=eqs_spec(cfg))["uncertainty"] == 15
    cfg["alignment"]["window"] = "total"
    assert one(make_test(), spec=eqs_spec(cfg))["alignment"] == 5     # |28 - 7| > 7


@pytest.mark.parametrize("section,key,value", [("tiers", "silver", 90), ("points", "high", 1),
                                               ("alignment", "window", "weekly")])
def test_bad_eqs_config_names_the_field(section, key, value):
    cfg = load_yaml("conf/eqs/default.yaml")
    cfg[section][key] = value
    with pytest.raises(ConfigError, match=f"eqs.{section}"):
        eqs_spec(cfg)


# ---- strategies ----------------------------------------------------------
def _portfolio():
    """meta: Gold 100, Gold 80, Red; google: Silver, Red; tiktok: Red only."""
    gold100 = make_test(test_id="m1")
    gold80 = make_test(test_id="m2", leakage=0.02, **_ci(0.5), lift_se=250.0)     # 15+25+15+25 = 80
    red_m = make_test(test_id="m3", holdout_verified=False, window_days=60, lift=-3000.0,
                      ci_low=-6000.0, ci_high=0.0, lift_se=1500.0)
    silver_g = make_test(test_id="g1", channel="google", leakage=0.02, window_days=33, **_ci(0.5))
    red_g = make_test(test_id="g2", channel="google", holdout_verified=False, window_days=60,
                      lift=-3000.0, ci_low=-6000.0, ci_high=0.0)
    red_t = make_test(test_id="t1", channel="tiktok", holdout_verified=False, window_days=60,
                      lift=-3000.0, ci_low=-6000.0, ci_high=0.0)
    tests = [gold100, gold80, red_m, silver_g, red_g, red_t]
    s = score(tests, ModelView(np.full(6, 7.0), np.full(6, 0.8), np.full(6, 1.2)), SPEC)
    assert list(s.tier) == ["Gold", "Gold", "Red", "Silver", "Red", "Red"], s
    return tests, s


def ids(xs):
    return [t.test_id for t in xs]


def test_strategy_selections():
    tests, s = _portfolio()
    key = jax.random.key(0)
    assert select("none", key, tests, s, SPEC) == []
    assert ids(select("all", key, tests, s, SPEC)) == ids(tests)
    assert ids(select("single_best", key, tests, s, SPEC)) == ["m1", "g1"]
    assert ids(select("eqs_filtered", key, tests, s, SPEC)) == ["m1", "m2", "g1"]
    assert ids(select("single_best_unfiltered", key, tests, s, SPEC)) == ["m1", "g1", "t1"]
    rnd = select("random_one", key, tests, s, SPEC)
    assert sorted(t.channel for t in rnd) == ["google", "meta", "tiktok"]
    assert ids(rnd) == ids(select("random_one", key, tests, s, SPEC))          # same key, same pick
    weighted = select("eqs_weighted", key, tests, s, SPEC)
    assert [w.lift_se / t.lift_se for w, t in zip(weighted, tests)] == [1, 1, 4, 2, 4, 4]
    pooled = select("pooled", key, tests, s, SPEC)
    assert [t.channel for t in pooled] == ["meta", "google", "tiktok"]
    mask = used_mask("single_best", key, tests, s, SPEC)
    assert mask.tolist() == [True, False, False, True, False, False]


def test_eqs_filtered_keeps_silver_only_where_no_gold():
    tests, s = _portfolio()
    silver_m = make_test(test_id="m4", leakage=0.02, window_days=33, **_ci(0.5))
    tests2 = tests + [silver_m]
    s2 = score(tests2, ModelView(np.full(7, 7.0), np.full(7, 0.8), np.full(7, 1.2)), SPEC)
    assert s2.tier[-1] == "Silver"
    assert "m4" not in ids(select("eqs_filtered", None, tests2, s2, SPEC))


def test_dersimonian_laird_closed_forms():
    # Homogeneous estimates: tau = 0 and the fixed-effect answer.
    m, se, tau = dersimonian_laird(np.array([1.0, 1.0]), np.array([0.1, 0.2]))
    w = np.array([100.0, 25.0])
    assert (m, tau) == (pytest.approx(1.0), 0.0) and se == pytest.approx(w.sum() ** -0.5)
    # Two estimates 2 apart with se 0.1: Q = 200, tau^2 = (Q - 1) / (200 - 100) = 1.99.
    m, se, tau = dersimonian_laird(np.array([0.0, 2.0]), np.array([0.1, 0.1]))
    assert m == pytest.approx(1.0) and tau == pytest.approx(math.sqrt(1.99))
    assert se == pytest.approx(math.sqrt((0.01 + 1.99) / 2))


def test_unknown_strategy_is_a_config_error():
    tests, s = _portfolio()
    with pytest.raises(ConfigError, match="strategy"):
        select("everything", None, tests, s, SPEC)
    assert set(STRATEGIES) >= {"none", "all", "single_best", "eqs_filtered"}
