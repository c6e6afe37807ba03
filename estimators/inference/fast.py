"""The fast path: draws from the Laplace approximation at the MAP (``inference=fast``).

Vmapped over fixed blocks of :data:`estimators.inference.laplace.MAP_BLOCK` datasets; the
last block is filled with copies of its last dataset, whose draws are discarded.
"""
from __future__ import annotations

import time
from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

from common.blocks import run_blocked
from estimators.inference import laplace as L
from estimators.inference.methods import Draws, register
from estimators.model.batch import ModelData
from estimators.model.spec import FitSpec
from harness.programs import persistent


@lru_cache(maxsize=16)
def _program(spec: FitSpec, fns_key, n_draws: int):
    fns = L.model_fns_of(fns_key)

    def one(key, lap: L.Laplace, d):
        eps = jax.random.normal(key, (n_draws, fns.dim), lap.u.dtype)
        u = lap.u + eps @ lap.chol.T                                       # [S, P]
        per, mu_sum, c_sum = L.derive_many(u, d, fns, spec.model, spec.priors)
        return u, per, mu_sum / n_draws, c_sum / n_draws

    return persistent("fast", jax.jit(jax.vmap(one)), (spec, fns_key, n_draws), (ModelData, L.Laplace))


@register("fast")
def sample(keys, lap: L.Laplace, batch, fns_key, spec: FitSpec, progress=None) -> Draws:
    """Laplace draws of every dataset (``inference.laplace_draws`` each, one chain)."""
    n = keys.shape[0]
    s = spec.inference.laplace_draws
    program = _program(L.map_key(spec), fns_key, s)
    t0 = time.perf_counter()
    u, per, mu, contrib = run_blocked(program, (keys, lap, batch.data), L.MAP_BLOCK)
    seconds = (time.perf_counter() - t0) / n
    if progress:
        progress(n)
    params, share, lag, beta = per
    chain = lambda a: np.asarray(a)[:, None]                              # one chain
    zeros = np.zeros((n, 1, s))
    return Draws(u=chain(u), params={k: chain(v) for k, v in params.items()}, share=chain(share),
                 lag_days=chain(lag), beta=chain(beta), mu_mean=np.asarray(mu), contrib_mean=np.asarray(contrib),
                 n_draws=np.full(n, s), diverging=zeros.astype(bool), num_steps=zeros, accept_prob=zeros + 1.0,
                 step_size=np.full((n, 1), np.nan), seconds=np.full(n, seconds), sampled=False)
