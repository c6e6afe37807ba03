"""Observable inputs of one fit: weekly data and lift-test readouts, with strict CSV readers.

The CSV formats are those written by ``python -m simulate`` (see the README):

* ``data.csv``: ``date, kpi, spend_<channel>..., control_<name>...``, one row a week;
* ``lift_tests.csv``: the columns of :data:`common.records.LIFT_TEST_COLUMNS`.
  ``true_lift`` and ``failure_modes`` are hidden truth and are never read.

Every problem raises :class:`harness.errors.InputError` naming file, row and
field. Rows are numbered as in a spreadsheet: the header is row 1, the first
data row is row 2.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from harness.errors import InputError
from common.records import Dataset, LiftTest

# The columns a lift-test readout must carry to be used (others optional).
REQUIRED_LIFT_COLUMNS = ("test_id", "channel", "start_date", "end_date", "window_days",
                         "population_share", "spend_baseline", "spend_delta", "lift",
                         "lift_se", "ci_low", "ci_high")
# Hidden truth that may sit in the file and must never be read.
HIDDEN_LIFT_COLUMNS = ("true_lift", "failure_modes")


class Observed(NamedTuple):
    """One dataset as a practitioner has it (numpy, unpadded).

    Attributes:
        dates: week start dates, ``datetime64[D]`` ``[T]``.
        kpi: weekly KPI ``[T]``.
        spend: weekly spend ``[T, K]``.
        controls: observed controls ``[T, C]``.
        channel_names: ``K`` names.
        control_names: ``C`` names.
        n_fit: number of leading weeks the likelihood uses (the rest is holdout).
        dataset_id: identifier.
    """

    dates: np.ndarray
    kpi: np.ndarray
    spend: np.ndarray
    controls: np.ndarray
    channel_names: tuple
    control_names: tuple
    n_fit: int
    dataset_id: str = "dataset"


def observed_from_dataset(ds: Dataset, i: int = 0, holdout: bool = True) -> Observed:
    """Take dataset ``i`` of a (batched) :class:`common.records.Dataset`.

    Args:
        ds: observable records, leading axis ``N``.
        i: which dataset.
        holdout: if True the likelihood uses only ``ds.n_train`` weeks.
    """
    mask = np.asarray(ds.channel_mask, bool)
    names = tuple(n for n, m in zip(ds.channel_names, mask) if m)
    kpi = np.asarray(ds.kpi)[i]
    return Observed(
        dates=np.asarray(ds.dates),
        kpi=kpi.astype(np.float64),
        spend=np.asarray(ds.spend)[i][:, mask].astype(np.float64),
        controls=np.asarray(ds.controls)[i].astype(np.float64),
        channel_names=names,
        control_names=tuple(ds.control_names),
        n_fit=int(ds.n_train) if holdout else int(kpi.shape[0]),
        dataset_id=str(ds.dataset_ids[i]),
    )


from harness.validate import rules as _rules
from harness.validate.tables import date_column as _dates, flag_column, numeric_column, read_table as _read_csv


def _numeric(path, df, col, *, allow_blank=False, nonneg=False):
    """Column as float64; raises InputError at the first bad row (see :mod:`harness.validate.tables`)."""
    return numeric_column(path, df, col, allow_blank=allow_blank, nonneg=nonneg)


def content_id(dates, kpi, spend, controls, channels, control_names) -> str:
    """An id from a dataset's content (sha256 of its dates, names and numbers): the same data
    in any folder gets the same id, hence the same PRNG key."""
    import hashlib

    h = hashlib.sha256()
    h.update("|".join(map(str, channels)).encode() + b"#" + "|".join(map(str, control_names)).encode())
    for a in (np.asarray(dates, "datetime64[D]").astype(np.int64), kpi, spend, controls):
        h.update(np.ascontiguousarray(a, dtype=np.float64 if a.dtype != np.int64 else np.int64).tobytes())
    return "data-" + h.hexdigest()[:12]


def read_data_csv(path, holdout_weeks: int = 0, dataset_id: str | None = None) -> Observed:
    """Read and validate ``data.csv``.

    Args:
        path: file path.
        holdout_weeks: final weeks kept out of the likelihood.
        dataset_id: identifier (default: :func:`content_id` of the data, so the PRNG key
            depends on the data and never on the folder it sits in).
    Returns:
        an :class:`Observed`.
    Raises:
        InputError: naming file, row and field of the first problem (rules in
            :mod:`harness.validate.rules`); suspicious but legal input only warns.
    """
    df = _read_csv(path)
    for col in ("date", "kpi"):
        if col not in df.columns:
            raise InputError(path, "missing column", None, col)
    spend_cols = [c for c in df.columns if c.startswith("spend_")]
    control_cols = [c for c in df.columns if c.startswith("control_")]
    if not spend_cols:
        raise InputError(path, "no spend_<channel> column", None, "spend_*")
    for c in spend_cols + control_cols:
        if c in ("spend_", "control_"):
            raise InputError(path, "column name has no channel / control name after the prefix", 1, c)
    other = [c for c in df.columns if c not in ("date", "kpi") and c not in spend_cols + control_cols]
    if other:
        from harness.validate import warn
        warn(f"{path}: column(s) {', '.join(other)} ignored (neither date, kpi, spend_<channel> nor "
             "control_<name>)")
    if len(df) < 10:
        raise InputError(path, f"need at least 10 weekly rows, found {len(df)}")
    dates = _dates(path, df, "date")
    steps = np.diff(dates).astype(int)
    bad = np.flatnonzero(steps != 7)
    if bad.size:
        raise InputError(path, "dates must be consecutive weeks (7 days apart, increasing)",
                         int(bad[0]) + 3, "date")
    kpi = _numeric(path, df, "kpi")
    spend = np.stack([_numeric(path, df, c, nonneg=True) for c in spend_cols], axis=-1)
    controls = (np.stack([_numeric(path, df, c) for c in control_cols], axis=-1)
                if control_cols else np.zeros((len(df), 0)))
    n = len(df)
    if isinstance(holdout_weeks, bool) or not 0 <= holdout_weeks < n - 8:
        raise InputError(path, f"holdout_weeks={holdout_weeks} leaves too few weeks to fit")
    _rules.check_kpi(path, kpi, n - holdout_weeks)
    _rules.check_spend(path, spend, spend_cols)
    _rules.check_controls(path, controls, control_cols)
    channels = tuple(c[len("spend_"):] for c in spend_cols)
    controls_names = tuple(c[len("control_"):] for c in control_cols)
    return Observed(
        dates=dates, kpi=kpi, spend=spend, controls=controls,
        channel_names=channels, control_names=controls_names,
        n_fit=n - holdout_weeks,
        dataset_id=dataset_id or content_id(dates, kpi, spend, controls, channels, controls_names),
    )


def _week_index(path, dates, value, row, col):
    try:
        d = np.datetime64(pd.Timestamp(value).date(), "D") if not isinstance(value, np.datetime64) else value
    except (ValueError, TypeError, OverflowError):
        raise InputError(path, f"not a date: {value!r}", row, col) from None
    i = int(np.searchsorted(dates, d, side="right")) - 1
    if i < 0 or d >= dates[-1] + 7:
        raise InputError(path, f"date {value} lies outside the data's weeks", row, col)
    return i


def read_lift_tests_csv(path, observed: Observed, ci_level: float = 0.95, *, data_known: bool = True,
                        allow_short_window: bool = False) -> list[LiftTest]:
    """Read and validate ``lift_tests.csv`` against a dataset's weeks and channels.

    ``true_lift`` and ``failure_modes`` are dropped unread. A blank ``lift_se``
    is derived from the CI as ``(ci_high - ci_low) / (2 z)`` with ``z`` the
    two-sided normal quantile of ``ci_level``.

    Args:
        data_known: ``observed`` holds the real data (False for ``estimators.score``, whose
            calendar has no spend or KPI), so the rules against the data apply.
        allow_short_window: a ``window_days`` shorter than the changed weeks warns instead of
            being refused (the simulator's ``window_mismatch`` failure mode writes such tests).
    Returns:
        one :class:`common.records.LiftTest` per row.
    Raises:
        InputError: naming file, row and field of the first problem.
    """
    df = _read_csv(path)
    df = df.drop(columns=[c for c in HIDDEN_LIFT_COLUMNS if c in df.columns])
    for col in REQUIRED_LIFT_COLUMNS:
        if col not in df.columns:
            raise InputError(path, "missing column", None, col)
    if len(df) == 0:
        return []
    _rules.check_unique(path, df["test_id"].tolist(), "test_id")
    num = {c: _numeric(path, df, c, allow_blank=c in ("lift_se", "ci_low", "ci_high"))
           for c in ("window_days", "population_share", "spend_baseline", "spend_delta",
                     "lift", "lift_se", "ci_low", "ci_high")}
    for c in ("n_geos", "leakage"):
        num[c] = _numeric(path, df, c, allow_blank=True) if c in df.columns else np.full(len(df), np.nan)
    flags = {c: flag_column(path, df, c) for c in ("holdout_verified", "spend_delivery_ok",
                                                    "sensitivity_sign_flip")}
    from scipy.stats import norm
    z = float(norm.ppf(0.5 + ci_level / 2))
    total_kpi = float(observed.kpi.sum())
    tests = []
    for r in range(len(df)):
        row = r + 2
        rec = df.iloc[r]
        channel = str(rec["channel"]).strip()
        if channel not in observed.channel_names:
            raise InputError(path, f"unknown channel {channel!r}; data has {list(observed.channel_names)}",
                             row, "channel")
        start = _week_index(path, observed.dates, str(rec["start_date"]).strip(), row, "start_date")
        end = _week_index(path, observed.dates, str(rec["end_date"]).strip(), row, "end_date")
        if end < start:
            raise InputError(path, "end_date before start_date", row, "end_date")
        lo, hi = num["ci_low"][r], num["ci_high"][r]
        se = num["lift_se"][r]
        window = num["window_days"][r]
        weeks = end - start + 1
        try:
            _rules.check_lift_row(path, row, lift=num["lift"][r], lift_se=se, ci_low=lo, ci_high=hi,
                                  leakage=num["leakage"][r], window_days=window, weeks=weeks,
                                  n_geos=num["n_geos"][r])
        except InputError as e:
            if not (allow_short_window and "window_days" in str(e) and "shorter than" in str(e)):
                raise
            from harness.validate import warn
            warn(str(e) + " (allowed by allow_short_window=true)")
        if np.isnan(se):
            if np.isnan(lo) or np.isnan(hi):
                raise InputError(path, "lift_se is blank and no CI to derive it from", row, "lift_se")
            se = (hi - lo) / (2 * z)
            if not se > 0:
                raise InputError(path, f"lift_se derived from the CI must be > 0, got {se:g}", row, "lift_se")
        share = num["population_share"][r]
        if not 0 < share <= 1:
            raise InputError(path, f"population_share must be in (0, 1], got {share:g}", row,
                             "population_share")
        if num["spend_baseline"][r] < 0:
            raise InputError(path, "negative spend_baseline", row, "spend_baseline")
        delta = num["spend_delta"][r]
        if delta == 0:
            raise InputError(path, "spend_delta is zero (nothing was tested)", row, "spend_delta")
        if num["spend_baseline"][r] + delta < -1e-9 * max(1.0, abs(delta)):
            raise InputError(path, "spend_baseline + spend_delta is negative", row, "spend_delta")
        if data_known:
            k = observed.channel_names.index(channel)
            _rules.check_lift_against_data(path, row, lift=num["lift"][r], channel=channel,
                                           channel_spend=observed.spend[:, k], start=start, end=end,
                                           total_kpi=total_kpi)
        tests.append(LiftTest(
            test_id=str(rec["test_id"]).strip(), channel=channel, start_week=start, end_week=end,
            window_days=int(math.ceil(window)), population_share=float(share),
            spend_baseline=float(num["spend_baseline"][r]), spend_delta=float(delta),
            lift=float(num["lift"][r]), lift_se=float(se), ci_low=float(lo), ci_high=float(hi),
            n_geos=int(num["n_geos"][r]) if not np.isnan(num["n_geos"][r]) else -1,
            leakage=float(num["leakage"][r]),
            holdout_verified=flags["holdout_verified"][r],
            spend_delivery_ok=flags["spend_delivery_ok"][r],
            sensitivity_sign_flip=flags["sensitivity_sign_flip"][r],
        ))
    return tests
