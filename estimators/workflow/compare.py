"""Compare the baseline with the calibrated fit: per-channel ROI, belief revision, shares, tags,
coverage, holdout error, the budget recommendation, and the disagreement checklist of seeds/001.

Pure functions of posteriors, analyses and readouts; they return tables (pandas frames) that the
report draws and writes. Nothing here sees the truth.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from common import transforms as tf
from estimators.decisions.analysis import Analysis
from estimators.evidence.eqs import EqsScores, EqsSpec, experiment_window_days
from estimators.inference.posterior import Posterior, summarise, thinned
from estimators.model.data import Observed

CHANNEL_COLUMNS = ("roi_mean_before", "roi_q05_before", "roi_q95_before", "roi_mean_after",
                   "roi_q05_after", "roi_q95_after", "share_before", "share_after", "backed",
                   "budget_before", "budget_after")


def response_draws(post: Posterior, spend: np.ndarray, draws: int = 500) -> np.ndarray:
    """Steady-state weekly response per draw of dataset 0 at weekly spend ``[M, K]``: ``[S, M, K]``."""
    beta, half, slope = (thinned(np.asarray(a, np.float64), post, draws)[0]
                         for a in (post.beta, post.half_saturation, post.slope))
    with jax.enable_x64(True):
        r = beta[:, None, :] * np.asarray(tf.hill(jnp.asarray(spend)[None], jnp.asarray(half)[:, None, :],
                                                   jnp.asarray(slope)[:, None, :]))
    return np.asarray(r)


def holdout_mape(post: Posterior, obs: Observed) -> float:
    """Mean absolute percentage error of the posterior-mean KPI over the holdout weeks (NaN without)."""
    n_t = obs.kpi.shape[0]
    if obs.n_fit >= n_t:
        return float("nan")
    pred = post.kpi_mean[0, obs.n_fit:n_t]
    actual = obs.kpi[obs.n_fit:]
    return float(np.mean(np.abs(pred - actual) / np.abs(actual)))


IDENT_CHANNEL_COLUMNS = ("mroi_mean", "mroi_q05", "mroi_q95", "roi_sd_ratio", "mroi_sd_ratio", "roi_identified",
                         "identification_reason")


def channel_table(obs: Observed, before: Posterior, after: Posterior, an_before: Analysis,
                  an_after: Analysis, backed: np.ndarray, ident_before=None, ident_after=None) -> pd.DataFrame:
    """One row per channel (``channels.csv``): the fixed columns :data:`CHANNEL_COLUMNS` first.

    Extra columns: ``channel``, ``tag``, ``spend_share``, ``budget_current``, ``roi_width_before/after``
    (90% width), ``revision`` (post - pre mean), ``width_ratio`` (post / pre width), ``lag_days_before/after``;
    with the two fits' :class:`estimators.decisions.identification.Identification`, what the data
    identify: :data:`IDENT_CHANNEL_COLUMNS` with ``_before`` / ``_after``, then ``low_spend_share``
    and the prior's ``roi_prior_log_sd``, ``mroi_prior_log_sd`` and 90% intervals (one prior, before any test).
    """
    k = len(obs.channel_names)
    sb, sa = summarise(before), summarise(after)
    spend_tot = obs.spend.sum(0)
    df = pd.DataFrame({"channel": list(obs.channel_names)})
    df["roi_mean_before"], df["roi_q05_before"], df["roi_q95_before"] = sb.roi_mean[0, :k], sb.roi_q05[0, :k], sb.roi_q95[0, :k]
    df["roi_mean_after"], df["roi_q05_after"], df["roi_q95_after"] = sa.roi_mean[0, :k], sa.roi_q05[0, :k], sa.roi_q95[0, :k]
    df["share_before"], df["share_after"] = sb.share_mean[0, :k], sa.share_mean[0, :k]
    df["backed"] = np.asarray(backed, bool)
    df["budget_before"], df["budget_after"] = an_before.allocation[0, :k], an_after.allocation[0, :k]
    df["tag"] = np.where(df["backed"], "experiment-backed", "model-only")
    df["spend_share"] = spend_tot / spend_tot.sum()
    df["budget_current"] = obs.spend.mean(0)
    df["roi_width_before"] = df["roi_q95_before"] - df["roi_q05_before"]
    df["roi_width_after"] = df["roi_q95_after"] - df["roi_q05_after"]
    df["revision"] = df["roi_mean_after"] - df["roi_mean_before"]
    df["width_ratio"] = df["roi_width_after"] / df["roi_width_before"]
    df["lag_days_before"], df["lag_days_after"] = sb.lag_days[0, :k], sa.lag_days[0, :k]
    if ident_before is not None and ident_after is not None:
        from estimators.decisions.identification import identification_frame

        fb, fa = identification_frame(ident_before, 0, k), identification_frame(ident_after, 0, k)
        for c in IDENT_CHANNEL_COLUMNS:
            df[f"{c}_before"], df[f"{c}_after"] = fb[c].to_numpy(), fa[c].to_numpy()
        for c in ("low_spend_share", "roi_prior_log_sd", "mroi_prior_log_sd", "roi_prior_q05", "roi_prior_q95",
                  "mroi_prior_q05", "mroi_prior_q95"):
            df[c] = fb[c].to_numpy()
    return df


def calibration_coverage(obs: Observed, backed: np.ndarray) -> float:
    """Share of total spend in experiment-backed channels (seeds/001's calibration coverage)."""
    tot = obs.spend.sum(0)
    return float(tot[np.asarray(backed, bool)].sum() / tot.sum())


def budget_table(obs: Observed, before: Posterior, after: Posterior, an_before: Analysis,
                 an_after: Analysis, draws: int = 500) -> pd.DataFrame:
    """Expected weekly response (mean and 90% interval) of three plans at the current total budget
    (current split, the baseline's and the calibrated model's recommendation), under both models."""
    k = len(obs.channel_names)
    plans = {"current": obs.spend.mean(0), "baseline recommendation": an_before.allocation[0, :k],
             "calibrated recommendation": an_after.allocation[0, :k]}
    spend = np.stack(list(plans.values()))                                     # [3, K]
    rows = []
    res = {lab: response_draws(p, spend, draws).sum(-1) for lab, p in (("baseline", before), ("calibrated", after))}
    for m, (name, b) in enumerate(plans.items()):
        row = {"plan": name, "weekly_budget": float(b.sum())}
        for lab, r in res.items():
            q = np.quantile(r[:, m], [0.05, 0.95])
            row[f"response_mean_{lab}"], row[f"response_q05_{lab}"], row[f"response_q95_{lab}"] = float(r[:, m].mean()), *map(float, q)
        rows.append(row)
    return pd.DataFrame(rows)


def tested_levels(tests: Sequence) -> pd.DataFrame:
    """Per test, the national-equivalent weekly spend before and during the test (NaN when the
    readout lacks ``population_share`` or ``spend_baseline``): treated spend / treated share."""
    rows = []
    for t in tests:
        ok = np.isfinite(t.population_share) and np.isfinite(t.spend_baseline)
        rows.append({"test_id": t.test_id, "channel": t.channel,
                     "spend_bau": t.spend_baseline / t.population_share if ok else np.nan,
                     "spend_test": (t.spend_baseline + t.spend_delta) / t.population_share if ok else np.nan})
    return pd.DataFrame(rows, columns=["test_id", "channel", "spend_bau", "spend_test"])


def curves_table(obs: Observed, posts: dict, points: int = 41, curve_max: float = 3.0,
                 extra: np.ndarray | None = None) -> pd.DataFrame:
    """Long table of steady-state response curves: ``fit, channel, weekly_spend, mean, q05, q95``.

    The grid runs from 0 to ``curve_max`` x the channel's mean weekly spend, or to ``extra[k]``
    (e.g. the highest tested level) x 1.1 when that is further.
    """
    k = len(obs.channel_names)
    top = obs.spend.mean(0) * curve_max
    if extra is not None:
        top = np.fmax(top, np.nan_to_num(np.asarray(extra, float)) * 1.1)
    grid = np.linspace(0, 1, points)[:, None] * top[None, :]                   # [P, K]
    rows = []
    for name, post in posts.items():
        r = response_draws(post, grid)                                          # [S, P, K]
        q = np.quantile(r, [0.05, 0.95], axis=0)
        for j, ch in enumerate(obs.channel_names[:k]):
            rows.append(pd.DataFrame({"fit": name, "channel": ch, "weekly_spend": grid[:, j],
                                      "mean": r[:, :, j].mean(0), "q05": q[0, :, j], "q95": q[1, :, j]}))
    return pd.concat(rows, ignore_index=True)


def _holiday_overlap(start: np.datetime64, days: int, holidays) -> list[str]:
    doy = lambda d: float((d - d.astype("datetime64[Y]").astype("datetime64[D]")).astype(int))
    span = [doy(start + np.timedelta64(i, "D")) for i in range(max(int(days), 1))]
    hits = []
    for name, centre, width in holidays:
        dist = [min(abs(x - centre), 365.25 - abs(x - centre)) for x in span]
        if min(dist) <= 2 * width:
            hits.append(str(name))
    return hits


def disagreement_checklist(readouts, tests: Sequence, scores: EqsScores, spec: EqsSpec, before: Posterior,
                           obs: Observed, holidays=(), draws: int = 500) -> pd.DataFrame:
    """seeds/001 "When experiment and MMM disagree", filled in for every test whose EQS model
    alignment is low (its ROI outside twice the baseline's interval).

    Checks: (1) power, (2) contamination / leakage, (3) spend level against the curve (the
    baseline's own steady-state iROAS at the tested spend, a secant, against its average ROI),
    (4) the window against the lag, and temporal confounders (holidays in the window).
    Returns one row per (test, check): ``test_id, channel, check, finding, verdict`` with verdict
    ``possible cause``, ``not the cause`` or ``unknown``.
    """
    names = list(obs.channel_names)
    sb = summarise(before)
    windows = experiment_window_days(tests, spec.window)
    rows = []
    for i, t in enumerate(tests):
        if scores.model[i] > spec.low:
            continue
        k = names.index(t.channel)
        roi_m, lo, hi = sb.roi_mean[0, k], sb.roi_q05[0, k], sb.roi_q95[0, k]
        add = lambda check, finding, verdict: rows.append(
            {"test_id": t.test_id, "channel": t.channel, "check": check, "finding": finding, "verdict": verdict})
        add("disagreement", f"experiment iROAS {t.iroas:.2f} vs baseline ROI {roi_m:.2f} "
            f"(90% {lo:.2f} to {hi:.2f})", "documented")
        half = (t.ci_high - t.ci_low) / 2
        ratio = half / abs(t.lift) if t.lift != 0 else np.inf
        zero_in = t.ci_low <= 0 <= t.ci_high
        geos = f", {t.n_geos} treated geos" if t.n_geos > 0 else ""
        add("1 power", f"CI half-width {ratio:.0%} of the estimate{', CI includes zero' if zero_in else ''}{geos}",
            "possible cause" if (zero_in or ratio > spec.mid_ratio) else "not the cause")
        leak_txt = "unknown" if np.isnan(t.leakage) else f"{t.leakage:.1%}"
        hv = {True: "verified", False: "not verified", None: "unknown"}[t.holdout_verified]
        sd = {True: "delivered", False: "failed", None: "unknown"}[t.spend_delivery_ok]
        bad = (t.holdout_verified is False or t.spend_delivery_ok is False
               or (not np.isnan(t.leakage) and t.leakage >= spec.mid_leakage))
        unknown = np.isnan(t.leakage) or t.holdout_verified is None or t.spend_delivery_ok is None
        add("2 contamination / spillover", f"leakage {leak_txt}, holdout {hv}, spend delivery {sd}",
            "possible cause" if bad else ("unknown" if unknown else "not the cause"))
        if np.isfinite(t.population_share) and np.isfinite(t.spend_baseline):
            p = t.population_share
            x = np.array([[t.spend_baseline / p] * len(names), [(t.spend_baseline + t.spend_delta) / p] * len(names)])
            r = response_draws(before, x, draws)[:, :, k]                          # [S, 2]
            secant = p * (r[:, 1] - r[:, 0]) / t.spend_delta
            s_m, s_lo, s_hi = secant.mean(), *np.quantile(secant, [0.05, 0.95])
            level = x[1, 0] / obs.spend[:, k].mean()
            closer = abs(t.iroas - s_m) < abs(t.iroas - roi_m)
            add("3 spend level vs the curve",
                f"tested at {level:.2f}x mean weekly spend; the baseline's iROAS there is {s_m:.2f} "
                f"(90% {s_lo:.2f} to {s_hi:.2f}) against its average ROI {roi_m:.2f}",
                "possible cause" if closer and abs(s_m - roi_m) > 0.1 * abs(roi_m) else "not the cause")
        else:
            add("3 spend level vs the curve", "no population_share / spend_baseline: the tested level is unknown",
                "unknown")
        lag = float(sb.lag_days[0, k])
        gap = windows[i] - lag
        verdict = "not the cause" if abs(gap) <= spec.mid_days else "possible cause"
        what = "shorter than" if gap < 0 else "longer than"
        add("4 window vs lag", f"measurement window {windows[i]:.0f} days after the last changed week, "
            f"{abs(gap):.0f} days {what} the baseline's {lag:.0f}-day lag"
            + (" (misses carryover: understates lift)" if gap < -spec.mid_days else ""), verdict)
        start = obs.dates[0] + np.timedelta64(7 * t.start_week, "D")
        hits = _holiday_overlap(start, t.window_days, holidays)
        add("temporal confounders", f"window overlaps {', '.join(hits)}" if hits else "no holiday in the window",
            "possible cause" if hits else "not the cause")
    return pd.DataFrame(rows, columns=["test_id", "channel", "check", "finding", "verdict"])
