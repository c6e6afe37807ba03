"""The typed record handed from the calibration workflow to its report (and saved as tables)."""
from __future__ import annotations

from typing import NamedTuple

import pandas as pd


class CalibrationResult(NamedTuple):
    """Every table of one ``estimators.calibrate`` run, and its scalar facts.

    Attributes:
        channels: one row per channel (``channels.csv``; see ``compare.CHANNEL_COLUMNS``).
        tests: one row per test (``tests.csv``): EQS dimensions, total, tier, used, reason, monitor.
        budget: expected weekly response of three plans under both models (``budget.csv``).
        curves: steady-state response curves before/after, long format.
        levels: tested national-equivalent spend levels per test.
        checklist: the disagreement checklist, one row per (test, check).
        facts: scalars: ``coverage``, ``holdout_mape_before/after``, ``quality_before/after``,
            ``strategy``, ``calibration``, ``inference``, ``n_tests``, ``n_used``, ``data``,
            ``lift_tests``, ``weeks``, ``first_week``, ``last_week``, ``holdout_weeks``,
            ``retire_months``, ``decay_lambda``, ``as_of``, ``seconds``.
    """

    channels: pd.DataFrame
    tests: pd.DataFrame
    budget: pd.DataFrame
    curves: pd.DataFrame
    levels: pd.DataFrame
    checklist: pd.DataFrame
    facts: dict
