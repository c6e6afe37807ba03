"""Draws from the model's own prior and prior predictive (for SBC and checks).

Nothing here knows a simulated world: the "truth" of an SBC replicate is a
draw from the estimator's own prior.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro

from estimators.batch import ModelData, build_batch
from estimators.data import Observed
from estimators.model import expected_kpi, mmm_model, resolve, simulate_kpi
from estimators.spec import FitSpec


class PriorDraw(NamedTuple):
    """One prior draw: parameters on the scaled problem and the data they generate."""

    params: dict           # constrained parameters (numpy)
    observed: Observed     # the template with the simulated KPI
    contributions: np.ndarray  # [T, K] KPI units
    kpi_scale: float       # the scale the draw was made on (fit with build_batch(kpi_scale=...))


def _direct(ms):
    """The same model with the intercept sampled directly (the level site has no proper prior)."""
    from dataclasses import replace
    return replace(ms, level_param=False)


def sample_prior(key, d: ModelData, spec: FitSpec) -> dict:
    """Constrained parameters drawn from the prior, for one unbatched :class:`ModelData`."""
    with numpyro.handlers.block():
        tr = numpyro.handlers.trace(numpyro.handlers.seed(mmm_model, key)).get_trace(
            d, _direct(spec.model), spec.priors)
    p = {k: v["value"] for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
    return resolve(p, d, spec.model, spec.priors)[0]


def prior_datasets(key, template: Observed, spec: FitSpec, n: int) -> list[PriorDraw]:
    """``n`` datasets from the prior predictive, sharing the template's spend, dates and controls.

    The KPI scale is the template's (``kpi_scale`` of its KPI) so that the
    simulated series lives in the same units.

    Args:
        key: PRNG key.
        template: spend, dates, controls and KPI scale to reuse.
        spec: model and priors (calibration ignored).
        n: number of draws.
    """
    b = build_batch([template], None, spec, dtype=np.float64)
    d = ModelData(*[jnp.asarray(a[0]) for a in b.data])
    scale = float(b.meta.kpi_scale[0])
    k_par, k_noise = jax.random.split(key)

    def one(kp, kn):
        p = sample_prior(kp, d, spec)
        y = simulate_kpi(kn, p, d, spec.model)
        _, contrib = expected_kpi(p, d, spec.model.max_lag)
        return p, y, contrib

    with jax.enable_x64(True):
        ps, ys, cs = jax.jit(jax.vmap(one))(jax.random.split(k_par, n), jax.random.split(k_noise, n))
        ps, ys, cs = jax.device_get((ps, ys, cs))
    out = []
    for i in range(n):
        obs = template._replace(kpi=np.asarray(ys[i]) * scale, dataset_id=f"{template.dataset_id}-prior{i}")
        out.append(PriorDraw({k: np.asarray(v[i]) for k, v in ps.items()}, obs, np.asarray(cs[i]) * scale, scale))
    return out
