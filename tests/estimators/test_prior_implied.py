"""What the priors imply at mean spend (estimators/model/prior_implied.py)."""
import numpy as np
import pytest

from estimators.model.prior_implied import hill_elasticity, implied, main, near_linear, table
from estimators.model.priors import PROFILE_MATCHED, Priors


@pytest.mark.parametrize("half,slope,x", [(1.2, 1.3, 1.0), (0.5, 0.8, 2.0), (8.0, 1.0, 0.5)])
def test_elasticity_matches_a_finite_difference(half, slope, x):
    eps = 1e-5
    f = lambda v: np.log(v ** slope / (v ** slope + half ** slope))   # float64 Hill
    fd = (f(x * np.exp(eps)) - f(x * np.exp(-eps))) / (2 * eps)
    assert abs(hill_elasticity(half, slope, x) - fd) < 1e-6


def test_mroi_is_roi_times_elasticity_and_roi_quantiles_match_the_lognormal():
    pri = Priors(roi=(0.3466, 1.1891))
    d = implied(pri, seed=3, n=100_000)
    np.testing.assert_allclose(d.mroi, d.roi * d.elasticity)
    # LogNormal(0.3466, 1.1891): 90% interval 0.2-10; 100k draws, seed 3, 4% tolerance
    lo, hi = np.quantile(d.roi, [0.05, 0.95])
    assert abs(lo - 0.2) / 0.2 < 0.04 and abs(hi - 10.0) / 10.0 < 0.04


def test_near_linear_flags_a_large_half_saturation_with_unit_slope_only():
    assert near_linear(np.array([20.0]), np.array([1.0]))[0]
    assert not near_linear(np.array([1.2]), np.array([1.0]))[0]
    assert not near_linear(np.array([20.0]), np.array([1.5]))[0]


def test_weak_shape_priors_admit_a_near_linear_curve_the_old_ones_exclude():
    old = dict((r[0], r[1]) for r in table(PROFILE_MATCHED, seed=0))
    weak = dict((r[0], r[1]) for r in table(Priors(half_saturation=(0.69, 1.0), slope=(0.0, 0.35)), seed=0))
    key = "share near-linear over 0.5-2x mean spend"
    assert old[key] < 0.001
    assert weak[key] > 0.01


def test_cli_prints_a_table_and_refuses_an_unknown_preset(capsys):
    assert main(["priors=weak"]) == 0
    assert "near-linear" in capsys.readouterr().out
    assert main(["priors=no_such"]) == 2
    assert "no file" in capsys.readouterr().err
