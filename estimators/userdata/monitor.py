"""Monitor: the age of each test, its retirement flag and information decay (seeds/001 eq. 14).

Eq. (14): ``sigma_eff^2(t) = sigma_post^2 exp(lambda t)``; here ``t`` is the test's age in
months at ``as_of`` and ``lambda`` is per month, so a readout's standard error (and its CI
about the estimate) is multiplied by ``exp(lambda t / 2)``.
"""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from common.records import LiftTest
from harness.errors import ConfigError

DAYS_PER_MONTH = 365.25 / 12


class MonitorSpec(NamedTuple):
    retire_months: float = 12.0
    refuse_retired: bool = False
    as_of: np.datetime64 | None = None     # None: the day after the data's last week
    decay_lambda: float | None = None      # per month; None: no decay


def monitor_spec(monitor: Mapping[str, Any] | None, decay: Mapping[str, Any] | None) -> MonitorSpec:
    """Validate the ``monitor`` and ``decay`` config sections."""
    m, d = dict(monitor or {}), dict(decay or {})
    for k in m:
        if k not in ("retire_months", "refuse_retired", "as_of"):
            raise ConfigError(f"monitor.{k}", "unknown setting; known: as_of, refuse_retired, retire_months")
    for k in d:
        if k != "lambda":
            raise ConfigError(f"decay.{k}", "unknown setting; known: lambda")
    try:
        months = float(m.get("retire_months", 12))
    except (TypeError, ValueError):
        raise ConfigError("monitor.retire_months", f"must be a number, got {m.get('retire_months')!r}") from None
    if not months > 0:
        raise ConfigError("monitor.retire_months", "must be > 0")
    lam = d.get("lambda")
    if lam is not None:
        try:
            lam = float(lam)
        except (TypeError, ValueError):
            raise ConfigError("decay.lambda", f"must be a number per month, got {lam!r}") from None
        if not (lam >= 0 and np.isfinite(lam)):
            raise ConfigError("decay.lambda", "must be >= 0 (per month)")
    as_of = m.get("as_of")
    if as_of is not None:
        try:
            import pandas as pd
            as_of = np.datetime64(pd.Timestamp(str(as_of)).date(), "D")
        except (ValueError, TypeError):
            raise ConfigError("monitor.as_of", f"not a date: {as_of!r}") from None
    refuse = m.get("refuse_retired", False)
    if not isinstance(refuse, bool):
        raise ConfigError("monitor.refuse_retired", "must be true or false")
    return MonitorSpec(months, refuse, as_of, lam)


def age_months(run_dates: Sequence[np.datetime64], as_of: np.datetime64) -> np.ndarray:
    """Age in months of each readout at ``as_of``, ``[n]`` (negative ages clip to 0)."""
    days = (np.asarray(as_of, "datetime64[D]") - np.asarray(run_dates, "datetime64[D]")).astype(float)
    return np.maximum(days, 0.0) / DAYS_PER_MONTH


def se_factor(age: np.ndarray, lam: float | None) -> np.ndarray:
    """Multiplier of the standard error from eq. (14): ``exp(lambda t / 2)``, ``[n]``."""
    age = np.asarray(age, float)
    return np.ones_like(age) if lam is None else np.exp(lam * age / 2.0)


def inflate(test: LiftTest, factor: float) -> LiftTest:
    """The test with its standard error and CI (about the estimate) multiplied by ``factor``."""
    if factor == 1.0:
        return test
    return test._replace(lift_se=test.lift_se * factor, ci_low=test.lift - (test.lift - test.ci_low) * factor,
                         ci_high=test.lift + (test.ci_high - test.lift) * factor)
