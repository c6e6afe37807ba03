"""Observable records: what a practitioner has. These cross the wall into ``estimators/``.

Nothing here carries the truth; the hidden side lives in :mod:`simulate.truth`.
Shapes: batch axes first (``N`` datasets), time second-to-last, channel last.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """Observable weekly data of one or more datasets (leading axis ``N`` when batched).

    Attributes:
        dates: week start dates, ``datetime64[D]`` of shape ``[T]`` (shared by the batch).
        kpi: national KPI, ``[N, T]``.
        spend: national spend, ``[N, T, K]``.
        controls: observed control variables, ``[N, T, C]``.
        geo_kpi: KPI per geo, ``[N, G, T]``; sums exactly to ``kpi`` over geos.
        geo_spend: spend per geo, ``[N, G, T, K]``; sums to ``spend`` over geos.
        population: population share per geo, ``[N, G]``, summing to 1.
        channel_names: ``K`` channel names.
        control_names: ``C`` control names.
        channel_mask: ``[K]`` booleans, False for padding channels.
        n_train: number of leading weeks in the training split (the rest is holdout).
        dataset_ids: ``N`` identifiers such as ``fashion-s0-t002-r1``.
    """

    dates: np.ndarray
    kpi: np.ndarray
    spend: np.ndarray
    controls: np.ndarray
    geo_kpi: np.ndarray
    geo_spend: np.ndarray
    population: np.ndarray
    channel_names: tuple
    control_names: tuple
    channel_mask: np.ndarray
    n_train: int
    dataset_ids: tuple


# Column order of lift_tests.csv, fixed by the command-line contract.
LIFT_TEST_COLUMNS = (
    "test_id", "channel", "start_date", "end_date", "window_days", "population_share",
    "spend_baseline", "spend_delta", "lift", "lift_se", "ci_low", "ci_high", "n_geos",
    "leakage", "holdout_verified", "spend_delivery_ok", "sensitivity_sign_flip",
    "true_lift", "failure_modes",
)
# The observable subset (everything but ``true_lift`` and ``failure_modes``).
OBSERVABLE_LIFT_COLUMNS = LIFT_TEST_COLUMNS[:-2]


class LiftTest(NamedTuple):
    """One experiment's observable readout. Units are those of ``lift_tests.csv``.

    Attributes:
        test_id: identifier.
        channel: channel name.
        start_week, end_week: indices (into the dataset's weeks) of the first and
            last week whose spend changed, inclusive.
        window_days: measurement window counted from the start week.
        population_share: treated geos' share of the national base.
        spend_baseline: weekly spend in the treated geos before the test.
        spend_delta: planned weekly spend change in the treated geos (negative for go-dark).
        lift, lift_se, ci_low, ci_high: total incremental KPI in the treated geos
            over the window, signed like the KPI change.
        n_geos: number of treated geos.
        leakage: share in [0, 1], NaN when unknown.
        holdout_verified, spend_delivery_ok, sensitivity_sign_flip: checks,
            ``None`` when unknown.
        estimator: the readout's estimator name.
    """

    test_id: str
    channel: str
    start_week: int
    end_week: int
    window_days: int
    population_share: float
    spend_baseline: float
    spend_delta: float
    lift: float
    lift_se: float
    ci_low: float
    ci_high: float
    n_geos: int
    leakage: float
    holdout_verified: bool | None
    spend_delivery_ok: bool | None
    sensitivity_sign_flip: bool | None
    estimator: str = "scaled_did"

    @property
    def weeks(self) -> int:
        """Weeks of changed spend, start to end inclusive."""
        return self.end_week - self.start_week + 1

    @property
    def iroas(self) -> float:
        """Experiment ROI: ``lift / (spend_delta * weeks)`` (NaN when nothing changed)."""
        denom = self.spend_delta * self.weeks
        return self.lift / denom if denom != 0 else float("nan")
