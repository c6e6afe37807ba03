"""Persistent JAX compilation cache under ``<repo>/.jax_cache`` (override with ``MMM_JAX_CACHE``)."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> str:
    """The compilation cache folder: ``MMM_JAX_CACHE``, or ``.jax_cache`` in the repository."""
    return os.environ.get("MMM_JAX_CACHE") or str(Path(__file__).resolve().parents[1] / ".jax_cache")


def enable_cache() -> str:
    """Point JAX's persistent compilation cache at the project cache folder; returns the path."""
    import jax

    path = cache_dir()
    Path(path).mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return path
