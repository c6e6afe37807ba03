"""The registry of inference methods.

A method is one function plus one YAML file (``conf/inference/<name>.yaml``, whose ``method``
key names it)::

    @register("name")
    def sample(keys, lap, batch, fns_key, spec, progress=None) -> Draws: ...

It receives one PRNG key per dataset ``[N]``, the MAP + Laplace approximation of every dataset
(:class:`estimators.inference.laplace.Laplace`, numpy ``[N, ...]``), the padded batch, the key
of the model's unconstrained layout (:func:`estimators.inference.laplace.model_fns_of`) and the
validated spec, and returns :class:`Draws`. ``progress(n)`` may be called with the number of
datasets finished so far, and a method that samples in steps may also call
``progress(n, step=(done, cap))`` with the running block's iterations per chain out of its cap. The built-in methods register themselves on import:
``fast`` (:mod:`estimators.inference.fast`) and ``nuts`` (:mod:`estimators.inference.nuts`).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np


class Draws(NamedTuple):
    """Draws of a batch of ``N`` datasets (numpy). Dataset ``i`` holds ``n_draws[i]`` draws per chain;
    the draw axis is padded to the batch's longest run with NaN (``False`` / 0 for the flags).

    Attributes:
        u: ``[N, C, D, P]`` unconstrained draws.
        params: constrained parameters on the scaled problem, ``{name: [N, C, D, ...]}``.
        share, lag_days, beta: ``[N, C, D, K]`` per-draw media share, lag window (days) and
            response scale (scaled KPI units).
        mu_mean: ``[N, T]`` posterior mean of the expected scaled KPI.
        contrib_mean: ``[N, T, K]`` posterior mean of the scaled contributions.
        n_draws: ``[N]`` draws per chain.
        diverging, num_steps, accept_prob: ``[N, C, D]`` sampler statistics (zeros / ones when
            the method has none).
        step_size: ``[N, C]`` adapted step size (NaN when undefined).
        seconds: ``[N]`` wall seconds of each dataset's draws (its share of a vectorised call).
        sampled: True for an MCMC method (R-hat and ESS are defined).
        restarts: ``[N]`` times the sampler re-adapted and restarted (0 when it has no such step).
    """

    u: np.ndarray
    params: dict
    share: np.ndarray
    lag_days: np.ndarray
    beta: np.ndarray
    mu_mean: np.ndarray
    contrib_mean: np.ndarray
    n_draws: np.ndarray
    diverging: np.ndarray
    num_steps: np.ndarray
    accept_prob: np.ndarray
    step_size: np.ndarray
    seconds: np.ndarray
    sampled: bool
    restarts: np.ndarray | None = None


METHODS: dict[str, Callable] = {}


def register(name: str):
    """Decorator: register an inference method under ``name``."""
    def deco(fn: Callable) -> Callable:
        METHODS[name] = fn
        return fn
    return deco


def pad_draws(arrays: list, fill) -> np.ndarray:
    """Stack per-dataset ``[C, D_i, ...]`` arrays into ``[N, C, max D_i, ...]``, padding with ``fill``."""
    d_max = max(a.shape[1] for a in arrays)
    out = []
    for a in arrays:
        width = [(0, 0), (0, d_max - a.shape[1])] + [(0, 0)] * (a.ndim - 2)
        out.append(np.pad(a, width, constant_values=fill))
    return np.stack(out)


# The built-in methods (imported last: they register themselves with the decorator above).
from estimators.inference import fast as _fast  # noqa: E402,F401
from estimators.inference import nuts as _nuts  # noqa: E402,F401
