"""``python -m estimators.score experiments=PATH.csv out=PATH.csv``: score your own experiments.

Reads a lift-test table (the columns of ``lift_tests.csv`` plus ``model_lag_days``,
``model_roi_low`` and ``model_roi_high`` from your baseline model), and writes it back with
``eqs_uncertainty, eqs_alignment, eqs_holdout, eqs_model, eqs_total, eqs_tier`` and one
boolean ``use_<strategy>`` column per strategy. A bad row stops the run with one line naming
file, row and field.
"""
from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from estimators.evidence.eqs import ModelView, eqs_spec, score
from estimators.evidence.strategies import STRATEGIES, used_mask
from estimators.model.data import Observed, _dates, _numeric, _read_csv, read_lift_tests_csv
from harness.errors import ConfigError, InputError
from harness.manifest import atomic_write_text

MODEL_COLUMNS = ("model_lag_days", "model_roi_low", "model_roi_high")


def score_table(path, spec, key, allow_short_window: bool = False) -> pd.DataFrame:
    """Score the experiments in ``path``; returns the input rows plus the EQS and strategy columns."""
    df = _read_csv(path)
    for col in ("channel", "start_date", "end_date") + MODEL_COLUMNS:
        if col not in df.columns:
            raise InputError(path, "missing column", None, col)
    if len(df) == 0:
        raise InputError(path, "no experiments in the file")
    starts, ends = _dates(path, df, "start_date"), _dates(path, df, "end_date")
    # A weekly calendar spanning every test, so weeks count from start to end date inclusive.
    first = starts.min()
    span = int((ends.max() - first).astype(int) // 7)
    if span > 5200:
        raise InputError(path, f"the tests span {span} weeks ({first} to {ends.max()}); more than 100 years "
                               "is not a plausible set of experiments", None, "start_date")
    dates = first + 7 * np.arange(int((ends.max() - first).astype(int) // 7) + 2)
    channels = tuple(dict.fromkeys(str(c).strip() for c in df["channel"]))
    cal = Observed(dates=dates, kpi=np.zeros(dates.size), spend=np.zeros((dates.size, len(channels))),
                   controls=np.zeros((dates.size, 0)), channel_names=channels, control_names=(),
                   n_fit=dates.size)
    tests = read_lift_tests_csv(path, cal, data_known=False, allow_short_window=allow_short_window)
    lag = _numeric(path, df, "model_lag_days", allow_blank=True, nonneg=True)
    lo = _numeric(path, df, "model_roi_low", allow_blank=True)
    hi = _numeric(path, df, "model_roi_high", allow_blank=True)
    for r in np.flatnonzero(lo > hi):
        raise InputError(path, f"model_roi_low ({lo[r]:g}) > model_roi_high ({hi[r]:g})", int(r) + 2,
                         "model_roi_low")
    s = score(tests, ModelView(lag, lo, hi), spec)
    out = df.copy()
    for name in ("uncertainty", "alignment", "holdout", "model", "total"):
        out[f"eqs_{name}"] = getattr(s, name)
    out["eqs_tier"] = s.tier
    for name in STRATEGIES:
        out[f"use_{name}"] = used_mask(name, key, tests, s, spec)
    return out


def _out_file(out) -> Path:
    """``out=`` as a file; in a multirun, ``<its folder>/<override string>/<its name>``."""
    from harness.cli import job_out

    p = Path(str(out))
    job = job_out(p.parent)
    return (job / p.name) if job is not None and job != p.parent else p


def run(cfg: DictConfig) -> Path:
    from harness.validate.paths import ensure_writable_file

    for field in ("experiments", "out"):
        if OmegaConf.is_missing(cfg, field):
            raise ConfigError(field, "is required, e.g. experiments=my_tests.csv out=scored.csv")
    try:
        seed = int(cfg.seed)
    except (TypeError, ValueError):
        raise ConfigError("seed", f"must be a whole number, got {cfg.seed!r}") from None
    allow = cfg.get("allow_short_window", False)
    if not isinstance(allow, bool):
        raise ConfigError("allow_short_window", f"must be true or false, got {allow!r}")
    out = ensure_writable_file(_out_file(cfg.out), "out")
    spec = eqs_spec(OmegaConf.to_container(cfg.eqs, resolve=True))
    table = score_table(str(cfg.experiments), spec, jax.random.key(seed), allow)
    atomic_write_text(out, table.to_csv(index=False))
    counts = table["eqs_tier"].value_counts().reindex(["Gold", "Silver", "Red"], fill_value=0)
    print(f"scored {len(table)} experiment(s): " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f" -> {out}", file=sys.stderr)
    return out


if __name__ == "__main__":
    from harness.cli import main

    main("score", run)
