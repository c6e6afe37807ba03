"""Column map, partial test readouts and the monitor (no fitting)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from estimators.userdata.columns import column_map, read_user_data
from estimators.userdata.monitor import age_months, inflate, monitor_spec, se_factor
from estimators.userdata.readouts import read_geo_population, read_readouts, rename_map
from harness.errors import ConfigError, InputError
from userdata_fixtures import CHANNELS, write_user_files

CM = {"date": "week", "kpi": "revenue", "spend": CHANNELS, "controls": {"promo": "promo_flag"}}


@pytest.fixture()
def files(tmp_path):
    return write_user_files(tmp_path)


def test_column_map_reads_own_names(files):
    obs = read_user_data(files["data"], column_map(CM), holdout_weeks=8)
    assert obs.channel_names == ("tv", "search", "social") and obs.control_names == ("promo",)
    np.testing.assert_allclose(obs.spend[:, 0], files["frame"]["tv_cost"].to_numpy())
    np.testing.assert_allclose(obs.kpi, files["frame"]["revenue"].to_numpy())
    assert obs.n_fit == 72


def test_prefix_default(tmp_path, files):
    df = files["frame"].rename(columns={"week": "date", "revenue": "kpi", "tv_cost": "spend_tv",
                                        "search_cost": "spend_search", "social_cost": "spend_social"})
    df.to_csv(tmp_path / "d.csv", index=False)
    obs = read_user_data(tmp_path / "d.csv", column_map({}))
    assert obs.channel_names == ("tv", "search", "social") and obs.control_names == ()


@pytest.mark.parametrize("mutate, cm, text", [
    (lambda d: d, {**CM, "kpi": "sales"}, "field 'sales': missing column"),
    (lambda d: d.assign(tv_cost=d["tv_cost"].astype(object).where(d.index != 6, "n/a")), CM, "row 8, field 'tv_cost'"),
    (lambda d: d.assign(search_cost=d["search_cost"].where(d.index != 3, -1.0)), CM, "row 5, field 'search_cost': negative"),
    (lambda d: d.drop(index=10), CM, "row 12, field 'week'"),
    (lambda d: d.assign(revenue=d["revenue"].astype(object).where(d.index != 0, "")), CM, "row 2, field 'revenue'"),
])
def test_data_errors_name_file_row_column(tmp_path, files, mutate, cm, text):
    p = tmp_path / "bad.csv"
    mutate(files["frame"]).to_csv(p, index=False)
    with pytest.raises(InputError) as e:
        read_user_data(p, column_map(cm))
    assert str(e.value).startswith(str(p)) and text in str(e.value) and "\n" not in str(e.value)


def test_column_map_config_errors():
    with pytest.raises(ConfigError, match="columns.colour"):
        column_map({"colour": "x"})
    with pytest.raises(ConfigError, match="mapped twice"):
        column_map({"kpi": "a", "spend": {"tv": "a"}})


def _obs(files):
    return read_user_data(files["data"], column_map(CM))


def test_three_estimate_forms_agree(tmp_path, files):
    obs = _obs(files)
    d0, d1 = str(obs.dates[10]), str(obs.dates[13])
    se = 3000.0
    z95, z90 = norm.ppf(0.975), norm.ppf(0.95)
    lift = 4 * 2000.0 * 2.5
    rows = pd.DataFrame([
        {"test_id": "a", "channel": "tv", "start_date": d0, "end_date": d1, "spend_delta": 2000.0,
         "lift": lift, "lift_se": se},
        {"test_id": "b", "channel": "tv", "start_date": d0, "end_date": d1, "spend_delta": 2000.0,
         "lift": lift, "ci_low": lift - z90 * se, "ci_high": lift + z90 * se, "ci_level": 0.9},
        {"test_id": "c", "channel": "tv", "start_date": d0, "end_date": d1, "spend_delta_total": 8000.0,
         "iroas": 2.5, "iroas_ci_low": (lift - z95 * se) / 8000, "iroas_ci_high": (lift + z95 * se) / 8000},
    ])
    rows.to_csv(tmp_path / "t.csv", index=False)
    rs = read_readouts(tmp_path / "t.csv", obs.dates, obs.channel_names)
    for r in rs:
        assert r.test.lift == pytest.approx(lift, rel=1e-12)
        assert r.test.lift_se == pytest.approx(se, rel=1e-9)
        assert r.test.iroas == pytest.approx(2.5, rel=1e-12)
        assert r.test.weeks == 4 and r.test.window_days == 28
        assert "population_share" in r.m2_reason and "M1 can use" in r.m2_reason
    assert [r.source for r in rs] == ["lift_se", "lift_ci", "iroas_ci"]
    # unknown quality fields stay unknown (EQS scores them low)
    assert rs[0].test.holdout_verified is None and np.isnan(rs[0].test.leakage)


def test_m2_ready_and_geo_share(tmp_path, files):
    obs = _obs(files)
    rs = read_readouts(files["tests"], obs.dates, obs.channel_names)
    assert [r.m2_reason == "" for r in rs] == [True, False, True, False]
    assert rs[3].run_date == np.datetime64("2021-06-01") and rs[0].run_date == obs.dates[55]
    geo = pd.DataFrame({"geo": ["g1", "g2", "g3", "g1"], "population": [1.0, 3.0, 4.0, 1.0]})
    geo.to_csv(tmp_path / "geo.csv", index=False)
    t = files["tests_frame"].copy()
    t.loc[1, ["treated_geos", "spend_baseline"]] = ["g1;g2", 3000.0]
    t.to_csv(tmp_path / "t.csv", index=False)
    rs = read_readouts(tmp_path / "t.csv", obs.dates, obs.channel_names,
                       geo_population=read_geo_population(tmp_path / "geo.csv"))
    assert rs[1].test.population_share == pytest.approx(4.0 / 8.0) and rs[1].m2_reason == ""


@pytest.mark.parametrize("change, row, field, text", [
    ({"channel": "radio"}, 3, "channel", "unknown channel"),
    ({"ci_low": 60000.0}, 3, "ci_low", "ci_low > ci_high"),
    ({"ci_low": "", "ci_high": ""}, 3, "lift_se", "no uncertainty"),
    ({"end_date": "2020-01-01"}, 3, "end_date", "before start_date"),
    ({"spend_delta": 0.0}, 3, "spend_delta", "zero"),
    ({"population_share": 1.5}, 3, "population_share", "(0, 1]"),
    ({"start_date": "soon"}, 3, "start_date", "not a date"),
])
def test_readout_errors(tmp_path, files, change, row, field, text):
    t = files["tests_frame"].copy().astype(object)
    for k, v in change.items():
        t.loc[1, k] = v
    t.to_csv(tmp_path / "t.csv", index=False)
    obs = _obs(files)
    with pytest.raises(InputError) as e:
        read_readouts(tmp_path / "t.csv", obs.dates, obs.channel_names)
    msg = str(e.value)
    assert f"row {row}" in msg and f"field '{field}'" in msg and text in msg and "\n" not in msg


def test_renamed_test_columns(tmp_path, files):
    t = files["tests_frame"].rename(columns={"lift": "incremental_revenue", "channel": "media"})
    t.to_csv(tmp_path / "t.csv", index=False)
    obs = _obs(files)
    rs = read_readouts(tmp_path / "t.csv", obs.dates, obs.channel_names,
                       rename=rename_map({"lift": "incremental_revenue", "channel": "media"}))
    assert rs[0].test.lift == pytest.approx(-54000.0)
    t.loc[0, "media"] = "radio"
    t.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(InputError, match="field 'media'"):
        read_readouts(tmp_path / "t.csv", obs.dates, obs.channel_names,
                      rename=rename_map({"lift": "incremental_revenue", "channel": "media"}))


def test_monitor_decay_closed_form(files):
    obs = _obs(files)
    rs = read_readouts(files["tests"], obs.dates, obs.channel_names)
    as_of = np.datetime64("2024-06-01")
    ages = age_months([r.run_date for r in rs], as_of)
    assert ages[3] == pytest.approx((as_of - np.datetime64("2021-06-01")).astype(int) / (365.25 / 12))
    lam = 0.05
    f = se_factor(ages, lam)
    np.testing.assert_allclose(f ** 2, np.exp(lam * ages))            # eq. (14) on the variance
    t = inflate(rs[3].test, float(f[3]))
    assert t.lift_se == pytest.approx(rs[3].test.lift_se * f[3])
    assert (t.ci_high - t.lift) == pytest.approx((rs[3].test.ci_high - rs[3].test.lift) * f[3])
    assert np.all(se_factor(ages, None) == 1.0)
    with pytest.raises(ConfigError, match="decay.lambda"):
        monitor_spec({}, {"lambda": -1})
    with pytest.raises(ConfigError, match="monitor.retire_months"):
        monitor_spec({"retire_months": 0}, {})


def test_decide_reasons_and_m2_refusal(files):
    import jax

    from estimators.evidence.eqs import EqsScores, EqsSpec
    from estimators.workflow.selection import decide

    obs = _obs(files)
    rs = read_readouts(files["tests"], obs.dates, obs.channel_names)
    tests = [r.test for r in rs]
    f = lambda *v: np.array(v, float)
    # tv Gold; search Gold but no M2 fields; social-iroas Red (low on uncertainty and model); social-old Silver
    sc = EqsScores(f(25, 25, 5, 15), f(25, 25, 15, 15), f(25, 25, 15, 5), f(25, 15, 5, 15),
                   f(100, 90, 40, 50), np.array(["Gold", "Gold", "Red", "Silver"]))
    reasons = [r.m2_reason for r in rs]
    d = decide(jax.random.key(0), "single_best", "m2", tests, sc, EqsSpec(), reasons, np.zeros(4, bool), False)
    assert d.used.tolist() == [True, False, False, False]
    assert d.reason[1].startswith("refused for M2: no population_share")
    assert d.reason[3].startswith("refused for M2: no population_share")
    assert d.reason[2].startswith("refused: Red (40)") and "statistical uncertainty" in d.reason[2] \
        and "model alignment" in d.reason[2]
    # M1 takes the tests M2 refused
    d1 = decide(jax.random.key(0), "single_best", "m1", tests, sc, EqsSpec(), reasons, np.zeros(4, bool), False)
    assert d1.used.tolist() == [True, True, False, True]
    assert d1.reason[3].startswith("used by single_best: Silver (50)") and "holdout quality" in d1.reason[3]
    assert [t.test_id for t in d1.tests] == ["tv-2024", "search-ci", "social-old"]
    # a retired test is refused when asked
    d2 = decide(jax.random.key(0), "single_best", "m1", tests, sc, EqsSpec(), reasons,
                np.array([False, False, False, True]), True)
    assert d2.used.tolist() == [True, True, False, False] and "retire_months" in d2.reason[3]


def test_holiday_overlap():
    from estimators.workflow.compare import _holiday_overlap

    hol = (("black_friday", 330.0, 3.0), ("christmas", 359.0, 9.0))
    assert _holiday_overlap(np.datetime64("2024-11-20"), 14, hol) == ["black_friday"]
    assert _holiday_overlap(np.datetime64("2024-05-01"), 28, hol) == []
    assert _holiday_overlap(np.datetime64("2024-12-20"), 20, hol) == ["christmas"]


def test_test_before_the_data_is_m1_only(tmp_path, files):
    obs = _obs(files)
    t = files["tests_frame"].iloc[[0]].copy()
    t["start_date"], t["end_date"] = "2022-06-06", "2022-07-04"          # before the data's first week
    t.to_csv(tmp_path / "t.csv", index=False)
    (r,) = read_readouts(tmp_path / "t.csv", obs.dates, obs.channel_names)
    assert r.test.start_week < 0 and r.test.weeks == 5
    assert "outside the data" in r.m2_reason and "M1 can use it" in r.m2_reason
    assert r.test.iroas == pytest.approx(r.test.lift / (r.test.spend_delta * 5))
