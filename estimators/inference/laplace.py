"""The model's unconstrained parameterisation, its potential, and the MAP + Laplace approximation.

Every inference method starts here: the MAP in the unconstrained space (Adam, then
Levenberg-damped Newton) and the Laplace approximation ``N(u_map, H^-1)`` there. The MAP runs
vmapped over fixed blocks of ``MAP_BLOCK`` datasets (a short last block is filled with copies of
its last dataset, whose MAP is discarded), so one compiled program serves every batch size.
Datasets are padded to common shapes with masks (:mod:`estimators.model.batch`), so 5- and
6-channel worlds share one program.
"""
from __future__ import annotations

import zlib
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from jax.flatten_util import ravel_pytree
from numpyro.distributions.transforms import biject_to
from numpyro.infer.hmc import hmc
from numpyro.infer.util import potential_energy

from common import transforms as tf
from common.blocks import block_indices as blocks
from common.blocks import run_blocked
from estimators.model.batch import ModelBatch, ModelData
from estimators.model.mmm import baseline, mmm_model, resolve
from estimators.model.priors import Priors
from estimators.model.spec import FitSpec, InferenceSpec, ModelSpec
from harness.programs import persistent

MAP_BLOCK = 8   # datasets per MAP call


class ModelFns(NamedTuple):
    """Unconstrained parameterisation of the model for given shapes."""

    dim: int
    unravel: object          # flat [P] -> dict of unconstrained sites
    transforms: dict         # site -> bijector (unconstrained -> constrained)
    labels: tuple            # P labels "site[i]"
    channel_of: np.ndarray   # [P] channel index of a per-channel coordinate, -1 otherwise


def example(d: ModelData) -> ModelData:
    """Dataset 0 of a batched :class:`ModelData` (the shapes of one dataset)."""
    return ModelData(*[np.asarray(a)[0] for a in d])


def model_fns(d0: ModelData, spec: ModelSpec, priors: Priors) -> ModelFns:
    """Trace the model on one (unbatched) dataset to fix the flat unconstrained layout.

    The trace is abstract (:func:`jax.eval_shape`): only the sites' shapes and supports are read,
    and no support depends on the data, so no operation runs eagerly."""
    trans = {}

    def unconstrained(d):
        with numpyro.handlers.block():
            fixed = numpyro.handlers.substitute(mmm_model, data={"level": jnp.zeros((), d.y.dtype)})
            tr = numpyro.handlers.trace(numpyro.handlers.seed(fixed, 0)).get_trace(d, spec, priors)
        sites = {k: v for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
        trans.update({k: biject_to(v["fn"].support) for k, v in sites.items()})
        return {k: trans[k].inv(v["value"]) for k, v in sites.items()}

    shapes = jax.eval_shape(unconstrained, jax.tree.map(jnp.asarray, d0))
    zeros = {k: jnp.zeros(v.shape, d0.y.dtype) for k, v in shapes.items()}
    flat, unravel = ravel_pytree(zeros)
    labels, chan = [], []
    n_k = d0.channel_mask.shape[-1]
    per_channel = ("roi", "alpha", "theta_z", "half_saturation", "slope")
    for k in sorted(zeros):
        n = int(np.prod(zeros[k].shape)) if zeros[k].shape else 1
        for i in range(n):
            labels.append(f"{k}[{i}]" if zeros[k].shape else k)
            chan.append(i if (k in per_channel and zeros[k].shape == (n_k,)) else -1)
    return ModelFns(int(flat.shape[0]), unravel, trans, tuple(labels), np.array(chan))


def real_coordinates(fns: ModelFns, channel_mask, delayed) -> np.ndarray:
    """``[P]`` bool: the coordinates that are parameters of this dataset (not a padded channel's,
    and not the delayed-peak lag of a channel with geometric adstock, which is prior-only)."""
    mask, delayed = np.asarray(channel_mask) > 0, np.asarray(delayed) > 0
    ch = np.maximum(fns.channel_of, 0)
    is_theta = np.array([lab.startswith("theta_z") for lab in fns.labels])
    return ((fns.channel_of < 0) | mask[ch]) & ~(is_theta & ~delayed[ch])


def roi_coordinates(fns: ModelFns, channel_mask) -> np.ndarray:
    """Indices of the real channels' ROI coordinates in the flat unconstrained vector."""
    idx = np.array([i for i, lab in enumerate(fns.labels) if lab.startswith("roi[")])
    return idx[np.asarray(channel_mask)[: idx.size] > 0]


def potential(u, d, fns: ModelFns, spec: ModelSpec, priors: Priors):
    """Potential energy (negative log joint) at the flat unconstrained point ``u [P]``."""
    model = partial(mmm_model, spec=spec, priors=priors)
    return potential_energy(model, (d,), {}, fns.unravel(u))


def jitted_potential(fns: ModelFns, spec: FitSpec):
    """:func:`potential` as one jitted function of ``(u [P], d)``. Inside a program that uses the
    potential several times (value, gradient, Hessian; NUTS's tree building), the numpyro model is
    traced once and every use transforms that one jaxpr, instead of re-tracing the model each
    time (the same bits: XLA inlines the call)."""
    return jax.jit(partial(potential, fns=fns, spec=spec.model, priors=spec.priors))


def constrain(u, fns: ModelFns) -> dict:
    """Unconstrained flat vector ``[P]`` -> dict of constrained parameters."""
    z = fns.unravel(u)
    return {k: fns.transforms[k](v) for k, v in z.items()}


def prior_centre(d: ModelData, fns: ModelFns, priors: Priors):
    """A central prior point, flat unconstrained ``[P]`` (start of the MAP search)."""
    centre = {
        "intercept": priors.intercept[0], "trend": priors.trend[0],
        "level": jnp.sum(d.y * d.fit_mask) / jnp.maximum(jnp.sum(d.fit_mask), 1.0),
        "season": jnp.full(d.season.shape[-1:], priors.seasonality[0]),
        "holiday": jnp.full(d.holiday.shape[-1:], priors.holiday[0]),
        "control": jnp.full(d.controls.shape[-1:], priors.control[0]),
        "sigma": np.exp(priors.noise_sigma[0]),
        "rho_z": 0.0, "theta_z": jnp.zeros(d.delayed.shape),
        "roi": jnp.exp(d.roi_mu),
        "alpha": d.alpha_a / (d.alpha_a + d.alpha_b),
        "half_saturation": jnp.full(d.delayed.shape, np.exp(priors.half_saturation[0])),
        "slope": jnp.full(d.delayed.shape, np.exp(priors.slope[0])),
    }
    z = {k: fns.transforms[k].inv(jnp.asarray(centre[k], d.y.dtype)) for k in fns.transforms}
    return ravel_pytree(z)[0]


class Laplace(NamedTuple):
    u: jnp.ndarray          # [P] MAP (unconstrained)
    chol: jnp.ndarray       # [P, P] symmetric factor with chol @ chol.T = covariance
    cov: jnp.ndarray        # [P, P]
    potential: jnp.ndarray  # [] potential at the MAP
    grad_norm: jnp.ndarray  # [] gradient norm at the MAP
    min_eig: jnp.ndarray    # [] smallest Hessian eigenvalue (>0 at a strict local optimum)


def map_laplace(d: ModelData, fns: ModelFns, spec: FitSpec) -> Laplace:
    """MAP (Adam then damped Newton) and Laplace approximation of one dataset's posterior."""
    inf = spec.inference
    pot = jitted_potential(fns, spec)
    f = lambda u: pot(u, d)
    vg = jax.value_and_grad(f)
    u0 = prior_centre(d, fns, spec.priors)
    dtype = u0.dtype

    def adam(carry, i):
        u, m, v = carry
        val, g = vg(u)
        ok = jnp.isfinite(val) & jnp.all(jnp.isfinite(g))
        g = jnp.where(ok, g, 0.0)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        t = i + 1.0
        lr = inf.adam_lr * jnp.where(t > 0.5 * inf.adam_steps, 0.3, 1.0)
        step = lr * (m / (1 - 0.9 ** t)) / (jnp.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        return (u - step, m, v), None

    z = jnp.zeros_like(u0)
    (u, _, _), _ = jax.lax.scan(adam, (u0, z, z), jnp.arange(inf.adam_steps, dtype=dtype))

    hess = jax.hessian(f)
    eye = jnp.eye(u.shape[0], dtype=dtype)

    def newton(carry, move):
        # Levenberg-damped Newton step, accepted only if it lowers the potential. The
        # last iteration does not move, so its Hessian is the one at the final point
        # (one traced Hessian keeps compile time down).
        u, val, lam, _, _ = carry
        g = jax.grad(f)(u)
        h = hess(u)
        h = 0.5 * (h + h.T)
        step = jnp.linalg.solve(h + lam * eye, g)
        u_new = u - step
        val_new = f(u_new)
        ok = move & jnp.isfinite(val_new) & (val_new < val) & jnp.all(jnp.isfinite(step))
        u = jnp.where(ok, u_new, u)
        val = jnp.where(ok, val_new, val)
        lam = jnp.clip(jnp.where(ok, lam * 0.2, lam * 10.0), 1e-6, 1e6)
        return (u, val, lam, h, g), None

    n_p = u.shape[0]
    moves = jnp.arange(inf.newton_steps + 1) < inf.newton_steps
    init = (u, f(u), jnp.asarray(1e-2, dtype), jnp.zeros((n_p, n_p), dtype), jnp.zeros(n_p, dtype))
    (u, val, _, h, g), _ = jax.lax.scan(newton, init, moves)
    evals, evecs = jnp.linalg.eigh(h)
    floor = jnp.asarray(1e-2, dtype)
    inv_sqrt = 1.0 / jnp.sqrt(jnp.maximum(evals, floor))
    # Symmetric square root of the covariance: unlike V diag(l^-1/2) it does not depend
    # on the arbitrary signs of the eigenvectors, so draws are reproducible across batches.
    chol = (evecs * inv_sqrt[None, :]) @ evecs.T
    cov = chol @ chol.T
    return Laplace(u, chol, cov, val, jnp.linalg.norm(g), evals[0])


class Derived(NamedTuple):
    """Per-draw quantities of one draw (or a stack of draws) in scaled units."""

    params: dict              # constrained parameters
    share: jnp.ndarray        # [K] share of total media contribution over the data's weeks
    lag_days: jnp.ndarray     # [K] days to lag_share of the carryover
    beta: jnp.ndarray         # [K] weekly KPI at full saturation (scaled)
    mu: jnp.ndarray           # [T] expected KPI (scaled)
    contrib: jnp.ndarray      # [T, K] media contributions (scaled)


def derive(u, d: ModelData, fns: ModelFns, ms: ModelSpec, priors: Priors) -> Derived:
    """Derived quantities of one flat unconstrained draw ``u [P]``."""
    p, sat, beta = resolve(constrain(u, fns), d, ms, priors)          # one pass of the media model
    contrib = ((beta * d.channel_mask)[:, None] * sat).T                 # [T, K]
    mu = baseline(p, d) + contrib.sum(-1)
    w = tf.normalised_weights(p["alpha"], p["theta"], d.delayed, ms.max_lag)
    tot = jnp.sum(contrib * d.week_mask[:, None], 0)
    share = tot / jnp.maximum(tot.sum(), 1e-12)
    lag = tf.carryover_lag(w, ms.lag_share, ms.period_days)
    return Derived(p, share, lag, beta, mu, contrib)


def derive_many(u, d: ModelData, fns: ModelFns, ms: ModelSpec, priors: Priors):
    """Derived quantities of draws ``u [S, P]`` of one dataset (a scan, so memory stays ``O(T K)``).

    Returns:
        ``(per_draw, mu_sum [T], contrib_sum [T, K])``: ``per_draw`` holds ``params``, ``share``,
        ``lag_days`` and ``beta`` with a leading ``S`` axis; the sums run over the draws.
    """
    def body(acc, ui):
        r = derive(ui, d, fns, ms, priors)
        return (acc[0] + r.mu, acc[1] + r.contrib), (r.params, r.share, r.lag_days, r.beta)

    zero = (jnp.zeros_like(d.y), jnp.zeros(d.y.shape[-1:] + d.spend_lag.shape[:1], d.y.dtype))
    (mu_sum, c_sum), per = jax.lax.scan(body, zero, u)
    return per, mu_sum, c_sum


def map_key(spec: FitSpec) -> FitSpec:
    """The part of a spec the MAP program depends on (shared by every inference method)."""
    inf = spec.inference
    return FitSpec(model=spec.model, priors=spec.priors,
                   inference=InferenceSpec(adam_steps=inf.adam_steps, adam_lr=inf.adam_lr,
                                           newton_steps=inf.newton_steps))


_FNS: dict = {}


def fns_for(batch: ModelBatch, spec: FitSpec) -> tuple:
    """A hashable key of the model's layout for this batch's shapes (see :func:`model_fns_of`)."""
    shapes = tuple((name, np.shape(a)[1:]) for name, a in zip(ModelData._fields, batch.data))
    key = (spec.model, spec.priors, shapes, str(np.asarray(batch.data.y).dtype))
    if key not in _FNS:
        _FNS[key] = model_fns(example(batch.data), spec.model, spec.priors)
    return key


def model_fns_of(key) -> ModelFns:
    return _FNS[key]


@lru_cache(maxsize=16)
def _map_program(spec: FitSpec, fns_key):
    fns = _FNS[fns_key]
    return persistent("map", jax.jit(jax.vmap(lambda d: map_laplace(d, fns, spec))), (spec, fns_key),
                      (ModelData, Laplace))


def take(tree, idx):
    """Rows ``idx`` of every array of a pytree (numpy rows stay on the host until a call copies them)."""
    return jax.tree.map(lambda a: a[idx], tree)


def laplace_batch(batch: ModelBatch, spec: FitSpec, fns_key) -> Laplace:
    """MAP and Laplace approximation of every dataset, in blocks of ``MAP_BLOCK`` (numpy, ``[N, ...]``)."""
    return run_blocked(_map_program(map_key(spec), fns_key), (batch.data,), MAP_BLOCK)


def dataset_keys(key, dataset_ids) -> jnp.ndarray:
    """One key per dataset, ``fold_in(key, crc32(dataset_id))``: independent of batch position,
    so a dataset gets the same key alone or inside any batch."""
    ids = [zlib.crc32(str(i).encode()) & 0x7FFFFFFF for i in dataset_ids]
    return jax.vmap(lambda k: jax.random.fold_in(key, k))(jnp.asarray(ids, jnp.uint32))
