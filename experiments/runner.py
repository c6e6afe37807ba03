"""Run one shard of the study: simulate its datasets and experiments, fit every arm, score.

A shard is one world's consecutive truths with all their replicates. Every arm's
fits go through one vectorised ``estimators.fit`` call over the shard's datasets
(padded to fixed sizes so every arm reuses one compiled program per calibration).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import jax
import numpy as np
import pandas as pd

from estimators.batch import build_batch
from estimators.data import observed_from_dataset
from estimators.eqs import EqsSpec, model_view, score
from estimators.posterior import fit
from estimators.spec import FitSpec
from estimators.strategies import select
from experiments.design import Arm, Shard, experiment_key, fit_key, truth_key
from experiments.evaluate import evaluate
from simulate.core import panel_inputs, simulate
from simulate.lifttests import LiftSpec, simulate_tests

METRICS = ("roi_mape", "attribution_error", "holdout_mape", "counterfactual_mape",
           "counterfactual_delta_mape", "budget_regret", "allocation_error", "coverage90", "fit_mape")


@dataclass(frozen=True)
class Context:
    """Everything static a shard needs."""

    root: object             # root PRNG key
    worlds: dict             # name -> WorldSpec
    lift_good: LiftSpec
    lift_bad: LiftSpec
    bad_share: dict          # scenario -> share of bad tests
    base_spec: FitSpec       # calibration none
    cal_spec: FitSpec        # the study's calibration
    eqs: EqsSpec
    n_tests_pad: int
    n_window_pad: int
    n_channels_pad: int
    bounds: tuple            # planning bounds, multiples of historical spend
    n_full_pad: int          # datasets per batch for arms on every dataset (shard size)
    n_mixed_pad: int         # datasets per batch for the mixed arm


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _scenario_tests(ctx: Context, world: str, truth: int, rep: int, inp, names, ds_id):
    """Good and bad test sets of one dataset, and the per-scenario mixtures (slot by slot)."""
    good, good_h = simulate_tests(experiment_key(ctx.root, world, truth, rep, "good"), inp, ctx.lift_good,
                                  names, ds_id + "-g")
    bad, bad_h = simulate_tests(experiment_key(ctx.root, world, truth, rep, "bad"), inp, ctx.lift_bad,
                                names, ds_id + "-b")
    if len(good) != len(bad):
        raise ValueError("lift.tests_per_channel must match between the good and bad designs")
    u = np.asarray(jax.random.uniform(experiment_key(ctx.root, world, truth, rep, "mix"), (len(good),)))
    out = {}
    for sc, share in ctx.bad_share.items():
        pick = u < share
        out[sc] = ([b if p else g for g, b, p in zip(good, bad, pick)],
                   [b if p else g for g, b, p in zip(good_h, bad_h, pick)])
    return out


def _fit(key, obs, tests, spec: FitSpec, ctx: Context, n_pad: int):
    """Fit a padded batch: copies of the last dataset fill it to ``n_pad`` so every shard
    reuses one compiled program (per batch size and calibration family); their rows are
    never read."""
    tests = tests if tests is not None else [[] for _ in obs]
    fill = max(0, n_pad - len(obs))
    obs = list(obs) + [obs[-1]] * fill
    tests = list(tests) + [tests[-1]] * fill
    # Only M2 puts tests in the likelihood; M1 folds them into the ROI prior, so its batches
    # (like the uncalibrated ones) carry no test rows and skip the masked lift terms.
    n_tests = ctx.n_tests_pad if spec.calibration.method == "m2" else 0
    batch = build_batch(obs, tests, spec, n_channels=ctx.n_channels_pad, n_tests=n_tests,
                        n_window=ctx.n_window_pad, n_controls=1)
    return fit(key, batch, spec)


def _diag_row(post, i):
    d = post.diagnostics
    n = len(post.dataset_ids)         # includes padding: the batch's time is shared by all its slots
    return {"divergences": int(d.divergences[i]), "rhat_max": float(d.rhat_max[i]),
            "ess_bulk_min": float(d.ess_bulk_min[i]), "mean_leapfrog_steps": float(d.mean_steps[i]),
            "fit_seconds": float(d.seconds) / n}


def run_shard(ctx: Context, shard: Shard, arms: tuple, mixed_arms: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All fits of one shard; returns ``(fits rows, eqs rows)``."""
    spec = ctx.worlds[shard.world]
    t_shard = time.time()
    # --- datasets -----------------------------------------------------------------
    items = []            # (ds, tr, j) per dataset, truth-major
    for t in range(shard.first_truth, shard.first_truth + shard.n_truths):
        ds, tr = simulate(truth_key(ctx.root, shard.world, t), spec, 1, shard.replicates, first_truth=t)
        for j in range(shard.replicates):
            items.append((ds, tr, j, t))
    obs = [observed_from_dataset(ds, j) for ds, tr, j, _ in items]
    names = items[0][0].channel_names
    scen_tests = []
    for ds, tr, j, t in items:
        inp = panel_inputs(ds, tr, j, spec)
        scen_tests.append(_scenario_tests(ctx, shard.world, t, j, inp, names, ds.dataset_ids[j]))
    delayed = np.array([n in ctx.base_spec.model.delayed_channels for n in names], float)
    ev = dict(burn_in=spec.burn_in_weeks, max_lag=ctx.base_spec.model.max_lag, delayed=delayed,
              bounds=ctx.bounds)
    rows, eqs_rows = [], []

    def base_row(k, arm: Arm):
        ds, tr, j, t = items[k]
        return {"dataset_id": ds.dataset_ids[j], "world": shard.world, "truth_id": tr.truth_ids[j],
                "replicate": int(tr.replicate[j]), "shard": shard.shard_id, "scenario": arm.scenario,
                "strategy": arm.strategy, "arm": arm.name,
                "calibration": "none" if arm.scenario == "none" else ctx.cal_spec.calibration.method,
                "inference": ctx.base_spec.inference.method}

    # --- baseline fits --------------------------------------------------------------
    t0 = time.time()
    base = _fit(fit_key(ctx.root, shard.shard_id, "none"), obs, None, ctx.base_spec, ctx, ctx.n_full_pad)
    _log(f"  [{shard.shard_id}] baseline: {len(obs)} fits in {time.time() - t0:.1f}s")
    base_eval = []
    for k in range(len(items)):
        ds, tr, j, _ = items[k]
        m = evaluate(base, k, ds, j, tr, **ev)
        base_eval.append(m)
        rows.append({**base_row(k, Arm("none", "none")), **m, **_diag_row(base, k), "n_tests_used": 0,
                     "status": "ok"})
    # --- EQS against the baseline -------------------------------------------------
    level = ctx.eqs.interval
    roi = base.roi.reshape(base.roi.shape[0], -1, base.roi.shape[-1])
    lo_q, hi_q = np.quantile(roi, [(1 - level) / 2, 1 - (1 - level) / 2], axis=1)
    lag = base.lag_days.reshape(roi.shape).mean(1)
    scores = []
    for k in range(len(items)):
        per = {}
        for sc, (tests, _) in scen_tests[k].items():
            view = model_view(tests, names, lag[k], lo_q[k], hi_q[k])
            per[sc] = score(tests, view, ctx.eqs)
        scores.append(per)
    # --- calibrated arms ------------------------------------------------------------
    mixed_idx = [k for k, (_, _, j, t) in enumerate(items)
                 if j == shard.mixed_rep and t - shard.first_truth < shard.mixed_truths]
    chosen = {}
    for arm in tuple(arms) + tuple(mixed_arms):
        idx = mixed_idx if arm in mixed_arms else list(range(len(items)))
        if not idx:
            continue
        t0 = time.time()
        akey = fit_key(ctx.root, shard.shard_id, arm.name)
        sel = []
        for k in idx:
            tests, _ = scen_tests[k][arm.scenario]
            sel.append(select(arm.strategy, jax.random.fold_in(akey, k), tests, scores[k][arm.scenario], ctx.eqs))
        n_pad = ctx.n_mixed_pad if arm in mixed_arms else ctx.n_full_pad
        post = _fit(akey, [obs[k] for k in idx], sel, ctx.cal_spec, ctx, n_pad)
        _log(f"  [{shard.shard_id}] {arm.name}: {len(idx)} fits in {time.time() - t0:.1f}s")
        for pos, k in enumerate(idx):
            ds, tr, j, _ = items[k]
            m = evaluate(post, pos, ds, j, tr, **ev)
            rows.append({**base_row(k, arm), **m, **_diag_row(post, pos), "n_tests_used": len(sel[pos]),
                         "status": "ok"})
            chosen[(k, arm.name)] = (sel[pos], m)
    # --- per-experiment table ---------------------------------------------------------
    for k, (ds, tr, j, _) in enumerate(items):
        base_err = np.abs(np.array(base_eval[k]["roi_hat"]) - tr.roi[j]) / tr.roi[j]
        for sc, (tests, hidden) in scen_tests[k].items():
            s = scores[k][sc]
            sc_arms = [a for a in tuple(arms) + tuple(mixed_arms) if a.scenario == sc and (k, a.name) in chosen]
            for n_t, (t, h) in enumerate(zip(tests, hidden)):
                c = names.index(t.channel)
                row = {"dataset_id": ds.dataset_ids[j], "world": shard.world, "truth_id": tr.truth_ids[j],
                       "scenario": sc, "test_id": t.test_id, "channel": t.channel,
                       "eqs_uncertainty": s.uncertainty[n_t], "eqs_alignment": s.alignment[n_t],
                       "eqs_holdout": s.holdout[n_t], "eqs_model": s.model[n_t], "eqs_total": s.total[n_t],
                       "eqs_tier": str(s.tier[n_t]), "failure_modes": ";".join(h.failure_modes),
                       "bad_design": bool(h.failure_modes), "iroas": t.iroas, "true_roi": float(tr.roi[j, c]),
                       "iroas_error": t.iroas / float(tr.roi[j, c]) - 1.0,
                       "lift_error": (t.lift - h.target_lift) / abs(h.target_lift),
                       "lift_z": (t.lift - h.true_lift) / t.lift_se,
                       "base_channel_roi_error": float(base_err[c])}
                for a in sc_arms:
                    sel, m = chosen[(k, a.name)]
                    used_ids = {x.test_id for x in sel}
                    used = t.test_id in used_ids or a.strategy == "pooled"
                    n_on = sum(x.channel == t.channel for x in sel)
                    err = abs(m["roi_hat"][c] - tr.roi[j, c]) / tr.roi[j, c]
                    row[f"used_{a.strategy}"] = used
                    row[f"channel_tests_used_{a.strategy}"] = n_on
                    row[f"channel_error_change_{a.strategy}"] = (err - base_err[c]) if used else np.nan
                eqs_rows.append(row)
    _log(f"  [{shard.shard_id}] done in {time.time() - t_shard:.1f}s")
    fits = pd.DataFrame(rows)
    fits["ordinal"] = np.arange(len(fits))
    return fits, pd.DataFrame(eqs_rows)
