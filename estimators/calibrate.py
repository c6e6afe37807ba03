"""``python -m estimators.calibrate``: calibrate your own MMM with your lift tests, end to end.

    python -m estimators.calibrate data=PATH lift_tests=PATH [geo=PATH] \\
        strategy=single_best calibration=m2 out=DIR [columns.date=week columns.kpi=revenue \\
        columns.spend.tv=tv_cost ...] [inference=fast] [monitor.retire_months=12] [decay.lambda=0.05]

The checklist of seeds/000 as one command:

1. read the data through the column map (:mod:`estimators.userdata.columns`) and the test
   readouts with whatever columns they have (:mod:`estimators.userdata.readouts`);
2. fit the baseline (no calibration);
3. score every test with EQS against the baseline's own lag window and ROI interval;
4. apply the strategy; every test is used or refused with a reason (tier, failing dimension,
   or why M2 cannot take it);
5. fit the calibrated model (same compiled program as the baseline: equal pad sizes);
6. compare (:mod:`estimators.workflow.compare`) and 7. monitor (:mod:`estimators.userdata.monitor`);

then write ``DIR/report.html`` (:mod:`estimators.report.calibrate_page`), every figure as PNG
and PDF and every table as CSV beside it (``channels.csv`` and ``tests.csv`` have fixed
columns), ``diagnostics.json``, the resolved ``config.yaml`` and ``manifest.json``. Bad input
exits with status 2 and one line naming file, row and field. Config: ``conf/calibrate.yaml``.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import ConfigError


# Open maps of the config: their keys are the user's channel, control and field names, so an
# override adds a key (Hydra would need "++"; the command accepts it as typed).
OPEN_MAPS = ("columns.spend.", "columns.controls.", "test_columns.")


def open_map_overrides(argv):
    """``columns.spend.tv=tv_cost`` -> ``++columns.spend.tv=tv_cost`` (other arguments unchanged)."""
    return [("++" + a) if a.startswith(OPEN_MAPS) and "=" in a else a for a in argv]


def _log(msg: str, t0: float) -> None:
    print(f"calibrate [{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


class _Heartbeat:
    """Print ``label ... Ns`` every ``every`` seconds while a long step runs (a fit)."""

    def __init__(self, label: str, t0: float, every: float = 15.0):
        import threading

        self.label, self.t0, self.every, self.done = label, t0, every, threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        start = time.perf_counter()
        while not self.done.wait(self.every):
            _log(f"{self.label}: still running ({time.perf_counter() - start:.0f}s)", self.t0)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def _plain(cfg) -> dict:
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    if not isinstance(cfg, DictConfig):
        return dict(cfg)
    for name in ("data", "lift_tests", "out"):
        if OmegaConf.is_missing(cfg, name):
            raise ConfigError(name, f"required, e.g. {name}=PATH")
    try:
        return OmegaConf.to_container(cfg, resolve=True)
    except MissingMandatoryValue as e:
        raise ConfigError(str(e.full_key), "required") from None


def _number(c, key, kind=float, lo=None):
    try:
        v = kind(c.get(key))
    except (TypeError, ValueError):
        raise ConfigError(key, f"must be a number, got {c.get(key)!r}") from None
    if lo is not None and v < lo:
        raise ConfigError(key, f"must be >= {lo}")
    return v


def tests_frame(readouts, tests, scores, decision, ages, retired, factors, dates) -> pd.DataFrame:
    """``tests.csv``: one row per test."""
    t0 = np.asarray(dates, "datetime64[D]")[0]
    day = lambda w: str(t0 + np.timedelta64(7 * int(w), "D"))
    rows = []
    for i, (r, t) in enumerate(zip(readouts, tests)):
        rows.append({
            "test_id": t.test_id, "channel": t.channel, "row": r.row, "start_date": day(t.start_week),
            "end_date": day(t.end_week), "weeks": t.weeks, "window_days": t.window_days, "source": r.source,
            "lift": t.lift, "lift_se": t.lift_se, "ci_low": t.ci_low, "ci_high": t.ci_high,
            "spend_delta": t.spend_delta, "iroas": t.iroas, "iroas_se": t.lift_se / abs(t.spend_delta * t.weeks),
            "population_share": t.population_share, "spend_baseline": t.spend_baseline,
            "eqs_uncertainty": scores.uncertainty[i], "eqs_alignment": scores.alignment[i],
            "eqs_holdout": scores.holdout[i], "eqs_model": scores.model[i], "eqs_total": scores.total[i],
            "eqs_tier": str(scores.tier[i]), "model_z": float(scores.model_z[i]),
            "used": bool(decision.used[i]), "reason": decision.reason[i],
            "m2_ready": r.m2_reason == "", "run_date": str(r.run_date), "age_months": float(ages[i]),
            "retired": bool(retired[i]), "se_factor": float(factors[i])})
    return pd.DataFrame(rows)


def run(cfg) -> Path:
    """Run the whole workflow and write the report; returns the output folder.

    Raises:
        ConfigError, InputError: one-line user errors (exit status 2 from the command line).
    """
    import jax

    from estimators.decisions.analysis import analyse
    from estimators.evidence.eqs import eqs_spec, model_view, score
    from estimators.inference.posterior import diagnostics_dict, fit, flat_draws, summarise
    from estimators.model.batch import build_batch, pad_sizes
    from estimators.model.spec import fit_spec_from_config
    from estimators.report.calibrate_page import build
    from estimators.report.html import write_report
    from estimators.userdata.columns import column_map, read_user_data
    from estimators.userdata.monitor import age_months, inflate, monitor_spec, se_factor
    from estimators.userdata.readouts import read_geo_population, read_readouts, rename_map
    from estimators.workflow import compare as C
    from estimators.workflow.result import CalibrationResult
    from estimators.workflow.selection import decide
    from harness.cli import job_out
    from harness.manifest import atomic_write_text, git_revision, write_run_files

    t_start = time.perf_counter()
    # Cache every compiled program, however small: a fresh process otherwise recompiles ~150 small
    # eager ops (about 10 s on 2 shared cores) that fall under harness.jaxcache's 0.5 s threshold.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    c = _plain(cfg)
    strategy = c.get("strategy")
    strategy = strategy.get("name") if isinstance(strategy, dict) else strategy
    from estimators.evidence.strategies import STRATEGIES
    if strategy not in STRATEGIES:
        raise ConfigError("strategy", f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    cal_spec = fit_spec_from_config(c)
    if cal_spec.calibration.method == "none":
        raise ConfigError("calibration", "calibrate needs m1, m1_prior or m2 (calibration=none is the baseline)")
    base_spec = fit_spec_from_config({**c, "calibration": "none"})
    eqs = eqs_spec(c.get("eqs") or {})
    mon = monitor_spec(c.get("monitor"), c.get("decay"))
    seed = _number(c, "seed", int, 0)
    holdout = _number(c, "holdout_weeks", int, 0)
    ci_level = _number(c, "ci_level")
    if not 0 < ci_level < 1:
        raise ConfigError("ci_level", "must be in (0, 1)")
    bounds = tuple(c.get("budget", {}).get("bounds", (0.0, 3.0)))
    if len(bounds) != 2 or not 0 <= float(bounds[0]) <= 1 <= float(bounds[1]):
        raise ConfigError("budget.bounds", f"needs [low, high] with 0 <= low <= 1 <= high, got {list(bounds)}")
    bounds = (float(bounds[0]), float(bounds[1]))
    draws = _number(c, "analysis_draws", int, 10)

    obs = read_user_data(str(c["data"]), column_map(c.get("columns")), holdout_weeks=holdout)
    geo_pop = read_geo_population(str(c["geo"])) if c.get("geo") else None
    readouts = read_readouts(str(c["lift_tests"]), obs.dates, obs.channel_names, ci_level=ci_level,
                             rename=rename_map(c.get("test_columns")), geo_population=geo_pop)
    k = len(obs.channel_names)
    as_of = mon.as_of if mon.as_of is not None else obs.dates[-1] + np.timedelta64(7, "D")
    ages = age_months([r.run_date for r in readouts], as_of)
    retired = ages > mon.retire_months
    factors = se_factor(ages, mon.decay_lambda)
    tests = [inflate(r.test, float(f)) for r, f in zip(readouts, factors)]
    m2_reasons = [r.m2_reason for r in readouts]
    n_m2 = sum(not m for m in m2_reasons)
    _log(f"read {obs.kpi.shape[0]} weeks x {k} channels ({', '.join(obs.channel_names)}) and {len(tests)} tests "
         f"({n_m2} usable by M2, {int(retired.sum())} older than {mon.retire_months:g} months)", t_start)

    m2 = cal_spec.calibration.method == "m2"
    m2_tests = [t for t, why in zip(tests, m2_reasons) if not why]
    pads = pad_sizes([obs], [m2_tests] if m2 else None, cal_spec.model.period_days)
    key = jax.random.key(seed)
    k_fit, k_strategy = jax.random.split(key)
    what = "NUTS to the quality bar" if cal_spec.inference.method == "nuts" else cal_spec.inference.method
    _log(f"fitting the baseline ({what})", t_start)
    t = time.perf_counter()
    base_batch = build_batch([obs], [[]], base_spec, **pads)
    with _Heartbeat("baseline fit", t_start):
        before = fit(k_fit, base_batch, base_spec)
    sec_before = time.perf_counter() - t
    _log(f"baseline done in {sec_before:.1f}s ({before.diagnostics.quality[0]})", t_start)

    sb = summarise(before)
    roi = flat_draws(before.roi, before, 0)[:, :k]
    tail = (1 - eqs.interval) / 2
    lo, hi = np.quantile(roi, [tail, 1 - tail], axis=0)
    # The baseline's forecast of every test that carries the M2 fields (its design on the curve):
    # the readout against it is the model-based z-score (NaN where the design is unknown).
    from estimators.evidence.consistency import predicted_lift

    placeable = [i for i, why in enumerate(m2_reasons) if not why]
    f_mean, f_sd = np.full(len(tests), np.nan), np.full(len(tests), np.nan)
    if placeable:
        (mu, sd), = predicted_lift(before, [obs], [[tests[i] for i in placeable]], base_spec)
        f_mean[placeable], f_sd[placeable] = mu, sd
    scores = score(tests, model_view(tests, obs.channel_names, sb.lag_days[0, :k], lo, hi, f_mean, f_sd), eqs)
    decision = decide(k_strategy, strategy, cal_spec.calibration.method, tests, scores, eqs, m2_reasons,
                      retired, mon.refuse_retired)
    counts = pd.Series(scores.tier).value_counts().reindex(["Gold", "Silver", "Red"], fill_value=0)
    _log("EQS: " + ", ".join(f"{n} {v}" for n, v in counts.items()) + f"; {strategy} uses {int(decision.used.sum())}",
         t_start)
    if decision.tests:
        _log(f"fitting the calibrated model ({cal_spec.calibration.label}, {len(decision.tests)} test record(s))", t_start)
        t = time.perf_counter()
        cal_batch = build_batch([obs], [decision.tests], cal_spec, **pads)
        with _Heartbeat("calibrated fit", t_start):
            after = fit(k_fit, cal_batch, cal_spec)
        sec_after = time.perf_counter() - t
        _log(f"calibrated done in {sec_after:.1f}s ({after.diagnostics.quality[0]})", t_start)
    else:
        _log("no test passed the strategy: the calibrated model is the baseline", t_start)
        cal_batch, after, sec_after = base_batch, before, 0.0

    _log("comparing the fits and planning the budget", t_start)
    factors_plan = np.ones((1, base_batch.data.channel_mask.shape[1]))
    an_b = analyse(before, base_batch, factors_plan, bounds, max_lag=base_spec.model.max_lag,
                   pre_sample=base_spec.model.pre_sample, draws=draws)
    an_a = analyse(after, cal_batch, factors_plan, bounds, max_lag=cal_spec.model.max_lag,
                   pre_sample=cal_spec.model.pre_sample, draws=draws)
    used_tests = [t for t, u in zip(tests, decision.used) if u]
    backed = np.array([any(t.channel == ch for t in used_tests) for ch in obs.channel_names])
    from estimators.decisions.identification import IdentificationSpec, identify, prior_key, prior_summary

    ident_spec = IdentificationSpec.from_config(c.get("identification"))
    prior = prior_summary(prior_key(key), base_batch, base_spec, ident_spec.prior_draws)
    channels = C.channel_table(obs, before, after, an_b, an_a, backed,
                               identify(before, base_batch, prior, ident_spec), identify(after, cal_batch, prior, ident_spec))
    levels = C.tested_levels(tests)
    top = levels.groupby("channel")["spend_test"].max().reindex(list(obs.channel_names)).to_numpy()
    result = CalibrationResult(
        channels=channels,
        tests=tests_frame(readouts, tests, scores, decision, ages, retired, factors, obs.dates),
        budget=C.budget_table(obs, before, after, an_b, an_a, draws),
        curves=C.curves_table(obs, {"before": before, "after": after}, cal_spec.curve_points, cal_spec.curve_max,
                              extra=top),
        levels=levels,
        checklist=C.disagreement_checklist(readouts, tests, scores, eqs, before, obs, cal_spec.model.holidays, draws),
        facts={"coverage": C.calibration_coverage(obs, backed), "holdout_mape_before": C.holdout_mape(before, obs),
               "holdout_mape_after": C.holdout_mape(after, obs), "quality_before": before.diagnostics.quality[0],
               "quality_after": after.diagnostics.quality[0], "strategy": strategy,
               "calibration": cal_spec.calibration.label, "inference": cal_spec.inference.method,
               "n_tests": len(tests), "n_used": int(decision.used.sum()), "data": str(c["data"]),
               "lift_tests": str(c["lift_tests"]), "weeks": int(obs.kpi.shape[0]), "first_week": str(obs.dates[0]),
               "last_week": str(obs.dates[-1]), "holdout_weeks": holdout, "retire_months": mon.retire_months,
               "refuse_retired": mon.refuse_retired, "decay_lambda": mon.decay_lambda, "as_of": str(as_of),
               "interval": eqs.interval, "gold": eqs.gold, "silver": eqs.silver, "eqs_low": eqs.low,
               "bounds": bounds, "max_sd_ratio": ident_spec.max_sd_ratio, "seconds_before": sec_before, "seconds_after": sec_after,
               "git": git_revision()[:12], "seconds": time.perf_counter() - t_start})
    out = job_out(c["out"])
    report = write_report(build(result), out)
    for name in ("curves",):
        atomic_write_text(out / f"{name}.csv", getattr(result, name).to_csv(index=False, float_format="%.6g"))
    diag = {"baseline": diagnostics_dict(before, 0), "calibrated": diagnostics_dict(after, 0),
            "facts": {k_: (None if isinstance(v, float) and not np.isfinite(v) else v)
                      for k_, v in result.facts.items()}}
    atomic_write_text(out / "diagnostics.json", json.dumps(diag, indent=2, default=str))
    write_run_files(out, c, seed, extra={"n_channels": k, "n_weeks": int(obs.kpi.shape[0]), "n_tests": len(tests),
                                         "wall_seconds": round(time.perf_counter() - t_start, 2)})
    _log(f"wrote {report} (coverage {result.facts['coverage']:.0%}, {result.facts['n_used']} test(s) used)", t_start)
    return out


if __name__ == "__main__":
    from harness.cli import main
    from harness.programs import enable

    sys.argv = [sys.argv[0]] + open_map_overrides(sys.argv[1:])
    enable()                  # keep traced programs between runs (harness/programs.py)
    main("calibrate", run)
