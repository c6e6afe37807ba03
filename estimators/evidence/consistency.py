"""The model's own forecast of a lift test: what the baseline posterior predicts the test will read.

A test's design (channel, weeks, treated population share, spend change, window) is
observable, so the uncalibrated model can forecast its lift before it is read: the M2
response g(theta) of eq. (12), evaluated on the baseline's posterior draws instead of being
fitted to the readout. Setting the readout against that forecast,

    z_j = (lift_j - mean_d g_j(theta_d)) / sqrt(lift_se_j^2 + var_d g_j(theta_d)),

says how surprising the test is to the model. It is a filter that uses the model (the
``model_consistent`` strategy drops tests with ``|z|`` above a threshold) and an EQS-like
score in its own right. A large ``|z|`` means the test and the model disagree; which of the
two is wrong is what the study measures, since a model driven by its prior can be the wrong one.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from common.records import LiftTest
from estimators.evidence.eqs import model_z  # noqa: F401  (re-exported: the z of a forecast)
from estimators.inference.posterior import Posterior, thin_index
from estimators.model.batch import build_batch, pad_sizes
from estimators.model.data import Observed
from estimators.model.mmm import lift_g
from estimators.model.spec import CalibrationSpec, FitSpec

_SITES = ("alpha", "theta", "half_saturation", "slope")


@lru_cache(maxsize=None)
def _program(max_lag: int):
    def one(data, alpha, theta, half, slope, beta):
        g = lambda a, t, h, s, b: lift_g({"alpha": a, "theta": t, "half_saturation": h, "slope": s},
                                         b, data, max_lag)
        return jax.vmap(g)(alpha, theta, half, slope, beta)                  # [D, J]
    return jax.jit(jax.vmap(one))


def predicted_lift(post: Posterior, observed: Sequence[Observed], tests: Sequence[Sequence[LiftTest]],
                   spec: FitSpec, draws: int = 200) -> list[tuple[np.ndarray, np.ndarray]]:
    """Posterior mean and sd of every test's model-implied lift (KPI units).

    Args:
        post: the baseline posterior of ``N`` datasets.
        observed: the ``N`` datasets, in the posterior's order.
        tests: ``N`` lists of tests (any number each; channels of the dataset).
        spec: the baseline's fit spec (its model structure).
        draws: posterior draws per dataset behind the forecast (evenly thinned).
    Returns:
        ``N`` pairs ``(mean [J_i], sd [J_i])``.
    """
    n = len(observed)
    if n == 0 or not any(len(t) for t in tests):
        return [(np.zeros(len(t)), np.zeros(len(t))) for t in tests]
    m2 = FitSpec(model=spec.model, priors=spec.priors, inference=spec.inference,
                 calibration=CalibrationSpec(method="m2"))
    pads = pad_sizes(observed, tests, spec.model.period_days)
    pads["n_channels"] = post.roi.shape[-1]
    batch = build_batch(observed, tests, m2, **pads)
    idx = thin_index(post, draws)                                            # [N, D]
    def take(a):
        flat = a.reshape((n, -1) + a.shape[3:])                               # [N, C*Dmax, ...]
        dmax = a.shape[2]
        rows = (idx // post.n_draws[:, None]) * dmax + idx % post.n_draws[:, None]
        return np.take_along_axis(flat, rows.reshape(rows.shape + (1,) * (flat.ndim - 2)), axis=1)

    p = {s: jnp.asarray(take(np.asarray(post.params[s])), jnp.float32) for s in _SITES}
    beta = jnp.asarray(take(np.asarray(post.beta)) / batch.meta.kpi_scale[:, None, None], jnp.float32)
    g = np.asarray(_program(spec.model.max_lag)(batch.data, p["alpha"], p["theta"], p["half_saturation"],
                                                p["slope"], beta), float)       # [N, D, J]
    g *= batch.meta.kpi_scale[:, None, None]
    return [(g[i, :, : len(t)].mean(0), g[i, :, : len(t)].std(0)) for i, t in enumerate(tests)]
