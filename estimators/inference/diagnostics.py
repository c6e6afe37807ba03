"""MCMC diagnostics: rank-normalised split R-hat and bulk ESS (Vehtari et al. 2021).

R-hat is computed here in numpy and agrees with ArviZ's ``rhat(method="rank")`` to 1e-6
(``tests/estimators/test_arviz.py``); bulk ESS is ArviZ's ``ess(method="bulk")`` itself (it splits
chains before rank-normalising, which numpyro's ``effective_sample_size`` does not; the two
differed by up to ~7%)."""
from __future__ import annotations

import numpy as np
from numpyro.diagnostics import split_gelman_rubin
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


def _arviz():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)     # ArviZ 0.2x announces its 1.0 refactor
        import arviz

    return arviz


def ess_bulk(x: np.ndarray) -> np.ndarray:
    """Bulk effective sample size of draws ``[C, D, ...]``: ArviZ's ``ess(method="bulk")``
    (split chains, rank-normalised). Returns ``[...]``."""
    x = np.asarray(x, np.float64)
    az = _arviz()
    with np.errstate(invalid="ignore", divide="ignore"):
        ds = az.convert_to_dataset({"x": x})
        return np.asarray(az.ess(ds, method="bulk")["x"].values, np.float64).reshape(x.shape[2:])
