"""The column map: read a user's weekly CSV under their own column names.

Config (``columns`` in ``conf/calibrate.yaml``)::

    columns:
      date: date             # week start date column
      kpi: kpi               # KPI (revenue, orders...) column
      spend: {}              # {channel: column}; empty -> every column starting with spend_prefix
      controls: {}           # {name: column}; empty -> every column starting with control_prefix
      spend_prefix: spend_
      control_prefix: control_

so ``columns.date=week columns.kpi=revenue columns.spend.tv=tv_cost`` reads a file with columns
``week, revenue, tv_cost, ...``. Errors name the user's file, row and column.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from estimators.model.data import Observed, _dates, _numeric, _read_csv
from harness.errors import ConfigError, InputError


@dataclass(frozen=True)
class ColumnMap:
    """Where each model input sits in the user's file.

    Attributes:
        date, kpi: column names.
        spend: ``((channel, column), ...)``; empty means "every column with ``spend_prefix``".
        controls: ``((name, column), ...)``; empty means "every column with ``control_prefix``".
        spend_prefix, control_prefix: prefixes for the defaults (stripped to make the names).
    """

    date: str = "date"
    kpi: str = "kpi"
    spend: tuple = ()
    controls: tuple = ()
    spend_prefix: str = "spend_"
    control_prefix: str = "control_"


def column_map(cfg: Mapping[str, Any] | None, path: str = "columns") -> ColumnMap:
    """Validate the ``columns`` config mapping into a :class:`ColumnMap`."""
    cfg = dict(cfg or {})
    known = set(ColumnMap.__dataclass_fields__)
    for k in cfg:
        if k not in known:
            raise ConfigError(f"{path}.{k}", f"unknown setting; known: {sorted(known)}")

    def pairs(name):
        node = cfg.get(name) or {}
        if not isinstance(node, Mapping):
            raise ConfigError(f"{path}.{name}", "must map names to columns, e.g. "
                              f"{path}.{name}.tv=tv_cost")
        out = []
        for k, v in node.items():
            if v is None or str(v).strip() == "":
                raise ConfigError(f"{path}.{name}.{k}", "needs a column name")
            out.append((str(k), str(v).strip()))
        return tuple(out)

    def text(name, default):
        v = cfg.get(name, default)
        if v is None or not isinstance(v, (str, int)) or str(v).strip() == "":
            raise ConfigError(f"{path}.{name}", f"needs a column name or prefix, got {v!r}")
        return str(v).strip()

    cm = ColumnMap(date=text("date", "date"), kpi=text("kpi", "kpi"), spend=pairs("spend"),
                   controls=pairs("controls"), spend_prefix=text("spend_prefix", "spend_"),
                   control_prefix=text("control_prefix", "control_"))
    used = [cm.date, cm.kpi] + [c for _, c in cm.spend] + [c for _, c in cm.controls]
    dup = sorted({c for c in used if used.count(c) > 1})
    if dup:
        raise ConfigError(path, f"column {dup[0]!r} is mapped twice")
    return cm


def resolve(cm: ColumnMap, header: list, path: str) -> tuple[tuple, tuple]:
    """The ``(name, column)`` pairs of spend and controls in a file with this header."""
    for field, col in (("date", cm.date), ("kpi", cm.kpi)):
        if col not in header:
            raise InputError(path, f"missing column (columns.{field}={col!r}); file has {header}", None, col)
    taken = {cm.date, cm.kpi}
    if cm.spend:
        spend = cm.spend
    else:
        spend = tuple((c[len(cm.spend_prefix):], c) for c in header
                      if c.startswith(cm.spend_prefix) and c not in taken)
    if not spend:
        raise InputError(path, f"no spend column: name them with columns.spend.<channel>=<column> "
                         f"or the prefix {cm.spend_prefix!r}", None, f"{cm.spend_prefix}*")
    taken |= {c for _, c in spend}
    if cm.controls:
        controls = cm.controls
    else:
        controls = tuple((c[len(cm.control_prefix):], c) for c in header
                         if c.startswith(cm.control_prefix) and c not in taken)
    for kind, pairs in (("spend", spend), ("controls", controls)):
        for name, col in pairs:
            if col not in header:
                raise InputError(path, f"missing column (columns.{kind}.{name}={col!r})", None, col)
            if not name:
                raise InputError(path, "empty channel name after stripping the prefix", None, col)
    return spend, controls


def read_user_data(path, cm: ColumnMap, holdout_weeks: int = 0, dataset_id: str | None = None) -> Observed:
    """Read the user's weekly CSV through the column map.

    Args:
        path: the CSV (one row a week, consecutive weeks).
        cm: the :class:`ColumnMap`.
        holdout_weeks: final weeks kept out of the likelihood (for the holdout MAPE).
        dataset_id: identifier (default: the file's stem).
    Returns:
        an :class:`estimators.model.data.Observed` with spend ``[T, K]`` and controls ``[T, C]``.
    Raises:
        InputError: one line naming file, row and the user's column.
    """
    path = str(path)
    df = _read_csv(path)
    spend_pairs, control_pairs = resolve(cm, list(df.columns), path)
    if len(df) < 10:
        raise InputError(path, f"need at least 10 weekly rows, found {len(df)}")
    dates = _dates(path, df, cm.date)
    steps = np.diff(dates).astype(int)
    bad = np.flatnonzero(steps != 7)
    if bad.size:
        raise InputError(path, f"dates must be consecutive weeks (7 days apart, increasing); "
                         f"found {steps[bad[0]]} days", int(bad[0]) + 3, cm.date)
    kpi = _numeric(path, df, cm.kpi)
    spend = np.stack([_numeric(path, df, c, nonneg=True) for _, c in spend_pairs], axis=-1)
    for k, (name, col) in enumerate(spend_pairs):
        if not spend[:, k].sum() > 0:
            raise InputError(path, f"channel {name!r} never spends", None, col)
    controls = (np.stack([_numeric(path, df, c) for _, c in control_pairs], axis=-1)
                if control_pairs else np.zeros((len(df), 0)))
    n = len(df)
    if not 0 <= holdout_weeks < n - 8:
        raise InputError(path, f"holdout_weeks={holdout_weeks} leaves too few weeks to fit")
    if not kpi[: n - holdout_weeks].mean() > 0:
        raise InputError(path, "the KPI's mean over the fitted weeks must be > 0", None, cm.kpi)
    return Observed(dates=dates, kpi=kpi, spend=spend, controls=controls,
                    channel_names=tuple(n_ for n_, _ in spend_pairs),
                    control_names=tuple(n_ for n_, _ in control_pairs), n_fit=n - holdout_weeks,
                    dataset_id=dataset_id or Path(path).stem)
