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

from estimators.model.batch import ModelData, build_batch
from estimators.model.data import Observed
from estimators.model.mmm import expected_kpi, mmm_model, resolve, simulate_kpi
from estimators.model.spec import FitSpec


def spend_template(seed: int, n_weeks: int = 104, n_channels: int = 3, level: float = 1e6,
                   spend_ratio: float = 0.12, dark_prob: float = 0.1) -> Observed:
    """A synthetic observable design (spend, dates, a promo control) for prior-predictive work.

    Lognormal AR(1) spend with dark weeks (channel 0 never dark), a weekly date
    index from 2022-01-03 and a promo share control; the KPI is a placeholder
    (``level``) to be replaced by a prior-predictive draw.
    """
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.full(n_channels, 3.0))
    mean = level * spend_ratio * shares
    e = rng.normal(size=(n_weeks, n_channels))
    z = np.zeros_like(e)
    z[0] = e[0]
    for t in range(1, n_weeks):
        z[t] = 0.6 * z[t - 1] + 0.8 * e[t]
    raw = np.exp(0.3 * z)
    raw[rng.uniform(size=raw.shape) < dark_prob] = 0.0
    raw[:, 0] = np.maximum(raw[:, 0], 0.2)
    spend = raw / raw.mean(0) * mean
    promo = np.where(rng.uniform(size=n_weeks) < 0.15, rng.uniform(0.5, 1.0, n_weeks), 0.0)
    dates = np.datetime64("2022-01-03") + 7 * np.arange(n_weeks)
    return Observed(dates=dates, kpi=np.full(n_weeks, level), spend=spend, controls=promo[:, None],
                    channel_names=tuple(f"ch{k}" for k in range(n_channels)),
                    control_names=("promo",), n_fit=n_weeks, dataset_id=f"synth{seed}")


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
