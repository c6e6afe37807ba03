"""Which tests the calibrated fit uses, and a one-line reason for each test.

The strategy (a name in :data:`estimators.evidence.strategies.STRATEGIES`) sees only the tests
the calibration can take: M2 refuses readouts without ``population_share``/``spend_baseline``
or outside the data; the monitor may refuse retired tests. Reasons name the tier and the
dimensions that scored low.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from estimators.evidence.eqs import DIMENSIONS, EqsScores, EqsSpec
from estimators.evidence.strategies import apply

DIMENSION_LABELS = {"uncertainty": "statistical uncertainty", "alignment": "measurement alignment",
                    "holdout": "holdout quality", "model": "model alignment"}


class Decision(NamedTuple):
    """The outcome per test (each ``[n]``) and the records handed to the calibrated fit."""

    used: np.ndarray          # bool
    reason: tuple             # n strings
    tests: list               # LiftTest records for the fit (possibly re-weighted or pooled)


def failing_dimensions(scores: EqsScores, i: int, spec: EqsSpec) -> list[str]:
    """The dimensions of test ``i`` scoring the low band."""
    return [DIMENSION_LABELS[d] for d in DIMENSIONS if getattr(scores, d)[i] <= spec.low]


def decide(key, strategy: str, calibration: str, tests: Sequence, scores: EqsScores, spec: EqsSpec,
           m2_reasons: Sequence[str], retired: np.ndarray, refuse_retired: bool) -> Decision:
    """Apply ``strategy`` to the eligible tests and explain every test's outcome.

    Args:
        key: PRNG key (``random_one``).
        strategy: a registered strategy name.
        calibration: ``m1`` or ``m2`` (``none`` uses nothing).
        tests: ``n`` :class:`LiftTest` records (decay already applied).
        scores: their EQS scores.
        spec: the EQS spec.
        m2_reasons: per test, why M2 cannot use it ("" if it can).
        retired: ``[n]`` bool, older than ``monitor.retire_months``.
        refuse_retired: whether retired tests are refused.
    """
    n = len(tests)
    eligible = np.ones(n, bool)
    pre = [""] * n
    for i in range(n):
        if calibration == "m2" and m2_reasons[i]:
            eligible[i], pre[i] = False, f"refused for M2: {m2_reasons[i]}"
        elif refuse_retired and retired[i]:
            eligible[i], pre[i] = False, "refused: older than monitor.retire_months"
    if calibration == "none" or strategy == "none":
        return Decision(np.zeros(n, bool), tuple(pre[i] or "not used: no calibration" for i in range(n)), [])
    idx = np.flatnonzero(eligible)
    sub_scores = EqsScores(*[None if a is None else np.asarray(a)[idx] for a in scores])
    sel = apply(strategy, key, [tests[i] for i in idx], sub_scores, spec)
    used = np.zeros(n, bool)
    used[idx] = sel.used
    reasons = []
    for i, t in enumerate(tests):
        tier, total = str(scores.tier[i]), float(scores.total[i])
        weak = failing_dimensions(scores, i, spec)
        weak_txt = f"; low on {', '.join(weak)}" if weak else ""
        if pre[i]:
            reasons.append(pre[i])
        elif used[i]:
            reasons.append(f"used by {strategy}: {tier} ({total:g}){weak_txt}")
        else:
            better = [tests[j].test_id for j in np.flatnonzero(used) if tests[j].channel == t.channel]
            if tier == "Red" and strategy in ("single_best", "eqs_filtered"):
                reasons.append(f"refused: Red ({total:g}){weak_txt}")
            elif better:
                reasons.append(f"not used: {tier} ({total:g}); {strategy} took {', '.join(better)} on {t.channel}"
                               + weak_txt)
            else:
                reasons.append(f"not used by {strategy}: {tier} ({total:g}){weak_txt}")
    return Decision(used, tuple(reasons), list(sel.tests))
