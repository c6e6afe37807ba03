"""Fixed-size blocks for vmapped programs: one compiled shape, and results independent of the batch.

A vmapped program compiled for ``size`` lanes computes each lane from its own inputs only, so
calling it on consecutive blocks of ``size`` rows (the last block filled with copies of its last
row, whose outputs are dropped) gives every row the same bits whatever batch it came in, and
compiles once for every batch size.
"""
from __future__ import annotations

from typing import Callable

import jax
import numpy as np


def block_indices(n: int, size: int) -> list:
    """Index arrays covering ``0..n-1`` in blocks of ``size``; the last block repeats its last index."""
    return [np.minimum(np.arange(i, i + size), n - 1) for i in range(0, n, size)]


def run_blocked(program: Callable, args: tuple, size: int, n: int | None = None, shared: tuple = ()):
    """``program(*block_args, *shared)`` over fixed-size blocks; outputs concatenated along axis 0.

    Args:
        program: a jitted, vmapped function whose outputs have a leading axis of ``size``.
        args: pytrees whose leaves have a leading axis of ``n`` rows (numpy or jnp).
        size: rows per call.
        n: rows (default: the first leaf's length).
        shared: further arguments passed unchanged to every call.
    Returns:
        the outputs' pytree with leading axis ``n`` (numpy).
    """
    leaves = jax.tree.leaves(args)
    n = int(leaves[0].shape[0]) if n is None else n
    outs = [jax.device_get(program(*jax.tree.map(lambda a: a[idx], args), *shared))
            for idx in block_indices(n, size)]
    return jax.tree.map(lambda *a: np.concatenate([np.asarray(x) for x in a])[:n], *outs)
