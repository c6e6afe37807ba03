"""Vectorised inference: compiled programs fit a whole batch of datasets.

``fit(key, batch, spec)`` runs, for every dataset of the batch (``jax.vmap`` over
datasets, and over chains inside; NUTS in blocks of ``inference.lockstep`` datasets):

1. MAP in the unconstrained space (Adam, then Levenberg-damped Newton), and
   the Laplace approximation ``N(u_map, H^-1)`` there;
2. ``fast``: draws from that Laplace approximation;
   ``nuts``: numpyro's NUTS kernel (``numpyro.infer.hmc.hmc``) with chains
   started from Laplace draws and the mass matrix started from the Laplace
   covariance, then the usual windowed warm-up and sampling.

Datasets are padded to common shapes with masks (:mod:`estimators.batch`), so
5- and 6-channel worlds share one compiled program; equal specs and shapes
reuse it (no recompiles across batches).
"""
from __future__ import annotations

import zlib
from dataclasses import replace
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

from estimators.batch import ModelBatch, ModelData
from estimators.model import expected_kpi, media, mmm_model, resolve
from estimators.priors import Priors
from estimators.spec import CalibrationSpec, FitSpec, InferenceSpec, ModelSpec
from simulate import transforms as tf


class ModelFns(NamedTuple):
    """Unconstrained parameterisation of the model for given shapes."""

    dim: int
    unravel: object          # flat [P] -> dict of unconstrained sites
    transforms: dict         # site -> bijector (unconstrained -> constrained)
    labels: tuple            # P labels "site[i]"
    channel_of: np.ndarray   # [P] channel index of a per-channel coordinate, -1 otherwise


def _example(d: ModelData) -> ModelData:
    return ModelData(*[np.asarray(a)[0] for a in d])


def model_fns(d0: ModelData, spec: ModelSpec, priors: Priors) -> ModelFns:
    """Trace the model on one (unbatched) dataset to fix the flat unconstrained layout."""
    with numpyro.handlers.block():
        fixed = numpyro.handlers.substitute(mmm_model, data={"level": jnp.zeros((), d0.y.dtype)})
        tr = numpyro.handlers.trace(numpyro.handlers.seed(fixed, 0)).get_trace(
            jax.tree.map(jnp.asarray, d0), spec, priors)
    sites = {k: v for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
    trans = {k: biject_to(v["fn"].support) for k, v in sites.items()}
    zeros = {k: jnp.zeros(jnp.shape(trans[k].inv(v["value"])), d0.y.dtype) for k, v in sites.items()}
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


def _potential(u, d, fns: ModelFns, spec: ModelSpec, priors: Priors):
    model = partial(mmm_model, spec=spec, priors=priors)
    return potential_energy(model, (d,), {}, fns.unravel(u))


def constrain(u, fns: ModelFns) -> dict:
    """Unconstrained flat vector ``[P]`` -> dict of constrained parameters."""
    z = fns.unravel(u)
    return {k: fns.transforms[k](v) for k, v in z.items()}


def _prior_centre(d: ModelData, fns: ModelFns, priors: Priors):
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
    f = lambda u: _potential(u, d, fns, spec.model, spec.priors)
    vg = jax.value_and_grad(f)
    u0 = _prior_centre(d, fns, spec.priors)
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


class RawFit(NamedTuple):
    """Raw sampler output of a batch (jnp)."""

    u: jnp.ndarray            # [N, C, D, P] unconstrained draws
    diverging: jnp.ndarray    # [N, C, D]
    num_steps: jnp.ndarray    # [N, C, D]
    accept_prob: jnp.ndarray  # [N, C, D]
    step_size: jnp.ndarray    # [N, C]
    laplace: Laplace          # batched [N, ...]


def _nuts_chains(key, lap: Laplace, d: ModelData, fns: ModelFns, spec: FitSpec):
    """Run ``C`` NUTS chains on one dataset; returns per-draw arrays ``[C, D, ...]``."""
    inf = spec.inference
    gen = lambda data: partial(_potential, d=data, fns=fns, spec=spec.model, priors=spec.priors)
    init_kernel, sample_kernel = hmc(potential_fn_gen=gen, algo="NUTS")
    k_init, k_run = jax.random.split(key)
    eps = jax.random.normal(k_init, (inf.chains, fns.dim), lap.u.dtype)
    if inf.init == "map":
        starts = lap.u + inf.init_scale * eps @ lap.chol.T
        inv_mass = lap.cov if inf.dense_mass else jnp.diag(lap.cov)
    else:
        starts = _prior_centre(d, fns, spec.priors) + 0.1 * eps
        inv_mass = (jnp.eye(fns.dim, dtype=lap.u.dtype) if inf.dense_mass
                    else jnp.ones(fns.dim, lap.u.dtype))

    def one_chain(k, u0):
        state = init_kernel(u0, inf.warmup, step_size=0.5, inverse_mass_matrix=inv_mass,
                            dense_mass=inf.dense_mass, target_accept_prob=inf.target_accept,
                            max_tree_depth=inf.max_tree_depth, model_args=(d,), rng_key=k)

        def warm(s, _):
            return sample_kernel(s, model_args=(d,)), None

        state, _ = jax.lax.scan(warm, state, None, length=inf.warmup)

        def draw(s, _):
            s = sample_kernel(s, model_args=(d,))
            return s, (s.z, s.diverging, s.num_steps, s.accept_prob)

        state, out = jax.lax.scan(draw, state, None, length=inf.draws)
        return out + (state.adapt_state.step_size,)

    keys = jax.random.split(k_run, inf.chains)
    return jax.vmap(one_chain)(keys, starts)


def _sample_one(key, lap: Laplace, d: ModelData, fns: ModelFns, spec: FitSpec) -> RawFit:
    """Draws of one dataset given its Laplace approximation (fast: from it; nuts: NUTS)."""
    k_draw, k_nuts = jax.random.split(key)
    if spec.inference.method == "fast":
        eps = jax.random.normal(k_draw, (1, spec.inference.laplace_draws, fns.dim), lap.u.dtype)
        u = lap.u + eps @ lap.chol.T
        zeros = jnp.zeros(u.shape[:2])
        return RawFit(u, zeros.astype(bool), zeros, zeros + 1.0, jnp.zeros((1,)), lap)
    u, div, steps, acc, step_size = _nuts_chains(k_nuts, lap, d, fns, spec)
    return RawFit(u, div, steps, acc, step_size, lap)


class Derived(NamedTuple):
    """Per-draw quantities in business units, ``[N, C, D, K]`` unless stated."""

    params: dict              # constrained parameters, [N, C, D, ...]
    roi: jnp.ndarray
    share: jnp.ndarray        # share of total media contribution over the data's weeks
    lag_days: jnp.ndarray     # days to lag_share of the carryover
    beta: jnp.ndarray         # weekly KPI at full saturation (KPI units)
    kpi_mean: jnp.ndarray     # [N, T] posterior mean of expected KPI (scaled)
    contrib_mean: jnp.ndarray # [N, T, K] posterior mean of contributions (scaled)


def _derived_one(u, d: ModelData, fns: ModelFns, ms: ModelSpec, priors: Priors):
    p, _, _ = resolve(constrain(u, fns), d, ms, priors)
    mu, contrib = expected_kpi(p, d, ms.max_lag)
    _, w, beta = media(p, d, ms.max_lag)
    tot = jnp.sum(contrib * d.week_mask[:, None], 0)
    share = tot / jnp.maximum(tot.sum(), 1e-12)
    lag = tf.carryover_lag(w, ms.lag_share, ms.period_days)
    return p, share, lag, beta, mu, contrib


def _derive(u, d: ModelData, fns: ModelFns, ms: ModelSpec, priors: Priors) -> Derived:
    """Derived quantities for draws ``u [C, D, P]`` of one dataset."""
    c, n_d = u.shape[:2]
    flat = u.reshape(c * n_d, -1)

    def body(acc, ui):
        p, share, lag, beta, mu, contrib = _derived_one(ui, d, fns, ms, priors)
        return (acc[0] + mu, acc[1] + contrib), (p, share, lag, beta)

    zero = (jnp.zeros_like(d.y), jnp.zeros(d.y.shape[-1:] + d.spend_lag.shape[:1], d.y.dtype))
    (mu_sum, c_sum), (p, share, lag, beta) = jax.lax.scan(body, zero, flat)
    shape = lambda a: a.reshape((c, n_d) + a.shape[1:])
    p = jax.tree.map(shape, p)
    return Derived(p, p["roi"], shape(share), shape(lag), shape(beta),
                   mu_sum / flat.shape[0], c_sum / flat.shape[0])


def _map_key(spec: FitSpec) -> FitSpec:
    """The part of a spec the MAP program depends on (shared by fast and nuts)."""
    inf = spec.inference
    return FitSpec(model=spec.model, priors=spec.priors,
                   inference=InferenceSpec(adam_steps=inf.adam_steps, adam_lr=inf.adam_lr,
                                           newton_steps=inf.newton_steps))


@lru_cache(maxsize=16)
def _map_program(spec: FitSpec, fns_key):
    fns = _FNS[fns_key]
    return jax.jit(jax.vmap(lambda d: map_laplace(d, fns, spec)))


@lru_cache(maxsize=16)
def _sample_program(spec: FitSpec, fns_key):
    """Draws and derived quantities of a block of datasets (all vmapped)."""
    fns = _FNS[fns_key]

    def run(keys, lap, data):
        raw = jax.vmap(lambda k, l, d: _sample_one(k, l, d, fns, spec))(keys, lap, data)
        der = jax.vmap(lambda u, d: _derive(u, d, fns, spec.model, spec.priors))(raw.u, data)
        return raw, der

    return jax.jit(run)


def _blocks(n: int, spec: FitSpec) -> list:
    """Index arrays of the blocks the sampling program runs on.

    Fast path: the whole batch. NUTS: blocks of ``inference.lockstep`` datasets (a vmapped
    NUTS iteration waits for the deepest tree of its lanes); a short last block is filled
    with copies of the batch's last dataset, so every block has one shape and the program
    compiles once whatever the batch size.
    """
    if spec.inference.method != "nuts":
        return [np.arange(n)]
    b = spec.inference.lockstep
    return [np.minimum(np.arange(i, i + b), n - 1) for i in range(0, n, b)]


def _take(tree, idx):
    """Rows ``idx`` of every array (numpy rows stay on the host until the call copies them)."""
    return jax.tree.map(lambda a: a[idx], tree)


_FNS: dict = {}


def _fns_for(batch: ModelBatch, spec: FitSpec) -> tuple:
    shapes = tuple((name, np.shape(a)[1:]) for name, a in zip(ModelData._fields, batch.data))
    key = (spec.model, spec.priors, shapes, str(np.asarray(batch.data.y).dtype))
    if key not in _FNS:
        _FNS[key] = model_fns(_example(batch.data), spec.model, spec.priors)
    return key


def dataset_keys(key, dataset_ids) -> jnp.ndarray:
    """One key per dataset, ``fold_in(key, crc32(dataset_id))``: independent of batch position,
    so a dataset gets the same key alone or inside any batch."""
    ids = [zlib.crc32(str(i).encode()) & 0x7FFFFFFF for i in dataset_ids]
    return jax.vmap(lambda k: jax.random.fold_in(key, k))(jnp.asarray(ids, jnp.uint32))


def fit_raw(key, batch: ModelBatch, spec: FitSpec):
    """Run the compiled batch fit; returns ``(RawFit, Derived, ModelFns)`` as jnp arrays.

    The MAP runs on the whole batch at once; the sampling program runs block by block
    (:func:`_blocks`). The compiled programs depend on the model, priors, inference
    settings and array shapes only (not on the calibration method, which lives in the data).
    """
    fk = _fns_for(batch, spec)
    lap = _map_program(_map_key(spec), fk)(batch.data)
    program = _sample_program(replace(spec, calibration=CalibrationSpec()), fk)
    keys = dataset_keys(key, batch.meta.dataset_ids)
    n = keys.shape[0]
    outs = [program(keys[idx], _take(lap, idx), _take(batch.data, idx)) for idx in _blocks(n, spec)]
    raw, der = jax.tree.map(lambda *a: jnp.concatenate(a)[:n], *outs)
    return raw, der, _FNS[fk]


def compile_only(batch: ModelBatch, spec: FitSpec) -> float:
    """Compile the MAP and sampling programs for this batch's shapes without running them.

    With JAX's persistent compilation cache on (``harness.jaxcache.enable_cache``) the
    next :func:`fit_raw` with these shapes loads the programs instead of compiling.
    Returns the seconds spent.
    """
    import time

    t0 = time.perf_counter()
    fk = _fns_for(batch, spec)
    data = jax.tree.map(jnp.asarray, batch.data)
    keys = dataset_keys(jax.random.key(0), batch.meta.dataset_ids)
    mp = _map_program(_map_key(spec), fk)
    lap_shape = jax.eval_shape(mp, data)
    mp.lower(data).compile()
    idx = _blocks(keys.shape[0], spec)[0]
    block = lambda a: jax.ShapeDtypeStruct((len(idx),) + a.shape[1:], a.dtype)
    _sample_program(replace(spec, calibration=CalibrationSpec()), fk).lower(
        keys[idx], jax.tree.map(block, lap_shape), _take(data, idx)).compile()
    return time.perf_counter() - t0
