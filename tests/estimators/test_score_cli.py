"""``python -m estimators.score``: a user's own experiments in, EQS and strategy columns out."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from estimators.evidence.strategies import STRATEGIES
from tests.conftest import ROOT

ROWS = [
    # channel, start, end, window, lift, ci_low, ci_high, leakage, verified, flip, lag, roi_lo, roi_hi
    ("meta", "2024-01-01", "2024-01-22", 28, -1000, -1200, -800, 0.0, "true", "false", 7, 0.8, 1.2),
    ("meta", "2024-03-04", "2024-03-25", 28, -900, -1500, -300, 0.02, "true", "false", 7, 0.8, 1.2),
    ("tv", "2024-02-05", "2024-02-26", 28, -200, -900, 500, "", "", "", 20, 0.5, 1.5),   # window covers its 4 weeks
]


def write(tmp_path, rows=ROWS, drop=None):
    cols = ["test_id", "channel", "start_date", "end_date", "window_days", "population_share",
            "spend_baseline", "spend_delta", "lift", "lift_se", "ci_low", "ci_high", "n_geos",
            "leakage", "holdout_verified", "spend_delivery_ok", "sensitivity_sign_flip",
            "model_lag_days", "model_roi_low", "model_roi_high"]
    data = []
    for i, (ch, s, e, w, lift, lo, hi, leak, ver, flip, lag, rlo, rhi) in enumerate(rows):
        data.append([f"x{i}", ch, s, e, w, 0.4, 250, -250, lift, (hi - lo) / 3.92, lo, hi, 10,
                     leak, ver, "true", flip, lag, rlo, rhi])
    df = pd.DataFrame(data, columns=cols)
    if drop:
        df = df.drop(columns=[drop])
    path = tmp_path / "tests.csv"
    df.to_csv(path, index=False)
    return path


def run(*args):
    return subprocess.run([sys.executable, "-m", "estimators.score", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_scores_and_strategy_columns(tmp_path):
    out = tmp_path / "scored.csv"
    proc = run(f"experiments={write(tmp_path)}", f"out={out}")
    assert proc.returncode == 0, proc.stderr
    df = pd.read_csv(out)
    assert df["eqs_total"].tolist() == [100, 80, 30]   # tv: 5 + 5 + 5 + model 15 (iROAS 0.2 within 2x [0.5, 1.5])
    assert df["eqs_tier"].tolist() == ["Gold", "Gold", "Red"]
    assert df["use_single_best"].tolist() == [True, False, False]
    assert df["use_eqs_filtered"].tolist() == [True, True, False]
    assert df["use_all"].all() and not df["use_none"].any()
    assert {f"use_{s}" for s in STRATEGIES} <= set(df.columns)


@pytest.mark.parametrize("mutate,needle", [
    (lambda rows: [rows[0][:5] + (300, -800) + rows[0][7:]], "row 2, field 'ci_low'"),
    (lambda rows: [rows[0][:12] + (0.5,)], "row 2, field 'model_roi_low'"),
    (lambda rows: [rows[0][:1] + ("not-a-date",) + rows[0][2:]], "row 2, field 'start_date'"),
])
def test_bad_rows_fail_with_one_line(tmp_path, mutate, needle):
    proc = run(f"experiments={write(tmp_path, mutate(ROWS))}", f"out={tmp_path / 'o.csv'}")
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_model_column_is_named(tmp_path):
    proc = run(f"experiments={write(tmp_path, drop='model_lag_days')}", f"out={tmp_path / 'o.csv'}")
    assert proc.returncode == 2 and "model_lag_days" in proc.stderr
