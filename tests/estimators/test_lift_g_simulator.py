"""M2's g(theta) at the true parameters equals the simulator's true lift (1e-6 relative).

This test may see both rooms: it reads the simulator's truth to evaluate the
estimator's g at the true parameters.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from estimators.model.batch import ModelData, build_batch
from estimators.model.data import observed_from_dataset
from estimators.model.mmm import lift_g
from estimators.model.spec import CalibrationSpec, FitSpec
from simulate.config import world_spec
from simulate.core import simulate, simulate_all_tests
from simulate.lifttests import lift_spec
from tests.conftest import load_lift, load_yaml


@pytest.fixture(scope="module", params=["fashion", "home_goods"])
def world(request):
    spec = world_spec(load_yaml(f"conf/world/{request.param}.yaml"))
    spec = dataclasses.replace(spec, misspecification=0.0)
    n = 3
    ds, tr = simulate(jax.random.key(21), spec, n_datasets=n)
    # scale-up and go-dark designs, noise-free readout (true lift is what we compare to)
    out = []
    for test_type in ("go_dark", "scale_up"):
        ls = lift_spec({**load_lift("good"), "test_type": test_type})
        out.append(simulate_all_tests(jax.random.key(5), ds, tr, spec, ls, n, 1, "noise_free"))
    return spec, ds, tr, out


def test_g_at_true_parameters_equals_true_lift(world):
    spec, ds, tr, runs = world
    fit_spec = FitSpec(calibration=CalibrationSpec(method="m2"))
    checked = 0
    for run in runs:
        for i, (tests, hidden) in enumerate(run):
            obs = observed_from_dataset(ds, i)
            b = build_batch([obs], [tests], fit_spec, dtype=np.float64)
            m = b.meta.spend_mean[0]
            scale = b.meta.kpi_scale[0]
            with jax.enable_x64(True):
                d = ModelData(*[jnp.asarray(a[0]) for a in b.data])
                p = {"half_saturation": jnp.asarray(tr.half_saturation[i] / m),
                     "slope": jnp.asarray(tr.slope[i])}
                g = np.asarray(lift_g(p, jnp.asarray(tr.beta[i] / scale), d, spec.max_lag,
                                      weights=jnp.asarray(tr.adstock_weights[i]))) * scale
            true = np.array([h.true_lift for h in hidden])
            assert len(true) == len(tests) > 0
            np.testing.assert_allclose(g, true, rtol=1e-6)
            checked += len(true)
    assert checked >= 12
