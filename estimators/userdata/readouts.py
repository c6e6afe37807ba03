"""Lift-test readouts as a practitioner has them: partial columns, three ways to give the estimate.

One row per test. Columns (names as below, or renamed with ``test_columns.<field>=<column>``):

* required: ``channel``, ``start_date``, ``end_date`` (first and last day of changed spend),
  and ``spend_delta`` (weekly spend change in the treated geos, negative for go-dark) or
  ``spend_delta_total`` (the change over the whole test, divided by its weeks);
* the estimate, one of
  - ``lift`` with ``lift_se``;
  - ``lift`` with ``ci_low, ci_high`` (and ``ci_level``, a column or the config's default 0.95);
  - ``iroas`` with ``iroas_se`` or ``iroas_ci_low, iroas_ci_high`` (converted to a lift as
    ``lift = iroas x spend_delta x weeks``, the inverse of the M1 conversion);
* optional: ``test_id`` (default ``test<row>``), ``window_days`` (default: start to the end
  of the last changed week), ``population_share`` and ``spend_baseline`` (M2 needs both, to
  place the test on the curve), ``n_geos``, ``leakage``, ``holdout_verified``,
  ``spend_delivery_ok``, ``sensitivity_sign_flip``, ``run_date`` (default ``end_date``),
  ``treated_geos`` (geo ids separated by ``;``: with ``geo=PATH`` a blank ``population_share``
  becomes the treated geos' share of the population).

A blank or missing quality field is unknown and scores low in EQS (seeds/000: "if you don't
know a dimension, default to Red"). A test that M2 cannot use (no ``population_share`` or
``spend_baseline``, or dates outside the data's weeks) is kept with a one-line reason; M1 can
still use it. Every malformed value raises :class:`harness.errors.InputError` naming file,
row (header = row 1) and column.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from common.records import LiftTest
from estimators.model.data import _numeric, _read_csv
from harness.validate.tables import FLAG_FALSE, FLAG_TRUE
from harness.errors import ConfigError, InputError

FIELDS = ("test_id", "channel", "start_date", "end_date", "window_days", "spend_delta",
          "spend_delta_total", "lift", "lift_se", "ci_low", "ci_high", "ci_level", "iroas",
          "iroas_se", "iroas_ci_low", "iroas_ci_high", "population_share", "spend_baseline",
          "n_geos", "leakage", "holdout_verified", "spend_delivery_ok", "sensitivity_sign_flip",
          "run_date", "treated_geos")
HIDDEN = ("true_lift", "failure_modes")     # simulator truth: dropped unread
M2_FIELDS = ("population_share", "spend_baseline")


class Readout(NamedTuple):
    """One normalised test.

    Attributes:
        test: the :class:`common.records.LiftTest` (weeks index the data; they may lie outside it,
            and ``population_share`` / ``spend_baseline`` are NaN when not given).
        row: its spreadsheet row in the file (header = 1).
        run_date: ``datetime64[D]`` when the readout was produced.
        source: how the estimate was given: ``lift_se``, ``lift_ci``, ``iroas_se`` or ``iroas_ci``.
        m2_reason: why M2 cannot use it ("" when it can).
    """

    test: LiftTest
    row: int
    run_date: np.datetime64
    source: str
    m2_reason: str


def rename_map(cfg: Mapping[str, Any] | None, path: str = "test_columns") -> dict:
    """Validate ``test_columns`` (``{field: user column}``) into a rename map ``{user column: field}``."""
    out = {}
    for field, col in dict(cfg or {}).items():
        if field not in FIELDS:
            raise ConfigError(f"{path}.{field}", f"unknown test field; known: {', '.join(FIELDS)}")
        if col is None or str(col).strip() == "":
            raise ConfigError(f"{path}.{field}", "needs a column name")
        out[str(col).strip()] = field
    return out


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip().lower() in ("", "nan", "na", "none")


def _date(path, value, row, col):
    try:
        return np.datetime64(pd.Timestamp(str(value).strip()).date(), "D")
    except (ValueError, TypeError):
        raise InputError(path, f"not a date: {value!r}", row, col) from None


def _flag_strict(path, value, row, col):
    if _blank(value):
        return None
    s = str(value).strip().lower()
    if s in FLAG_TRUE:
        return True
    if s in FLAG_FALSE:
        return False
    raise InputError(path, f"not true/false: {value!r}", row, col)


def read_readouts(path, dates: np.ndarray, channels: Sequence[str], *, ci_level: float = 0.95,
                  rename: Mapping[str, str] | None = None,
                  geo_population: Mapping[str, float] | None = None) -> list[Readout]:
    """Read and normalise the user's test readouts against the data's weeks and channels.

    Args:
        path: the CSV.
        dates: the data's week start dates ``[T]``.
        channels: the data's channel names.
        ci_level: default level of ``ci_low/ci_high`` and ``iroas_ci_low/iroas_ci_high``.
        rename: ``{user column: field}`` from :func:`rename_map`.
        geo_population: ``{geo id: population}`` from :func:`read_geo_population` (fills a blank
            ``population_share`` from ``treated_geos``).
    Returns:
        one :class:`Readout` per row.
    Raises:
        InputError: the first problem, naming file, row and column.
    """
    from scipy.stats import norm

    path = str(path)
    df = _read_csv(path)
    df = df.drop(columns=[c for c in HIDDEN if c in df.columns])
    rename = dict(rename or {})
    back = {v: k for k, v in rename.items()}          # field -> the user's column (for messages)
    df = df.rename(columns=rename)
    col = lambda f: back.get(f, f)
    for f in ("channel", "start_date", "end_date"):
        if f not in df.columns:
            raise InputError(path, "missing column", None, col(f))
    if "spend_delta" not in df.columns and "spend_delta_total" not in df.columns:
        raise InputError(path, "missing column (or spend_delta_total)", None, col("spend_delta"))
    if "lift" not in df.columns and "iroas" not in df.columns:
        raise InputError(path, "missing column: give lift (with lift_se or ci_low/ci_high) or iroas "
                         "(with iroas_se or iroas_ci_low/iroas_ci_high)", None, col("lift"))
    if len(df) == 0:
        raise InputError(path, "no tests in the file")
    num = {}
    for f in ("window_days", "spend_delta", "spend_delta_total", "lift", "lift_se", "ci_low", "ci_high",
              "ci_level", "iroas", "iroas_se", "iroas_ci_low", "iroas_ci_high", "population_share",
              "spend_baseline", "n_geos", "leakage"):
        if f in df.columns:
            num[f] = _numeric(path, df.rename(columns={f: col(f)}), col(f), allow_blank=True)
        else:
            num[f] = np.full(len(df), np.nan)
    t0 = np.asarray(dates, "datetime64[D]")[0]
    seen = set()
    out = []
    for r in range(len(df)):
        row = r + 2
        rec = df.iloc[r]
        g = lambda f: num[f][r]
        tid = str(rec["test_id"]).strip() if "test_id" in df.columns and not _blank(rec["test_id"]) else f"test{r + 1}"
        if tid in seen:
            raise InputError(path, f"duplicate test_id {tid!r}", row, col("test_id"))
        seen.add(tid)
        channel = str(rec["channel"]).strip()
        if channel not in channels:
            raise InputError(path, f"unknown channel {channel!r}; the data has {list(channels)}", row, col("channel"))
        start = _date(path, rec["start_date"], row, col("start_date"))
        end = _date(path, rec["end_date"], row, col("end_date"))
        if end < start:
            raise InputError(path, "end_date before start_date", row, col("end_date"))
        s_week = int((start - t0).astype(int) // 7)
        e_week = int((end - t0).astype(int) // 7)
        weeks = e_week - s_week + 1
        delta = g("spend_delta")
        if np.isnan(delta):
            if np.isnan(g("spend_delta_total")):
                raise InputError(path, "missing value: give spend_delta or spend_delta_total", row, col("spend_delta"))
            delta = g("spend_delta_total") / weeks
        if delta == 0:
            raise InputError(path, "spend_delta is zero (nothing was tested)", row, col("spend_delta"))
        level = g("ci_level") if not np.isnan(g("ci_level")) else ci_level
        if not 0 < level < 1:
            raise InputError(path, f"ci_level must be in (0, 1), got {level:g}", row, col("ci_level"))
        z = float(norm.ppf(0.5 + level / 2))
        scale = delta * weeks
        if not np.isnan(g("lift")):
            lift, se, lo, hi = g("lift"), g("lift_se"), g("ci_low"), g("ci_high")
            names, source = ("lift_se", "ci_low", "ci_high"), "lift"
        elif not np.isnan(g("iroas")):
            lift, se = g("iroas") * scale, g("iroas_se") * abs(scale)
            lo, hi = sorted((g("iroas_ci_low") * scale, g("iroas_ci_high") * scale)) \
                if not (np.isnan(g("iroas_ci_low")) or np.isnan(g("iroas_ci_high"))) else (np.nan, np.nan)
            if g("iroas_ci_low") > g("iroas_ci_high"):
                raise InputError(path, "iroas_ci_low > iroas_ci_high", row, col("iroas_ci_low"))
            names, source = ("iroas_se", "iroas_ci_low", "iroas_ci_high"), "iroas"
        else:
            raise InputError(path, "missing value: give lift or iroas", row, col("lift" if "lift" in df.columns else "iroas"))
        if not (np.isnan(lo) or np.isnan(hi)) and lo > hi:
            raise InputError(path, f"{names[1]} > {names[2]}", row, col(names[1]))
        if np.isnan(se):
            if np.isnan(lo) or np.isnan(hi):
                raise InputError(path, f"no uncertainty: give {names[0]} or {names[1]} and {names[2]}",
                                 row, col(names[0]))
            se = (hi - lo) / (2 * z)
            source += "_ci"
        else:
            source += "_se"
            if np.isnan(lo) or np.isnan(hi):
                lo, hi = lift - z * se, lift + z * se
        if not se > 0:
            raise InputError(path, f"the standard error must be > 0, got {se:g}", row, col(names[0]))
        window = g("window_days")
        if np.isnan(window):
            window = float((end - start).astype(int) + 7)
        if window < 1:
            raise InputError(path, f"window_days must be >= 1, got {window:g}", row, col("window_days"))
        share, base = g("population_share"), g("spend_baseline")
        if np.isnan(share) and geo_population and "treated_geos" in df.columns and not _blank(rec["treated_geos"]):
            ids = [x.strip() for x in str(rec["treated_geos"]).replace(",", ";").split(";") if x.strip()]
            unknown = [x for x in ids if x not in geo_population]
            if unknown:
                raise InputError(path, f"geo {unknown[0]!r} is not in the geo file", row, col("treated_geos"))
            share = sum(geo_population[x] for x in ids) / sum(geo_population.values())
        if not np.isnan(share) and not 0 < share <= 1:
            raise InputError(path, f"population_share must be in (0, 1], got {share:g}", row, col("population_share"))
        if not np.isnan(base) and base < 0:
            raise InputError(path, f"negative spend_baseline {base:g}", row, col("spend_baseline"))
        if not np.isnan(base) and base + delta < -1e-9 * max(1.0, abs(delta)):
            raise InputError(path, "spend_baseline + spend_delta is negative", row, col("spend_delta"))
        leak = g("leakage")
        if not np.isnan(leak) and not 0 <= leak <= 1:
            raise InputError(path, f"leakage must be a share in [0, 1], got {leak:g}", row, col("leakage"))
        flags = {f: _flag_strict(path, rec[f], row, col(f)) if f in df.columns else None
                 for f in ("holdout_verified", "spend_delivery_ok", "sensitivity_sign_flip")}
        run_date = _date(path, rec["run_date"], row, col("run_date")) \
            if "run_date" in df.columns and not _blank(rec["run_date"]) else end
        missing = [f for f, v in zip(M2_FIELDS, (share, base)) if np.isnan(v)]
        if missing:
            reason = (f"no {' or '.join(missing)}: M2 needs it to place the test on the response curve "
                      "(M1 can use this test)")
        elif s_week < 0 or s_week >= len(dates):
            reason = "starts outside the data's weeks: M2 needs the test inside the data (M1 can use it)"
        else:
            reason = ""
        n_geos = g("n_geos")
        out.append(Readout(
            test=LiftTest(test_id=tid, channel=channel, start_week=s_week, end_week=e_week,
                          window_days=int(math.ceil(window)), population_share=float(share),
                          spend_baseline=float(base), spend_delta=float(delta), lift=float(lift),
                          lift_se=float(se), ci_low=float(lo), ci_high=float(hi),
                          n_geos=int(n_geos) if not np.isnan(n_geos) else -1, leakage=float(leak),
                          estimator="user", **flags),
            row=row, run_date=run_date, source=source, m2_reason=reason))
    return out


def read_geo_population(path) -> dict:
    """``{geo id: population}`` from a geo CSV with columns ``geo`` and ``population`` (a panel with
    one row per geo and week is fine: each geo's first row counts)."""
    path = str(path)
    df = _read_csv(path)
    for f in ("geo", "population"):
        if f not in df.columns:
            raise InputError(path, "missing column", None, f)
    pop = _numeric(path, df, "population", nonneg=True)
    out = {}
    for r, (g, p) in enumerate(zip(df["geo"].astype(str).str.strip(), pop)):
        if g not in out:
            out[g] = float(p)
    if not sum(out.values()) > 0:
        raise InputError(path, "total population must be > 0", None, "population")
    return out
