"""Metrics of fits against the truth (DESIGN.md section 6): a registry, and paired summaries.

The truth enters here and nowhere in ``estimators/``. A metric is one function plus one YAML
file: ``@metric("name")`` on ``fn(x: ScoreInputs) -> [n]`` (vectorised over the fits of a batch)
and ``conf/metric/<name>.yaml`` with its ``label``, whether lower or higher is ``better`` and
how it is ``paired`` against the baseline (``relative``: ``(err_none - err_arm) / err_none``;
``difference``: ``arm - none``; ``false``: not paired). Errors are "lower is better".
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import yaml

CONF = Path(__file__).resolve().parents[1] / "conf" / "metric"


class ScoreInputs(NamedTuple):
    """Everything the metrics compare, for ``n`` fits (numpy; ``K`` real channels of one world).

    Model side (from :class:`estimators.decisions.analysis.Analysis`): ``roi_hat``, ``roi_q05``,
    ``roi_q95``, ``contrib_hat`` ``[n, K]``; ``kpi_hat`` ``[n, T]``; ``total_hat`` and
    ``delta_hat`` ``[n, P]`` (counterfactual total KPI and media change); ``b_hat`` ``[n, K]``.
    Truth side: ``roi``, ``contrib`` ``[n, K]``; ``kpi`` ``[n, T]`` (observed); ``total_true`` and
    ``delta_true`` ``[n, P]``; ``b_star``, ``r_hat``, ``r_star`` ``[n, K]`` (true weekly response
    at the model's and at the optimal allocation). ``n_fit``: fitted weeks.
    Identification (optional, NaN metrics without): ``mroi_hat`` ``[n, K]`` posterior-mean mROI at
    the observed mean weekly spend, ``mroi`` ``[n, K]`` the truth's mROI there
    (:func:`simulate.response.marginal_at`), ``identified`` ``[n, K]`` the fit's ``roi_identified``.
    """

    roi_hat: np.ndarray
    roi_q05: np.ndarray
    roi_q95: np.ndarray
    contrib_hat: np.ndarray
    kpi_hat: np.ndarray
    total_hat: np.ndarray
    delta_hat: np.ndarray
    b_hat: np.ndarray
    roi: np.ndarray
    contrib: np.ndarray
    kpi: np.ndarray
    total_true: np.ndarray
    delta_true: np.ndarray
    b_star: np.ndarray
    r_hat: np.ndarray
    r_star: np.ndarray
    n_fit: int
    mroi_hat: np.ndarray | None = None
    mroi: np.ndarray | None = None
    identified: np.ndarray | None = None


class MetricDef(NamedTuple):
    name: str
    fn: Callable
    label: str
    better: str
    paired: str


METRICS: dict[str, MetricDef] = {}


def metric(name: str):
    """Register ``fn(x: ScoreInputs) -> [n]`` as metric ``name`` (its YAML gives label and pairing)."""
    def deco(fn: Callable) -> Callable:
        path = CONF / f"{name}.yaml"
        if not path.is_file():
            raise RuntimeError(f"metric {name!r} has no conf/metric/{name}.yaml")
        cfg = yaml.safe_load(path.read_text())
        paired = cfg.get("paired", "relative")
        METRICS[name] = MetricDef(name, fn, str(cfg["label"]), str(cfg["better"]),
                                  "none" if paired is False else str(paired))
        return fn
    return deco


def _mape(pred, actual, axis=-1):
    return np.mean(np.abs(pred - actual) / np.abs(actual), axis=axis)


def shares(x) -> np.ndarray:
    """Shares of a non-negative total along the last axis."""
    x = np.asarray(x, float)
    return x / x.sum(-1, keepdims=True)


@metric("roi_mape")
def roi_mape(x: ScoreInputs):
    return _mape(x.roi_hat, x.roi)


@metric("roi_miss2x")
def roi_miss2x(x: ScoreInputs):
    return np.mean((x.roi > 2.0 * x.roi_q95) | (x.roi < 0.5 * x.roi_q05), axis=-1)


@metric("attribution_error")
def attribution_error(x: ScoreInputs):
    return 0.5 * np.abs(shares(x.contrib_hat) - shares(x.contrib)).sum(-1)


@metric("holdout_mape")
def holdout_mape(x: ScoreInputs):
    if x.kpi.shape[1] <= x.n_fit:
        return np.full(x.kpi.shape[0], np.nan)
    return _mape(x.kpi_hat[:, x.n_fit:], x.kpi[:, x.n_fit:])


@metric("fit_mape")
def fit_mape(x: ScoreInputs):
    return _mape(x.kpi_hat[:, :x.n_fit], x.kpi[:, :x.n_fit])


@metric("counterfactual_mape")
def counterfactual_mape(x: ScoreInputs):
    return _mape(x.total_hat, x.total_true)


@metric("counterfactual_delta_mape")
def counterfactual_delta_mape(x: ScoreInputs):
    return _mape(x.delta_hat, x.delta_true)


@metric("budget_regret")
def budget_regret(x: ScoreInputs):
    r_star = x.r_star.sum(-1)
    return (r_star - x.r_hat.sum(-1)) / r_star


@metric("allocation_error")
def allocation_error(x: ScoreInputs):
    return 0.5 * np.abs(x.b_hat - x.b_star).sum(-1) / x.b_star.sum(-1)


@metric("coverage90")
def coverage90(x: ScoreInputs):
    return np.mean((x.roi_q05 <= x.roi) & (x.roi <= x.roi_q95), axis=-1)


@metric("mroi_error")
def mroi_error(x: ScoreInputs):
    if x.mroi_hat is None or x.mroi is None:
        return np.full(x.roi.shape[0], np.nan)
    return _mape(x.mroi_hat, x.mroi)


@metric("roi_identified_share")
def roi_identified_share(x: ScoreInputs):
    if x.identified is None:
        return np.full(x.roi.shape[0], np.nan)
    return np.mean(np.asarray(x.identified, float), axis=-1)


def evaluate(x: ScoreInputs, names=None) -> dict:
    """Every registered metric (or ``names``) of the ``n`` fits: ``{name: [n]}``."""
    return {m: np.asarray(METRICS[m].fn(x), float) for m in (names or METRICS)}


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


def truth_weights(groups, n_boot: int, key_seed: int) -> np.ndarray:
    """``[n_boot, n]`` bootstrap weights that resample *truths*, not datasets: each draw takes the
    distinct ``groups`` (truth ids, ``[n]``) with replacement and weights every dataset by how
    often its truth was drawn, so replicates of one truth stay together."""
    codes, inv = np.unique(np.asarray(groups), return_inverse=True)
    rng = np.random.default_rng(key_seed)
    counts = rng.multinomial(codes.size, np.full(codes.size, 1.0 / codes.size), size=n_boot)   # [B, G]
    return counts[:, inv].astype(float)


def weighted_median(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Row-wise weighted median of ``v [n]`` under whole-number weights ``w [B, n]`` -> ``[B]``:
    the median of the sample that repeats each value its weight's times (so unit weights give
    ``np.median``, the mean of the two middle values when the count is even)."""
    order = np.argsort(v)
    vs = v[order]
    cw = np.cumsum(w[:, order], axis=1)
    half = 0.5 * cw[:, -1:]
    lower = np.argmax(cw >= half, axis=1)
    upper = np.argmax(cw > half, axis=1)
    return 0.5 * (vs[lower] + vs[upper])


def paired_stats(base, arm, improvement_values, groups, key_seed: int = 0, n_boot: int = 2000,
                 level: float = 0.95, ratio: bool = True) -> dict:
    """Three summaries of a paired comparison, each with a bootstrap CI over truths.

    Args:
        base, arm: ``[n]`` the metric of each dataset's baseline and calibrated fit.
        improvement_values: ``[n]`` per-dataset improvements (positive = better).
        groups: ``[n]`` truth id of each dataset (the bootstrap's unit).
        ratio: whether a ratio of means means something (errors: yes; differences: no).
    Returns:
        ``n``, ``n_truths``; ``median``, ``q25``, ``q75``, ``ci_low``, ``ci_high`` (the median of
        per-dataset improvements); ``ratio_of_means`` = ``1 - mean(arm) / mean(base)`` (for
        higher-is-better metrics the sign is set so that positive = better) with
        ``rom_ci_low``, ``rom_ci_high``; ``share_improved`` with ``share_ci_low``, ``share_ci_high``.
    """
    b, a, v = (np.asarray(x, float) for x in (base, arm, improvement_values))
    g = np.asarray(groups)
    ok = np.isfinite(v) & np.isfinite(b) & np.isfinite(a)
    b, a, v, g = b[ok], a[ok], v[ok], g[ok]
    nan = float("nan")
    out = dict(n=int(v.size), n_truths=int(np.unique(g).size) if v.size else 0, median=nan, q25=nan, q75=nan,
               ci_low=nan, ci_high=nan, ratio_of_means=nan, rom_ci_low=nan, rom_ci_high=nan,
               share_improved=nan, share_ci_low=nan, share_ci_high=nan)
    if v.size == 0:
        return out
    w = truth_weights(g, n_boot, key_seed)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    q = lambda x: (float(np.quantile(x, lo)), float(np.quantile(x, hi)))
    boots = weighted_median(v, w)
    out.update(median=float(np.median(v)), q25=float(np.quantile(v, 0.25)), q75=float(np.quantile(v, 0.75)))
    out["ci_low"], out["ci_high"] = q(boots)
    share = (w @ (v > 0)) / w.sum(1)
    out["share_improved"] = float(np.mean(v > 0))
    out["share_ci_low"], out["share_ci_high"] = q(share)
    if ratio and np.all(b >= 0) and b.sum() > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            rom = 1.0 - (w @ a) / (w @ b)
        out["ratio_of_means"] = float(1.0 - a.mean() / b.mean())
        out["rom_ci_low"], out["rom_ci_high"] = q(rom[np.isfinite(rom)])
    return out
