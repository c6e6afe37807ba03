"""The malformed-input suite: more than 100 bad inputs to ``estimators.fit``, ``estimators.score``
and ``simulate`` (CSV files, world and lift profiles, the score input, options). Every one must be
refused with exit status 2 and one line ``error: <file>, row <r>, field '<f>': <problem>`` (file,
row and field where they exist), never a traceback, and never exit 0. The cases include every
failing case listed in issue 14. A few suspicious but legal inputs must warn and still give a
finite result (``test_suspicious_input_warns_and_fits``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.harness.runner import ROOT, invoke

N_WEEKS = 60
CHANNELS = ("meta", "search", "tv")


def base_data() -> pd.DataFrame:
    """60 weeks, 3 channels and a promo control (seed 0): a well-formed ``data.csv``."""
    rng = np.random.default_rng(0)
    t = np.arange(N_WEEKS)
    spend = rng.uniform(50, 150, (N_WEEKS, 3)) * np.array([3.0, 1.5, 1.0])
    kpi = 5000 + 300 * np.sin(2 * np.pi * t / 52) + spend @ np.array([2.0, 3.0, 1.5]) + rng.normal(0, 80, N_WEEKS)
    df = pd.DataFrame({"date": (np.datetime64("2023-01-02") + 7 * t).astype(str), "kpi": kpi.round(2)})
    for k, c in enumerate(CHANNELS):
        df[f"spend_{c}"] = spend[:, k].round(2)
    df["control_promo"] = (rng.uniform(size=N_WEEKS) < 0.2).astype(float)
    return df.astype(str)


LIFT_COLS = ["test_id", "channel", "start_date", "end_date", "window_days", "population_share",
             "spend_baseline", "spend_delta", "lift", "lift_se", "ci_low", "ci_high", "n_geos", "leakage",
             "holdout_verified", "spend_delivery_ok", "sensitivity_sign_flip", "true_lift", "failure_modes"]


def base_lift() -> pd.DataFrame:
    rows = [["t1", "meta", "2023-05-01", "2023-05-22", 42, 0.4, 120, -120, -900, 150, -1194, -606, 20, "",
             "true", "true", "false", 0, ""],
            ["t2", "search", "2023-07-03", "2023-07-24", 35, 0.5, 80, -80, -700, 120, -935, -465, 20, 0.02,
             "true", "true", "false", 0, ""]]
    return pd.DataFrame(rows, columns=LIFT_COLS).astype(str)


def base_score() -> pd.DataFrame:
    df = base_lift().drop(columns=["true_lift", "failure_modes"])
    df["model_lag_days"], df["model_roi_low"], df["model_roi_high"] = "14", "0.5", "3.0"
    return df


def _set(df, row, col, value):
    df = df.copy()
    df.loc[row, col] = value
    return df


def d_set(row, col, value):
    return lambda d: _set(d, row, col, value)


def d_col(col, value):
    def f(d):
        d = d.copy()
        d[col] = value(d) if callable(value) else value
        return d
    return f


# (case id, which file, mutation, expected needles in the one error line)
DATA = [
    ("kpi_column_missing", lambda d: d.drop(columns=["kpi"]), ["data.csv", "field 'kpi'", "missing column"]),
    ("date_column_missing", lambda d: d.drop(columns=["date"]), ["field 'date'"]),
    ("no_spend_columns", lambda d: d.drop(columns=[f"spend_{c}" for c in CHANNELS]), ["spend_*"]),
    ("kpi_blank", d_set(3, "kpi", ""), ["row 5", "field 'kpi'", "missing"]),
    ("kpi_whitespace", d_set(3, "kpi", "   "), ["row 5", "field 'kpi'"]),
    ("kpi_NaN", d_set(10, "kpi", "NaN"), ["row 12", "field 'kpi'"]),
    ("kpi_nan_lower", d_set(10, "kpi", "nan"), ["row 12", "field 'kpi'"]),
    ("kpi_inf", d_set(0, "kpi", "inf"), ["row 2", "field 'kpi'", "not finite"]),
    ("kpi_minus_inf", d_set(1, "kpi", "-inf"), ["row 3", "field 'kpi'"]),
    ("kpi_text", d_set(2, "kpi", "abc"), ["row 4", "field 'kpi'", "not a number"]),
    ("kpi_thousands_separator", d_set(2, "kpi", "1,000"), ["row 4", "field 'kpi'"]),
    ("kpi_1e300", d_set(4, "kpi", "1e300"), ["row 6", "field 'kpi'", "magnitude"]),
    ("kpi_all_zero", d_col("kpi", "0"), ["field 'kpi'", "zero or negative"]),
    ("kpi_all_negative", d_col("kpi", lambda d: (-d["kpi"].astype(float)).astype(str)), ["field 'kpi'"]),
    ("kpi_constant", d_col("kpi", "5000"), ["field 'kpi'", "constant"]),
    ("kpi_zero_mean_fitted", d_col("kpi", lambda d: np.where(np.arange(len(d)) % 2 == 0, "-100", "100")),
     ["field 'kpi'", "mean KPI"]),
    ("spend_1e300", d_set(5, "spend_meta", "1e300"), ["row 7", "field 'spend_meta'", "magnitude"]),
    ("spend_negative", d_set(7, "spend_tv", "-5"), ["row 9", "field 'spend_tv'", "negative"]),
    ("spend_inf", d_set(7, "spend_tv", "inf"), ["row 9", "field 'spend_tv'"]),
    ("spend_blank", d_set(8, "spend_search", ""), ["row 10", "field 'spend_search'"]),
    ("spend_NaN", d_set(8, "spend_search", "NaN"), ["row 10", "field 'spend_search'"]),
    ("spend_text", d_set(8, "spend_search", "lots"), ["row 10", "field 'spend_search'"]),
    ("zero_spend_channel", d_col("spend_tv", "0"), ["field 'spend_tv'", "never spends"]),
    ("all_spend_zero", lambda d: d.assign(**{f"spend_{c}": "0" for c in CHANNELS}), ["no channel has any spend"]),
    ("control_blank", d_set(9, "control_promo", ""), ["row 11", "field 'control_promo'"]),
    ("control_inf", d_set(9, "control_promo", "inf"), ["row 11", "field 'control_promo'"]),
    ("control_1e300", d_set(9, "control_promo", "1e300"), ["row 11", "field 'control_promo'"]),
    ("date_text", d_set(6, "date", "not-a-date"), ["row 8", "field 'date'"]),
    ("date_blank", d_set(6, "date", ""), ["row 8", "field 'date'"]),
    ("date_impossible", d_set(6, "date", "2023-02-30"), ["row 8", "field 'date'"]),
    ("dates_skip_a_week", d_set(6, "date", "2023-02-20"), ["field 'date'", "consecutive"]),
    ("dates_reversed", lambda d: d.iloc[::-1].reset_index(drop=True), ["field 'date'", "consecutive"]),
    ("dates_duplicate", lambda d: _set(d, 5, "date", d.loc[4, "date"]), ["field 'date'"]),
    ("too_few_rows", lambda d: d.iloc[:6], ["at least 10"]),
    ("header_only", lambda d: d.iloc[:0], ["at least 10"]),
    ("spend_prefix_without_name", lambda d: d.rename(columns={"spend_tv": "spend_"}), ["field 'spend_'"]),
]

RAW_DATA = [   # (case id, file text or bytes, needles)
    ("duplicate_spend_header", "dup", ["row 1", "field 'spend_meta'", "duplicate column"]),
    ("duplicate_kpi_header", "dupkpi", ["row 1", "field 'kpi'", "duplicate column"]),
    ("blank_header_name", "blankheader", ["row 1", "blank column name"]),
    ("empty_file", b"", ["empty file"]),
    ("binary_garbage", b"\xff\xfe\x00\x81garbage\x00", ["UTF-8"]),
    ("blank_row_inside", "blankrow", ["row 6", "blank row"]),
    ("ragged_row", "ragged", ["not a readable CSV"]),
]

LIFT = [
    ("lift_column_missing", lambda d: d.drop(columns=["lift"]), ["lift_tests.csv", "field 'lift'", "missing column"]),
    ("test_id_column_missing", lambda d: d.drop(columns=["test_id"]), ["field 'test_id'"]),
    ("duplicate_test_id", d_set(1, "test_id", "t1"), ["row 3", "field 'test_id'", "duplicate"]),
    ("blank_test_id", d_set(0, "test_id", ""), ["row 2", "field 'test_id'"]),
    ("unknown_channel", d_set(1, "channel", "radio"), ["row 3", "field 'channel'", "unknown channel"]),
    ("start_not_a_date", d_set(0, "start_date", "soon"), ["row 2", "field 'start_date'"]),
    ("start_outside_data", d_set(0, "start_date", "2019-01-07"), ["row 2", "field 'start_date'", "outside"]),
    ("end_before_start", d_set(0, "end_date", "2023-04-03"), ["row 2", "field 'end_date'"]),
    ("end_outside_data", d_set(0, "end_date", "2030-01-07"), ["row 2", "field 'end_date'"]),
    ("ci_low_above_ci_high", lambda d: _set(_set(d, 0, "ci_low", "-500"), 0, "ci_high", "-1000"),
     ["row 2", "field 'ci_low'"]),
    ("lift_outside_its_ci", d_set(0, "lift", "-2000"), ["row 2", "field 'lift'", "outside its own CI"]),
    ("lift_se_zero", d_set(0, "lift_se", "0"), ["row 2", "field 'lift_se'"]),
    ("lift_se_negative", d_set(0, "lift_se", "-3"), ["row 2", "field 'lift_se'"]),
    ("lift_se_1e-300", d_set(0, "lift_se", "1e-300"), ["row 2", "field 'lift_se'", "implausibly small"]),
    ("lift_se_and_ci_blank", lambda d: d.assign(lift_se="", ci_low="", ci_high=""), ["row 2", "field 'lift_se'"]),
    ("lift_minus_1e300", lambda d: _set(_set(_set(d, 0, "lift", "-1e300"), 0, "ci_low", ""), 0, "ci_high", ""),
     ["row 2", "field 'lift'", "magnitude"]),
    ("lift_huge_vs_kpi", lambda d: _set(_set(_set(d, 0, "lift", "-1e8"), 0, "ci_low", ""), 0, "ci_high", ""),
     ["row 2", "field 'lift'", "total KPI"]),
    ("lift_inf", d_set(0, "lift", "inf"), ["row 2", "field 'lift'"]),
    ("lift_NaN", d_set(0, "lift", "NaN"), ["row 2", "field 'lift'"]),
    ("lift_blank", d_set(1, "lift", ""), ["row 3", "field 'lift'"]),
    ("leakage_1.5", d_set(0, "leakage", "1.5"), ["row 2", "field 'leakage'", "[0, 1]"]),
    ("leakage_negative", d_set(1, "leakage", "-0.2"), ["row 3", "field 'leakage'"]),
    ("holdout_verified_maybe", d_set(0, "holdout_verified", "maybe"), ["row 2", "field 'holdout_verified'"]),
    ("spend_delivery_ok_perhaps", d_set(1, "spend_delivery_ok", "perhaps"), ["row 3", "field 'spend_delivery_ok'"]),
    ("sign_flip_2", d_set(0, "sensitivity_sign_flip", "2"), ["row 2", "field 'sensitivity_sign_flip'"]),
    ("window_shorter_than_test", d_set(0, "window_days", "14"), ["row 2", "field 'window_days'", "shorter than"]),
    ("window_zero", d_set(0, "window_days", "0"), ["row 2", "field 'window_days'"]),
    ("window_negative", d_set(0, "window_days", "-7"), ["row 2", "field 'window_days'"]),
    ("window_text", d_set(0, "window_days", "a month"), ["row 2", "field 'window_days'"]),
    ("population_share_zero", d_set(0, "population_share", "0"), ["row 2", "field 'population_share'"]),
    ("population_share_1.5", d_set(0, "population_share", "1.5"), ["row 2", "field 'population_share'"]),
    ("spend_baseline_negative", d_set(0, "spend_baseline", "-1"), ["row 2", "field 'spend_baseline'"]),
    ("spend_delta_zero", d_set(0, "spend_delta", "0"), ["row 2", "field 'spend_delta'"]),
    ("spend_below_zero_in_test", d_set(0, "spend_delta", "-500"), ["row 2", "field 'spend_delta'"]),
    ("spend_delta_1e300", d_set(0, "spend_delta", "1e300"), ["row 2", "field 'spend_delta'"]),
    ("n_geos_one", d_set(0, "n_geos", "1"), ["row 2", "field 'n_geos'"]),
    ("n_geos_fraction", d_set(0, "n_geos", "2.5"), ["row 2", "field 'n_geos'"]),
    ("ci_low_inf", d_set(0, "ci_low", "-inf"), ["row 2", "field 'ci_low'"]),
]


def _raw_data_text(kind: str, data: pd.DataFrame) -> str:
    text = data.to_csv(index=False)
    lines = text.splitlines()
    if kind == "dup":
        return text.replace("spend_search", "spend_meta", 1)
    if kind == "dupkpi":
        return text.replace("spend_tv", "kpi", 1)
    if kind == "blankheader":
        return text.replace("spend_tv", "", 1)
    if kind == "blankrow":
        return "\n".join(lines[:5] + [",,,,,"] + lines[5:]) + "\n"
    if kind == "ragged":
        return "\n".join(lines[:5] + [lines[5] + ",1,2,3"] + lines[6:]) + "\n"
    raise KeyError(kind)


def _write(df, path):
    df.to_csv(path, index=False)
    return path


def _check_refusal(status, lines, needles, out=None):
    assert status == 2, (status, lines)
    errors = [l for l in lines if not l.startswith("warning:")]
    assert len(errors) == 1 and errors[0].startswith("error: "), lines
    for n in needles:
        assert n in errors[0], (n, errors[0])
    if out is not None:
        assert not (out / "posterior_summary.csv").exists()


def _fit_args(tmp_path, data=None, lift=None, calibration="m2", extra=()):
    dp = data if data is not None else _write(base_data(), tmp_path / "data.csv")
    lp = lift if lift is not None else _write(base_lift(), tmp_path / "lift_tests.csv")
    return [f"data={dp}", f"lift_tests={lp}", f"calibration={calibration}", "inference=fast",
            f"out={tmp_path / 'out'}", *extra]


@pytest.mark.parametrize("case,mutate,needles", DATA, ids=[c[0] for c in DATA])
def test_bad_data_csv_is_refused(tmp_path, case, mutate, needles):
    dp = _write(mutate(base_data()), tmp_path / "data.csv")
    status, lines, _ = invoke("fit", _fit_args(tmp_path, data=dp))
    _check_refusal(status, lines, needles + [str(dp)], tmp_path / "out")


@pytest.mark.parametrize("case,content,needles", RAW_DATA, ids=[c[0] for c in RAW_DATA])
def test_bad_data_file_is_refused(tmp_path, case, content, needles):
    dp = tmp_path / "data.csv"
    if isinstance(content, bytes):
        dp.write_bytes(content)
    else:
        dp.write_text(_raw_data_text(content, base_data()))
    status, lines, _ = invoke("fit", _fit_args(tmp_path, data=dp))
    _check_refusal(status, lines, needles + [str(dp)], tmp_path / "out")


@pytest.mark.parametrize("case,mutate,needles", LIFT, ids=[c[0] for c in LIFT])
def test_bad_lift_tests_csv_is_refused(tmp_path, case, mutate, needles):
    lp = _write(mutate(base_lift()), tmp_path / "lift_tests.csv")
    status, lines, _ = invoke("fit", _fit_args(tmp_path, lift=lp))
    _check_refusal(status, lines, needles + [str(lp)], tmp_path / "out")


def test_test_on_a_channel_without_spend_in_its_weeks_is_refused(tmp_path):
    data = base_data()
    data.loc[16:24, "spend_meta"] = "0"            # the weeks of test t1 (2023-05-01 .. 2023-05-22)
    status, lines, _ = invoke("fit", _fit_args(tmp_path, data=_write(data, tmp_path / "data.csv")))
    _check_refusal(status, lines, ["lift_tests.csv", "row 2", "field 'channel'", "no spend"])


def test_duplicate_lift_header_is_refused(tmp_path):
    lp = tmp_path / "lift_tests.csv"
    lp.write_text(base_lift().to_csv(index=False).replace("ci_high", "ci_low", 1))
    status, lines, _ = invoke("fit", _fit_args(tmp_path, lift=lp))
    _check_refusal(status, lines, ["row 1", "field 'ci_low'", "duplicate column"])


@pytest.mark.parametrize("case,overrides,needles", [
    ("lift_file_missing", lambda t: [f"lift_tests={t / 'nope.csv'}"], ["nope.csv", "file not found"]),
    ("data_is_a_folder", lambda t: [f"data={t}"], ["not a file"]),
    ("lift_empty_file", lambda t: [f"lift_tests={_empty(t)}"], ["empty file"]),
    ("lift_header_only", lambda t: [f"lift_tests={_write(base_lift().iloc[:0], t / 'h.csv')}"],
     ["lift_tests", "at least one test"]),
    ("holdout_negative", lambda t: ["holdout_weeks=-1"], ["holdout_weeks"]),
    ("holdout_too_long", lambda t: ["holdout_weeks=1000"], ["holdout_weeks"]),
    ("holdout_text", lambda t: ["holdout_weeks=abc"], ["holdout_weeks"]),
    ("ci_level_2", lambda t: ["ci_level=2"], ["ci_level"]),
    ("save_draws_maybe", lambda t: ["save_draws=maybe"], ["save_draws"]),
    ("unknown_inference", lambda t: ["inference=bogus"], ["inference"]),
    ("out_under_a_file", lambda t: [f"out={_file(t)}/sub"], ["error: out:", "is a file"]),
    ("out_is_a_file", lambda t: [f"out={_file(t)}"], ["out", "not a folder"]),
], ids=lambda x: x if isinstance(x, str) else "")
def test_bad_fit_options_are_refused(tmp_path, case, overrides, needles):
    args = [a for a in _fit_args(tmp_path) if not any(a.startswith(o.split("=")[0] + "=")
                                                      for o in overrides(tmp_path))]
    status, lines, _ = invoke("fit", args + overrides(tmp_path))
    assert status == 2, (status, lines)
    assert len(lines) == 1 and all(n in lines[0] for n in needles), lines


def _empty(t):
    p = t / "empty.csv"
    p.write_text("")
    return p


def _file(t):
    p = t / "a_file.txt"
    p.write_text("x")
    return p


SCORE = [
    ("model_lag_missing", lambda d: d.drop(columns=["model_lag_days"]), ["field 'model_lag_days'"]),
    ("roi_low_above_high", d_set(0, "model_roi_low", "5"), ["row 2", "field 'model_roi_low'"]),
    ("lag_negative", d_set(1, "model_lag_days", "-3"), ["row 3", "field 'model_lag_days'"]),
    ("roi_low_text", d_set(0, "model_roi_low", "low"), ["row 2", "field 'model_roi_low'"]),
    ("duplicate_test_id", d_set(1, "test_id", "t1"), ["row 3", "field 'test_id'"]),
    ("leakage_1.5", d_set(0, "leakage", "1.5"), ["row 2", "field 'leakage'"]),
    ("holdout_verified_maybe", d_set(1, "holdout_verified", "maybe"), ["row 3", "field 'holdout_verified'"]),
    ("lift_outside_ci", d_set(0, "lift", "0"), ["row 2", "field 'lift'"]),
    ("window_shorter_than_test", d_set(1, "window_days", "7"), ["row 3", "field 'window_days'"]),
    ("lift_se_1e-300", d_set(0, "lift_se", "1e-300"), ["row 2", "field 'lift_se'"]),
    ("centuries_apart", lambda d: _set(_set(d, 0, "start_date", "1700-01-04"), 0, "end_date", "1700-01-25"),
     ["field 'start_date'", "100 years"]),
    ("start_text", d_set(0, "start_date", "tomorrow"), ["row 2", "field 'start_date'"]),
]


@pytest.mark.parametrize("case,mutate,needles", SCORE, ids=[c[0] for c in SCORE])
def test_bad_score_input_is_refused(tmp_path, case, mutate, needles):
    sp = _write(mutate(base_score()), tmp_path / "tests.csv")
    status, lines, _ = invoke("score", [f"experiments={sp}", f"out={tmp_path / 'scored.csv'}"])
    _check_refusal(status, lines, needles + [str(sp)])
    assert not (tmp_path / "scored.csv").exists()


@pytest.mark.parametrize("case,out,needles", [
    ("out_existing_folder", lambda t: t, ["error: out:", "is a folder"]),
    ("out_under_a_file", lambda t: _file(t) / "x.csv", ["error: out:", "not a folder"]),
])
def test_bad_score_out_is_refused(tmp_path, case, out, needles):
    sp = _write(base_score(), tmp_path / "tests.csv")
    status, lines, _ = invoke("score", [f"experiments={sp}", f"out={out(tmp_path)}"])
    assert status == 2 and len(lines) == 1 and all(n in lines[0] for n in needles), lines


def test_score_missing_file_is_refused(tmp_path):
    status, lines, _ = invoke("score", [f"experiments={tmp_path / 'no.csv'}", f"out={tmp_path / 'o.csv'}"])
    assert status == 2 and "no.csv" in lines[0] and "file not found" in lines[0]


# World and lift profiles: (case id, edit of the fashion profile's text or overrides, needles)
PROFILE_TEXT = [
    ("unknown_key_noise_sdd", lambda s: s.replace("  sd: [0.03, 0.06]", "  sd: [0.03, 0.06]\n  sdd: 1"),
     ["field 'world.noise.sdd'", "unknown key", "line 4"]),
    ("unknown_top_level_key", lambda s: s + "\ncolour: blue\n", ["field 'world.colour'", "unknown key"]),
    ("roi_range_nan", lambda s: s.replace("roi: [1.5, 4.0]", "roi: [1.5, .nan]"),
     ["line 29", "field 'world.media.channels[0].roi[1]'", "finite"]),
    ("revenue_range_inf", lambda s: s.replace("[800000, 1500000]", "[800000, .inf]"),
     ["line 12", "field 'world.baseline.revenue_level[1]'", "finite"]),
    ("world_name_escape", lambda s: s.replace("name: fashion", 'name: "../escape"'),
     ["line 4", "field 'world.name'", "plain name"]),
    ("yaml_syntax_error", lambda s: s.replace("n_weeks: 156", "n_weeks: [156"), ["YAML syntax error", "line"]),
    ("roi_three_values", lambda s: s.replace("roi: [1.5, 4.0]", "roi: [1.5, 2.0, 4.0]"),
     ["field 'world.media.channels[0].roi'"]),
    ("roi_lo_above_hi", lambda s: s.replace("roi: [1.5, 4.0]", "roi: [4.0, 1.5]"),
     ["line 29", "field 'world.media.channels[0].roi'", "lo must not exceed hi"]),
    ("spend_share_text", lambda s: s.replace("spend_share: 0.50", "spend_share: lots"),
     ["field 'world.media.channels[0].spend_share'"]),
    ("geo_missing", lambda s: s.replace("geo:\n  n_geos: 40", "geox:\n  n_geos: 40"), ["world.geo"]),
    ("duplicate_channel", lambda s: s.replace("name: google_search", "name: meta"),
     ["field 'world.media.channels[1].name'", "duplicate"]),
    ("unknown_adstock", lambda s: s.replace("family: geometric, alpha: [0.10, 0.50]}", "family: weibull, alpha: [0.1, 0.5]}", 1),
     ["field 'world.media.channels[0].adstock.family'"]),
    ("n_weeks_too_few", lambda s: s.replace("n_weeks: 156", "n_weeks: 10"), ["line 5", "field 'world.n_weeks'"]),
    ("knob_above_one", lambda s: s.replace("confounding: 0.3", "confounding: 1.5"), ["field 'world.knobs.confounding'"]),
    ("noise_sd_zero", lambda s: s.replace("sd: [0.03, 0.06]", "sd: [0, 0]"),
     ["line 45", "field 'world.noise.sd'", "lift_se = 0"]),
    ("channel_unknown_key", lambda s: s.replace("dark_prob: 0.00,\n       roi: [1.5", "dark_prob: 0.00, colour: red,\n       roi: [1.5"),
     ["field 'world.media.channels[0].colour'", "unknown key"]),
]


@pytest.mark.parametrize("case,edit,needles", PROFILE_TEXT, ids=[c[0] for c in PROFILE_TEXT])
def test_bad_world_profile_is_refused_naming_file_and_line(tmp_path, case, edit, needles):
    cd = tmp_path / "conf"
    (cd / "world").mkdir(parents=True)
    prof = cd / "world" / "shop.yaml"
    prof.write_text(edit((ROOT / "conf" / "world" / "fashion.yaml").read_text()))
    out = tmp_path / "sim"
    status, lines, _ = invoke("simulate", ["world=shop", f"out={out}", "n_datasets=1", "figure=false"], config_dir=cd)
    assert status == 2, (status, lines)
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(prof) in lines[0], lines
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert not out.exists() and not (tmp_path / "escape").exists()


@pytest.mark.parametrize("case,overrides,needles", [
    ("noise_sd_zero_override", ["world.noise.sd=[0,0]"], ["fashion.yaml", "field 'world.noise.sd'"]),
    ("roi_nan_override", ["world.media.channels.0.roi=[1,.nan]"], ["world.media.channels[0].roi[1]"]),
    ("lift_unknown_key", ["+lift.colour=red"], ["lift/good.yaml", "field 'lift.colour'", "unknown key"]),
    ("lift_prob_two", ["lift.failure_modes.too_short.prob=2"], ["field 'lift.failure_modes.too_short.prob'"]),
    ("lift_duration_nan", ["lift.duration_weeks=[6,.nan]"], ["field 'lift.duration_weeks[1]'"]),
    ("lift_unknown_mode", ["+lift.failure_modes.gremlins={prob: 0.1, magnitude: 0.1}"],
     ["field 'lift.failure_modes.gremlins'"]),
    ("n_datasets_zero", ["n_datasets=0"], ["n_datasets"]),
    ("seed_negative", ["seed=-1"], ["seed"]),
    ("readout_bogus", ["readout=bogus"], ["readout"]),
    ("unknown_world", ["world=atlantis"], ["world"]),
    ("out_under_a_file", ["out=FILE/sub"], ["out", "is a file"]),
], ids=lambda x: x if isinstance(x, str) else "")
def test_bad_simulate_options_are_refused(tmp_path, case, overrides, needles):
    f = _file(tmp_path)
    overrides = [o.replace("FILE", str(f)) for o in overrides]
    base = [f"out={tmp_path / 'sim'}", "n_datasets=1", "figure=false"]
    base = [b for b in base if not any(b.split("=")[0] == o.split("=")[0] for o in overrides)]
    status, lines, _ = invoke("simulate", base + overrides)
    assert status == 2, (status, lines)
    assert len(lines) == 1 and all(n in lines[0] for n in needles), lines


def test_the_suite_feeds_more_than_100_malformed_inputs():
    n = (len(DATA) + len(RAW_DATA) + len(LIFT) + 2 + 12 + len(SCORE) + 2 + 1 + len(PROFILE_TEXT) + 11)
    assert n >= 100, n
