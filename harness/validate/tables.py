"""Reading CSV tables strictly: every problem names file, row and field.

Rows are numbered as in a spreadsheet: the header is row 1, the first data row is row 2.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import InputError

# Largest magnitude accepted for any number in an input table: far beyond any real KPI or
# spend, small enough that sums of a few thousand of them stay finite in float32 and float64.
MAX_ABS = 1e15


def read_table(path) -> pd.DataFrame:
    """The CSV at ``path`` as strings (blank cells stay ``""``), columns stripped.

    Raises:
        InputError: file missing, unreadable, empty, not UTF-8, or with a duplicate or blank header.
    """
    p = Path(str(path))
    if not p.is_file():
        raise InputError(path, "file not found" if not p.exists() else "not a file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (UnicodeDecodeError, OSError) as e:
        raise InputError(path, f"not a readable UTF-8 text file ({type(e).__name__})") from None
    first = next(csv.reader(io.StringIO(text)), None)
    if not first:
        raise InputError(path, "empty file (no header row)")
    seen = {}
    for j, name in enumerate(h.strip() for h in first):
        if name == "":
            raise InputError(path, f"blank column name (column {j + 1})", 1)
        if name in seen:
            raise InputError(path, f"duplicate column (columns {seen[name] + 1} and {j + 1})", 1, name)
        seen[name] = j
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise InputError(path, f"not a readable CSV ({str(e).splitlines()[0]})") from None
    df.columns = [c.strip() for c in df.columns]
    for r in range(len(df)):
        if all(str(v).strip() == "" for v in df.iloc[r].tolist()):
            raise InputError(path, "blank row", r + 2)
    return df


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "") or (isinstance(v, float) and math.isnan(v))


def numeric_column(path, df: pd.DataFrame, col: str, *, allow_blank: bool = False, nonneg: bool = False,
                   max_abs: float = MAX_ABS) -> np.ndarray:
    """Column ``col`` as float64 (blank -> NaN when ``allow_blank``).

    Raises:
        InputError: at the first blank (unless allowed), non-number, NaN, inf, negative (when
            ``nonneg``) or magnitude above ``max_abs``.
    """
    out = np.empty(len(df))
    for r, v in enumerate(df[col].tolist()):
        row = r + 2
        if _blank(v):
            if allow_blank:
                out[r] = np.nan
                continue
            raise InputError(path, "missing value (blank or NaN)", row, col)
        try:
            x = float(str(v).strip())
        except (TypeError, ValueError):
            raise InputError(path, f"not a number: {v!r}", row, col) from None
        if math.isnan(x):
            if allow_blank:
                out[r] = np.nan
                continue
            raise InputError(path, "missing value (NaN)", row, col)
        if math.isinf(x):
            raise InputError(path, f"not finite: {v!r}", row, col)
        if abs(x) > max_abs:
            raise InputError(path, f"magnitude {x:g} is above the limit {max_abs:g}", row, col)
        if nonneg and x < 0:
            raise InputError(path, f"negative value {x:g}", row, col)
        out[r] = x
    return out


def date_column(path, df: pd.DataFrame, col: str) -> np.ndarray:
    """Column ``col`` as ``datetime64[D]``; raises InputError at the first non-date."""
    out = []
    for r, v in enumerate(df[col].tolist()):
        s = str(v).strip()
        try:
            if not s:
                raise ValueError
            out.append(np.datetime64(pd.Timestamp(s).date(), "D"))
        except (ValueError, TypeError, OverflowError):
            raise InputError(path, f"not a date: {v!r}", r + 2, col) from None
    return np.array(out, dtype="datetime64[D]")


FLAG_TRUE = ("true", "1", "yes", "t", "1.0", "y")
FLAG_FALSE = ("false", "0", "no", "f", "0.0", "n")


def flag_column(path, df: pd.DataFrame, col: str) -> list:
    """A true/false/blank column as ``True``/``False``/``None``; anything else is refused."""
    if col not in df.columns:
        return [None] * len(df)
    out = []
    for r, v in enumerate(df[col].tolist()):
        s = str(v).strip().lower()
        if s in ("", "nan", "na", "none"):
            out.append(None)
        elif s in FLAG_TRUE:
            out.append(True)
        elif s in FLAG_FALSE:
            out.append(False)
        else:
            raise InputError(path, f"must be true, false or blank, got {v!r}", r + 2, col)
    return out
