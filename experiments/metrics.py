"""Metrics of one fit against the truth (DESIGN.md section 6), and paired summaries.

Pure numpy functions of arrays; the truth enters here and nowhere in ``estimators/``.
Errors are "lower is better"; :func:`improvement` turns a paired pair of errors into
"higher is better" relative improvement, the way seeds/000 phrases its results.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


def roi_mape(roi_hat, roi) -> float:
    """Mean over channels of ``|roi_hat - roi| / roi``. Args ``[K]``."""
    roi_hat, roi = np.asarray(roi_hat, float), np.asarray(roi, float)
    return float(np.mean(np.abs(roi_hat - roi) / roi))


def shares(x) -> np.ndarray:
    """Shares of a non-negative total, ``[K]``."""
    x = np.asarray(x, float)
    return x / x.sum()


def attribution_error(contrib_hat, contrib) -> float:
    """``1/2 sum_k |share_hat_k - share_k|`` of total media contribution (total variation). Args ``[K]``."""
    return float(0.5 * np.abs(shares(contrib_hat) - shares(contrib)).sum())


def mape(pred, actual) -> float:
    """Mean absolute percentage error, ``[n]`` each."""
    pred, actual = np.asarray(pred, float), np.asarray(actual, float)
    return float(np.mean(np.abs(pred - actual) / np.abs(actual)))


def budget_regret(true_response, b_hat, b_star) -> float:
    """``(R(b*) - R(b_hat)) / R(b*)`` with ``R`` the true total response (a callable on ``[K]``)."""
    r_star = float(np.sum(true_response(np.asarray(b_star, float))))
    return (r_star - float(np.sum(true_response(np.asarray(b_hat, float))))) / r_star


def allocation_error(b_hat, b_star) -> float:
    """``1/2 sum_k |b_hat_k - b*_k| / B`` with ``B = sum b*``. Args ``[K]``."""
    b_hat, b_star = np.asarray(b_hat, float), np.asarray(b_star, float)
    return float(0.5 * np.abs(b_hat - b_star).sum() / b_star.sum())


def coverage(lo, hi, truth) -> float:
    """Share of channels whose interval ``[lo, hi]`` holds the truth. Args ``[K]``."""
    lo, hi, truth = (np.asarray(a, float) for a in (lo, hi, truth))
    return float(np.mean((lo <= truth) & (truth <= hi)))


def stability(roi_hat_reps, roi) -> float:
    """Dispersion of ``roi_hat / roi`` across replicates of one truth.

    Args:
        roi_hat_reps: ``[R, K]`` ROI estimates of R replicate datasets.
        roi: ``[K]`` the shared true ROI.
    Returns:
        mean over channels of the standard deviation (ddof 1) across replicates.
    """
    ratio = np.asarray(roi_hat_reps, float) / np.asarray(roi, float)[None, :]
    if ratio.shape[0] < 2:
        return float("nan")
    return float(np.mean(np.std(ratio, axis=0, ddof=1)))


def improvement(err_base, err_new) -> np.ndarray:
    """Paired relative improvement ``(err_base - err_new) / err_base`` (positive = better)."""
    err_base, err_new = np.asarray(err_base, float), np.asarray(err_new, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (err_base - err_new) / err_base


class Paired(NamedTuple):
    n: int
    median: float
    q25: float
    q75: float
    ci_low: float
    ci_high: float


def paired_summary(values, key_seed: int = 0, n_boot: int = 2000, level: float = 0.95) -> Paired:
    """Median, IQR and a percentile-bootstrap CI of the median (seeded) of finite values."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        nan = float("nan")
        return Paired(0, nan, nan, nan, nan, nan)
    rng = np.random.default_rng(key_seed)
    boots = np.median(v[rng.integers(0, v.size, size=(n_boot, v.size))], axis=1)
    a = (1 - level) / 2
    return Paired(int(v.size), float(np.median(v)), float(np.quantile(v, 0.25)), float(np.quantile(v, 0.75)),
                  float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a)))
