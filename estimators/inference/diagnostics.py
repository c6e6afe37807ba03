"""MCMC diagnostics: rank-normalised split R-hat and bulk ESS (Vehtari et al. 2021).

Both are computed here in numpy, vectorised over parameters, and agree with ArviZ's
``rhat(method="rank")`` and ``ess(method="bulk")`` to 1e-6 (``tests/estimators/test_arviz.py``,
random draws including short and odd-length chains). Bulk ESS splits chains before
rank-normalising, as ArviZ does and numpyro's ``effective_sample_size`` does not (the two
differed by up to ~7%). :func:`ess_bulk` is ArviZ's own, kept for the reported columns (one
call per fit, so ``fits.parquet`` keeps ArviZ's bits); the quality-bar check of NUTS
(:func:`estimators.inference.nuts.check_bar`, after every chunk) uses :func:`ess_bulk_numpy`,
about a sixth of ArviZ's cost per call (its xarray round trip)."""
from __future__ import annotations

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata


def _rank_normal(x: np.ndarray) -> np.ndarray:
    """Rank-normalise draws ``[C, D, ...]`` jointly over chains and draws."""
    c, d = x.shape[:2]
    flat = x.reshape(c * d, -1)
    r = rankdata(flat, axis=0, method="average")
    z = ndtri((r - 0.375) / (c * d + 0.25))
    return z.reshape(x.shape)


def _split(x: np.ndarray) -> np.ndarray:
    """Split every chain in halves: ``[C, D, ...] -> [2C, D // 2, ...]`` (the middle draw of an
    odd-length chain is left out, as ArviZ does)."""
    h = x.shape[1] // 2
    return np.concatenate([x[:, :h], x[:, x.shape[1] - h:]], axis=0)


def _gelman_rubin(z: np.ndarray) -> np.ndarray:
    """Potential scale reduction of chains ``[M, N, ...]`` (between / within chain variances)."""
    n = z.shape[1]
    between = n * np.var(z.mean(1), axis=0, ddof=1)
    within = np.var(z, axis=1, ddof=1).mean(0)
    return np.sqrt((between / within + n - 1) / n)


def rhat_bulk(x: np.ndarray) -> np.ndarray:
    """Rank-normalised split R-hat (Vehtari et al. 2021), the larger of the bulk and the folded
    (tail) versions: chains are split in halves, then rank-normalised jointly.

    Agrees with ``arviz.rhat(method="rank")`` to 1e-6 for 2 or more chains (tested); with one
    chain ArviZ gives NaN, and this gives the split-chain value of its two halves.

    Args:
        x: draws ``[C, D, ...]`` (``D >= 4``).
    Returns:
        R-hat ``[...]`` (NaN where a parameter is constant).
    """
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = _split(x)
        bulk = _gelman_rubin(_rank_normal(s))
        med = np.median(s.reshape(-1, *s.shape[2:]), axis=0)
        tail = _gelman_rubin(_rank_normal(np.abs(s - med)))
        return np.maximum(bulk, tail)


def _arviz():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)     # ArviZ 0.2x announces its 1.0 refactor
        import arviz

    return arviz


def _autocov(z: np.ndarray) -> np.ndarray:
    """Biased autocovariance (divided by ``N``) of every chain at lags ``0..N-1``: ``[M, N, Q] -> [M, N, Q]``
    (FFT zero-padded to ``2N``, so no circular wrap)."""
    n = z.shape[1]
    c = z - z.mean(1, keepdims=True)
    f = np.fft.rfft(c, n=2 * n, axis=1)
    return np.fft.irfft(f * np.conj(f), n=2 * n, axis=1)[:, :n] / n


def _ess_normal(z: np.ndarray) -> np.ndarray:
    """ESS of (rank-normalised) chains ``z [M, N, Q]`` with Geyer's initial positive and
    initial monotone sequences on pairs of autocorrelations, vectorised over ``Q``; ``[Q]``.

    With ``rho_t`` the combined-chain autocorrelation (``rho_0 = 1``) and ``S_k = rho_2k +
    rho_2k+1``: the positive sequence keeps pairs ``0..L-1`` where ``L`` counts the leading pairs
    with ``S > 0`` (at most ``(N - 3) // 2``); those pairs are made non-increasing (running
    minimum); the even term of pair ``L`` is added when it is positive or ``S_L >= 0``; and
    ``tau = -1 + 2 sum S + that term``, floored at ``1 / log10(MN)``. ``ESS = MN / tau``.
    """
    m, n, q = z.shape
    acov = _autocov(z)
    mean_var = acov[:, 0].mean(0) * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if m > 1:
        var_plus = var_plus + np.var(z.mean(1), axis=0, ddof=1)
    rho = 1.0 - (mean_var - acov.mean(0)) / var_plus                     # [N, Q]
    rho[0] = 1.0
    n_iter = max(0, (n - 3) // 2)                                        # pairs 1..n_iter may be read
    pairs = rho[: 2 * n_iter + 2].reshape(n_iter + 1, 2, q)
    s = pairs.sum(1)                                                     # [n_iter + 1, Q]
    keep = np.cumprod(s[:n_iter] > 0, axis=0).sum(0) if n_iter else np.zeros(q, int)   # L, [Q]
    running = np.minimum.accumulate(s[:n_iter], axis=0) if n_iter else np.zeros((0, q))
    head = 2.0 * np.where(np.arange(n_iter)[:, None] < keep[None], running, 0.0).sum(0)
    even = pairs[keep, 0, np.arange(q)]
    s_last = s[keep, np.arange(q)]
    last = np.where((s_last >= 0) | (even > 0), even, 0.0)
    tau = np.maximum(-1.0 + head + last, 1.0 / np.log10(m * n))
    return m * n / tau


def ess_bulk_numpy(x: np.ndarray) -> np.ndarray:
    """Bulk effective sample size of draws ``[C, D, ...]`` (split chains, rank-normalised
    jointly, then :func:`_ess_normal`); agrees with ArviZ's ``ess(method="bulk")`` to 1e-6.

    A constant parameter gets ``2C * (D // 2)`` (all draws), one with a NaN draw or fewer than 4
    draws per chain gets NaN, as in ArviZ. Returns ``[...]``.
    """
    x = np.asarray(x, np.float64)
    c, d = x.shape[:2]
    rest = x.shape[2:]
    if d < 4:
        return np.full(rest, np.nan)
    s = _split(x.reshape(c, d, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = _rank_normal(s)
        out = _ess_normal(z)
    flat = z.reshape(-1, z.shape[-1])
    out = np.where(flat.max(0) - flat.min(0) < np.finfo(float).resolution, float(flat.shape[0]), out)
    out = np.where(np.isnan(s).any((0, 1)), np.nan, out)
    return out.reshape(rest)


def ess_bulk(x: np.ndarray) -> np.ndarray:
    """Bulk effective sample size of draws ``[C, D, ...]``: ArviZ's ``ess(method="bulk")``
    (split chains, rank-normalised). Returns ``[...]``."""
    x = np.asarray(x, np.float64)
    az = _arviz()
    with np.errstate(invalid="ignore", divide="ignore"):
        ds = az.convert_to_dataset({"x": x})
        return np.asarray(az.ess(ds, method="bulk")["x"].values, np.float64).reshape(x.shape[2:])
