"""MCMC diagnostics: rank-normalised split R-hat and bulk ESS (Vehtari et al. 2021), in numpy."""
from __future__ import annotations

import numpy as np
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin
from scipy.special import ndtri
from scipy.stats import rankdata


def _rank_normal(x: np.ndarray) -> np.ndarray:
    """Rank-normalise draws ``[C, D, ...]`` jointly over chains and draws."""
    c, d = x.shape[:2]
    flat = x.reshape(c * d, -1)
    r = rankdata(flat, axis=0, method="average")
    z = ndtri((r - 0.375) / (c * d + 0.25))
    return z.reshape(x.shape)


def rhat_bulk(x: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat, max of bulk and folded (tail) versions.

    Args:
        x: draws ``[C, D, ...]`` (``C >= 1``; chains are split in halves).
    Returns:
        R-hat ``[...]`` (NaN where a parameter is constant).
    """
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = _rank_normal(x)
        folded = _rank_normal(np.abs(x - np.median(x.reshape(-1, *x.shape[2:]), axis=0)))
        return np.maximum(split_gelman_rubin(z), split_gelman_rubin(folded))


def ess_bulk(x: np.ndarray) -> np.ndarray:
    """Bulk effective sample size of draws ``[C, D, ...]`` (rank-normalised)."""
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return effective_sample_size(_rank_normal(x))
