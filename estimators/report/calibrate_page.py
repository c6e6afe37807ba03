"""The calibration report page: a :class:`estimators.report.html.Report` built from a
:class:`estimators.workflow.result.CalibrationResult` (tables only, no fitting).

``python -m estimators.report.calibrate_page DIR`` rebuilds ``DIR/report.html`` (and its figures)
from the tables a ``python -m estimators.calibrate`` run saved in ``DIR``, without refitting.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from estimators.report import calibrate_figures as F
from estimators.report.html import Figure, Report, Section, Table, Text
from estimators.workflow.result import CalibrationResult

TIER_CSS = """
td.tier-Gold{background:#f6d86b}td.tier-Silver{background:#d9dde3}td.tier-Red{background:#f2a3a3}
td.used-yes{background:#cfe8cf}td.used-no{color:#666}td.verdict-possible{background:#fde2c4}
td.dim-low{color:#b00020;font-weight:600}td.tag-backed{background:#dbe7f7}
td.col-reason,td.col-finding{min-width:22em}td.col-test_id{white-space:nowrap}
"""
TEST_LABELS = {"eqs_uncertainty": "uncertainty", "eqs_alignment": "alignment", "eqs_holdout": "holdout",
               "eqs_model": "model", "eqs_total": "EQS", "eqs_tier": "tier", "age_months": "age (months)",
               "start_date": "start", "end_date": "end"}

TEST_SHOW = ("test_id", "channel", "start_date", "iroas", "eqs_uncertainty", "eqs_alignment",
             "eqs_holdout", "eqs_model", "eqs_total", "eqs_tier", "used", "reason")
CHANNEL_SHOW = ("channel", "tag", "spend_share", "roi_mean_before", "roi_q05_before", "roi_q95_before",
                "roi_mean_after", "roi_q05_after", "roi_q95_after", "width_ratio", "share_before",
                "share_after", "budget_current", "budget_before", "budget_after")


def _pct(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.1f}%"


def summary(r: CalibrationResult) -> Text:
    """What changed and what to do about it, in a few sentences and bullets."""
    f, ch, ts = r.facts, r.channels, r.tests
    paras = [f"{f['n_used']} of {f['n_tests']} tests calibrated the model ({f['calibration'].upper()}, strategy "
             f"{f['strategy']}); experiment-backed channels hold {_pct(f['coverage'])} of spend "
             f"(calibration coverage)."]
    bullets = []
    moved = ch.assign(absrev=(ch["revision"] / ch["roi_mean_before"]).abs()).sort_values("absrev", ascending=False)
    for _, row in moved.head(3).iterrows():
        bullets.append(f"{row['channel']}: ROI {row['roi_mean_before']:.2f} -> {row['roi_mean_after']:.2f} "
                       f"(90% width x{row['width_ratio']:.2f}; {row['tag']}).")
    shift = (ch["budget_after"] - ch["budget_before"])
    if len(ch):
        up, down = ch.loc[shift.idxmax()], ch.loc[shift.idxmin()]
        bullets.append(f"Budget at the current total: the calibrated model moves most toward {up['channel']} "
                       f"({shift.max():+,.0f}/week against the baseline's recommendation) and away from "
                       f"{down['channel']} ({shift.min():+,.0f}/week).")
    b = r.budget.set_index("plan")
    if "calibrated recommendation" in b.index and "current" in b.index:
        gain = b.loc["calibrated recommendation", "response_mean_calibrated"] - b.loc["current", "response_mean_calibrated"]
        bullets.append(f"Expected weekly response of the calibrated recommendation: "
                       f"{b.loc['calibrated recommendation', 'response_mean_calibrated']:,.0f} "
                       f"(90% {b.loc['calibrated recommendation', 'response_q05_calibrated']:,.0f} to "
                       f"{b.loc['calibrated recommendation', 'response_q95_calibrated']:,.0f}), "
                       f"{gain:+,.0f} against the current split.")
    if np.isfinite(f.get("holdout_mape_before", np.nan)):
        bullets.append(f"Holdout MAPE ({f['holdout_weeks']} weeks): {_pct(f['holdout_mape_before'])} before, "
                       f"{_pct(f['holdout_mape_after'])} after.")
    n_red = int((ts["eqs_tier"] == "Red").sum())
    n_dis = r.checklist["test_id"].nunique() if len(r.checklist) else 0
    todo = []
    if n_red:
        todo.append(f"{n_red} test(s) scored Red: see their reasons before trusting them.")
    if n_dis:
        todo.append(f"{n_dis} test(s) disagree with the baseline (model alignment low): work through the checklist.")
    n_ret = int(ts["retired"].sum())
    if n_ret:
        todo.append(f"{n_ret} test(s) are older than {f['retire_months']:g} months: plan a re-test.")
    model_only = ch.loc[~ch["backed"]].sort_values("spend_share", ascending=False)
    if len(model_only):
        todo.append("Largest model-only channels (candidates for the next test): "
                    + ", ".join(f"{c} ({_pct(s)} of spend)" for c, s in
                                zip(model_only["channel"].head(3), model_only["spend_share"].head(3))) + ".")
    for lab in ("before", "after"):
        if f.get(f"quality_{lab}") not in ("ok", "not sampled"):
            todo.append(f"The {'baseline' if lab == 'before' else 'calibrated'} fit missed the NUTS quality bar: "
                        f"{f[f'quality_{lab}']}.")
    if f.get("inference") == "fast":
        todo.append("These numbers come from the fast path (MAP + Laplace); rerun with inference=nuts before deciding.")
    return Text(paragraphs=tuple(paras), bullets=tuple(bullets + todo))


def _test_classes(ts: pd.DataFrame, low: float) -> pd.DataFrame:
    cls = pd.DataFrame("", index=ts.index, columns=ts.columns)
    cls["eqs_tier"] = "tier-" + ts["eqs_tier"].astype(str)
    cls["used"] = np.where(ts["used"], "used-yes", "used-no")
    for d in ("eqs_uncertainty", "eqs_alignment", "eqs_holdout", "eqs_model"):
        cls[d] = np.where(ts[d] <= low, "dim-low", "")
    return cls


def _identification(ch: pd.DataFrame, f: dict) -> tuple:
    """The prior-against-posterior figure and the identification table (runs from before them: none)."""
    if "roi_identified_before" not in ch.columns:
        return ()
    from estimators.report.identification_figure import calibrate_tables, prior_posterior

    thr = float(f.get("max_sd_ratio", 0.7))
    cols = ["channel", "mroi_mean_before", "mroi_mean_after", "roi_sd_ratio_before", "roi_sd_ratio_after",
            "mroi_sd_ratio_before", "mroi_sd_ratio_after", "low_spend_share", "roi_identified_before",
            "roi_identified_after", "identification_reason_after"]
    return (
        Figure("prior_posterior", "What the data identify: prior against posterior, ROI and mROI",
               prior_posterior(calibrate_tables(ch), thr),
               f"Grey: the prior's 90% interval (before any test); markers: posterior mean and 90% interval; "
               f"hollow: ROI mostly prior (posterior sd above {thr:g} x the prior's). mROI: the marginal "
               "return at current mean weekly spend."),
        Table("identification", "What the data identify: mROI, sd ratios (posterior / prior) and the flag",
              ch[cols], formats={c: ".2f" for c in cols if c.startswith(("mroi_", "roi_sd"))} | {"low_spend_share": ".0%"},
              caption=f"roi_identified: ROI posterior sd <= {thr:g} x its prior sd (conf/identification)."),
    )


def build(r: CalibrationResult) -> Report:
    """The calibration report of one run."""
    f, ch, ts = r.facts, r.channels, r.tests
    fmt2 = {c: ".2f" for c in ch.columns if c.startswith(("roi_", "width_ratio", "revision"))}
    fmt2.update({c: ".1%" for c in ("spend_share", "share_before", "share_after")})
    fmt2.update({c: ",.0f" for c in ("budget_current", "budget_before", "budget_after")})
    ch_cls = pd.DataFrame("", index=ch.index, columns=ch.columns)
    ch_cls["tag"] = np.where(ch["backed"], "tag-backed", "")
    revision = ch[["channel", "tag", "roi_mean_before", "roi_mean_after", "revision", "roi_width_before",
                   "roi_width_after", "width_ratio", "lag_days_before", "lag_days_after"]]
    current = ch.set_index("channel")["budget_current"]
    chk_cls = None
    if len(r.checklist):
        chk_cls = pd.DataFrame("", index=r.checklist.index, columns=r.checklist.columns)
        chk_cls["verdict"] = np.where(r.checklist["verdict"] == "possible cause", "verdict-possible", "")
    monitor = ts[["test_id", "channel", "run_date", "age_months", "retired", "se_factor"]]
    sections = (
        Section("Experiments and their quality (EQS)", (
            Text((f"Every test scored on the four EQS dimensions of seeds/000 (25 / 15 / 5 each; unknown = 5) with "
                  f"the baseline's own lag window and {f['interval']:.0%} ROI interval. Gold >= {f['gold']:g}, "
                  f"Silver >= {f['silver']:g}, Red below. Strategy {f['strategy']} with {f['calibration'].upper()}.",)),
            Table("tests", "Tests: EQS, tier, used or refused and why", ts, show=TEST_SHOW,
                  classes=_test_classes(ts, f["eqs_low"]), formats={"iroas": ".2f", "age_months": ".1f"},
                  labels=TEST_LABELS,
                  caption="Low dimensions in red. tests.csv holds every column (dates, estimate, SE, source, "
                  "M2 readiness, age)."),
        )),
        Section("ROI before and after", (
            Figure("roi_forest", "ROI per channel, 90% intervals", F.forest(ch, ts),
                   "Grey: baseline; blue: calibrated; diamonds: the tests' iROAS (orange: used)."),
            Table("channels", "Per channel: ROI, shares, tag and budget", ch, show=CHANNEL_SHOW, classes=ch_cls,
                  formats=fmt2, caption=f"Calibration coverage (share of spend in experiment-backed channels): "
                  f"{_pct(f['coverage'])}. channels.csv holds every column."),
            *_identification(ch, f),
            Table("belief_revision", "Belief revision (seeds/001 step 4): pre vs post mean and 90% width",
                  revision, formats={c: ".2f" for c in revision.columns if c not in ("channel", "tag")}),
        )),
        Section("Shares and budget", (
            Figure("shares_budget", "Contribution shares and the weekly budget split", F.shares_and_budget(ch),
                   "Recommendations maximise the posterior-mean steady-state response at the current total "
                   f"weekly budget within [{f['bounds'][0]:g}, {f['bounds'][1]:g}] x each channel's mean spend."),
            Table("budget", "Expected weekly response (mean and 90% interval) of each plan under each model",
                  r.budget, formats={c: ",.0f" for c in r.budget.columns if c != "plan"}),
        )),
        Section("Response curves", (
            Figure("response_curves", "Steady-state response curves with the tested spend levels",
                   F.response_curves(r.curves, r.levels, ts, current),
                   "Vertical lines: spend during each test, national equivalent (treated spend / treated share); "
                   "solid orange: used; dashed grey: not used; bars at the top: the tested range from business as usual "
                   "to the test level; dotted black: current mean weekly spend."),
            Table("tested_levels", "Tested spend levels (national equivalent)", r.levels,
                  formats={"spend_bau": ",.0f", "spend_test": ",.0f"}),
        )),
        Section("When experiment and MMM disagree", (
            Text(("Tests whose ROI lies outside twice the baseline's interval (EQS model alignment 5). Diagnose "
                  "before resolving: (1) power, (2) contamination or spillover, (3) the curve at the tested spend "
                  "level, (4) the window against the lag, and temporal confounders (seeds/001). The disagreement "
                  "is evidence of model fragility.",) if len(r.checklist) else
                 ("No test disagrees with the baseline (every model alignment above 5).",)),
            Table("disagreement_checklist", "Disagreement checklist, filled in from the data", r.checklist,
                  classes=chk_cls),
        )),
        Section("Monitor", (
            Text((f"Age at {f['as_of']}; tests older than {f['retire_months']:g} months are flagged"
                  + (" and refused" if f.get("refuse_retired") else "") + ". "
                  + (f"Information decay (eq. 14) with lambda = {f['decay_lambda']:g} per month: SE x exp(lambda t / 2)."
                     if f.get("decay_lambda") is not None else "No information decay (set decay.lambda to inflate old tests' SE)."),)),
            Table("monitor", "Test age, retirement flag and SE factor", monitor,
                  formats={"age_months": ".1f", "se_factor": ".3f"}),
        )),
        Section("Fit details", (
            Table("fit_details", "Fits", pd.DataFrame([
                {"fit": "baseline", "calibration": "none", "inference": f["inference"], "quality": f["quality_before"],
                 "holdout_mape": f["holdout_mape_before"], "seconds": f["seconds_before"]},
                {"fit": "calibrated", "calibration": f["calibration"], "inference": f["inference"],
                 "quality": f["quality_after"], "holdout_mape": f["holdout_mape_after"], "seconds": f["seconds_after"]}]),
                formats={"holdout_mape": ".2%", "seconds": ".1f"}),
        )),
    )
    return Report(
        title="MMM calibration report",
        subtitle=(f"{f['data']}: {f['weeks']} weeks ({f['first_week']} to {f['last_week']}), "
                  f"{len(ch)} channels, {f['n_tests']} tests from {f['lift_tests']}"),
        summary=summary(r), sections=sections, css=TIER_CSS,
        footer=(f"python -m estimators.calibrate; git {f.get('git', 'unknown')}; {f['seconds']:.0f} s.",
                "Every figure is also a PNG and a PDF, every table a CSV, in this report's folder."))


def result_from_folder(out) -> CalibrationResult:
    """Read back the tables and facts a calibrate run wrote into ``out``."""
    import json
    from pathlib import Path

    out = Path(out)
    read = lambda name: pd.read_csv(out / f"{name}.csv", keep_default_na=True)
    facts = json.loads((out / "diagnostics.json").read_text())["facts"]
    facts = {k: (float("nan") if v is None and k.startswith("holdout_mape") else v) for k, v in facts.items()}
    tests = read("tests")
    checklist = read("disagreement_checklist") if (out / "disagreement_checklist.csv").stat().st_size > 40 else \
        pd.DataFrame(columns=["test_id", "channel", "check", "finding", "verdict"])
    return CalibrationResult(channels=read("channels"), tests=tests, budget=read("budget"), curves=read("curves"),
                             levels=read("tested_levels"), checklist=checklist, facts=facts)


if __name__ == "__main__":
    import sys

    from estimators.report.html import write_report

    if len(sys.argv) != 2:
        sys.exit("usage: python -m estimators.report.calibrate_page DIR")
    print(write_report(build(result_from_folder(sys.argv[1])), sys.argv[1]))
