"""The truth's marginal ROI (simulate.response.marginal_at): the derivative of its steady-state response."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from simulate import response as R


def _params(misspecified):
    return R.ResponseParams(beta=np.array([[100.0, 50.0, 80.0]]), half=np.array([[10.0, 4.0, 30.0]]),
                            slope=np.array([[1.3, 2.0, 0.8]]), misspecified=np.array([misspecified]))


@pytest.mark.parametrize("mis", [[False, False, False], [True, False, True]])
def test_marginal_at_is_the_derivative_of_the_steady_response(mis):
    p = _params(mis)
    x = np.array([[8.0, 5.0, 12.0]])
    got = R.marginal_at(p, x)
    e = 1e-5 * x
    with jax.enable_x64(True):
        r = lambda b: np.asarray(R.steady_response(jax.tree.map(np.asarray, p), b[:, None, :]))[:, 0]
        fd = (r(x + e) - r(x - e)) / (2 * e)
    np.testing.assert_allclose(got, fd, rtol=1e-6)
    # the closed forms, by hand
    b, h, s = p.beta[0], p.half[0], p.slope[0]
    hill = b * s * h**s * x[0] ** (s - 1) / (h**s + x[0] ** s) ** 2
    expo = b * np.log(2) / h * np.exp(-x[0] * np.log(2) / h)
    np.testing.assert_allclose(got[0], np.where(mis, expo, hill), rtol=1e-10)
