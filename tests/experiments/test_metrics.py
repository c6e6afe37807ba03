"""Metric functions on hand-computed cases."""
from __future__ import annotations

import numpy as np
import pytest

from experiments import metrics as M


def test_roi_mape():
    assert M.roi_mape([1.1, 1.5], [1.0, 2.0]) == pytest.approx((0.1 + 0.25) / 2)


def test_attribution_error_is_total_variation_of_shares():
    # shares (0.5, 0.5) vs (0.75, 0.25): 1/2 (0.25 + 0.25) = 0.25
    assert M.attribution_error([10, 10], [30, 10]) == pytest.approx(0.25)
    assert M.attribution_error([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0)


def test_mape():
    assert M.mape([110, 90], [100, 100]) == pytest.approx(0.1)


def test_budget_regret_and_allocation_error():
    resp = lambda b: np.sqrt(b)
    b_star, b_hat = np.array([1.0, 1.0]), np.array([2.0, 0.0])
    assert M.budget_regret(resp, b_hat, b_star) == pytest.approx((2 - np.sqrt(2)) / 2)
    assert M.allocation_error(b_hat, b_star) == pytest.approx(0.5 * 2 / 2)
    assert M.budget_regret(resp, b_star, b_star) == 0.0


def test_coverage():
    assert M.coverage([0, 0, 0], [1, 1, 1], [0.5, 1.0, 2.0]) == pytest.approx(2 / 3)


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
