"""The study's steps for one shard: simulate -> experiments -> batch -> fit -> analyse -> score.

Each step is a function over typed records and is vectorised over the shard's datasets: the
worlds and panels come from one simulator call, every lift test's replay and readout from one
call, the baseline fits from one batch and the calibrated fits of every arm from another, the
posterior analysis (counterfactual plans and budget recommendations) of each batch from one
call, and the truth's side of every metric from one call. :func:`run_shard` chains them.

A fit's id is ``<dataset id>/<arm>``; its key is ``fold_in(fit_root, crc32(fit id))``, so no
result depends on the shard layout, the batch, ``jobs`` or the arms fitted beside it.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import jax
import numpy as np
import pandas as pd

from common.records import Dataset
from estimators.decisions.analysis import Analysis, analyse
from estimators.decisions.identification import IdentificationSpec, PriorSummary, identify, prior_key, prior_summary
from estimators.evidence.consistency import predicted_lift
from estimators.evidence.eqs import EqsSpec, model_view, score
from estimators.evidence.strategies import Selection, apply
from estimators.inference.posterior import Posterior, fit, flat_draws
from estimators.model.batch import ModelBatch, build_batch, pad_sizes
from estimators.model.data import Observed, observed_from_dataset
from estimators.model.spec import FitSpec
from experiments import metrics as M
from experiments.layout import Arm, Shard, experiment_key, fit_root, tag, truth_key
from simulate import response as R
from simulate.core import simulate_truths
from simulate.lifttests import LiftSpec, panel_of, plan_batch, records, run_designs
from simulate.truth import Truth

PLAN_FACTORS = (0.5, 1.5)     # each channel alone
ALL_FACTORS = (0.75, 1.25)    # all channels together


def plans(n_k: int, n_pad: int | None = None) -> np.ndarray:
    """Spend multipliers of the counterfactual plans, ``[P, K]`` (``P = 2K + 2``; padded channels 1)."""
    n_pad = n_pad or n_k
    rows = []
    for k in range(n_k):
        for f in PLAN_FACTORS:
            r = np.ones(n_pad)
            r[k] = f
            rows.append(r)
    rows += [np.concatenate([np.full(n_k, f), np.ones(n_pad - n_k)]) for f in ALL_FACTORS]
    return np.array(rows)


@dataclass(frozen=True)
class Context:
    """Everything static a shard needs."""

    root: object             # root PRNG key
    worlds: dict             # name -> WorldSpec
    lift_good: LiftSpec
    lift_bad: LiftSpec
    bad_share: dict          # scenario -> share of bad tests
    base_spec: FitSpec       # calibration none
    cal_specs: dict          # calibration config name -> FitSpec of the calibrated arms
    eqs: EqsSpec
    n_channels: int          # channel pad: the most channels of any world in the study
    bounds: tuple            # planning bounds, multiples of historical spend
    analysis_draws: int = 250
    readout: str = "panel"
    forecast_draws: int = 200    # baseline draws behind each test's forecast (the model z-score)
    ident: IdentificationSpec = IdentificationSpec()   # the roi_identified rule (conf/identification)

    @property
    def cal_spec(self) -> FitSpec:
        """The first (in a single-calibration study, the only) calibrated arms' spec."""
        return next(iter(self.cal_specs.values()))


class SimBatch(NamedTuple):
    """The shard's datasets and their truth (truth-major; ``N`` datasets)."""

    world: str
    dataset: Dataset
    truth: Truth
    truth_number: np.ndarray   # [N]
    observed: list             # N :class:`Observed`


class ExperimentSet(NamedTuple):
    """Per dataset, per scenario: the observable tests and their hidden side."""

    tests: list                # N dicts scenario -> [LiftTest]
    hidden: list               # N dicts scenario -> [LiftTestTruth]


class FitSet(NamedTuple):
    """One batch of fits: which dataset and arm each fit is, what it used, and its results."""

    index: list                # dataset index of each fit
    arms: list                 # Arm of each fit
    selections: list           # Selection of each fit (None for the baseline)
    batch: ModelBatch
    post: Posterior
    analysis: Analysis


class TruthView(NamedTuple):
    """The truth's side of every metric, per dataset (``K`` real channels)."""

    roi: np.ndarray            # [N, K]
    contrib: np.ndarray        # [N, K] over the fitted weeks
    total_true: np.ndarray     # [N, P] baseline + media over the fitted weeks under each plan
    delta_true: np.ndarray     # [N, P] media change from the observed plan
    b_star: np.ndarray         # [N, K]
    r_star: np.ndarray         # [N, K] true weekly response at the optimum
    response: R.ResponseParams  # [N, K]
    mroi: np.ndarray           # [N, K] true marginal ROI at the observed mean weekly spend


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- simulate -----------------------------------------------------------------------------------
def simulate_step(ctx: Context, shard: Shard) -> SimBatch:
    """Every truth of the shard with all its replicates, in one batched simulator call."""
    spec = ctx.worlds[shard.world]
    numbers = list(range(shard.first_truth, shard.first_truth + shard.n_truths))
    keys = jax.numpy.stack([truth_key(ctx.root, shard.world, t) for t in numbers])
    ds, tr = simulate_truths(keys, spec, shard.replicates, [f"{shard.world}-t{t:03d}" for t in numbers])
    obs = [observed_from_dataset(ds, i) for i in range(len(ds.dataset_ids))]
    return SimBatch(shard.world, ds, tr, np.repeat(numbers, shard.replicates), obs)


# --- experiments --------------------------------------------------------------------------------
def experiments_step(ctx: Context, sim: SimBatch, fixed: bool = False) -> ExperimentSet:
    """Good and bad tests of every dataset (one replay call per design) and the scenario mixtures.

    With ``fixed`` the experiments of each truth run once, on its replicate 0's panel, and every
    replicate of that truth gets the same readouts (the same records, ids included), so that
    differences between replicates come from the data alone; otherwise each replicate runs its own.
    """
    spec = ctx.worlds[sim.world]
    panel = panel_of(sim.dataset, sim.truth, spec)
    n = len(sim.observed)
    ids, reps = sim.dataset.dataset_ids, np.asarray(sim.truth.replicate)
    # source[i]: the dataset whose experiments dataset i gets
    if fixed:
        first = {int(t): i for i, t in reversed(list(enumerate(sim.truth_number))) if reps[i] == 0}
        source = [first[int(t)] for t in sim.truth_number]
    else:
        source = list(range(n))
    run = sorted(set(source))
    rep_of = lambda i: 0 if fixed else int(reps[i])
    out = {}
    for design, lspec, suffix in (("good", ctx.lift_good, "-g"), ("bad", ctx.lift_bad, "-b")):
        keys = [experiment_key(ctx.root, sim.world, int(sim.truth_number[i]), rep_of(i), design) for i in run]
        owners, designs, z = plan_batch(keys, panel, lspec, indices=run, readout=ctx.readout)
        reads = run_designs(panel, owners, designs, lspec, ctx.readout, z)
        tests, hidden = records(reads, owners, designs, lspec, panel, sim.dataset.channel_names,
                                [f"{ids[i]}{suffix}" for i in owners], ctx.readout)
        per = {i: ([], []) for i in run}
        for i, t, h in zip(owners, tests, hidden):
            per[i][0].append(t)
            per[i][1].append(h)
        out[design] = [per[source[i]] for i in range(n)]
    all_tests, all_hidden = [], []
    for i in range(n):
        (good, good_h), (bad, bad_h) = out["good"][i], out["bad"][i]
        if len(good) != len(bad):
            raise ValueError("lift.tests_per_channel must match between the good and bad designs")
        u = np.asarray(jax.random.uniform(experiment_key(ctx.root, sim.world, int(sim.truth_number[i]),
                                                         rep_of(i), "mix"), (len(good),)))
        t_sc, h_sc = {}, {}
        for sc, share in ctx.bad_share.items():
            pick = u < share
            t_sc[sc] = [b if p else g for g, b, p in zip(good, bad, pick)]
            h_sc[sc] = [b if p else g for g, b, p in zip(good_h, bad_h, pick)]
        all_tests.append(t_sc)
        all_hidden.append(h_sc)
    return ExperimentSet(all_tests, all_hidden)


# --- batch, fit, analyse ------------------------------------------------------------------------
def batch_step(ctx: Context, observed: Sequence[Observed], tests, spec: FitSpec, fit_ids) -> ModelBatch:
    """Scale and pad the fits' data; pad sizes come from the data (bucketed), never from config."""
    obs = [o._replace(dataset_id=f) for o, f in zip(observed, fit_ids)]
    # Only M2 puts tests in the likelihood; M1 folds them into the ROI prior, so its batches
    # (like the uncalibrated ones) carry no test rows.
    m2 = spec.calibration.method == "m2"
    pads = pad_sizes(obs, tests if m2 else None, spec.model.period_days)
    pads["n_channels"] = max(pads["n_channels"], ctx.n_channels)
    return build_batch(obs, tests, spec, **pads)


def fit_step(ctx: Context, batch: ModelBatch, spec: FitSpec) -> Posterior:
    return fit(fit_root(ctx.root), batch, spec)


def analyse_step(ctx: Context, batch: ModelBatch, post: Posterior, n_k: int) -> Analysis:
    spec = ctx.base_spec.model
    return analyse(post, batch, plans(n_k, batch.data.channel_mask.shape[1]), ctx.bounds, max_lag=spec.max_lag,
                   pre_sample=spec.pre_sample, draws=ctx.analysis_draws)


def fit_set(ctx: Context, sim: SimBatch, index, arms, selections, spec: FitSpec, label: str) -> FitSet:
    """Batch, fit and analyse the fits ``(dataset index, arm, selection)`` in one batch."""
    t0 = time.time()
    fit_ids = [f"{sim.dataset.dataset_ids[k]}/{a.name}" for k, a in zip(index, arms)]
    tests = [s.tests if s is not None else [] for s in selections]
    batch = batch_step(ctx, [sim.observed[k] for k in index], tests, spec, fit_ids)
    post = fit_step(ctx, batch, spec)
    an = analyse_step(ctx, batch, post, len(sim.dataset.channel_names))
    _log(f"  [{sim.world}] {label}: {len(index)} fits in {time.time() - t0:.1f}s")
    return FitSet(list(index), list(arms), list(selections), batch, post, an)


# --- evidence -----------------------------------------------------------------------------------
def eqs_step(ctx: Context, sim: SimBatch, base: FitSet, exps: ExperimentSet) -> list:
    """EQS of every test against its dataset's baseline posterior: ``N`` dicts scenario -> scores.

    The baseline also forecasts every test's lift from its design (one batched call over the
    distinct tests of each dataset), which gives each score its ``model_z``.
    """
    level = ctx.eqs.interval
    names = sim.dataset.channel_names
    union = [list({t.test_id: t for ts in exps.tests[k].values() for t in ts}.values()) for k in base.index]
    fc = predicted_lift(base.post, [sim.observed[k] for k in base.index], union, ctx.base_spec,
                        ctx.forecast_draws)
    out = []
    for pos, k in enumerate(base.index):
        roi = flat_draws(base.post.roi, base.post, pos)
        lo, hi = np.quantile(roi, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
        lag = flat_draws(base.post.lag_days, base.post, pos).mean(0)
        where = {t.test_id: j for j, t in enumerate(union[pos])}
        mean, sd = fc[pos]
        scores = {}
        for sc, t in exps.tests[k].items():
            j = np.array([where[x.test_id] for x in t], int)
            view = model_view(t, names, lag, lo, hi, mean[j] if len(j) else np.zeros(0),
                              sd[j] if len(j) else np.zeros(0))
            scores[sc] = score(t, view, ctx.eqs)
        out.append(scores)
    return out


def select_step(ctx: Context, ids, exps: ExperimentSet, scores: list, arm: Arm, index) -> list:
    """The selection of ``arm``'s strategy on each dataset ``index`` (keys from the dataset ids;
    arms that differ only in calibration share their selections)."""
    key = jax.random.fold_in(fit_root(ctx.root), tag("select/" + Arm(arm.scenario, arm.strategy).name))
    return [apply(arm.strategy, jax.random.fold_in(key, tag(ids[k])), exps.tests[k][arm.scenario],
                  scores[k][arm.scenario], ctx.eqs) for k in index]


# --- score --------------------------------------------------------------------------------------
def truth_step(ctx: Context, sim: SimBatch) -> TruthView:
    """The truth's side of every metric, every dataset in one call."""
    tr, spec = sim.truth, ctx.worlds[sim.world]
    n_fit = int(sim.dataset.n_train)
    n_k = len(sim.dataset.channel_names)
    totals = R.media_totals_under(tr, np.vstack([plans(n_k), np.ones((1, n_k))]), n_fit, spec.burn_in_weeks)
    media, now = totals[:, :-1], totals[:, -1:]
    base = tr.baseline[:, :n_fit].sum(1, keepdims=True)
    p = R.params_of(tr)
    return TruthView(roi=tr.roi, contrib=tr.contributions[:, :n_fit].sum(1), total_true=base + media,
                     delta_true=media - now, b_star=tr.optimal_allocation,
                     r_star=R.response_at(p, tr.optimal_allocation), response=p,
                     mroi=R.marginal_at(p, sim.dataset.spend.mean(1)))


def prior_step(ctx: Context, base: FitSet) -> PriorSummary:
    """Prior sd and interval of ROI and mROI of every dataset (rows: dataset index), from the
    baseline batch: one set of prior draws serves every arm fitted on a dataset."""
    order = np.argsort(base.index)
    return prior_summary(prior_key(fit_root(ctx.root)), base.batch, ctx.base_spec,
                         ctx.ident.prior_draws).take(order)


def score_step(ctx: Context, sim: SimBatch, truth: TruthView, fs: FitSet,
               prior: PriorSummary | None = None) -> pd.DataFrame:
    """One row per fit: ids, every registered metric, per-channel estimates, identification, diagnostics.

    ``prior``: :func:`prior_step`'s rows per dataset (default: computed from ``fs``' own batch).
    """
    n_k = len(sim.dataset.channel_names)
    an, post = fs.analysis, fs.post
    k = np.asarray(fs.index)
    if prior is None:
        prior = prior_summary(prior_key(fit_root(ctx.root)), fs.batch, ctx.base_spec, ctx.ident.prior_draws)
    else:
        prior = prior.take(k)
    ident = identify(post, fs.batch, prior, ctx.ident)
    n_fit = int(sim.dataset.n_train)
    b_hat = an.allocation[:, :n_k]
    p = R.ResponseParams(*(np.asarray(a)[k] for a in truth.response))
    if not np.allclose(an.budget, sim.truth.reference_budget[k], rtol=1e-6):
        raise AssertionError("the model's budget (mean weekly spend) differs from the truth's reference budget")
    x = M.ScoreInputs(
        roi_hat=an.roi_mean[:, :n_k], roi_q05=an.roi_q05[:, :n_k], roi_q95=an.roi_q95[:, :n_k],
        contrib_hat=an.contribution_total[:, :n_k], kpi_hat=post.kpi_mean[:, : sim.dataset.kpi.shape[1]],
        total_hat=an.fitted_kpi_total[:, None] + an.plan_media - an.media_now[:, None],
        delta_hat=an.plan_media - an.media_now[:, None], b_hat=b_hat,
        roi=truth.roi[k], contrib=truth.contrib[k], kpi=sim.dataset.kpi[k], total_true=truth.total_true[k],
        delta_true=truth.delta_true[k], b_star=truth.b_star[k], r_hat=R.response_at(p, b_hat),
        r_star=truth.r_star[k], n_fit=n_fit, mroi_hat=ident.mroi_mean[:, :n_k], mroi=truth.mroi[k],
        identified=ident.roi_identified[:, :n_k])
    values = M.evaluate(x)
    d = post.diagnostics
    rows = []
    for j, (i, arm) in enumerate(zip(fs.index, fs.arms)):
        sel = fs.selections[j]
        row = {"dataset_id": sim.dataset.dataset_ids[i], "world": sim.world, "truth_id": sim.truth.truth_ids[i],
               "replicate": int(sim.truth.replicate[i]), "scenario": arm.scenario, "strategy": arm.strategy,
               "arm": arm.name, "calibration": post.calibration, "inference": post.method,
               "experiments": "none" if arm.scenario == "none" else arm.draws,
               "test_rel_se": _rel_se(sel.tests) if sel is not None else float("nan"),
               "test_kind": _test_kind(sel.tests) if sel is not None else "none"}
        row.update({m: float(v[j]) for m, v in values.items()})
        row.update({"roi_hat": x.roi_hat[j].tolist(), "roi_q05": x.roi_q05[j].tolist(),
                    "roi_q95": x.roi_q95[j].tolist(), "roi_true": x.roi[j].tolist(),
                    "channels": list(sim.dataset.channel_names),
                    "mroi_hat": x.mroi_hat[j].tolist(), "mroi_q05": ident.mroi_q05[j, :n_k].tolist(),
                    "mroi_q95": ident.mroi_q95[j, :n_k].tolist(), "mroi_true": x.mroi[j].tolist(),
                    "roi_sd_ratio": ident.roi_sd_ratio[j, :n_k].tolist(),
                    "mroi_sd_ratio": ident.mroi_sd_ratio[j, :n_k].tolist(),
                    "low_spend_share": ident.low_spend_share[j, :n_k].tolist(),
                    "roi_identified": ident.roi_identified[j, :n_k].tolist(),
                    "allocation_hat": b_hat[j].tolist(),
                    "divergences": int(d.divergences[j]), "rhat_max": float(d.rhat_max[j]),
                    "ess_bulk_min": float(d.ess_bulk_min[j]),
                    "rhat_roi_max": float(np.nanmax(d.rhat_roi[j])) if post.method == "nuts" else float("nan"),
                    "ess_roi_min": float(np.nanmin(d.ess_bulk_roi[j])) if post.method == "nuts" else float("nan"),
                    "draws_per_chain": int(d.n_draws[j]), "sampler_restarts": int(d.restarts[j]),
                    "mean_leapfrog_steps": float(d.mean_steps[j]),
                    "map_grad_norm": float(d.map_grad_norm[j]), "map_min_eig": float(d.map_min_eig[j]),
                    "fit_seconds": float(d.seconds[j]), "quality_ok": bool(d.quality_ok[j]),
                    "quality": d.quality[j], "n_tests_used": len(sel.tests) if sel is not None else 0,
                    "status": "ok" if (d.quality_ok[j] or post.method != "nuts") else "below_quality_bar"})
        rows.append(row)
    return pd.DataFrame(rows)


def _rel_se(tests) -> float:
    """Median realised relative precision ``lift_se / |lift|`` of the tests a fit used (NaN if none)."""
    r = [t.lift_se / abs(t.lift) if t.lift != 0 else np.inf for t in tests]
    return float(np.median(r)) if r else float("nan")


def _test_kind(tests) -> str:
    """What the tests a fit used changed: ``go_dark`` (every spend change a cut), ``scale_up``
    (every one an increase), ``mixed``, or ``none``."""
    signs = {np.sign(t.spend_delta) for t in tests}
    if not signs:
        return "none"
    return {frozenset({-1.0}): "go_dark", frozenset({1.0}): "scale_up"}.get(frozenset(signs), "mixed")


def _label(arm: Arm) -> str:
    """The arm's strategy and suffix as a column-name part (``all``, ``all_m2``, ``all_m2_fixed``)."""
    return (arm.strategy + arm.suffix).replace("/", "_")


def eqs_rows(sim: SimBatch, exps: ExperimentSet, scores: list, base: FitSet, cals: Sequence[FitSet],
             draws: str = "redrawn") -> pd.DataFrame:
    """Every experiment: its EQS, the model's forecast, the realised error of its readout, and what
    each arm (of the calibrated fit sets ``cals`` whose arms use ``draws``) did with it."""
    names = list(sim.dataset.channel_names)
    tr = sim.truth
    base_err = {k: np.abs(base.analysis.roi_mean[p, :len(names)] - tr.roi[k]) / tr.roi[k]
                for p, k in enumerate(base.index)}
    chosen = {}
    for cal in cals:
        for j, (k, a) in enumerate(zip(cal.index, cal.arms)):
            if a.draws == draws:
                chosen[(k, a.scenario, _label(a))] = (cal.selections[j], cal.analysis.roi_mean[j, :len(names)])
    rows = []
    for k in range(len(sim.observed)):
        for sc, tests in exps.tests[k].items():
            s = scores[k][sc]
            arms = [(st, v) for (kk, scn, st), v in chosen.items() if kk == k and scn == sc]
            for n_t, (t, h) in enumerate(zip(tests, exps.hidden[k][sc])):
                c = names.index(t.channel)
                row = {"dataset_id": sim.dataset.dataset_ids[k], "world": sim.world, "truth_id": tr.truth_ids[k],
                       "replicate": int(tr.replicate[k]), "experiments": draws,
                       "scenario": sc, "test_id": t.test_id, "channel": t.channel,
                       "eqs_uncertainty": s.uncertainty[n_t], "eqs_alignment": s.alignment[n_t],
                       "eqs_holdout": s.holdout[n_t], "eqs_model": s.model[n_t], "eqs_total": s.total[n_t],
                       "eqs_tier": str(s.tier[n_t]), "eqs_tier_precise": str(s.tier_precise[n_t]),
                       "model_z": float(s.model_z[n_t]),
                       "failure_modes": ";".join(h.failure_modes),
                       "bad_design": bool(h.failure_modes), "iroas": t.iroas, "true_roi": float(tr.roi[k, c]),
                       "iroas_error": t.iroas / float(tr.roi[k, c]) - 1.0,
                       "lift_error": (t.lift - h.target_lift) / abs(h.target_lift),
                       "lift_z": (t.lift - h.true_lift) / t.lift_se,
                       "lift": t.lift, "lift_se": t.lift_se, "true_lift": h.true_lift,
                       "target_lift": h.target_lift,
                       "rel_se_true": t.lift_se / abs(h.true_lift) if h.true_lift != 0 else np.inf,
                       "base_channel_roi_error": float(base_err[k][c])}
                for strat, (sel, roi_hat) in arms:
                    used = bool(sel.used[n_t])
                    err = abs(roi_hat[c] - tr.roi[k, c]) / tr.roi[k, c]
                    row[f"used_{strat}"] = used
                    row[f"channel_tests_used_{strat}"] = int(sum(x.channel == t.channel for x in sel.tests))
                    row[f"channel_error_change_{strat}"] = (err - base_err[k][c]) if used else np.nan
                rows.append(row)
    return pd.DataFrame(rows)


# --- the chain ----------------------------------------------------------------------------------
def run_shard(ctx: Context, shard: Shard, arms: tuple, mixed_arms: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All fits of one shard; returns ``(fits rows, eqs rows)``.

    The baseline is fitted once per dataset; the calibrated arms are fitted in one batch per
    calibration. Experiments are run once per draw design the arms use (redrawn, fixed).
    """
    t0 = time.time()
    sim = simulate_step(ctx, shard)
    all_arms = tuple(arms) + tuple(mixed_arms)
    draws = list(dict.fromkeys(a.draws for a in all_arms)) or ["redrawn"]
    exps = {d: experiments_step(ctx, sim, fixed=d == "fixed") for d in draws}
    n = len(sim.observed)
    base = fit_set(ctx, sim, range(n), [Arm("none", "none")] * n, [None] * n, ctx.base_spec, "baseline")
    scores = {d: eqs_step(ctx, sim, base, exps[d]) for d in draws}
    mixed_idx = [k for k in range(n) if sim.truth.replicate[k] == shard.mixed_rep
                 and sim.truth_number[k] - shard.first_truth < shard.mixed_truths]
    cals = []
    for cal_name, spec in ctx.cal_specs.items():
        index, arm_of, sels = [], [], []
        for arm in all_arms:
            if (arm.calibration or next(iter(ctx.cal_specs))) != cal_name:
                continue
            idx = mixed_idx if arm in mixed_arms else list(range(n))
            index += idx
            arm_of += [arm] * len(idx)
            sels += select_step(ctx, sim.dataset.dataset_ids, exps[arm.draws], scores[arm.draws], arm, idx)
        if index:
            cals.append(fit_set(ctx, sim, index, arm_of, sels, spec, f"calibrated arms ({cal_name})"))
    truth = truth_step(ctx, sim)
    prior = prior_step(ctx, base)
    fits = pd.concat([score_step(ctx, sim, truth, fs, prior) for fs in [base] + cals], ignore_index=True)
    fits.insert(fits.columns.get_loc("scenario"), "shard", shard.shard_id)
    fits["ordinal"] = np.arange(len(fits))
    eqs = pd.concat([eqs_rows(sim, exps[d], scores[d], base, cals, d) for d in draws], ignore_index=True)
    _log(f"  [{shard.shard_id}] done in {time.time() - t0:.1f}s")
    return fits, eqs
