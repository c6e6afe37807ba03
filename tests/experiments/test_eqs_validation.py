"""experiments.eqs_validation: the Mann-Whitney AUC on exact small cases and against brute force, the
cluster bootstrap, the event groups and tables on a hand-built eqs.parquet, and one-line errors."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import eqs_validation as ev
from tests.conftest import ROOT


def brute_auc(bad, event):
    pos = [b for b, e in zip(bad, event) if e]
    neg = [b for b, e in zip(bad, event) if not e]
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p, n in itertools.product(pos, neg)) / (len(pos) * len(neg))


@pytest.mark.parametrize("bad, event, expected", [
    ([1, 2, 3, 4], [0, 0, 1, 1], 1.0),          # perfect separation
    ([4, 3, 2, 1], [0, 0, 1, 1], 0.0),          # reversed
    ([5, 5, 5, 5], [0, 1, 0, 1], 0.5),          # all tied
    ([1, 2, 2, 3], [0, 1, 0, 1], 0.875),        # (1 + 0.5 + 1 + 1) / 4
    ([1, 2, 3], [1, 0, 1], 0.5),                # 3 > 2, 1 < 2
    ([1, np.nan, 3, 0], [0, 1, 1, 0], 1.0),     # NaN scores are ignored
    ([1, 2], [1, 1], np.nan),                   # no test without the event
    ([], [], np.nan),
])
def test_auc_exact_small_cases(bad, event, expected):
    got = ev.auc(bad, event)
    assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.booleans()), min_size=1, max_size=30))
def test_auc_equals_brute_force_pair_count(pairs):
    bad, event = zip(*pairs)
    got, want = ev.auc(bad, event), brute_auc(bad, event)
    assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans(), st.integers(0, 3)), min_size=2, max_size=20))
def test_weighted_auc_equals_auc_of_rows_repeated(rows):
    """Bootstrap multiplicities as weights give the AUC of the resampled rows."""
    bad, event, w = map(np.asarray, zip(*rows))
    got = ev.auc(bad, event, w[None, :])[0]
    want = brute_auc(np.repeat(bad, w), np.repeat(event, w))
    assert (np.isnan(got) and np.isnan(want)) or got == pytest.approx(want)


def test_auc_is_invariant_to_monotone_transforms_and_flips_with_the_score():
    rng = np.random.default_rng(0)
    bad = rng.normal(size=200).round(1)
    event = rng.random(200) < 1 / (1 + np.exp(-2 * bad))
    a = ev.auc(bad, event)
    assert 0.6 < a < 1.0
    assert ev.auc(np.exp(bad), event) == pytest.approx(a)
    assert ev.auc(-bad, event) == pytest.approx(1 - a)


def test_roc_area_equals_auc_and_runs_from_0_to_1():
    rng = np.random.default_rng(1)
    bad = rng.integers(0, 6, 300).astype(float)
    event = rng.random(300) < bad / 6
    fpr, tpr = ev.roc_curve(bad, event)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(ev.auc(bad, event))


def test_cluster_weights_resample_whole_clusters():
    clusters = np.array(["a", "a", "b", "c", "c", "c"])
    w = ev.cluster_weights(np.random.default_rng(0), clusters, 500)
    assert w.shape == (500, 6)
    assert np.all(w[:, 0] == w[:, 1]) and np.all(w[:, 3] == w[:, 5])       # a cluster moves as one
    counts = w[:, [0, 2, 3]]
    assert np.all(counts.sum(1) == 3)                                        # 3 clusters drawn each time
    assert counts.mean() == pytest.approx(1.0, abs=0.1)


# --------------------------------------------------------------------------------- a hand-built run

def fake_eqs(n_truths=6, with_extra=True, seed=0):
    """Per truth one dataset with 8 good and 8 bad tests in the good / bad scenarios, and the mixed
    scenario reusing 4 of each. EQS total is 80 for good tests and 40 for bad ones (perfect separation
    of the design); ``eqs_total_precise`` is the reverse; ``model_z`` is uninformative (constant)."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_truths):
        ds, truth = f"w-t{t:03d}-r0", f"w-t{t:03d}"
        for design in ("good", "bad"):
            for i in range(8):
                bad = design == "bad"
                rows.append({"dataset_id": ds, "truth_id": truth, "scenario": design,
                             "test_id": f"{ds}-{design[0]}-x{i:02d}", "channel": f"c{i % 4}",
                             "eqs_uncertainty": 5.0 if bad else (15.0 if i % 2 else 25.0),
                             "eqs_alignment": 15.0, "eqs_holdout": 5.0 if bad else 25.0, "eqs_model": 15.0,
                             "eqs_total": 40.0 if bad else 80.0, "eqs_tier": "Red" if bad else "Gold",
                             "failure_modes": "too_short" if bad else "", "bad_design": bad,
                             "lift_error": -0.5 if bad else 0.2, "used_all": True,
                             # bad tests make their channel worse, good ones better
                             "channel_error_change_all": (0.1 if bad else -0.1) + 0.01 * rng.random()})
                if with_extra:
                    rows[-1].update({"eqs_total_precise": 80.0 if bad else 40.0, "model_z": 1.0})
    df = pd.DataFrame(rows)
    mixed = df[df["test_id"].str[-2:].astype(int) < 4].assign(scenario="mixed", used_all=None,
                                                             channel_error_change_all=np.nan)
    mixed["used_eqs_filtered"] = ~mixed["bad_design"]
    mixed["channel_error_change_eqs_filtered"] = np.where(mixed["bad_design"], np.nan, -0.05)
    mixed.loc[mixed["test_id"].str.endswith("x00"), "channel_error_change_eqs_filtered"] = 0.05
    df["used_eqs_filtered"] = None
    df["channel_error_change_eqs_filtered"] = np.nan
    return pd.concat([df, mixed], ignore_index=True)


def write_run(folder, eqs, test_type="go_dark"):
    folder.mkdir(parents=True, exist_ok=True)
    eqs.to_parquet(folder / "eqs.parquet", index=False)
    (folder / "config.yaml").write_text(yaml.safe_dump({"lift_good": {"test_type": test_type},
                                                        "lift_bad": {"test_type": test_type}}))
    (folder / "manifest.json").write_text(json.dumps({"status": "complete"}))
    return folder


def _row(t, event, strategy, scenario, score):
    r = t[(t.event == event) & (t.strategy == strategy) & (t.scenario == scenario) & (t.score == score)]
    assert len(r) == 1, (event, strategy, scenario, score)
    return r.iloc[0]


def test_auc_table_on_a_hand_built_run(tmp_path):
    run = write_run(tmp_path / "run", fake_eqs())
    assert ev.main([f"run={run}", "n_boot=200"]) == 0
    out = run / "eqs_validation"
    t = pd.read_csv(out / "eqs_auc.csv")
    assert list(t.columns) == ["event", "strategy", "scenario", "score", "badness", "n_tests", "n_event",
                               "n_clusters", "auc_of_badness", "auc_ci_low", "auc_ci_high", "auc_minus_eqs_total",
                               "auc_minus_eqs_total_ci_low", "auc_minus_eqs_total_ci_high", "resample_unit"]
    assert set(t.resample_unit) == {"truth_id"}
    # bad design, every test once: 6 truths x 16 tests (the mixed copies are not counted twice)
    r = _row(t, "bad_design", "any", "all", "eqs_total")
    assert (r.n_tests, r.n_event, r.n_clusters, r.auc_of_badness) == (96, 48, 6, 1.0)
    assert r.badness == "-eqs_total"
    p = _row(t, "bad_design", "any", "all", "eqs_total_precise")
    assert p.auc_of_badness == 0.0                                                            # reversed
    assert (p.auc_minus_eqs_total, p.auc_minus_eqs_total_ci_low, p.auc_minus_eqs_total_ci_high) == (-1, -1, -1)
    assert r.auc_minus_eqs_total == 0.0
    assert _row(t, "bad_design", "any", "all", "model_z_abs").auc_of_badness == 0.5         # all tied
    assert _row(t, "bad_design", "any", "all", "eqs_tier").auc_of_badness == 1.0
    # per scenario: the good scenario has no bad-design test, so no AUC; the mixed one does
    assert np.isnan(_row(t, "bad_design", "any", "good", "eqs_total").auc_of_badness)
    m = _row(t, "bad_design", "any", "mixed", "eqs_total")                             # the mixed scenario's own
    assert (m.n_tests, m.n_event, m.auc_of_badness) == (48, 24, 1.0)
    assert _row(t, "bad_design", "all", "all", "eqs_total").n_tests == 96               # strategy all saw 96
    assert _row(t, "bad_design", "eqs_filtered", "mixed", "eqs_total").n_tests == 48    # 8 per dataset
    # made its channel worse, strategy all: only the bad tests did, and EQS ranks them last
    w = _row(t, "worse", "all", "all", "eqs_total")
    assert (w.n_tests, w.n_event, w.auc_of_badness) == (96, 48, 1.0)
    assert w.auc_ci_low == 1.0 and w.auc_ci_high == 1.0
    # eqs_filtered used the good mixed tests only; x00 made things worse, and its uncertainty score is 25
    f = _row(t, "worse", "eqs_filtered", "all", "eqs_uncertainty")
    assert (f.n_tests, f.n_event) == (24, 6)
    assert f.auc_of_badness == pytest.approx(brute_auc([-25, -15, -25, -15] * 6, [1, 0, 0, 0] * 6))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resample_unit"] == "truth_id" and "model_z_abs" in manifest["scores"]
    assert manifest["command"].startswith("python -m experiments.eqs_validation")
    assert yaml.safe_load((run / "config.yaml").read_text()) == {"lift_good": {"test_type": "go_dark"},
                                                                "lift_bad": {"test_type": "go_dark"}}
    for name in ("eqs_roc.png", "eqs_roc.pdf"):
        assert (out / "figures" / name).stat().st_size > 1000
    roc = pd.read_csv(out / "eqs_roc.csv")
    assert set(roc.score) == {"eqs_total", "eqs_total_precise", "model_z_abs"}
    assert {("bad_design", "any"), ("worse", "all"), ("worse", "eqs_filtered")} <= set(zip(roc.event, roc.strategy))


def test_nullable_boolean_used_columns_give_the_same_table():
    eqs = fake_eqs()
    nullable = eqs.assign(**{c: eqs[c].astype("boolean") for c in ("used_all", "used_eqs_filtered")})
    assert str(nullable["used_all"].dtype) == "boolean" and nullable["used_all"].isna().any()
    pd.testing.assert_frame_equal(ev.auc_table(eqs, n_boot=20), ev.auc_table(nullable, n_boot=20))


def test_bootstrap_ci_brackets_the_estimate_and_resamples_datasets_without_truth_ids(tmp_path):
    eqs = fake_eqs(n_truths=12, with_extra=False, seed=3)
    # blur the separation so the CI has width
    eqs.loc[eqs.index % 5 == 0, "eqs_total"] = 60.0
    t = ev.auc_table(eqs, n_boot=300, seed=1)
    r = _row(t, "bad_design", "any", "all", "eqs_total")
    assert r.auc_ci_low < r.auc_of_badness < r.auc_ci_high and 0.5 < r.auc_ci_low
    assert "eqs_total_precise" not in set(t.score) and "model_z_abs" not in set(t.score)
    assert set(ev.auc_table(eqs.drop(columns="truth_id"), n_boot=10).resample_unit) == {"dataset_id"}
    again = ev.auc_table(eqs, n_boot=300, seed=1)
    pd.testing.assert_frame_equal(t, again)                  # seeded


@pytest.mark.parametrize("test_type, good, bad", [("go_dark", 0.8, 1.5), ("scale_up", 1.2, 0.5)])
def test_winners_curse_readout_over_target_by_uncertainty_and_design(tmp_path, test_type, good, bad):
    run = write_run(tmp_path / "run", fake_eqs(), test_type=test_type)
    assert ev.main([f"run={run}", "n_boot=50", "figures=false"]) == 0
    w = pd.read_csv(run / "eqs_validation" / "winners_curse.csv")
    assert list(w[["design", "eqs_uncertainty"]].itertuples(index=False, name=None)) == \
        [("good", 15.0), ("good", 25.0), ("bad", 5.0)]
    assert w.n_tests.tolist() == [24, 24, 48]
    assert np.allclose(w.mean_readout_over_target, [good, good, bad])
    assert np.allclose(w.ci_low, w.mean_readout_over_target) and np.allclose(w.ci_high, w.mean_readout_over_target)


def test_winners_curse_by_true_precision_when_the_table_has_it():
    eqs = fake_eqs().assign(true_lift=-2.0, lift_se=lambda d: np.where(d["bad_design"], 3.0, 0.2))
    w = ev.winners_curse(eqs, {False: "go_dark", True: "go_dark"}, n_boot=10)
    assert set(zip(w.design, w.precision_bin)) == {("good", "[0, 0.25)"), ("bad", "[1, 2)")}
    assert set(ev.winners_curse(fake_eqs(), {False: "go_dark", True: "go_dark"}, n_boot=10).precision_bin) == {"all"}


def test_winners_curse_prefers_lift_and_target_lift_columns():
    eqs = fake_eqs().assign(lift=-3.0, target_lift=-2.0)
    w = ev.winners_curse(eqs, None, n_boot=10)
    assert np.allclose(w.mean_readout_over_target, 1.5)


@pytest.mark.parametrize("setup, args, message", [
    (lambda d: None, ["run={d}/missing"], "no such directory"),
    (lambda d: (d / "r").mkdir(), ["run={d}/r"], "no eqs.parquet"),
    (lambda d: write_run(d / "r", fake_eqs().drop(columns="eqs_total")), ["run={d}/r"],
     "missing column(s) eqs_total"),
    (lambda d: write_run(d / "r", fake_eqs()), ["run={d}/r", "n_boot=lots"], "n_boot: must be an integer"),
    (lambda d: write_run(d / "r", fake_eqs()), ["run={d}/r", "level=1.5"], "level: out of range"),
    (lambda d: write_run(d / "r", fake_eqs()), ["run={d}/r", "out={d}/r"], "would be overwritten"),
    (lambda d: None, ["{d}"], "usage:"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, setup, args, message):
    setup(tmp_path)
    assert ev.main([a.format(d=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_run_without_config_skips_the_winners_curse_but_not_the_aucs(tmp_path, capsys):
    run = write_run(tmp_path / "run", fake_eqs())
    (run / "config.yaml").unlink()
    assert ev.main([f"run={run}", "n_boot=10", "figures=false"]) == 0
    assert "no winner's-curse table" in capsys.readouterr().err
    assert (run / "eqs_validation" / "eqs_auc.csv").exists()
    assert not (run / "eqs_validation" / "winners_curse.csv").exists()


def test_command_line_entry_point(tmp_path):
    import subprocess
    import sys

    run = write_run(tmp_path / "run", fake_eqs())
    env = {**__import__("os").environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run([sys.executable, "-m", "experiments.eqs_validation", f"run={run}", "n_boot=20",
                         "figures=false"], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("eqs_auc.csv"), ok.stderr
    bad = subprocess.run([sys.executable, "-m", "experiments.eqs_validation", f"run={tmp_path / 'nope'}"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
