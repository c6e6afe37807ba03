"""Experiment Quality Score (EQS), exactly as tabled in seeds/000 (DESIGN.md section 5).

Uses only what a practitioner has: the tests' observable fields and the
baseline (uncalibrated) model's lag window and ROI credible interval.

Operational choices, all config values (``conf/eqs/default.yaml``):

* Uncertainty: ratio = CI half-width / |estimate|. A blank sensitivity check
  cannot confirm stability, so by default it caps the dimension at mid.
* Alignment: with weekly tests the experiment's window is read as the days the
  measurement runs from the start of the last changed week,
  ``window_days - 7 * (weeks - 1)``, the span over which the last week's spend
  can show its carryover; it is compared with the model's lag window (days
  until ``lag_share`` of a pulse's carryover). ``window: total`` compares the
  raw ``window_days`` instead.
* Holdout: high only for a verified holdout with zero leakage; mid for a
  verified holdout with leakage below ``mid_leakage``; low otherwise (leakage
  unknown or >= the threshold, holdout unverified or blank, spend-delivery
  check failed).
* Model alignment: the experiment ROI ``lift / (spend_delta * weeks)`` inside
  the baseline's ROI interval scores high; inside that interval with its
  half-width multiplied by ``mid_widen`` about its centre scores mid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

import numpy as np

from harness.errors import ConfigError
from common.records import LiftTest

TIERS = ("Gold", "Silver", "Red")
DIMENSIONS = ("uncertainty", "alignment", "holdout", "model")


@dataclass(frozen=True)
class EqsSpec:
    high: float = 25.0
    mid: float = 15.0
    low: float = 5.0
    weights: tuple = (1.0, 1.0, 1.0, 1.0)
    high_ratio: float = 0.25
    mid_ratio: float = 0.75
    unknown_sensitivity: str = "mid"
    high_days: float = 3.0
    mid_days: float = 7.0
    lag_share: float = 0.9
    window: str = "from_last_changed_week"
    mid_leakage: float = 0.05
    interval: float = 0.9
    mid_widen: float = 2.0
    gold: float = 75.0
    silver: float = 50.0
    gold_requires_precision: bool = False   # Gold also needs the uncertainty dimension's high score
    model_z_max: float = 2.0              # model_consistent: drop tests with |z| above this
    se_scale: tuple = (1.0, 2.0, 4.0)     # Gold, Silver, Red


def eqs_spec(cfg: Mapping, path: str = "eqs") -> EqsSpec:
    """Validate an EQS config mapping (see ``conf/eqs/default.yaml``)."""
    def sub(key):
        if key not in cfg or not isinstance(cfg[key], Mapping):
            raise ConfigError(f"{path}.{key}", "missing section")
        return cfg[key]

    def num(sec, key, lo=0.0, hi=None):
        node = sub(sec)
        if key not in node:
            raise ConfigError(f"{path}.{sec}.{key}", "missing")
        v = node[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < lo or (hi is not None and v > hi):
            raise ConfigError(f"{path}.{sec}.{key}", f"must be a number in [{lo}, {hi}], got {v!r}")
        return float(v)

    pts = [num("points", k) for k in ("high", "mid", "low")]
    if not pts[0] >= pts[1] >= pts[2]:
        raise ConfigError(f"{path}.points", f"needs high >= mid >= low, got {pts}")
    unknown = str(sub("uncertainty").get("unknown_sensitivity", "mid"))
    if unknown not in ("high", "mid", "low"):
        raise ConfigError(f"{path}.uncertainty.unknown_sensitivity", f"must be high, mid or low, got {unknown!r}")
    window = str(sub("alignment").get("window", "from_last_changed_week"))
    if window not in ("from_last_changed_week", "total"):
        raise ConfigError(f"{path}.alignment.window", f"must be from_last_changed_week or total, got {window!r}")
    spec = EqsSpec(
        high=pts[0], mid=pts[1], low=pts[2],
        weights=tuple(num("weights", d) for d in DIMENSIONS),
        high_ratio=num("uncertainty", "high_ratio"), mid_ratio=num("uncertainty", "mid_ratio"),
        unknown_sensitivity=unknown,
        high_days=num("alignment", "high_days"), mid_days=num("alignment", "mid_days"),
        lag_share=num("alignment", "lag_share", 0.01, 1.0), window=window,
        mid_leakage=num("holdout", "mid_leakage", 0.0, 1.0),
        interval=num("model", "interval", 0.01, 0.999), mid_widen=num("model", "mid_widen", 1.0),
        gold=num("tiers", "gold"), silver=num("tiers", "silver"),
        gold_requires_precision=_flag(sub("tiers").get("gold_requires_precision", False),
                                      f"{path}.tiers.gold_requires_precision"),
        model_z_max=float((cfg.get("model_filter") or {}).get("z_max", 2.0)),
        se_scale=tuple(num("eqs_weighted_se_scale", t, 1e-6) for t in ("gold", "silver", "red")),
    )
    if not spec.model_z_max > 0:
        raise ConfigError(f"{path}.model_filter.z_max", f"must be > 0, got {spec.model_z_max}")
    if spec.mid_ratio < spec.high_ratio:
        raise ConfigError(f"{path}.uncertainty.mid_ratio", "must be >= high_ratio")
    if spec.mid_days < spec.high_days:
        raise ConfigError(f"{path}.alignment.mid_days", "must be >= high_days")
    if spec.silver > spec.gold:
        raise ConfigError(f"{path}.tiers.silver", "must be <= tiers.gold")
    return spec


def _flag(v, path: str) -> bool:
    if isinstance(v, bool):
        return v
    raise ConfigError(path, f"must be true or false, got {v!r}")


class ModelView(NamedTuple):
    """What EQS needs of the baseline model, per test (NaN = unknown), each ``[n]``; optionally
    the model's forecast of each test's lift (:mod:`estimators.evidence.consistency`)."""

    lag_days: np.ndarray
    roi_low: np.ndarray
    roi_high: np.ndarray
    lift_mean: np.ndarray | None = None
    lift_sd: np.ndarray | None = None


def model_view(tests: Sequence[LiftTest], channel_names: Sequence[str], lag_days, roi_low, roi_high,
               lift_mean=None, lift_sd=None) -> ModelView:
    """Spread per-channel baseline summaries (``[K]`` each) onto the tests; ``lift_mean`` and
    ``lift_sd`` (``[n]``, per test) are the baseline's forecast of each test, if known."""
    idx = np.array([list(channel_names).index(t.channel) for t in tests], int)
    pick = lambda a: np.asarray(a, float)[idx] if len(idx) else np.zeros(0)
    per_test = lambda a: None if a is None else np.asarray(a, float)
    return ModelView(pick(lag_days), pick(roi_low), pick(roi_high), per_test(lift_mean), per_test(lift_sd))


class EqsScores(NamedTuple):
    """Per-test scores, each ``[n]``; ``tier`` holds ``Gold`` / ``Silver`` / ``Red``.

    ``model_z`` is the readout's z-score against the baseline's forecast (NaN without one);
    ``tier_precise`` the tier when Gold also requires the uncertainty dimension's high score
    (the tier itself follows ``gold_requires_precision``)."""

    uncertainty: np.ndarray
    alignment: np.ndarray
    holdout: np.ndarray
    model: np.ndarray
    total: np.ndarray
    tier: np.ndarray
    model_z: np.ndarray | None = None
    tier_precise: np.ndarray | None = None


def model_z(tests: Sequence[LiftTest], mean, sd) -> np.ndarray:
    """``[n]`` z-score of each readout against the model's forecast ``mean, sd [n]`` (KPI units):
    ``(lift - mean) / sqrt(lift_se^2 + sd^2)`` (see :mod:`estimators.evidence.consistency`)."""
    lift = np.array([t.lift for t in tests], float)
    se = np.array([t.lift_se for t in tests], float)
    return (lift - np.asarray(mean, float)) / np.sqrt(se**2 + np.asarray(sd, float) ** 2)


def tiers(total, uncertainty, spec: EqsSpec, requires_precision: bool) -> np.ndarray:
    """``[n]`` tiers from totals; with ``requires_precision`` Gold also needs a high uncertainty score."""
    gold = total >= spec.gold
    if requires_precision:
        gold = gold & (uncertainty >= spec.high)
    return np.where(gold, "Gold", np.where(total >= spec.silver, "Silver", "Red"))


def experiment_window_days(tests: Sequence[LiftTest], how: str = "from_last_changed_week") -> np.ndarray:
    """The experiment window EQS compares with the model lag window, ``[n]`` days."""
    w = np.array([t.window_days for t in tests], float)
    if how == "total":
        return w
    return w - 7.0 * (np.array([t.weeks for t in tests], float) - 1.0)


def _band(x, high_cut, mid_cut, spec: EqsSpec):
    """high where x <= high_cut, mid where <= mid_cut, low otherwise or unknown (NaN)."""
    return np.where(np.isnan(x), spec.low, np.where(x <= high_cut, spec.high,
                                                    np.where(x <= mid_cut, spec.mid, spec.low)))


def score(tests: Sequence[LiftTest], model: ModelView, spec: EqsSpec) -> EqsScores:
    """Score every test on the four EQS dimensions and assign its tier."""
    n = len(tests)
    if n == 0:
        z = np.zeros(0)
        return EqsScores(z, z, z, z, z, np.zeros(0, dtype="<U6"), z, np.zeros(0, dtype="<U6"))
    lift = np.array([t.lift for t in tests], float)
    half = np.array([(t.ci_high - t.ci_low) / 2.0 for t in tests], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lift != 0, half / np.abs(lift), np.inf)
    flip = np.array([t.sensitivity_sign_flip for t in tests], dtype=object)
    unc = _band(ratio, spec.high_ratio, spec.mid_ratio, spec)
    cap = {"high": spec.high, "mid": spec.mid, "low": spec.low}[spec.unknown_sensitivity]
    unc = np.where(flip == True, spec.low, unc)                          # noqa: E712  a sign flip: low
    unc = np.where(np.array([f is None for f in flip]), np.minimum(unc, cap), unc)

    gap = np.abs(experiment_window_days(tests, spec.window) - model.lag_days)
    ali = _band(gap, spec.high_days, spec.mid_days, spec)

    verified = np.array([t.holdout_verified is True for t in tests])
    delivery_failed = np.array([t.spend_delivery_ok is False for t in tests])
    leak = np.array([t.leakage for t in tests], float)
    hold = np.where(verified & (leak == 0), spec.high,
                    np.where(verified & (leak < spec.mid_leakage), spec.mid, spec.low))
    hold = np.where(delivery_failed, spec.low, hold)

    with np.errstate(divide="ignore", invalid="ignore"):
        exp_roi = np.array([t.iroas for t in tests], float)
    centre = (model.roi_low + model.roi_high) / 2.0
    halfw = (model.roi_high - model.roi_low) / 2.0
    dist = np.abs(exp_roi - centre)
    mod = np.where(np.isnan(dist) | np.isnan(halfw), spec.low,
                   np.where(dist <= halfw, spec.high, np.where(dist <= spec.mid_widen * halfw, spec.mid, spec.low)))

    w = spec.weights
    total = w[0] * unc + w[1] * ali + w[2] * hold + w[3] * mod
    z = np.full(n, np.nan) if model.lift_mean is None else model_z(tests, model.lift_mean, model.lift_sd)
    return EqsScores(unc, ali, hold, mod, total, tiers(total, unc, spec, spec.gold_requires_precision), z,
                     tiers(total, unc, spec, True))
