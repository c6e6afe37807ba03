"""The ``python -m simulate`` command-line contract, checked from outside."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from common.records import LIFT_TEST_COLUMNS
from tests.conftest import ROOT

TRUTH_KEYS = {"channels", "roi", "total_spend", "total_contribution", "optimal_allocation", "reference_budget"}


def run_cli(*args, module="simulate", timeout=300):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "fashion"
    proc = run_cli("world=fashion", "n_datasets=3", "seed=0", f"out={out}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_writes_the_contract_files(fashion_run):
    folders = sorted(p for p in fashion_run.iterdir() if p.is_dir() and (p / "data.csv").exists())
    assert len(folders) == 3
    for f in folders:
        data = pd.read_csv(f / "data.csv")
        channels = json.loads((f / "truth.json").read_text())["channels"]
        assert list(data.columns) == ["date", "kpi"] + [f"spend_{c}" for c in channels] + ["control_promo"]
        assert len(data) == 156 and data["kpi"].notna().all()
        assert (pd.to_datetime(data["date"]).diff().dropna() == pd.Timedelta(days=7)).all()
        truth = json.loads((f / "truth.json").read_text())
        assert TRUTH_KEYS <= set(truth)
        for k in ("roi", "total_spend", "total_contribution", "optimal_allocation"):
            assert set(truth[k]) == set(channels)
        for c in channels:
            assert truth["roi"][c] == pytest.approx(truth["total_contribution"][c] / truth["total_spend"][c], rel=1e-9)
            assert truth["total_spend"][c] == pytest.approx(data[f"spend_{c}"].sum(), rel=1e-9)
        assert sum(truth["optimal_allocation"].values()) == pytest.approx(truth["reference_budget"], rel=1e-9)
        contrib = pd.read_csv(f / "contributions.csv")
        assert list(contrib.columns) == ["date"] + channels
        for c in channels:
            assert contrib[c].sum() == pytest.approx(truth["total_contribution"][c], rel=1e-9)


def test_lift_tests_csv_units(fashion_run):
    f = next(p for p in sorted(fashion_run.iterdir()) if (p / "lift_tests.csv").exists())
    lt = pd.read_csv(f / "lift_tests.csv", keep_default_na=False, na_values=[""])
    data = pd.read_csv(f / "data.csv")
    assert tuple(lt.columns) == LIFT_TEST_COLUMNS
    assert len(lt) == 10   # 2 per channel
    start, end = pd.to_datetime(lt["start_date"]), pd.to_datetime(lt["end_date"])
    assert (end >= start).all() and set(lt["start_date"]) <= set(data["date"])
    assert (lt["window_days"] % 7 == 0).all() and (lt["window_days"] > 0).all()
    assert lt["population_share"].between(0, 1).all()
    assert (np.sign(lt["true_lift"]) == np.sign(lt["spend_delta"])).all()
    assert (lt["ci_low"] <= lt["lift"]).all() and (lt["lift"] <= lt["ci_high"]).all()
    leak = lt["leakage"].dropna()
    assert leak.between(0, 1).all()
    for col in ("holdout_verified", "spend_delivery_ok", "sensitivity_sign_flip"):
        assert set(lt[col].dropna().astype(str).str.lower()) <= {"true", "false"}
    # go-dark: the planned change removes the treated geos' baseline spend
    np.testing.assert_allclose(lt["spend_delta"], -lt["spend_baseline"], rtol=1e-12)


def test_run_folder_has_config_manifest_and_figure(fashion_run):
    manifest = json.loads((fashion_run / "manifest.json").read_text())
    assert manifest["seed"] == 0 and len(manifest["config_hash"]) == 12
    assert manifest["packages"]["jax"] and manifest["git_revision"]
    cfg = yaml.safe_load((fashion_run / "config.yaml").read_text())
    assert cfg["world"]["name"] == "fashion" and cfg["n_datasets"] == 3
    figs = list((fashion_run / "figures").glob("*"))
    assert {p.suffix for p in figs} == {".png", ".pdf"}


@pytest.mark.slow
def test_home_goods_and_a_user_profile_from_a_config_dir(tmp_path):
    proc = run_cli("world=home_goods", "n_datasets=1", "seed=1", "figure=false", f"out={tmp_path / 'hg'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    truth = json.loads(next((tmp_path / "hg").glob("*/truth.json")).read_text())
    assert len(truth["channels"]) == 6 and "tv" in truth["channels"]
    # A user's own profile: a copy of fashion with three channels, under DIR/world/.
    prof = yaml.safe_load((ROOT / "conf/world/fashion.yaml").read_text())
    prof["name"] = "my_shop"
    prof["media"]["channels"] = prof["media"]["channels"][:3]
    (tmp_path / "mine" / "world").mkdir(parents=True)
    (tmp_path / "mine" / "world" / "my_shop.yaml").write_text(yaml.safe_dump(prof))
    proc = run_cli("--config-dir", str(tmp_path / "mine"), "world=my_shop", "n_datasets=1",
                   "figure=false", f"out={tmp_path / 'mine_out'}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    truth = json.loads(next((tmp_path / "mine_out").glob("my_shop-*/truth.json")).read_text())
    assert truth["channels"] == ["meta", "google_search", "tiktok"]


@pytest.mark.parametrize("args,field", [
    (["world=atlantis"], "world"),
    (["world.media.spend_to_revenue=[-0.1,0.1]"], "world.media.spend_to_revenue"),
    (["+lift.failure_modes.bogus={prob:0.1,magnitude:0.2}"], "lift.failure_modes.bogus"),
    (["n_datasets=0"], "n_datasets"),
    (["readout=psychic"], "readout"),
])
def test_bad_configuration_fails_with_one_line_naming_the_field(tmp_path, args, field):
    proc = run_cli(*args, f"out={tmp_path}")
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip() and "Warning" not in ln]
    assert len(lines) == 1, proc.stderr
    assert field in lines[0] and "Traceback" not in proc.stderr


def test_dataset_figure_command_redraws_from_saved_files(fashion_run, tmp_path):
    folder = next(p for p in sorted(fashion_run.iterdir()) if (p / "data.csv").exists())
    proc = run_cli(str(folder), str(tmp_path / "fig"), module="simulate.figures")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "fig.png").stat().st_size > 10_000 and (tmp_path / "fig.pdf").exists()
    bad = run_cli(str(tmp_path), module="simulate.figures")
    assert bad.returncode == 2 and "data.csv" in bad.stderr
