"""Calibration strategies: which lift tests go into the model, and how.

A strategy maps the tests, their EQS scores and a PRNG key to a :class:`Selection`: the
:class:`LiftTest` records the calibrated fit uses (possibly with widened standard errors, or
pooled into one pseudo-test per channel) and which of the available tests it used. Each result
works with both calibration mechanisms (M1 soft prior, M2 likelihood augmentation). Strategies
live in a registry (:data:`STRATEGIES`, filled by the :func:`strategy` decorator).

* ``none``: no tests.
* ``all``: every test as reported.
* ``single_best``: per channel the highest EQS among non-Red tests (so Silver
  only where the channel has no Gold); ties go to the narrower relative CI.
* ``eqs_filtered``: all Gold tests; Silver tests only on channels with no Gold;
  never Red.
* ``single_best_unfiltered``: per channel the highest EQS, Red included.
* ``random_one``: per channel one test chosen at random (key-driven).
* ``pooled``: per channel a DerSimonian-Laird random-effects meta-analysis of
  the tests' iROAS, returned as one pseudo-test shaped like the channel's most
  precise test (so M2 sees a real window and spend change).
* ``eqs_weighted``: every test, its standard error multiplied by its tier's
  factor (``eqs_weighted_se_scale``).
* ``eqs_filtered_precise``: ``eqs_filtered`` with tiers in which Gold also requires the
  uncertainty dimension's high score (``EqsScores.tier_precise``).
* ``model_consistent``: every test whose readout lies within ``model_filter.z_max``
  standard deviations of the baseline posterior's forecast of the same design
  (:mod:`estimators.evidence.consistency`); a test without a forecast is kept.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import jax
import numpy as np

from estimators.evidence.eqs import EqsScores, EqsSpec
from harness.errors import ConfigError
from common.records import LiftTest

class Selection(NamedTuple):
    """What a strategy hands the calibrated fit: ``tests`` (records, possibly re-weighted or
    pooled) and, per available test, whether it was used in some form (``used [n]`` bool)."""

    tests: list
    used: np.ndarray


STRATEGIES: dict[str, Callable] = {}


def strategy(name: str):
    """Register ``fn(key, tests, scores, spec) -> Selection`` as strategy ``name``.

    Adding a strategy is this one function plus ``conf/strategy/<name>.yaml`` (``name: <name>``).
    """
    def deco(fn: Callable) -> Callable:
        STRATEGIES[name] = fn
        return fn
    return deco


def _by_id(tests, chosen) -> Selection:
    ids = {t.test_id for t in chosen}
    return Selection(list(chosen), np.array([t.test_id in ids for t in tests], bool))


def _rel_width(t: LiftTest) -> float:
    return abs(t.lift_se / t.lift) if t.lift != 0 else np.inf


def _best_per_channel(tests, scores: EqsScores, allowed: np.ndarray) -> list[int]:
    best: dict[str, int] = {}
    for i, t in enumerate(tests):
        if not allowed[i]:
            continue
        j = best.get(t.channel)
        if j is None or (scores.total[i], -_rel_width(t)) > (scores.total[j], -_rel_width(tests[j])):
            best[t.channel] = i
    return sorted(best.values())


def _with_se(t: LiftTest, scale: float) -> LiftTest:
    if scale == 1.0:
        return t
    half_lo, half_hi = t.lift - t.ci_low, t.ci_high - t.lift
    return t._replace(lift_se=t.lift_se * scale, ci_low=t.lift - half_lo * scale,
                      ci_high=t.lift + half_hi * scale)


def dersimonian_laird(est: np.ndarray, se: np.ndarray) -> tuple[float, float, float]:
    """Random-effects pooled estimate: ``(mean, se, tau)`` (tau = between-test sd)."""
    w = 1.0 / se**2
    fixed = np.sum(w * est) / np.sum(w)
    if est.size < 2:
        return float(fixed), float(np.sum(w) ** -0.5), 0.0
    q = np.sum(w * (est - fixed) ** 2)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    tau2 = max(0.0, (q - (est.size - 1)) / c) if c > 0 else 0.0
    w_star = 1.0 / (se**2 + tau2)
    return float(np.sum(w_star * est) / np.sum(w_star)), float(np.sum(w_star) ** -0.5), float(np.sqrt(tau2))


def _pooled(tests: Sequence[LiftTest]) -> list[LiftTest]:
    out = []
    for ch in dict.fromkeys(t.channel for t in tests):
        mine = [t for t in tests if t.channel == ch]
        denom = np.array([t.spend_delta * t.weeks for t in mine])
        est = np.array([t.lift for t in mine]) / denom
        se = np.array([t.lift_se for t in mine]) / np.abs(denom)
        mean, sd, _ = dersimonian_laird(est, se)
        tmpl = mine[int(np.argmin(se))]
        scale = tmpl.spend_delta * tmpl.weeks
        lift, lift_se = mean * scale, sd * abs(scale)
        out.append(tmpl._replace(test_id=f"pooled-{ch}", lift=lift, lift_se=lift_se,
                                 ci_low=lift - 1.959964 * lift_se, ci_high=lift + 1.959964 * lift_se,
                                 estimator="dersimonian_laird"))
    return out


@strategy("none")
def _none(key, tests, scores, spec):
    return Selection([], np.zeros(len(tests), bool))


@strategy("all")
def _all(key, tests, scores, spec):
    return Selection(list(tests), np.ones(len(tests), bool))


@strategy("single_best")
def _single_best(key, tests, scores, spec):
    return _by_id(tests, [tests[i] for i in _best_per_channel(tests, scores, scores.tier != "Red")])


@strategy("single_best_unfiltered")
def _single_best_unfiltered(key, tests, scores, spec):
    return _by_id(tests, [tests[i] for i in _best_per_channel(tests, scores, np.ones(len(tests), bool))])


def _filtered(tests, tier) -> Selection:
    gold_channels = {t.channel for t, g in zip(tests, tier) if g == "Gold"}
    return _by_id(tests, [t for t, g in zip(tests, tier)
                          if g == "Gold" or (g == "Silver" and t.channel not in gold_channels)])


@strategy("eqs_filtered")
def _eqs_filtered(key, tests, scores, spec):
    return _filtered(tests, scores.tier)


@strategy("eqs_filtered_precise")
def _eqs_filtered_precise(key, tests, scores, spec):
    return _filtered(tests, scores.tier_precise)


@strategy("model_consistent")
def _model_consistent(key, tests, scores, spec):
    z = np.asarray(scores.model_z if scores.model_z is not None else np.full(len(tests), np.nan), float)
    keep = ~(np.abs(z) > spec.model_z_max)
    return _by_id(tests, [t for t, k in zip(tests, keep) if k])


@strategy("random_one")
def _random_one(key, tests, scores, spec):
    channels = list(dict.fromkeys(t.channel for t in tests))
    keys = jax.random.split(key, len(channels))
    out = []
    for ch, k in zip(channels, keys):
        idx = [i for i, t in enumerate(tests) if t.channel == ch]
        out.append(tests[idx[int(jax.random.randint(k, (), 0, len(idx)))]])
    return _by_id(tests, out)


@strategy("pooled")
def _pooled_strategy(key, tests, scores, spec):
    return Selection(_pooled(tests), np.ones(len(tests), bool))


@strategy("eqs_weighted")
def _eqs_weighted(key, tests, scores, spec):
    factor = dict(zip(("Gold", "Silver", "Red"), spec.se_scale))
    return Selection([_with_se(t, factor[g]) for t, g in zip(tests, scores.tier)], np.ones(len(tests), bool))


def apply(name: str, key, tests: Sequence[LiftTest], scores: EqsScores, spec: EqsSpec) -> Selection:
    """Apply strategy ``name`` (see :data:`STRATEGIES`).

    Args:
        name: a registered strategy.
        key: PRNG key (used by ``random_one``).
        tests: the available tests, ``n``.
        scores: their EQS scores.
        spec: the EQS spec (tier SE factors for ``eqs_weighted``).
    """
    if name not in STRATEGIES:
        raise ConfigError("strategy", f"unknown strategy {name!r}; choose from {', '.join(STRATEGIES)}")
    tests = list(tests)
    if not tests:
        return Selection([], np.zeros(0, bool))
    return STRATEGIES[name](key, tests, scores, spec)


def select(name: str, key, tests: Sequence[LiftTest], scores: EqsScores, spec: EqsSpec) -> list[LiftTest]:
    """The tests (records) strategy ``name`` hands the calibrated fit."""
    return apply(name, key, tests, scores, spec).tests


def used_mask(name: str, key, tests: Sequence[LiftTest], scores: EqsScores, spec: EqsSpec) -> np.ndarray:
    """Whether each test would be used (in some form) by strategy ``name``, ``[n]`` bool."""
    return apply(name, key, tests, scores, spec).used
