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


def _numeric(path, df, col, *, allow_blank=False, nonneg=False):
    """Column as float64; raises InputError at the first bad row."""
    raw = df[col]
    out = np.empty(len(df))
    for r, v in enumerate(raw.tolist()):
        row = r + 2
        if v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and math.isnan(v)):
            if allow_blank:
                out[r] = np.nan
                continue
            raise InputError(path, "missing value (blank or NaN)", row, col)
        try:
            x = float(v)
        except (TypeError, ValueError):
            raise InputError(path, f"not a number: {v!r}", row, col) from None
        if math.isnan(x) and not allow_blank:
            raise InputError(path, "missing value (NaN)", row, col)
        if math.isinf(x):
            raise InputError(path, f"not finite: {v!r}", row, col)
        if nonneg and x < 0:
            raise InputError(path, f"negative value {x:g}", row, col)
        out[r] = x
    return out


def _dates(path, df, col):
    out = []
    for r, v in enumerate(df[col].tolist()):
        try:
            out.append(np.datetime64(pd.Timestamp(str(v).strip()).date(), "D"))
        except (ValueError, TypeError):
            raise InputError(path, f"not a date: {v!r}", r + 2, col) from None
    return np.array(out, dtype="datetime64[D]")


def _read_csv(path) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise InputError(path, "file not found")
    try:
        df = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(path, f"not a readable CSV ({str(e).splitlines()[0]})") from None
    df.columns = [c.strip() for c in df.columns]
    return df


def read_data_csv(path, holdout_weeks: int = 0, dataset_id: str | None = None) -> Observed:
    """Read and validate ``data.csv``.

    Args:
        path: file path.
        holdout_weeks: final weeks kept out of the likelihood.
        dataset_id: identifier (default: the parent folder's name).
    Returns:
        an :class:`Observed`.
    Raises:
        InputError: naming file, row and field of the first problem.
    """
    df = _read_csv(path)
    for col in ("date", "kpi"):
        if col not in df.columns:
            raise InputError(path, "missing column", None, col)
    spend_cols = [c for c in df.columns if c.startswith("spend_")]
    control_cols = [c for c in df.columns if c.startswith("control_")]
    if not spend_cols:
        raise InputError(path, "no spend_<channel> column", None, "spend_*")
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
    if not 0 <= holdout_weeks < n - 8:
        raise InputError(path, f"holdout_weeks={holdout_weeks} leaves too few weeks to fit")
    return Observed(
        dates=dates, kpi=kpi, spend=spend, controls=controls,
        channel_names=tuple(c[len("spend_"):] for c in spend_cols),
        control_names=tuple(c[len("control_"):] for c in control_cols),
        n_fit=n - holdout_weeks,
        dataset_id=dataset_id or Path(path).resolve().parent.name,
    )


def _week_index(path, dates, value, row, col):
    d = np.datetime64(pd.Timestamp(value).date(), "D") if not isinstance(value, np.datetime64) else value
    i = int(np.searchsorted(dates, d, side="right")) - 1
    if i < 0 or d >= dates[-1] + 7:
        raise InputError(path, f"date {value} lies outside the data's weeks", row, col)
    return i


def _flag(v):
    s = str(v).strip().lower()
    if s in ("", "nan", "none", "na"):
        return None
    if s in ("true", "1", "yes", "t", "1.0"):
        return True
    if s in ("false", "0", "no", "f", "0.0"):
        return False
    return None


def read_lift_tests_csv(path, observed: Observed, ci_level: float = 0.95) -> list[LiftTest]:
    """Read and validate ``lift_tests.csv`` against a dataset's weeks and channels.

    ``true_lift`` and ``failure_modes`` are dropped unread. A blank ``lift_se``
    is derived from the CI as ``(ci_high - ci_low) / (2 z)`` with ``z`` the
    two-sided normal quantile of ``ci_level``.

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
    num = {c: _numeric(path, df, c, allow_blank=c in ("lift_se", "ci_low", "ci_high"))
           for c in ("window_days", "population_share", "spend_baseline", "spend_delta",
                     "lift", "lift_se", "ci_low", "ci_high")}
    for c in ("n_geos", "leakage"):
        num[c] = _numeric(path, df, c, allow_blank=True) if c in df.columns else np.full(len(df), np.nan)
    from scipy.stats import norm
    z = float(norm.ppf(0.5 + ci_level / 2))
    tests = []
    for r in range(len(df)):
        row = r + 2
        rec = df.iloc[r]
        channel = str(rec["channel"]).strip()
        if channel not in observed.channel_names:
            raise InputError(path, f"unknown channel {channel!r}; data has {list(observed.channel_names)}",
                             row, "channel")
        try:
            start = _week_index(path, observed.dates, str(rec["start_date"]).strip(), row, "start_date")
        except ValueError as e:
            if isinstance(e, InputError):
                raise
            raise InputError(path, f"not a date: {rec['start_date']!r}", row, "start_date") from None
        try:
            end = _week_index(path, observed.dates, str(rec["end_date"]).strip(), row, "end_date")
        except ValueError as e:
            if isinstance(e, InputError):
                raise
            raise InputError(path, f"not a date: {rec['end_date']!r}", row, "end_date") from None
        if end < start:
            raise InputError(path, "end_date before start_date", row, "end_date")
        lo, hi = num["ci_low"][r], num["ci_high"][r]
        if not (np.isnan(lo) or np.isnan(hi)) and lo > hi:
            raise InputError(path, f"ci_low ({lo:g}) > ci_high ({hi:g})", row, "ci_low")
        se = num["lift_se"][r]
        if np.isnan(se):
            if np.isnan(lo) or np.isnan(hi):
                raise InputError(path, "lift_se is blank and no CI to derive it from", row, "lift_se")
            se = (hi - lo) / (2 * z)
        if not se > 0:
            raise InputError(path, f"lift_se must be > 0, got {se:g}", row, "lift_se")
        window = num["window_days"][r]
        if window < 1:
            raise InputError(path, f"window_days must be >= 1, got {window:g}", row, "window_days")
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
        tests.append(LiftTest(
            test_id=str(rec["test_id"]), channel=channel, start_week=start, end_week=end,
            window_days=int(math.ceil(window)), population_share=float(share),
            spend_baseline=float(num["spend_baseline"][r]), spend_delta=float(delta),
            lift=float(num["lift"][r]), lift_se=float(se), ci_low=float(lo), ci_high=float(hi),
            n_geos=int(num["n_geos"][r]) if not np.isnan(num["n_geos"][r]) else -1,
            leakage=float(num["leakage"][r]),
            holdout_verified=_flag(rec.get("holdout_verified", "")),
            spend_delivery_ok=_flag(rec.get("spend_delivery_ok", "")),
            sensitivity_sign_flip=_flag(rec.get("sensitivity_sign_flip", "")),
        ))
    return tests
