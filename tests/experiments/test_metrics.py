"""Metrics (a registry, conf/metric/*.yaml) on hand-computed cases, and the paired summaries."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments import metrics as M


def inputs(**over):
    """Two fits, two channels, three weeks (two fitted), two plans; hand-chosen values."""
    base = dict(
        roi_hat=np.array([[1.1, 1.5], [1.0, 2.0]]), roi_q05=np.array([[0.0, 0.0], [0.9, 2.5]]),
        roi_q95=np.array([[1.0, 3.0], [1.1, 3.0]]), contrib_hat=np.array([[10.0, 10.0], [1.0, 2.0]]),
        kpi_hat=np.array([[110.0, 90.0, 100.0], [100.0, 100.0, 120.0]]),
        total_hat=np.array([[105.0, 95.0], [100.0, 100.0]]), delta_hat=np.array([[1.0, -2.0], [2.0, 2.0]]),
        b_hat=np.array([[2.0, 0.0], [1.0, 1.0]]),
        roi=np.array([[1.0, 2.0], [1.0, 2.0]]), contrib=np.array([[30.0, 10.0], [2.0, 4.0]]),
        kpi=np.array([[100.0, 100.0, 80.0], [100.0, 100.0, 100.0]]),
        total_true=np.array([[100.0, 100.0], [100.0, 100.0]]), delta_true=np.array([[2.0, -2.0], [2.0, 2.0]]),
        b_star=np.array([[1.0, 1.0], [1.0, 1.0]]), r_hat=np.array([[np.sqrt(2), 0.0], [1.0, 1.0]]),
        r_star=np.array([[1.0, 1.0], [1.0, 1.0]]), n_fit=2)
    base.update(over)
    return M.ScoreInputs(**base)


def test_each_metric_on_hand_values():
    v = M.evaluate(inputs())
    np.testing.assert_allclose(v["roi_mape"], [(0.1 + 0.25) / 2, 0.0])
    np.testing.assert_allclose(v["attribution_error"], [0.25, 0.0])       # shares (.5,.5) vs (.75,.25)
    np.testing.assert_allclose(v["fit_mape"], [0.1, 0.0])
    np.testing.assert_allclose(v["holdout_mape"], [0.25, 0.2])
    np.testing.assert_allclose(v["counterfactual_mape"], [0.05, 0.0])
    np.testing.assert_allclose(v["counterfactual_delta_mape"], [0.25, 0.0])
    np.testing.assert_allclose(v["budget_regret"], [(2 - np.sqrt(2)) / 2, 0.0])
    np.testing.assert_allclose(v["allocation_error"], [0.5, 0.0])
    np.testing.assert_allclose(v["coverage90"], [1.0, 0.5])    # [0,1]∋1 (edge), [0,3]∋2; [.9,1.1]∋1, [2.5,3]∌2


def test_roi_miss2x_counts_only_misses_beyond_a_factor_of_two():
    # fit 0: [0, 1] vs 1 and [0, 3] vs 2 hold; fit 1: [0.9, 1.1] holds 1, [2.5, 3] misses 2 by < 2x
    np.testing.assert_allclose(M.evaluate(inputs())["roi_miss2x"], [0.0, 0.0])
    far = inputs(roi_q05=np.array([[1.9, 0.0], [0.2, 4.1]]), roi_q95=np.array([[3.0, 3.0], [0.4, 5.0]]))
    # 1 vs [1.9, 3]: below, but not by 2x (0.95): kept; 1 > 2 x 0.4: miss; 2 < 4.1 / 2: miss
    np.testing.assert_allclose(M.evaluate(far)["roi_miss2x"], [0.0, 1.0])


def test_every_metric_has_a_yaml_and_every_yaml_a_metric():
    yamls = {p.stem for p in (Path(M.__file__).resolve().parents[1] / "conf" / "metric").glob("*.yaml")}
    assert yamls == set(M.METRICS)
    for m in M.METRICS.values():
        assert m.better in ("lower", "higher") and m.paired in ("relative", "difference", "none") and m.label


def test_registering_a_metric_without_yaml_fails():
    with pytest.raises(RuntimeError, match="conf/metric/no_such_metric.yaml"):
        M.metric("no_such_metric")(lambda x: x.roi)


def test_stability_is_mean_sd_of_ratio_across_replicates():
    reps = np.array([[1.0, 2.0], [3.0, 2.0]])        # ratios vs roi (1, 2): (1, 1) and (3, 1)
    assert M.stability(reps, [1.0, 2.0]) == pytest.approx((np.std([1, 3], ddof=1) + 0.0) / 2)
    assert np.isnan(M.stability(reps[:1], [1.0, 2.0]))


def test_improvement_sign_convention():
    np.testing.assert_allclose(M.improvement([0.2, 0.2], [0.1, 0.3]), [0.5, -0.5])


def test_paired_summary_quantiles_and_bootstrap_ci():
    v = np.arange(1.0, 102.0)        # median 51, quartiles 26 and 76
    s = M.paired_summary(v, key_seed=0)
    assert (s.n, s.median, s.q25, s.q75) == (101, 51.0, 26.0, 76.0)
    assert s.ci_low < 51 < s.ci_high and s.ci_high - s.ci_low < 30
    assert M.paired_summary([np.nan]).n == 0


def test_identification_metrics_on_hand_values():
    x = inputs(mroi_hat=np.array([[1.0, 3.0], [0.5, 1.0]]), mroi=np.array([[2.0, 2.0], [0.5, 1.0]]),
               identified=np.array([[True, False], [True, True]]))
    v = M.evaluate(x, ["mroi_error", "roi_identified_share"])
    np.testing.assert_allclose(v["mroi_error"], [0.5, 0.0])
    np.testing.assert_allclose(v["roi_identified_share"], [0.5, 1.0])
    assert M.METRICS["mroi_error"].paired == "relative" and M.METRICS["roi_identified_share"].paired == "none"
    assert np.isnan(M.evaluate(inputs(), ["mroi_error"])["mroi_error"]).all()     # without the inputs: NaN
