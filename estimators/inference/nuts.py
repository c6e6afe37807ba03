"""NUTS from the MAP, sampled to a quality bar (``inference=nuts``, the reference).

Per dataset (or per block of ``inference.lockstep`` datasets advancing together):

1. chains start from Laplace draws around the MAP (``init_scale`` x a Laplace draw), and the
   mass matrix is the Laplace covariance (dense by default);
2. warm-up: ``warmup`` iterations of numpyro's NUTS kernel (``numpyro.infer.hmc.hmc``), with
   dual-averaging step-size adaptation; the mass matrix stays the Laplace covariance unless
   ``adapt_mass`` asks for Stan's windowed adaptation;
3. draws in chunks of ``chunk`` per chain: after at least ``min_draws``, each chunk ends with a
   check of the quality bar on every channel's ROI (rank-normalised split R-hat <=
   ``target_rhat`` and bulk ESS >= ``target_ess``) with a guard on every other parameter
   (R-hat <= ``guard_rhat``); sampling stops when it holds or at ``draws`` per chain;
4. if the bar still fails after ``readapt_after`` draws per chain (the Laplace covariance was a
   poor mass matrix), those draws become warm-up: every chain restarts where it stands with the
   draws' covariance as its mass matrix, warms up its step size again and samples afresh (once).

A fit that misses the bar keeps its draws and is flagged by the caller.

One compiled program runs ``chunk`` kernel steps (warm-up and draws alike: the kernel itself
knows when warm-up ends) and derives each draw's ROI, share, lag and response scale, so every
dataset and every run length reuse it. Blocks hold real datasets only: a short last block runs
with a program of its own size, never with fillers.
"""
from __future__ import annotations

import time
from dataclasses import replace
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.hmc import HMCState, hmc
from numpyro.infer.hmc_util import HMCAdaptState

from estimators.inference import laplace as L
from estimators.inference.diagnostics import ess_bulk_numpy, rhat_bulk
from estimators.inference.methods import Draws, pad_draws, register
from estimators.model.batch import ModelData
from estimators.model.spec import CalibrationSpec, FitSpec
from harness.programs import persistent


def warmup_iterations(spec: FitSpec) -> int:
    """Warm-up iterations, rounded up to whole chunks (the kernel adapts during exactly these)."""
    inf = spec.inference
    return -(-inf.warmup // inf.chunk) * inf.chunk


def start_points(key, lap: L.Laplace, d, fns, spec: FitSpec):
    """Chain starts ``[C, P]`` and the initial inverse mass matrix of one dataset (from its Laplace fit)."""
    inf = spec.inference
    eps = jax.random.normal(key, (inf.chains, fns.dim), lap.u.dtype)
    if inf.init == "map":
        starts = lap.u + inf.init_scale * eps @ lap.chol.T
        inv_mass = lap.cov if inf.dense_mass else jnp.diag(lap.cov)
    else:
        starts = L.prior_centre(d, fns, spec.priors) + 0.1 * eps
        inv_mass = jnp.eye(fns.dim, dtype=lap.u.dtype) if inf.dense_mass else jnp.ones(fns.dim, lap.u.dtype)
    return starts, inv_mass


@lru_cache(maxsize=16)
def _programs(spec: FitSpec, fns_key, block: int):
    """``(starts, init, step)`` programs for blocks of ``block`` datasets x ``chains`` chains."""
    fns = L.model_fns_of(fns_key)
    inf = spec.inference
    pot = L.jitted_potential(fns, spec)                   # the model traced once per program
    gen = lambda data: partial(pot, d=data)
    init_kernel, sample_kernel = hmc(potential_fn_gen=gen, algo="NUTS")
    n_warm = warmup_iterations(spec)

    def init_one(key, starts, inv_mass, d):
        def chain(k, u0):
            return init_kernel(u0, n_warm, step_size=0.5, inverse_mass_matrix=inv_mass,
                               adapt_mass_matrix=inf.adapt_mass, dense_mass=inf.dense_mass,
                               target_accept_prob=inf.target_accept, max_tree_depth=inf.max_tree_depth,
                               model_args=(d,), rng_key=k)

        return jax.vmap(chain)(jax.random.split(key, inf.chains), starts)

    def step_one(state, d):
        def chain(s):
            def body(s, _):
                s = sample_kernel(s, model_args=(d,))
                return s, (s.z, s.diverging, s.num_steps, s.accept_prob)
            s, out = jax.lax.scan(body, s, None, length=inf.chunk)
            per, mu_sum, c_sum = L.derive_many(out[0], d, fns, spec.model, spec.priors)
            return s, out + (per, mu_sum, c_sum, s.adapt_state.step_size)
        return jax.vmap(chain)(state)

    starts = jax.jit(jax.vmap(lambda k, lap, d: start_points(k, lap, d, fns, spec)))
    key, types = (spec, fns_key, block), (ModelData, L.Laplace, HMCState, HMCAdaptState)
    return (persistent("nuts_starts", starts, key, types),
            persistent("nuts_init", jax.jit(jax.vmap(init_one)), key, types),
            persistent("nuts_step", jax.jit(jax.vmap(step_one)), key, types))


def draws_mass(z: np.ndarray, dense: bool) -> np.ndarray:
    """Inverse mass matrix from draws ``[C, D, P]``: their covariance (regularised as Stan does)."""
    x = z.reshape(-1, z.shape[-1]).astype(np.float64)
    n = x.shape[0]
    cov = np.cov(x, rowvar=False) if dense else np.var(x, axis=0, ddof=1)
    shrink = n / (n + 5.0)
    if dense:
        return (shrink * cov + (1 - shrink) * 1e-3 * np.eye(cov.shape[0])).astype(z.dtype)
    return (shrink * cov + (1 - shrink) * 1e-3).astype(z.dtype)


def _blocks(n: int, size: int) -> list:
    """Consecutive index blocks of ``size`` covering ``0..n-1``; the last may be shorter (no fillers)."""
    return [np.arange(i, min(i + size, n)) for i in range(0, n, size)]


def check_bar(u: np.ndarray, roi: np.ndarray, real: np.ndarray, bar: tuple) -> tuple[bool, list]:
    """The quality bar on draws ``u [C, D, P]``: every ROI coordinate (any monotone transform of
    the ROI: ranks decide) at R-hat <= ``bar[0]`` and bulk ESS >= ``bar[1]``, every real coordinate
    at R-hat <= ``bar[2]``. Bulk ESS is :func:`ess_bulk_numpy` (ArviZ's to 1e-6, without its
    xarray round trip). Returns ``(met, reasons)``."""
    r, e = rhat_bulk(u[..., real]), ess_bulk_numpy(u[..., roi])
    r_roi = r[np.cumsum(real)[roi] - 1]          # the ROI coordinates are real ones: their R-hat is in r
    reasons = []
    if not np.all(r_roi <= bar[0]):
        reasons.append(f"ROI R-hat {np.nanmax(r_roi):.3f} > {bar[0]}")
    if not np.all(e >= bar[1]):
        reasons.append(f"ROI bulk ESS {np.nanmin(e):.0f} < {bar[1]:.0f}")
    if not np.all(r <= bar[2]):
        reasons.append(f"R-hat {np.nanmax(r):.3f} > {bar[2]} (all parameters)")
    return not reasons, reasons


def bar_met(u: np.ndarray, roi: np.ndarray, real: np.ndarray, bar: tuple) -> bool:
    """:func:`check_bar`'s verdict, computed the same way, but the ROI bulk ESS first: while it
    is short of the bar (most checks of a run) the R-hat of every real coordinate, several times
    dearer, is not computed."""
    if not np.all(ess_bulk_numpy(u[..., roi]) >= bar[1]):
        return False
    return check_bar(u, roi, real, bar)[0]


def _warm_and_draw(state, data, step, idx, coords, inf, n_warm: int, final: bool = False, on_chunk=None):
    """Warm up, then draw chunks until the bar holds for every dataset of the block.

    Returns ``(chunks, None)`` when the run ends (bar met, or the cap), or ``(None, chunks)`` when
    ``readapt_after`` draws per chain have not met the bar and the caller should re-adapt
    (never when ``final``). ``on_chunk(iterations)`` is called after every chunk with this run's
    iterations per chain so far (warm-up included).
    """
    tick = on_chunk or (lambda n: None)
    for w in range(n_warm // inf.chunk):
        state, _ = step(state, data)
        tick((w + 1) * inf.chunk)
    chunks = []
    while True:
        state, out = step(state, data)
        chunks.append(jax.device_get(out))
        n_draws = len(chunks) * inf.chunk
        tick(n_warm + n_draws)
        if n_draws >= inf.draws:
            return chunks, None
        if n_draws < inf.min_draws or not inf.adaptive:
            continue
        z = np.concatenate([c[0] for c in chunks], axis=2)                       # [b, C, D, P]
        if all(bar_met(z[j], *coords[i], inf.bar) for j, i in enumerate(idx)):
            return chunks, None
        if not final and inf.readapt_after and n_draws >= inf.readapt_after:
            return None, chunks


@register("nuts")
def sample(keys, lap: L.Laplace, batch, fns_key, spec: FitSpec, progress=None) -> Draws:
    """NUTS draws of every dataset, each run until its ROIs meet the quality bar (or the cap).

    ``progress(n_done)`` is called as blocks finish, and ``progress(n_done, step=(it, cap))`` after
    every chunk of the running block: ``it`` iterations per chain so far (warm-up included) out of
    at most ``cap`` (warm-up + ``draws``; a re-adapted block's cap grows by its first run).
    """
    inf = spec.inference
    spec = replace(spec, calibration=CalibrationSpec())      # calibration lives in the data
    fns = L.model_fns_of(fns_key)
    coords = [(L.roi_coordinates(fns, m), L.real_coordinates(fns, m, dl))
              for m, dl in zip(np.asarray(batch.data.channel_mask), np.asarray(batch.data.delayed))]
    n = keys.shape[0]
    n_warm = warmup_iterations(spec)
    per_ds = [None] * n
    seconds = np.zeros(n)
    n_restarts = np.zeros(n, int)
    done = 0
    for idx in _blocks(n, inf.lockstep):
        starts_fn, init, step = _programs(spec, fns_key, len(idx))
        t0 = time.perf_counter()
        data = L.take(batch.data, idx)
        k_start, k_init, k_again = jax.vmap(lambda k: jax.random.split(k, 3))(keys[idx]).transpose(1, 0)
        starts, inv_mass = starts_fn(k_start, L.take(lap, idx), data)
        state = init(k_init, starts, inv_mass, data)
        cap = n_warm + inf.draws
        tick = (lambda it: progress(done, step=(it, cap))) if progress else None
        chunks, readapted = _warm_and_draw(state, data, step, idx, coords, inf, n_warm, on_chunk=tick)
        if chunks is None:
            # The bar was not met by ``readapt_after`` draws: the draws so far become warm-up.
            # Restart every chain where it stands, with the draws' covariance as the mass matrix.
            z = np.concatenate([c[0] for c in readapted], axis=2)                 # [b, C, D, P]
            last = z[:, :, -1]
            mass = np.stack([draws_mass(z[j], inf.dense_mass) for j in range(len(idx))])
            state = init(k_again, jnp.asarray(last), jnp.asarray(mass), data)
            first = n_warm + sum(c[0].shape[2] for c in readapted)       # iterations of the first run
            tick = (lambda it: progress(done, step=(first + it, first + cap))) if progress else None
            chunks, _ = _warm_and_draw(state, data, step, idx, coords, inf, n_warm, final=True, on_chunk=tick)
            n_restarts[idx] = 1
        dt = (time.perf_counter() - t0) / len(idx)
        cat = lambda pos: np.concatenate([c[pos] for c in chunks], axis=2)    # draw axis of [b, C, D, ...]
        z, div, steps, acc = cat(0), cat(1), cat(2), cat(3)
        params = {k: np.concatenate([c[4][0][k] for c in chunks], axis=2) for k in chunks[0][4][0]}
        share, lag, beta = (np.concatenate([c[4][i][:] for c in chunks], axis=2) for i in (1, 2, 3))
        n_total = inf.chains * z.shape[2]
        mu = sum(c[5] for c in chunks).sum(1) / n_total                      # [b, T]
        contrib = sum(c[6] for c in chunks).sum(1) / n_total                 # [b, T, K]
        step_size = chunks[-1][7]                                           # [b, C]
        for j, i in enumerate(idx):
            per_ds[i] = dict(u=z[j], params={k: v[j] for k, v in params.items()}, share=share[j], lag=lag[j],
                             beta=beta[j], mu=mu[j], contrib=contrib[j], div=div[j], steps=steps[j], acc=acc[j],
                             step_size=step_size[j])
            seconds[i] = dt
        done += len(idx)
        if progress:
            progress(done)
    pad = lambda name, fill=np.nan: pad_draws([np.asarray(r[name]) for r in per_ds], fill)
    return Draws(
        u=pad("u"), params={k: pad_draws([r["params"][k] for r in per_ds], np.nan) for k in per_ds[0]["params"]},
        share=pad("share"), lag_days=pad("lag"), beta=pad("beta"),
        mu_mean=np.stack([r["mu"] for r in per_ds]), contrib_mean=np.stack([r["contrib"] for r in per_ds]),
        n_draws=np.array([r["u"].shape[1] for r in per_ds]), diverging=pad("div", False), num_steps=pad("steps", 0),
        accept_prob=pad("acc"), step_size=np.stack([r["step_size"] for r in per_ds]), seconds=seconds, sampled=True,
        restarts=n_restarts)
