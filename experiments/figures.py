"""Paper-ready figures of a study run, drawn from its saved tables only (no refitting).

``python -m experiments.figures run=DIR`` reads ``DIR/summary_long.csv``,
``DIR/fits.parquet`` and ``DIR/eqs.parquet`` and writes PNG and PDF files into
``DIR/figures/``:

* ``scenarios``: paired improvement against no calibration for good and bad
  experiments, with bootstrap 95% CIs, beside seeds/000's published claims;
* ``strategies_mixed``: the strategies on mixed-quality experiments;
* ``eqs_vs_change``: EQS total against the realised change in the channel's ROI
  error when the test was the only one used on its channel;
* ``distributions``: per-metric distributions by arm;
* ``stability_split``: bias squared and variance of ROI_hat / ROI across replicates, per arm
  (from ``stability.csv``);
* ``precision``: the paired verdicts by bins of the realised precision of the tests used
  (from ``summary_precision.csv``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.aggregate import ERROR_METRICS, LABELS  # noqa: E402

# seeds/000's headline claims as (low, high) improvements, for the comparison markers.
CLAIMS = {
    "good/all": {"attribution_error": (0.06, 0.16), "counterfactual_mape": (0.44, 0.44), "stability": (0.53, 0.53)},
    "bad/all": {"attribution_error": (-0.40, -0.10), "counterfactual_mape": (-0.20, -0.20),
                "stability": (-0.92, -0.05)},
}
SHOWN = ("roi_mape", "attribution_error", "holdout_mape", "counterfactual_mape", "counterfactual_delta_mape",
         "budget_regret", "allocation_error", "stability")
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
GREYS = ["0.0", "0.45", "0.7", "0.25", "0.55", "0.85", "0.15", "0.6"]


def _style():
    plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7,
                         "pdf.fonttype": 42, "axes.spines.top": False, "axes.spines.right": False})


def _save(fig, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=200, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def _dot_whisker(long: pd.DataFrame, arms: list[str], title: str, claims: dict | None = None):
    metrics = [m for m in SHOWN if m in set(long["metric"])]
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(metrics) + 1.2))
    n = len(arms)
    claim_labelled = False
    for a, arm in enumerate(arms):
        sub = long[long["arm"] == arm].set_index("metric")
        for m, metric in enumerate(metrics):
            if metric not in sub.index or sub.loc[metric, "n"] == 0:
                continue
            r = sub.loc[metric]
            y = m + (a - (n - 1) / 2) * 0.22
            ax.errorbar(100 * r["median"], y, xerr=[[max(0.0, 100 * (r["median"] - r["ci_low"]))],
                                                    [max(0.0, 100 * (r["ci_high"] - r["median"]))]],
                        fmt=MARKERS[a % len(MARKERS)], color=GREYS[a % len(GREYS)], mec="black",
                        ms=5, capsize=2, lw=1, label=arm if m == 0 else None)
            claim = (claims or {}).get(arm, {}).get(metric)
            if claim:
                ax.plot([100 * claim[0] - 0.5, 100 * claim[1] + 0.5], [y, y], color="black", lw=4, alpha=0.25,
                        solid_capstyle="butt", label=None if claim_labelled else "seeds/000 claim")
                claim_labelled = True
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(range(len(metrics)), [LABELS[m] for m in metrics])
    ax.invert_yaxis()
    ax.set_xlabel("paired improvement against no calibration, % (median, bootstrap 95% CI; right = better)")
    ax.set_title(title)
    ax.legend(loc="lower right", frameon=False)
    return fig


def scenarios_figure(run: Path, long: pd.DataFrame) -> list[Path]:
    arms = [a for a in ("good/all", "bad/all") if a in set(long["arm"])]
    arms += [a for a in long["arm"].unique() if a.split("/")[0] in ("good", "bad") and a not in arms]
    fig = _dot_whisker(long, arms, "Calibrating with good and with bad experiments", CLAIMS)
    return _save(fig, run / "figures", "scenarios")


def strategies_figure(run: Path, long: pd.DataFrame) -> list[Path]:
    arms = [a for a in long["arm"].unique() if a.startswith("mixed/")]
    if not arms:
        return []
    fig = _dot_whisker(long, arms, "Strategies on mixed-quality experiments")
    return _save(fig, run / "figures", "strategies_mixed")


def eqs_figure(run: Path, eqs: pd.DataFrame) -> list[Path]:
    """EQS total against the realised change in the tested channel's ROI error (tests used alone)."""
    rows = []
    for col in [c for c in eqs.columns if c.startswith("channel_error_change_")]:
        strat = col[len("channel_error_change_"):]
        alone = eqs[(eqs[f"channel_tests_used_{strat}"] == 1) & eqs[col].notna()]
        rows.append(alone[["eqs_total", "eqs_tier", col, "bad_design"]].rename(columns={col: "change"}))
    if not rows:
        return []
    d = pd.concat(rows, ignore_index=True)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(7.0, 3.0), gridspec_kw={"width_ratios": [2, 1]})
    rng = np.random.default_rng(0)
    for bad, mk, col, lab in ((False, "o", "0.55", "good design"), (True, "x", "black", "bad design")):
        s = d[d["bad_design"] == bad]
        ax.scatter(s["eqs_total"] + rng.uniform(-1.2, 1.2, len(s)), 100 * s["change"], marker=mk, s=10,
                   c=col, lw=0.8, label=lab)
    ax.axhline(0, color="black", lw=0.6)
    for cut in (50, 75):
        ax.axvline(cut, color="black", ls=":", lw=0.8)
    ax.set_xlabel("EQS total (Red < 50 <= Silver < 75 <= Gold)")
    ax.set_ylabel("change in the channel's ROI error, points\n(calibrated - uncalibrated; below 0 = better)")
    ax.legend(frameon=False)
    tiers = ["Gold", "Silver", "Red"]
    data = [100 * d.loc[d["eqs_tier"] == t, "change"].to_numpy() for t in tiers]
    bx.boxplot([x if len(x) else [np.nan] for x in data], tick_labels=[f"{t}\n(n={len(x)})" for t, x in zip(tiers, data)],
               showfliers=False, medianprops={"color": "black"})
    bx.axhline(0, color="black", lw=0.6)
    bx.set_title("by tier")
    fig.suptitle("Does Gold help and Red hurt? (tests used alone on their channel)")
    fig.tight_layout()
    return _save(fig, run / "figures", "eqs_vs_change")


def distributions_figure(run: Path, fits: pd.DataFrame) -> list[Path]:
    metrics = [m for m in ERROR_METRICS if m in fits.columns]
    arms = list(dict.fromkeys(["none"] + list(fits["arm"].unique())))
    ncol = 4
    nrow = int(np.ceil(len(metrics) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(7.5, 2.2 * nrow), squeeze=False)
    for ax, m in zip(axes.flat, metrics):
        data = [100 * fits.loc[fits["arm"] == a, m].dropna().to_numpy() for a in arms]
        ax.boxplot(data, showfliers=False, medianprops={"color": "black"})
        ax.set_xticks(range(1, len(arms) + 1), arms, rotation=60, ha="right", fontsize=6)
        ax.set_title(LABELS[m], fontsize=8)
        ax.set_ylabel("%")
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle("Per-fit errors by arm (box: IQR, whiskers 1.5 IQR)")
    fig.tight_layout()
    return _save(fig, run / "figures", "distributions")


def stability_figure(run: Path, split: pd.DataFrame) -> list[Path]:
    """Stacked bars: bias squared and variance of ROI_hat / ROI across each truth's replicates."""
    if split.empty:
        return []
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(split) + 1.2))
    y = np.arange(len(split))
    ax.barh(y, split["bias2"], color="0.3", label="bias$^2$")
    ax.barh(y, split["variance"], left=split["bias2"], color="0.75", label="variance")
    ax.set_yticks(y, split["arm"])
    ax.invert_yaxis()
    ax.set_xlabel("mean square of ROI_hat / ROI about 1, over truths and channels")
    ax.set_title("Where the ROI error across replicates comes from")
    ax.legend(frameon=False, loc="lower right")
    return _save(fig, run / "figures", "stability_split")


def precision_figure(run: Path, prec: pd.DataFrame) -> list[Path]:
    """Median paired improvement by bin of realised test precision, one panel per metric."""
    if prec.empty:
        return []
    metrics = list(dict.fromkeys(prec["metric"]))
    bins = list(dict.fromkeys(prec["precision_bin"]))
    arms = [a for a in dict.fromkeys(prec["arm"]) if not a.startswith("mixed/")] or list(dict.fromkeys(prec["arm"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(2.2 * len(metrics) + 0.6, 2.8), squeeze=False, sharey=True)
    for ax, metric in zip(axes[0], metrics):
        for a, arm in enumerate(arms):
            sub = prec[(prec["arm"] == arm) & (prec["metric"] == metric)].set_index("precision_bin")
            xs = [i + (a - (len(arms) - 1) / 2) * 0.12 for i, b in enumerate(bins) if b in sub.index]
            rs = [sub.loc[b] for b in bins if b in sub.index]
            if not rs:
                continue
            med = np.array([100 * r["median"] for r in rs])
            lo = np.maximum(0.0, med - [100 * r["ci_low"] for r in rs])
            hi = np.maximum(0.0, np.array([100 * r["ci_high"] for r in rs]) - med)
            ax.errorbar(xs, med, yerr=[lo, hi],
                        fmt=MARKERS[a % len(MARKERS)], color=GREYS[a % len(GREYS)], mec="black", ms=4, capsize=2,
                        lw=0.8, label=arm)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(range(len(bins)), bins, rotation=45, fontsize=6)
        ax.set_title(LABELS.get(metric, metric), fontsize=7)
        ax.set_xlabel("lift_se / |lift| of the tests used", fontsize=6)
    axes[0][0].set_ylabel("paired improvement, % (median, 95% CI)")
    axes[0][-1].legend(frameon=False, fontsize=5)
    fig.tight_layout()
    return _save(fig, run / "figures", "precision")


def draw_all(run: Path) -> list[Path]:
    """Every figure of a run folder."""
    run = Path(run)
    _style()
    long = pd.read_csv(run / "summary_long.csv")
    fits = pd.read_parquet(run / "fits.parquet")
    eqs = pd.read_parquet(run / "eqs.parquet")
    paths = scenarios_figure(run, long) + strategies_figure(run, long) + eqs_figure(run, eqs) \
        + distributions_figure(run, fits)
    read = lambda name: pd.read_csv(run / name) if (run / name).exists() and (run / name).stat().st_size > 1 else pd.DataFrame()
    paths += stability_figure(run, read("stability.csv")) + precision_figure(run, read("summary_precision.csv"))
    return paths


def main(argv: list[str]) -> int:
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    if "run" not in args or len(args) != len(argv):
        print("usage: python -m experiments.figures run=DIR", file=sys.stderr)
        return 2
    run = Path(args["run"])
    missing = [f for f in ("summary_long.csv", "fits.parquet", "eqs.parquet") if not (run / f).exists()]
    if missing:
        print(f"error: {run}: missing {', '.join(missing)} (expected a finished study run folder)", file=sys.stderr)
        return 2
    for p in draw_all(run):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
