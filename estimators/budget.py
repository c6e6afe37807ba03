"""Budget optimiser: split a weekly budget over channels to maximise expected response.

Problem (``K`` channels, separable response)::

    maximise   sum_k f_k(b_k)
    subject to sum_k b_k = B,   lo_k <= b_k <= hi_k

Method: exact dynamic programming on a grid of the free budget ``B - sum lo``
(``n_grid`` units; global on the grid even for S-shaped curves), then a
continuous polish by pairwise transfers between channels (vectorised line
search around the grid optimum). Response curves come from a posterior via
:func:`posterior_response`: the mean over draws (expected response) or, for a
risk-averse plan, each channel's ``q``-quantile curve over draws (a separable,
conservative surrogate of the quantile of total response).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from harness.errors import ConfigError


class Allocation(NamedTuple):
    """Optimal weekly spend ``[K]``, its response ``[K]`` and total."""

    spend: np.ndarray
    response: np.ndarray
    total: float


def hill_np(x, half, slope):
    """Hill saturation in float64 numpy (same formula as :func:`simulate.transforms.hill`)."""
    x = np.maximum(np.asarray(x, np.float64), 0.0)
    with np.errstate(divide="ignore"):
        z = slope * (np.log(np.maximum(x, 1e-300)) - np.log(half))
    return np.where(x > 0, 0.5 * (1.0 + np.tanh(0.5 * z)), 0.0)


def posterior_response(beta: np.ndarray, half: np.ndarray, slope: np.ndarray,
                       quantile: float | None = None) -> Callable:
    """Steady-state response per channel from posterior draws.

    Args:
        beta, half, slope: draws ``[S, K]`` (KPI per week at saturation, half-saturation
            in weekly spend, Hill slope), e.g. ``Posterior.beta[i].reshape(-1, K)``.
        quantile: None for the mean over draws; ``q`` in (0, 1) for each channel's
            ``q``-quantile curve (risk-averse when ``q < 0.5``).
    Returns:
        ``f(b [M, K]) -> [M, K]`` weekly response.
    """
    beta, half, slope = (np.asarray(a, np.float64) for a in (beta, half, slope))
    if quantile is not None and not 0.0 < quantile < 1.0:
        raise ConfigError("quantile", "must be in (0, 1)")

    def f(b):
        b = np.atleast_2d(np.asarray(b, np.float64))
        r = beta[:, None, :] * hill_np(b[None], half[:, None, :], slope[:, None, :])
        return r.mean(0) if quantile is None else np.quantile(r, quantile, axis=0)

    return f


def _check(budget, lower, upper):
    lower = np.asarray(lower, np.float64)
    upper = np.asarray(upper, np.float64)
    if lower.shape != upper.shape or lower.ndim != 1:
        raise ConfigError("bounds", "floors and ceilings must be [K] vectors of equal length")
    if np.any(lower < 0) or np.any(upper < lower):
        raise ConfigError("bounds", "need 0 <= floor <= ceiling for every channel")
    tol = 1e-9 * max(1.0, abs(budget))
    if budget < lower.sum() - tol or budget > upper.sum() + tol:
        raise ConfigError("budget", f"{budget:g} is outside [sum of floors {lower.sum():g}, "
                          f"sum of ceilings {upper.sum():g}]")
    return lower, upper


def _dp(values: list, n: int) -> np.ndarray:
    """Max-plus DP: units per channel maximising sum_k values[k][units_k] with sum = n."""
    n_k = len(values)
    neg = -np.inf
    best = np.full(n + 1, neg)
    best[: min(n, len(values[0]) - 1) + 1] = values[0][: n + 1]
    choice = []
    j = np.arange(n + 1)
    for k in range(1, n_k):
        v = values[k]
        i = np.arange(len(v))
        prev_idx = j[:, None] - i[None, :]                        # [n+1, I]
        cand = np.where(prev_idx >= 0, best[np.clip(prev_idx, 0, n)] + v[None, :], neg)
        arg = np.argmax(cand, axis=1)
        choice.append(arg)
        best = cand[j, arg]
    units = np.zeros(n_k, int)
    rem = n
    for k in range(n_k - 1, 0, -1):
        units[k] = choice[k - 1][rem]
        rem -= units[k]
    units[0] = rem
    return units


def _polish(f: Callable, b: np.ndarray, lower, upper, step: float, sweeps: int = 6, points: int = 33):
    """Pairwise transfers: move up to ``step`` from channel j to i when it raises the total."""
    k = b.shape[0]
    total = f(b[None])[0].sum()
    for _ in range(sweeps):
        improved = False
        for i in range(k):
            for j in range(k):
                if i == j:
                    continue
                hi = min(step, upper[i] - b[i], b[j] - lower[j])
                if hi <= 0:
                    continue
                d = np.linspace(0.0, hi, points)
                cand = np.repeat(b[None], points, 0)
                cand[:, i] += d
                cand[:, j] -= d
                val = f(cand).sum(-1)
                m = int(np.argmax(val))
                if val[m] > total * (1 + 1e-12) + 1e-12:
                    b, total, improved = cand[m], val[m], True
        step *= 0.5
        if not improved and step < 1e-9 * max(1.0, b.sum()):
            break
    return b


def optimise(f: Callable, budget: float, lower, upper, n_grid: int = 1000,
             polish: bool = True) -> Allocation:
    """Maximise ``sum_k f(b)[k]`` subject to ``sum b = budget`` and ``lower <= b <= upper``.

    Args:
        f: separable response, ``[M, K] -> [M, K]`` (vectorised over rows).
        budget: total weekly budget ``B``.
        lower, upper: per-channel floors and ceilings ``[K]``.
        n_grid: grid units of the free budget for the DP.
        polish: refine the grid optimum continuously.
    Returns:
        an :class:`Allocation`; bounds and the budget hold to rounding.
    Raises:
        ConfigError: infeasible bounds or budget.
    """
    lower, upper = _check(float(budget), lower, upper)
    free = float(budget) - lower.sum()
    n_k = lower.shape[0]
    if free <= 0:
        b = lower.copy()
    else:
        unit = free / n_grid
        caps = np.minimum(np.floor((upper - lower) / unit + 1e-9).astype(int), n_grid)
        grid = np.arange(n_grid + 1)
        vals = []
        for k in range(n_k):
            pts = np.repeat(lower[None], caps[k] + 1, 0)
            pts[:, k] = lower[k] + grid[: caps[k] + 1] * unit
            vals.append(f(pts)[:, k])
        if caps.sum() < n_grid:   # ceilings not multiples of the unit: fill greedily below
            units = np.minimum(caps, n_grid)
        else:
            units = _dp(vals, n_grid)
        b = lower + units * unit
        short = float(budget) - b.sum()
        if short > 0:             # spread leftovers (rounding of ceilings) over free room
            room = upper - b
            b = b + room * (short / max(room.sum(), 1e-300))
        if polish:
            b = _polish(f, b, lower, upper, step=2 * unit)
    b = np.clip(b, lower, upper)
    r = f(b[None])[0]
    return Allocation(b, r, float(r.sum()))
