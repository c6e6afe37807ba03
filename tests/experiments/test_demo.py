"""``make demo``'s data: realistic column names, truth stripped, good and bad designs mixed."""
from __future__ import annotations

import json

import pandas as pd
import pytest


@pytest.mark.slow
def test_demo_world_is_a_users_files(tmp_path):
    from experiments.demo import make_world

    p = make_world(tmp_path, seed=1, n_channels=7, n_tests=10)
    data = pd.read_csv(p["data"])
    tests = pd.read_csv(p["tests"])
    assert list(data.columns[:2]) == ["week", "revenue"] and "audio_cost" in data.columns
    assert not any(c.startswith(("spend_", "kpi")) for c in data.columns)
    assert len(tests) == 10 and tests["channel"].nunique() == 7
    assert not {"true_lift", "failure_modes", "target_lift"} & set(tests.columns)
    assert p["truth"].parent != p["data"].parent
    truth = json.loads(p["truth"].read_text())
    assert set(truth["test_design"].values()) == {"good", "bad"}
    # the readouts mix the three estimate forms
    assert tests["lift_se"].notna().any() and tests["ci_low"].notna().any() and tests["iroas"].notna().any()
