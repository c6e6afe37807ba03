"""A small user dataset under realistic column names (no simulator, no truth), for the calibrate tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CHANNELS = {"tv": "tv_cost", "search": "search_cost", "social": "social_cost"}
ROI = {"tv": 1.5, "search": 3.0, "social": 2.0}


def write_user_files(folder: Path, seed: int = 0, n_weeks: int = 80) -> dict:
    """Write ``sales.csv`` (week, revenue, <channel>_cost, promo_flag) and ``readouts.csv``.

    The readouts mix every accepted form: lift + lift_se; lift + CI without the M2 fields;
    iROAS + CI; an old test with blank quality fields. Returns the paths and frames.
    """
    rng = np.random.default_rng(seed)
    weeks = np.datetime64("2023-01-02") + 7 * np.arange(n_weeks)
    spend = {c: np.maximum(0.0, rng.normal(m, 0.3 * m, n_weeks)) for c, m in
             zip(CHANNELS, (20000.0, 15000.0, 10000.0))}
    promo = (rng.random(n_weeks) < 0.15).astype(float)
    media = sum(ROI[c] * spend[c] for c in CHANNELS)
    revenue = 400000 + media + 30000 * promo + rng.normal(0, 8000, n_weeks)
    data = pd.DataFrame({"week": weeks.astype(str), "revenue": revenue,
                         **{col: spend[c] for c, col in CHANNELS.items()}, "promo_flag": promo})
    folder.mkdir(parents=True, exist_ok=True)
    data.to_csv(folder / "sales.csv", index=False)
    d = lambda w: str(weeks[w])
    tests = pd.DataFrame([
        # lift + lift_se, every field (M2-ready), good quality
        {"test_id": "tv-2024", "channel": "tv", "start_date": d(50), "end_date": d(55), "window_days": 56,
         "spend_delta": -6000.0, "lift": -6000 * 6 * 1.5, "lift_se": 2000.0, "population_share": 0.3,
         "spend_baseline": 6000.0, "n_geos": 12, "leakage": 0.0, "holdout_verified": "true",
         "spend_delivery_ok": "true", "sensitivity_sign_flip": "false"},
        # lift + 90% CI, no population_share/spend_baseline (M1 only)
        {"test_id": "search-ci", "channel": "search", "start_date": d(40), "end_date": d(43),
         "spend_delta": 3000.0, "lift": 3000 * 4 * 3.0, "ci_low": 20000.0, "ci_high": 52000.0, "ci_level": 0.9},
        # iROAS + CI, M2-ready
        {"test_id": "social-iroas", "channel": "social", "start_date": d(30), "end_date": d(33),
         "spend_delta_total": 4 * 2500.0, "iroas": 2.1, "iroas_ci_low": 1.5, "iroas_ci_high": 2.7,
         "population_share": 0.25, "spend_baseline": 2500.0, "leakage": 0.02, "holdout_verified": "true"},
        # an old test (run long before the data's end), unknown quality
        {"test_id": "social-old", "channel": "social", "start_date": d(2), "end_date": d(5),
         "spend_delta": -2500.0, "lift": -2500 * 4 * 9.0, "lift_se": 6000.0, "run_date": "2021-06-01"},
    ])
    tests.to_csv(folder / "readouts.csv", index=False)
    return {"data": folder / "sales.csv", "tests": folder / "readouts.csv", "frame": data, "tests_frame": tests}


COLUMN_OVERRIDES = ["columns.date=week", "columns.kpi=revenue", "columns.spend.tv=tv_cost",
                    "columns.spend.search=search_cost", "columns.spend.social=social_cost",
                    "columns.controls.promo=promo_flag"]
