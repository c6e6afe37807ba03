"""``python -m experiments.eqs_validation run=DIR [out=DIR] [n_boot=1000] [seed=0] [level=0.95]``: is EQS right?

Reads a finished study run's ``eqs.parquet`` (one row per lift test) and asks how well each
test-level score flags two bad events:

* ``worse``: "this test made its channel's ROI error worse", ``channel_error_change_<strategy> > 0``,
  over the tests strategy ``<strategy>`` used (``used_<strategy>`` true and the change known). The
  change is the channel's: every test used on a channel shares its channel's outcome.
* ``bad_design``: "this test came from the bad design", over the tests strategy ``<strategy>`` saw
  (``used_<strategy>`` not null) and, as strategy ``any``, over every test of the run (scenario
  ``all``: a test that appears in several scenarios, as the mixed scenario's do, counts once) and
  over each scenario's own tests.

Each event is scored over all scenarios (``scenario = all``) and per scenario (an event that never or
always happens in a group, e.g. ``bad_design`` in the good scenario, has an undefined AUC: NaN).

**Orientation.** A higher EQS should mean a better test, so every score is turned into a *badness*
(``-eqs_total``, ``-eqs_uncertainty``, ..., ``-tier rank`` with Gold 2 / Silver 1 / Red 0, ``+|model z|``),
and ``auc_of_badness`` is the AUC of the badness for the bad event: the probability that a random test
with the event has a higher badness than a random test without it, ties counted half. 1 = the score
flags the bad event perfectly, 0.5 = no better than chance, below 0.5 = backwards. The CI is a
percentile bootstrap that resamples truths (``truth_id``; ``dataset_id`` when the table has no
truth ids; the ``resample_unit`` column says which), the same resamples for every score of a group.

Scores (a registry, :data:`SCORES`; absent columns are skipped): the EQS total and its four
dimensions, the tier, the "Gold requires precision" variant (``eqs_total_precise``,
``eqs_tier_precise``) and the model-based filter's z-score (``model_z_abs``, or ``|model_z|``).

Outputs in ``out`` (default ``DIR/eqs_validation/``, so the run's own ``config.yaml`` and
``manifest.json`` stay untouched): ``eqs_auc.csv``, ``eqs_roc.csv`` (the ROC curves' points),
``winners_curse.csv`` (the readout against the target lift by uncertainty score, per design and, when
the table has ``lift_se`` and ``true_lift``, per bin of true precision),
``figures/eqs_roc.png|pdf``, ``config.yaml`` and ``manifest.json``. Bad input: one line, exit 2.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np
import pandas as pd

from harness.errors import ConfigError, InputError
from harness.manifest import atomic_write_text, write_run_files

TIER_RANK = {"Gold": 2.0, "Silver": 1.0, "Red": 0.0}
REQUIRED = ("dataset_id", "scenario", "test_id", "bad_design", "eqs_total")


# ------------------------------------------------------------------------------------------------- AUC

def auc(badness, event, weights=None):
    """Mann-Whitney AUC of ``badness`` for ``event``, ties counted half.

    badness: [n] scores (higher = worse test); NaN rows are ignored.
    event:   [n] bools (the bad event happened).
    weights: [..., n] non-negative row weights (bootstrap multiplicities), default all ones.
    Returns [...] (a float without ``weights``): sum over (event i, no-event j) pairs of
    w_i w_j (1[b_i > b_j] + 1/2 1[b_i = b_j]) / (W_event W_no_event); NaN when either side has no weight.
    """
    b = np.asarray(badness, float)
    e = np.asarray(event, bool)
    scalar = weights is None
    w = np.ones((1, b.size)) if scalar else np.asarray(weights, float)
    keep = ~np.isnan(b)
    b, e, w = b[keep], e[keep], w[..., keep]
    order = np.argsort(b, kind="stable")
    b, e, w = b[order], e[order], w[..., order]
    ends = np.r_[np.nonzero(np.diff(b))[0], b.size - 1] if b.size else np.zeros(0, int)
    cum_pos = np.cumsum(w * e, axis=-1)[..., ends]           # [..., U] event weight up to each tie group
    cum_neg = np.cumsum(w * ~e, axis=-1)[..., ends]
    pos = np.diff(cum_pos, axis=-1, prepend=0.0)
    neg = np.diff(cum_neg, axis=-1, prepend=0.0)
    below = cum_neg - neg                                    # no-event weight strictly below each group
    total_pos, total_neg = pos.sum(-1), neg.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where((total_pos > 0) & (total_neg > 0),
                       (pos * (below + 0.5 * neg)).sum(-1) / (total_pos * total_neg), np.nan)
    return float(out[0]) if scalar else out


def roc_curve(badness, event) -> tuple[np.ndarray, np.ndarray]:
    """ROC of flagging a test when its badness is at least a threshold, thresholds from high to low.

    Returns (fpr [U+1], tpr [U+1]) from (0, 0) to (1, 1), one point per distinct badness; the
    trapezoid area under it equals :func:`auc`. NaN badness is ignored."""
    b = np.asarray(badness, float)
    e = np.asarray(event, bool)
    keep = ~np.isnan(b)
    b, e = b[keep], e[keep]
    values, inv = np.unique(-b, return_inverse=True)          # ascending -b = descending badness
    tp = np.cumsum(np.bincount(inv, weights=e, minlength=values.size))
    fp = np.cumsum(np.bincount(inv, weights=~e, minlength=values.size))
    n_pos, n_neg = max(e.sum(), 1), max((~e).sum(), 1)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def cluster_weights(rng: np.random.Generator, clusters, n_boot: int) -> np.ndarray:
    """Bootstrap row weights that resample whole clusters with replacement.

    clusters: [n] labels (e.g. truth ids). Returns [n_boot, n]: each row's cluster's multiplicity."""
    labels, idx = np.unique(np.asarray(clusters).astype(str), return_inverse=True)
    counts = rng.multinomial(labels.size, np.full(labels.size, 1.0 / labels.size), size=n_boot)
    return counts[:, idx].astype(float)


def percentile_ci(values, level: float) -> tuple[float, float]:
    """Percentile interval of bootstrap ``values`` [B] (NaNs dropped); (NaN, NaN) when none are finite."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    return float(np.quantile(v, a)), float(np.quantile(v, 1.0 - a))


# ------------------------------------------------------------------------------------------ scores

class Score(NamedTuple):
    """A test-level score: ``badness(eqs)`` is [n] (higher = worse test) or ``None`` when absent."""
    name: str
    badness_label: str
    badness: Callable[[pd.DataFrame], np.ndarray | None]


def _neg(col: str) -> Callable:
    return lambda d: -d[col].to_numpy(float) if col in d else None


def _tier(col: str) -> Callable:
    return lambda d: -d[col].map(TIER_RANK).to_numpy(float) if col in d else None


def _model_z(d: pd.DataFrame):
    for col in ("model_z_abs", "model_z"):
        if col in d:
            return np.abs(d[col].to_numpy(float))
    return None


SCORES: dict[str, Score] = {s.name: s for s in (
    Score("eqs_total", "-eqs_total", _neg("eqs_total")),
    Score("eqs_uncertainty", "-eqs_uncertainty", _neg("eqs_uncertainty")),
    Score("eqs_alignment", "-eqs_alignment", _neg("eqs_alignment")),
    Score("eqs_holdout", "-eqs_holdout", _neg("eqs_holdout")),
    Score("eqs_model", "-eqs_model", _neg("eqs_model")),
    Score("eqs_tier", "-tier rank (Gold 2, Silver 1, Red 0)", _tier("eqs_tier")),
    Score("eqs_total_precise", "-eqs_total_precise", _neg("eqs_total_precise")),
    Score("eqs_tier_precise", "-tier rank of eqs_tier_precise", _tier("eqs_tier_precise")),
    Score("model_z_abs", "+|model z|", _model_z),
)}
ROC_SCORES = ("eqs_total", "eqs_total_precise", "model_z_abs")     # the three compared in the ROC figure


# ------------------------------------------------------------------------------------------ events

class Group(NamedTuple):
    """The tests one AUC is computed over: their rows of ``eqs.parquet`` and whether the event happened."""
    event: str
    strategy: str
    scenario: str
    rows: pd.DataFrame
    happened: np.ndarray           # [n] bool


def strategies_of(eqs: pd.DataFrame) -> list[str]:
    """Strategies with a ``used_<strategy>`` column, in column order."""
    return [c[len("used_"):] for c in eqs.columns if c.startswith("used_")]


def unique_tests(eqs: pd.DataFrame) -> pd.DataFrame:
    """Every test once (the mixed scenario reuses the good and bad scenarios' tests)."""
    return eqs.drop_duplicates(subset=["dataset_id", "test_id"], keep="first")


def _used(eqs: pd.DataFrame, strategy: str) -> pd.Series:
    """[n] bool: strategy used the test (None, NaN and pd.NA, "not seen", count as unused)."""
    return eqs[f"used_{strategy}"].map(lambda v: False if pd.isna(v) else bool(v)).astype(bool)


def _per_scenario(event: str, strategy: str, rows: pd.DataFrame, happened: np.ndarray) -> list[Group]:
    out = [Group(event, strategy, "all", rows, happened)]
    for sc in dict.fromkeys(rows["scenario"]):
        m = (rows["scenario"] == sc).to_numpy()
        out.append(Group(event, strategy, str(sc), rows[m], happened[m]))
    return out


def groups(eqs: pd.DataFrame) -> list[Group]:
    """Every (event, strategy, scenario) group of tests, as described in the module docstring."""
    out = []
    for s in strategies_of(eqs):
        change = f"channel_error_change_{s}"
        if change in eqs:
            used = eqs[_used(eqs, s) & eqs[change].notna()]
            out += _per_scenario("worse", s, used, (used[change] > 0).to_numpy())
    for s in strategies_of(eqs):
        seen = eqs[eqs[f"used_{s}"].notna()]
        out += _per_scenario("bad_design", s, seen, seen["bad_design"].astype(bool).to_numpy())
    # strategy "any": every test of the run once, and per scenario every test of that scenario once
    for sc in ["all", *dict.fromkeys(eqs["scenario"])]:
        tests = unique_tests(eqs if sc == "all" else eqs[eqs["scenario"] == sc])
        out.append(Group("bad_design", "any", str(sc), tests, tests["bad_design"].astype(bool).to_numpy()))
    return out


def resample_unit(eqs: pd.DataFrame) -> str:
    """The bootstrap's cluster column: ``truth_id`` when present, else ``dataset_id``."""
    return "truth_id" if "truth_id" in eqs else "dataset_id"


# ------------------------------------------------------------------------------------------ tables

def auc_table(eqs: pd.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
              reference: str = "eqs_total") -> pd.DataFrame:
    """One row per (event, strategy, scenario, score): ``n_tests``, ``n_event``, ``n_clusters``,
    ``auc_of_badness`` and its bootstrap ``auc_ci_low``/``auc_ci_high`` (over ``resample_unit``), and
    ``auc_minus_<reference>`` with its CI: the score's AUC minus the reference score's, on the same
    resamples (each AUC over the tests where its own score is known)."""
    unit = resample_unit(eqs)
    diff = f"auc_minus_{reference}"
    rows = []
    for g_i, g in enumerate(groups(eqs)):
        rng = np.random.default_rng([seed, g_i])
        w = cluster_weights(rng, g.rows[unit], n_boot) if len(g.rows) and n_boot > 0 else None
        ref = SCORES[reference].badness(g.rows) if reference in SCORES else None
        ref_point = auc(ref, g.happened) if ref is not None and len(g.rows) else float("nan")
        ref_boot = auc(ref, g.happened, w) if ref is not None and w is not None else None
        for score in SCORES.values():
            bad = score.badness(g.rows)
            if bad is None:
                continue
            point = auc(bad, g.happened) if len(g.rows) else float("nan")
            boot = auc(bad, g.happened, w) if w is not None else None
            lo, hi = percentile_ci(boot, level) if boot is not None else (np.nan, np.nan)
            d_lo, d_hi = (percentile_ci(boot - ref_boot, level) if boot is not None and ref_boot is not None
                          else (np.nan, np.nan))
            rows.append({"event": g.event, "strategy": g.strategy, "scenario": g.scenario, "score": score.name,
                         "badness": score.badness_label, "n_tests": int(np.isfinite(bad).sum()),
                         "n_event": int(g.happened[np.isfinite(bad)].sum()),
                         "n_clusters": int(g.rows[unit].nunique()), "auc_of_badness": point,
                         "auc_ci_low": lo, "auc_ci_high": hi, diff: point - ref_point,
                         f"{diff}_ci_low": d_lo, f"{diff}_ci_high": d_hi, "resample_unit": unit})
    return pd.DataFrame(rows)


def roc_table(eqs: pd.DataFrame, scores=ROC_SCORES) -> pd.DataFrame:
    """ROC points of ``scores`` (those present) for every (event, strategy) over all scenarios:
    columns event, strategy, score, fpr, tpr."""
    rows = []
    for g in groups(eqs):
        if g.scenario != "all" or g.happened.all() or not g.happened.any():
            continue
        for name in scores:
            bad = SCORES[name].badness(g.rows)
            if bad is None:
                continue
            fpr, tpr = roc_curve(bad, g.happened)
            rows += [{"event": g.event, "strategy": g.strategy, "score": name, "fpr": f, "tpr": t}
                     for f, t in zip(fpr, tpr)]
    return pd.DataFrame(rows, columns=["event", "strategy", "score", "fpr", "tpr"])


def target_sign(design_type: str) -> float:
    """Sign of a design's target lift: a go-dark test removes spend (negative lift), a scale-up adds it."""
    if design_type == "go_dark":
        return -1.0
    if design_type == "scale_up":
        return 1.0
    raise ConfigError("lift_good/lift_bad.test_type", f"unknown test type {design_type!r}")


def readout_ratio(tests: pd.DataFrame, test_types: Mapping[bool, str] | None) -> np.ndarray:
    """[n] readout / target lift (the full-carryover lift of the planned change, the model's estimand).

    From ``lift`` and ``target_lift`` when the table has them; else from ``lift_error`` =
    (readout - target) / |target|, so readout / target = 1 + sign(target) x lift_error, with the sign
    from each design's ``test_type`` (``test_types[bad_design]``, from the run's config)."""
    if "lift" in tests and "target_lift" in tests:
        return tests["lift"].to_numpy(float) / tests["target_lift"].to_numpy(float)
    if "lift_error" not in tests or test_types is None:
        raise InputError("eqs.parquet", "winner's curse needs lift and target_lift, or lift_error and the "
                                        "run's config.yaml (lift_good/lift_bad.test_type)")
    sign = tests["bad_design"].astype(bool).map(lambda b: target_sign(test_types[bool(b)])).to_numpy(float)
    return 1.0 + sign * tests["lift_error"].to_numpy(float)


PRECISION_EDGES = (0.0, 0.25, 0.5, 1.0, 2.0, float("inf"))   # bins of lift_se / |true_lift|


def precision_bins(tests: pd.DataFrame, edges=PRECISION_EDGES) -> np.ndarray:
    """[n] labels of the true relative SE ``lift_se / |true_lift|`` binned at ``edges`` (``[0.25, 0.5)``),
    or ``all`` for every test when the table lacks ``lift_se`` or ``true_lift``."""
    if "lift_se" not in tests or "true_lift" not in tests:
        return np.full(len(tests), "all", dtype=object)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = tests["lift_se"].to_numpy(float) / np.abs(tests["true_lift"].to_numpy(float))
    idx = np.digitize(rel, edges[1:-1])
    labels = np.array([f"[{lo:g}, {hi:g})" for lo, hi in zip(edges[:-1], edges[1:])], dtype=object)
    return np.where(np.isnan(rel), "unknown", labels[np.minimum(idx, len(labels) - 1)])


def winners_curse(eqs: pd.DataFrame, test_types: Mapping[bool, str] | None, n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95) -> pd.DataFrame:
    """Per design (good / bad), true-precision bin (:func:`precision_bins`; ``all`` when the table cannot
    tell) and ``eqs_uncertainty`` score, over every test once: ``n_tests``, the mean of readout / target
    lift (:func:`readout_ratio`) with a bootstrap CI over ``resample_unit``, its median and IQR. A mean
    above 1 at a high uncertainty score, against one near 1 at a low score, is the winner's curse:
    the score rewards a narrow CI around a readout that happened to come out large."""
    tests = unique_tests(eqs)
    ratio = readout_ratio(tests, test_types)
    unit = resample_unit(eqs)
    bins = precision_bins(tests)
    rows = []
    design = np.where(tests["bad_design"].astype(bool), "bad", "good")
    for d in ("good", "bad"):
        for b_i, b in enumerate(dict.fromkeys(sorted(bins, key=lambda x: (x == "unknown", _bin_low(x))))):
            for u in sorted(tests["eqs_uncertainty"].dropna().unique()):
                m = (design == d) & (bins == b) & (tests["eqs_uncertainty"] == u).to_numpy()
                r = ratio[m]
                if not r.size:
                    continue
                rng = np.random.default_rng([seed, int(u), d == "bad", b_i])
                w = cluster_weights(rng, tests[unit][m], n_boot)
                with np.errstate(invalid="ignore", divide="ignore"):
                    means = (w * r).sum(1) / w.sum(1)
                lo, hi = percentile_ci(means, level)
                rows.append({"design": d, "precision_bin": b, "eqs_uncertainty": float(u), "n_tests": int(r.size),
                             "mean_readout_over_target": float(r.mean()), "ci_low": lo, "ci_high": hi,
                             "median_readout_over_target": float(np.median(r)),
                             "q25": float(np.quantile(r, 0.25)), "q75": float(np.quantile(r, 0.75)),
                             "resample_unit": unit})
    return pd.DataFrame(rows)


def _bin_low(label: str) -> float:
    return float(label[1:].split(",")[0]) if label.startswith("[") else -1.0


# ------------------------------------------------------------------------------------------ figure

def draw_roc(roc: pd.DataFrame, aucs: pd.DataFrame, out: Path) -> list[Path]:
    """ROC curves from the saved ``eqs_roc.csv`` (and AUCs from ``eqs_auc.csv``): one panel per
    (event, strategy), one line per score. Writes ``out/eqs_roc.png|pdf``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.figures import _save, _style

    _style()
    panels = list(dict.fromkeys(zip(roc["event"], roc["strategy"])))
    panels.sort(key=lambda p: (p[0] != "bad_design", p[1] != "any"))
    n = max(1, len(panels))
    ncol = min(3, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.6 * nrow), squeeze=False)
    styles = {"eqs_total": ("-", "0.0"), "eqs_total_precise": ("--", "0.35"), "model_z_abs": (":", "0.55")}
    labels = {"eqs_total": "EQS total", "eqs_total_precise": "EQS, Gold needs precision",
              "model_z_abs": "|model z|"}
    titles = {"bad_design": "bad design", "worse": "made its channel worse"}
    for ax in axes.flat[n:]:
        ax.axis("off")
    short = {"eqs_total": "EQS", "eqs_total_precise": "precise", "model_z_abs": "|z|"}
    drawn = {}
    for ax, (event, strategy) in zip(axes.flat, panels):
        sub = roc[(roc["event"] == event) & (roc["strategy"] == strategy)]
        notes = []
        for score in dict.fromkeys(sub["score"]):
            s = sub[sub["score"] == score]
            a = aucs[(aucs["event"] == event) & (aucs["strategy"] == strategy) & (aucs["scenario"] == "all")
                     & (aucs["score"] == score)]
            ls, col = styles.get(score, ("-.", "0.7"))
            drawn[score] = ax.plot(s["fpr"], s["tpr"], ls, color=col, lw=1.2)[0]
            if len(a):
                notes.append(f"{short.get(score, score)} {a['auc_of_badness'].iloc[0]:.2f}")
        ax.plot([0, 1], [0, 1], color="0.8", lw=0.6)
        ax.text(0.97, 0.04, "AUC\n" + "\n".join(notes), transform=ax.transAxes, ha="right", va="bottom",
                fontsize=6.5)
        ax.set_title(f"{titles.get(event, event)}\n{'every test' if strategy == 'any' else 'strategy ' + strategy}",
                     fontsize=8)
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
        ax.set_aspect("equal")
    fig.legend(list(drawn.values()), [labels.get(k, k) for k in drawn], loc="lower center", ncol=len(drawn),
               frameon=False, bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("flagging bad tests by score badness (-EQS, +|z|); higher EQS should mean a better test",
                 fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, Path(out), "eqs_roc")


# ---------------------------------------------------------------------------------------------------- CLI

USAGE = ("usage: python -m experiments.eqs_validation run=DIR [out=DIR] [n_boot=1000] [seed=0] [level=0.95] "
         "[figures=true|false]")


def _parse(argv: list[str]) -> dict:
    bad = [a for a in argv if "=" not in a]
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    unknown = sorted(set(args) - {"run", "out", "n_boot", "seed", "level", "figures"})
    if bad or unknown or "run" not in args:
        raise ConfigError("arguments", f"{' '.join(bad + unknown) or 'run= missing'}; {USAGE}")
    cfg = {"run": str(Path(args["run"])), "out": str(Path(args.get("out") or Path(args["run"]) / "eqs_validation"))}
    for name, kind, default, ok in (("n_boot", int, 1000, lambda v: v >= 0), ("seed", int, 0, lambda v: True),
                                    ("level", float, 0.95, lambda v: 0 < v < 1)):
        try:
            cfg[name] = kind(args.get(name, default))
        except ValueError:
            raise ConfigError(name, f"must be {'an integer' if kind is int else 'a number'}, "
                                    f"got {args[name]!r}") from None
        if not ok(cfg[name]):
            raise ConfigError(name, f"out of range: {cfg[name]!r}")
    figures = args.get("figures", "true").lower()
    if figures not in ("true", "false"):
        raise ConfigError("figures", f"must be true or false, got {args['figures']!r}")
    cfg["figures"] = figures == "true"
    return cfg


def read_eqs(run: Path) -> pd.DataFrame:
    """A run's ``eqs.parquet``, with its required columns checked."""
    run = Path(run)
    if not run.is_dir():
        raise InputError(str(run), "no such directory")
    path = run / "eqs.parquet"
    if not path.is_file():
        raise InputError(str(run), "no eqs.parquet (expected a finished study run folder)")
    try:
        eqs = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable parquet is one line
        raise InputError(str(path), f"unreadable ({type(exc).__name__})") from None
    missing = [c for c in REQUIRED if c not in eqs]
    if missing:
        raise InputError(str(path), f"missing column(s) {', '.join(missing)}")
    if eqs.empty:
        raise InputError(str(path), "no tests")
    return eqs


def design_types(run: Path) -> dict[bool, str] | None:
    """``{False: lift_good.test_type, True: lift_bad.test_type}`` from the run's ``config.yaml``, or None."""
    import yaml

    path = Path(run) / "config.yaml"
    if not path.is_file():
        return None
    cfg = yaml.safe_load(path.read_text()) or {}
    try:
        return {False: str(cfg["lift_good"]["test_type"]), True: str(cfg["lift_bad"]["test_type"])}
    except (KeyError, TypeError):
        return None


def run(cfg: Mapping[str, Any]) -> Path:
    """Write the AUC, ROC and winner's-curse tables (and the ROC figure) of run ``cfg['run']``."""
    src, out = Path(cfg["run"]), Path(cfg["out"])
    if (out / "eqs.parquet").exists() or (out / "fits.parquet").exists():
        raise ConfigError("out", f"{out} is a study run folder; its config.yaml and manifest.json would be "
                                 "overwritten (default out: RUN/eqs_validation)")
    eqs = read_eqs(src)
    aucs = auc_table(eqs, cfg["n_boot"], cfg["seed"], cfg["level"])
    roc = roc_table(eqs)
    try:
        curse = winners_curse(eqs, design_types(src), cfg["n_boot"], cfg["seed"], cfg["level"])
    except InputError as exc:
        print(f"no winner's-curse table: {exc}", file=sys.stderr)
        curse = None
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "eqs_auc.csv", aucs.to_csv(index=False))
    atomic_write_text(out / "eqs_roc.csv", roc.to_csv(index=False))
    if curse is not None:
        atomic_write_text(out / "winners_curse.csv", curse.to_csv(index=False))
    figures = []
    if cfg.get("figures", True) and len(roc):
        figures = draw_roc(pd.read_csv(out / "eqs_roc.csv"), pd.read_csv(out / "eqs_auc.csv"), out / "figures")
    present = [s.name for s in SCORES.values() if s.badness(eqs.head(1)) is not None]
    write_run_files(out, dict(cfg), int(cfg["seed"]), {
        "status": "complete", "n_tests": int(len(eqs)), "n_unique_tests": int(len(unique_tests(eqs))),
        "strategies": strategies_of(eqs), "scores": present, "resample_unit": resample_unit(eqs),
        "figures": [str(p.relative_to(out)) for p in figures]})
    return out / "eqs_auc.csv"


def main(argv: list[str]) -> int:
    os.environ["MMM_COMMAND"] = " ".join(["python -m experiments.eqs_validation", *argv])
    try:
        path = run(_parse(argv))
    except (ConfigError, InputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
