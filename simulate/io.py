"""Write simulated datasets in the command-line contract's file formats."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.manifest import atomic_write_text
from common.records import LIFT_TEST_COLUMNS, Dataset, LiftTest
from simulate.truth import LiftTestTruth, Truth


def _bool_cell(v):
    return "" if v is None else ("true" if v else "false")


def lift_tests_frame(dates: np.ndarray, tests: list[LiftTest], hidden: list[LiftTestTruth]) -> pd.DataFrame:
    """One row per test, the columns of ``lift_tests.csv`` (blank = unknown)."""
    rows = []
    for t, h in zip(tests, hidden):
        rows.append({
            "test_id": t.test_id, "channel": t.channel,
            "start_date": str(dates[t.start_week]), "end_date": str(dates[t.end_week]),
            "window_days": t.window_days, "population_share": t.population_share,
            "spend_baseline": t.spend_baseline, "spend_delta": t.spend_delta,
            "lift": t.lift, "lift_se": t.lift_se, "ci_low": t.ci_low, "ci_high": t.ci_high,
            "n_geos": t.n_geos,
            "leakage": "" if math.isnan(t.leakage) else t.leakage,
            "holdout_verified": _bool_cell(t.holdout_verified),
            "spend_delivery_ok": _bool_cell(t.spend_delivery_ok),
            "sensitivity_sign_flip": _bool_cell(t.sensitivity_sign_flip),
            "true_lift": h.true_lift, "failure_modes": ";".join(h.failure_modes),
        })
    return pd.DataFrame(rows, columns=list(LIFT_TEST_COLUMNS))


def write_dataset(out: Path, dataset: Dataset, truth: Truth, i: int, tests, hidden) -> Path:
    """Write dataset ``i`` into ``out/<dataset_id>/`` and return that folder."""
    folder = Path(out) / dataset.dataset_ids[i]
    folder.mkdir(parents=True, exist_ok=True)
    dates = dataset.dates
    data = pd.DataFrame({"date": dates.astype(str), "kpi": dataset.kpi[i]})
    for k, name in enumerate(dataset.channel_names):
        data[f"spend_{name}"] = dataset.spend[i, :, k]
    for c, name in enumerate(dataset.control_names):
        data[f"control_{name}"] = dataset.controls[i, :, c]
    atomic_write_text(folder / "data.csv", data.to_csv(index=False))
    contrib = pd.DataFrame({"date": dates.astype(str)})
    for k, name in enumerate(dataset.channel_names):
        contrib[name] = truth.contributions[i, :, k]
    atomic_write_text(folder / "contributions.csv", contrib.to_csv(index=False))
    names = list(dataset.channel_names)
    truth_json = {
        "dataset_id": dataset.dataset_ids[i],
        "truth_id": truth.truth_ids[i],
        "replicate": int(truth.replicate[i]),
        "channels": names,
        "roi": dict(zip(names, map(float, truth.roi[i]))),
        "total_spend": dict(zip(names, map(float, dataset.spend[i].sum(0)))),
        "total_contribution": dict(zip(names, map(float, truth.contributions[i].sum(0)))),
        "optimal_allocation": dict(zip(names, map(float, truth.optimal_allocation[i]))),
        "reference_budget": float(truth.reference_budget[i]),
        "allocation_bounds": {n: list(map(float, b)) for n, b in zip(names, truth.bounds[i])},
        "adstock_family": dict(zip(names, map(str, truth.adstock_family[i]))),
        "saturation_family": dict(zip(names, map(str, truth.saturation_family[i]))),
        "lag_days_90": dict(zip(names, map(float, truth.lag_days[i]))),
        "half_saturation": dict(zip(names, map(float, truth.half_saturation[i]))),
        "hill_slope": dict(zip(names, map(float, truth.slope[i]))),
        "noise_sd": float(truth.noise_sd[i]),
        "noise_ar1": float(truth.noise_ar1[i]),
        "n_train_weeks": int(dataset.n_train),
        "lift_tests": [{"test_id": t.test_id, "target_lift": h.target_lift, "true_iroas": h.true_iroas,
                        "delivered_fraction": h.delivered_fraction, "contamination": h.contamination,
                        "failure_modes": list(h.failure_modes)} for t, h in zip(tests, hidden)],
    }
    atomic_write_text(folder / "truth.json", json.dumps(truth_json, indent=2))
    atomic_write_text(folder / "lift_tests.csv", lift_tests_frame(dates, tests, hidden).to_csv(index=False))
    geo = pd.DataFrame({
        "geo": np.repeat(np.arange(dataset.geo_kpi.shape[1]), dataset.geo_kpi.shape[2]),
        "date": np.tile(dates.astype(str), dataset.geo_kpi.shape[1]),
        "population": np.repeat(dataset.population[i], dataset.geo_kpi.shape[2]),
        "kpi": dataset.geo_kpi[i].reshape(-1),
    })
    atomic_write_text(folder / "geo_kpi.csv", geo.to_csv(index=False))
    return folder
