"""Cross-field rules of the observable inputs (``data.csv``, ``lift_tests.csv``, the score input).

Each rule is a plain function of arrays that raises :class:`harness.errors.InputError` naming
file, row and field, or calls :func:`harness.validate.warn.warn` for legal but suspicious input.
"""
from __future__ import annotations

import numpy as np

from harness.errors import InputError
from harness.validate.warn import warn

# A channel below this share of total spend, or live in fewer than MIN_LIVE_WEEKS weeks, is
# legal but its ROI is barely identified: a warning.
LOW_SPEND_SHARE = 0.005
MIN_LIVE_WEEKS = 4
# lift_se below this fraction of |lift| (or of 1 when the lift is 0) is not a standard error.
MIN_RELATIVE_SE = 1e-9
# A lift larger than this many times the whole data's KPI cannot come from a part of it.
MAX_LIFT_TO_KPI = 10.0


def check_kpi(path, kpi: np.ndarray, n_fit: int, col: str = "kpi") -> None:
    """KPI ``[T]``: not zero or negative throughout, positive mean over the fitted weeks, not constant."""
    fitted = kpi[:n_fit]
    if np.all(kpi <= 0):
        raise InputError(path, "KPI is zero or negative in every week; the model needs a positive KPI",
                         None, col)
    if not fitted.mean() > 0:
        raise InputError(path, f"mean KPI over the fitted weeks is {fitted.mean():g}; must be > 0", None, col)
    if np.ptp(fitted) <= 1e-9 * abs(fitted.mean()):
        raise InputError(path, f"KPI is constant ({fitted[0]:g} in every fitted week): nothing to explain",
                         None, col)
    if np.any(kpi < 0):
        r = int(np.flatnonzero(kpi < 0)[0])
        warn(f"{path}, row {r + 2}, field '{col}': negative KPI {kpi[r]:g} "
             f"({int((kpi < 0).sum())} negative week(s)); fitted as is")


def check_spend(path, spend: np.ndarray, columns) -> None:
    """Spend ``[T, K]``: every channel spends something; warn when a channel barely does."""
    total = spend.sum(0)
    if not total.sum() > 0:
        raise InputError(path, "no channel has any spend", None, "spend_*")
    for k, col in enumerate(columns):
        if not total[k] > 0:
            raise InputError(path, "this channel never spends, so its ROI cannot be estimated; "
                                   "drop the column", None, col)
    share = total / total.sum()
    live = (spend > 0).sum(0)
    for k, col in enumerate(columns):
        if share[k] < LOW_SPEND_SHARE or live[k] < MIN_LIVE_WEEKS:
            warn(f"{path}, field '{col}': almost no spend ({100 * share[k]:.2g}% of all spend, "
                 f"{int(live[k])} week(s) with spend); its ROI will mostly follow the prior")


def check_controls(path, controls: np.ndarray, columns) -> None:
    """Controls ``[T, C]``: warn on a constant control (it duplicates the intercept)."""
    for c, col in enumerate(columns):
        if controls.shape[0] and np.ptp(controls[:, c]) == 0:
            warn(f"{path}, field '{col}': constant control ({controls[0, c]:g} in every row); "
                 "it cannot be told apart from the intercept")


def check_unique(path, values, col: str) -> None:
    """No blank and no repeated value in ``values`` (rows from 2)."""
    seen = {}
    for r, v in enumerate(values):
        s = str(v).strip()
        if not s:
            raise InputError(path, "missing value (blank)", r + 2, col)
        if s in seen:
            raise InputError(path, f"duplicate {col} {s!r} (also in row {seen[s]})", r + 2, col)
        seen[s] = r + 2


def check_lift_row(path, row: int, *, lift, lift_se, ci_low, ci_high, leakage, window_days, weeks,
                   n_geos) -> None:
    """The rules of one lift-test row that need no dataset.

    Args:
        weeks: number of weeks whose spend changed (start to end date inclusive).
    """
    if not (np.isnan(ci_low) or np.isnan(ci_high)):
        if ci_low > ci_high:
            raise InputError(path, f"ci_low ({ci_low:g}) > ci_high ({ci_high:g})", row, "ci_low")
        if not ci_low <= lift <= ci_high:
            raise InputError(path, f"lift {lift:g} lies outside its own CI [{ci_low:g}, {ci_high:g}]",
                             row, "lift")
    if not np.isnan(lift_se):
        if not lift_se > 0:
            raise InputError(path, f"lift_se must be > 0, got {lift_se:g}", row, "lift_se")
        if lift_se < MIN_RELATIVE_SE * max(abs(lift), 1.0):
            raise InputError(path, f"lift_se {lift_se:g} is implausibly small for a lift of {lift:g} "
                                   f"(below {MIN_RELATIVE_SE:g} of it)", row, "lift_se")
    if not np.isnan(leakage) and not 0 <= leakage <= 1:
        raise InputError(path, f"leakage is a share and must be in [0, 1], got {leakage:g}", row, "leakage")
    if window_days < 1:
        raise InputError(path, f"window_days must be >= 1, got {window_days:g}", row, "window_days")
    if window_days < 7 * weeks:
        raise InputError(path, f"window_days ({window_days:g}) is shorter than the {weeks} week(s) whose "
                               f"spend changed ({7 * weeks} days); the window must cover them", row,
                         "window_days")
    if not np.isnan(n_geos) and (n_geos < 2 or n_geos != int(n_geos)):
        raise InputError(path, f"n_geos must be a whole number >= 2, got {n_geos:g}", row, "n_geos")


def check_lift_against_data(path, row: int, *, lift, channel, channel_spend: np.ndarray, start: int,
                            end: int, total_kpi: float) -> None:
    """The rules of one lift-test row against its dataset: spend on the channel during the
    test's weeks, and a lift no larger than ``MAX_LIFT_TO_KPI`` x the data's total KPI."""
    if not channel_spend[start:end + 1].sum() > 0:
        raise InputError(path, f"channel {channel!r} has no spend in the data during the test's weeks, "
                               "so the test has nothing to measure", row, "channel")
    if abs(lift) > MAX_LIFT_TO_KPI * abs(total_kpi):
        raise InputError(path, f"|lift| {abs(lift):g} exceeds {MAX_LIFT_TO_KPI:g} x the data's total KPI "
                               f"({total_kpi:g})", row, "lift")
