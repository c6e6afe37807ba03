"""The budget optimiser: split a weekly budget over channels to maximise the response.

One optimiser serves the truth's optimum (``simulate``) and the model's recommendation
(``estimators``), so that budget regret measures the model and not two optimisers.

Problem (``K`` channels, separable response)::

    maximise   sum_k f_k(b_k)
    subject to sum_k b_k = B,   lo_k <= b_k <= hi_k

Method, coarse to fine: an exact dynamic programme on a grid of ``n_grid`` units of the
free budget ``B - sum lo`` (global on that grid even for S-shaped curves), then
``refinements`` more programmes of ``n_fine`` units inside a window of two units either
side of the previous answer. With the defaults (400, then 3 x 100) the answer is resolved
to about ``4e-6`` of the free budget for six channels. Everything is jnp and jit-able,
and :func:`optimise_batch` runs many problems in one vmapped call.

``f`` maps spend ``[M, K]`` to per-channel response ``[M, K]``; since the problem is
separable only its diagonal use matters (row ``m`` of channel ``k`` is ``f_k`` at that
row's ``k``-th entry).
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from harness.errors import ConfigError


class Allocation(NamedTuple):
    """Optimal weekly spend ``[..., K]``, its per-channel response ``[..., K]`` and total ``[...]``."""

    spend: jnp.ndarray
    response: jnp.ndarray
    total: jnp.ndarray


def check_bounds(budget: float, lower, upper) -> None:
    """Raise :class:`ConfigError` when the bounds cannot hold the budget (host-side, numpy)."""
    lower, upper = np.asarray(lower, np.float64), np.asarray(upper, np.float64)
    if lower.shape != upper.shape or lower.ndim < 1:
        raise ConfigError("bounds", "floors and ceilings must be [..., K] arrays of equal shape")
    if np.any(lower < 0) or np.any(upper < lower):
        raise ConfigError("bounds", "need 0 <= floor <= ceiling for every channel")
    budget = np.asarray(budget, np.float64)
    tol = 1e-9 * np.maximum(1.0, np.abs(budget))
    lo_sum, hi_sum = lower.sum(-1), upper.sum(-1)
    if np.any(budget < lo_sum - tol) or np.any(budget > hi_sum + tol):
        raise ConfigError("budget", f"{np.ravel(budget)[0]:g} is outside [sum of floors, sum of ceilings] "
                          f"= [{np.ravel(lo_sum)[0]:g}, {np.ravel(hi_sum)[0]:g}]")


def _dp(values):
    """Max-plus DP: integer units per channel maximising ``sum_k values[k, u_k]`` with ``sum u = M``.

    Args:
        values: ``[K, M+1]`` (``-inf`` where infeasible).
    Returns:
        units ``[K]`` (int).
    """
    n_k, m1 = values.shape
    j = jnp.arange(m1)

    def step(best, v):
        # cand[m, u] = best[m - u] + v[u]: rows of a Toeplitz matrix cut from the padded best
        # (dynamic slices; 2.5x faster on the CPU than one gather with an index matrix).
        padded = jnp.concatenate([jnp.full(m1 - 1, -jnp.inf, best.dtype), best])
        shifted = jax.vmap(lambda u: jax.lax.dynamic_slice(padded, (m1 - 1 - u,), (m1,)))(j).T
        cand = shifted + v[None, :]
        return jnp.max(cand, axis=1), jnp.argmax(cand, axis=1)

    best0 = values[0]
    _, args = jax.lax.scan(step, best0, values[1:])                  # args [K-1, M+1]

    def back(rem, arg):
        u = arg[rem]
        return rem - u, u

    rem, units_rev = jax.lax.scan(back, jnp.asarray(m1 - 1), args, reverse=True)
    return jnp.concatenate([rem[None], units_rev])


def _stage(f, budget, lower, upper, n_grid: int):
    """One grid DP inside ``[lower, upper]``; returns a feasible allocation ``[K]``."""
    free = budget - lower.sum()
    unit = jnp.maximum(free, 0.0) / n_grid
    grid = jnp.arange(n_grid + 1, dtype=lower.dtype)
    pts = lower[None, :] + grid[:, None] * unit                      # [M+1, K]
    # A channel may take up to ceil(range / unit) units: the grid always holds the budget;
    # the overshoot (< 1 unit) is clipped and handed to channels with room below.
    cap = jnp.ceil((upper - lower) / jnp.maximum(unit, 1e-300) - 1e-9)
    vals = jnp.where(grid[None, :] <= cap[:, None], f(pts).T, -jnp.inf)   # [K, M+1]
    b = lower + _dp(vals) * unit
    b = jnp.where(free > 0, b, lower)
    b = jnp.minimum(b, upper)
    room = upper - b
    short = jnp.maximum(budget - b.sum(), 0.0)
    return b + room * short / jnp.maximum(room.sum(), 1e-300)


def optimise(f: Callable, budget, lower, upper, n_grid: int = 400, n_fine: int = 100,
             refinements: int = 3) -> Allocation:
    """Maximise ``sum_k f(b)[k]`` subject to ``sum b = budget`` and ``lower <= b <= upper``.

    Args:
        f: separable response, jnp ``[M, K] -> [M, K]``.
        budget: total weekly budget ``B`` (scalar).
        lower, upper: per-channel floors and ceilings ``[K]``; check them with
            :func:`check_bounds` first (inside a trace they cannot raise).
        n_grid: grid units of the first (global) stage's free budget.
        n_fine: grid units of each refinement stage.
        refinements: finer stages after the first.
    Returns:
        an :class:`Allocation`.
    """
    lower = jnp.asarray(lower)
    upper = jnp.asarray(upper)
    budget = jnp.asarray(budget, lower.dtype)
    b = _stage(f, budget, lower, upper, n_grid)
    unit = jnp.maximum(budget - lower.sum(), 0.0) / n_grid
    for _ in range(refinements):
        lo = jnp.maximum(lower, b - 2.0 * unit)
        hi = jnp.minimum(upper, b + 2.0 * unit)
        b = _stage(f, budget, lo, hi, n_fine)
        unit = jnp.maximum(budget - lo.sum(), 0.0) / n_fine
    r = f(b[None])[0]
    return Allocation(b, r, r.sum())


@partial(jax.jit, static_argnums=(0, 5, 6, 7))
def optimise_batch(response: Callable, params, budget, lower, upper, n_grid: int = 400,
                   n_fine: int = 100, refinements: int = 3) -> Allocation:
    """:func:`optimise` over a batch of problems in one compiled call.

    Args:
        response: ``response(params_i, b [M, K]) -> [M, K]`` for one problem's parameters
            (a hashable function: it is a static argument).
        params: a pytree whose leaves have a leading batch axis ``N``.
        budget: ``[N]``; lower, upper: ``[N, K]``.
    Returns:
        an :class:`Allocation` with leading axis ``N``.
    """
    one = lambda p, bud, lo, hi: optimise(partial(response, p), bud, lo, hi, n_grid, n_fine, refinements)
    return jax.vmap(one)(params, budget, lower, upper)
