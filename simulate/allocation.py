"""The true optimal allocation of a weekly budget across channels.

Response curves may be S-shaped (Hill slope > 1), so local methods get stuck.
The objective is separable (``sum_k R_k(b_k)``), so a dynamic programme over a
fine grid of budget units finds the global optimum on that grid; SLSQP then
polishes it off the grid. Numpy/scipy; not traced.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.optimize import minimize


def _grid_optimum(values: np.ndarray) -> np.ndarray:
    """Best split of ``M`` units over channels: ``values[k, j]`` = response of channel k with j units.

    Args:
        values: ``[K, M+1]``, ``-inf`` where infeasible.
    Returns:
        units per channel, ``[K]`` integers summing to ``M``.
    """
    n_k, m1 = values.shape
    j = np.arange(m1)
    # best[m] = best total of channels < k using m units; choice[k, m] = units given to channel k.
    best = np.full(m1, -np.inf)
    best[0] = 0.0
    choice = np.zeros((n_k, m1), int)
    for k in range(n_k):
        # cand[m, u] = best[m - u] + values[k, u] for u <= m
        diff = j[:, None] - j[None, :]
        prev = np.where(diff >= 0, best[np.clip(diff, 0, None)], -np.inf)
        cand = prev + values[k][None, :]
        choice[k] = np.argmax(cand, axis=1)
        best = cand[j, choice[k]]
    units = np.zeros(n_k, int)
    m = m1 - 1
    for k in range(n_k - 1, -1, -1):
        units[k] = choice[k, m]
        m -= units[k]
    return units


def optimal_allocation(response: Callable[[np.ndarray], np.ndarray], budget: float,
                       lower: np.ndarray, upper: np.ndarray, n_units: int = 400) -> np.ndarray:
    """Maximise ``sum_k response(b)_k`` subject to ``sum b = budget``, ``lower <= b <= upper``.

    Args:
        response: separable response, maps spend ``[M, K]`` to per-channel response ``[M, K]``.
        budget: total weekly budget.
        lower, upper: per-channel bounds, ``[K]``.
        n_units: grid resolution of the dynamic programme.
    Returns:
        the allocation ``[K]``.
    Raises:
        ValueError: when the bounds cannot meet the budget.
    """
    lower = np.asarray(lower, float)
    upper = np.asarray(upper, float)
    free = budget - lower.sum()
    if free < -1e-9 * max(budget, 1.0) or upper.sum() < budget * (1 - 1e-9):
        raise ValueError(f"budget {budget:.6g} is outside the bounds' range "
                         f"[{lower.sum():.6g}, {upper.sum():.6g}]")
    free = max(free, 0.0)
    unit = free / n_units
    spend = lower[:, None] + unit * np.arange(n_units + 1)[None, :]          # [K, M+1]
    values = response(spend.T).T                                            # [K, M+1]
    values = np.where(spend <= upper[:, None] * (1 + 1e-12), values, -np.inf)
    # Channels whose ceiling falls between grid points keep their ceiling reachable.
    b = lower + unit * _grid_optimum(values)
    b = np.minimum(b, upper)
    gap = budget - b.sum()
    if gap > 0:
        room = upper - b
        b = b + room * gap / max(room.sum(), 1e-300)

    def total(x):
        return float(np.sum(response(np.atleast_2d(x))))

    scale = max(budget, 1e-12)
    res = minimize(lambda z: -total(z * scale) / scale, b / scale, method="SLSQP",
                   bounds=list(zip(lower / scale, upper / scale)),
                   constraints=[{"type": "eq", "fun": lambda z: z.sum() - budget / scale}],
                   options={"ftol": 1e-14, "maxiter": 300})
    cand = np.clip(res.x * scale, lower, upper)
    if abs(cand.sum() - budget) <= 1e-7 * scale and total(cand) > total(b):
        return cand
    return b
