"""Paper-ready figure of one simulated dataset, drawn from its saved files only.

``python -m simulate.figures DIR/<dataset_id> [OUT_STEM]`` writes ``OUT_STEM.png`` and ``.pdf``
(default ``DIR/<dataset_id>/dataset``): spend, KPI, true contributions and the lift tests on the timeline.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

# Grey levels and hatches keep channels apart in greyscale print.
_GREYS = ["0.10", "0.35", "0.55", "0.72", "0.85", "0.95", "0.45", "0.65"]
_HATCH = ["", "///", "...", "xx", "\\\\", "oo", "++", "--"]


def dataset_figure(folder: Path, out_stem: Path | None = None) -> list[Path]:
    """Draw the dataset in ``folder`` (data.csv, contributions.csv, lift_tests.csv).

    Returns:
        the written PNG and PDF paths.
    """
    folder = Path(folder)
    out_stem = Path(out_stem) if out_stem else folder / "dataset"
    data = pd.read_csv(folder / "data.csv", parse_dates=["date"])
    contrib = pd.read_csv(folder / "contributions.csv", parse_dates=["date"])
    tests = pd.read_csv(folder / "lift_tests.csv", parse_dates=["start_date", "end_date"])
    channels = [c[len("spend_"):] for c in data.columns if c.startswith("spend_")]
    dates = data["date"]

    plt.rcParams.update({"font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8,
                         "legend.fontsize": 7, "pdf.fonttype": 42})
    fig, axes = plt.subplots(4, 1, figsize=(7.0, 8.6), sharex=True,
                             gridspec_kw={"height_ratios": [1.0, 1.0, 1.0, 0.9]})
    # (a) spend
    ax = axes[0]
    spend = np.array([data[f"spend_{c}"] / 1e3 for c in channels])
    polys = ax.stackplot(dates, spend, colors=_GREYS[: len(channels)], edgecolor="black", linewidth=0.3)
    for p, h in zip(polys, _HATCH):
        p.set_hatch(h)
    ax.set_ylabel("weekly spend\n(thousands)")
    ax.set_title("(a) Media spend by channel")
    ax.legend(polys, channels, ncol=min(len(channels), 6), loc="upper left", frameon=False)
    # (b) KPI and its media-free part
    ax = axes[1]
    media = contrib[channels].sum(1)
    ax.plot(dates, data["kpi"] / 1e6, color="black", lw=1.0, label="KPI (observed)")
    ax.plot(dates, (data["kpi"] - media) / 1e6, color="0.5", lw=1.0, ls="--",
            label="KPI minus true media contribution")
    ax.set_ylabel("weekly KPI\n(millions)")
    ax.set_title("(b) KPI")
    ax.legend(loc="lower right", ncol=2, frameon=False)
    # (c) true contributions
    ax = axes[2]
    polys = ax.stackplot(dates, np.array([contrib[c] / 1e3 for c in channels]),
                         colors=_GREYS[: len(channels)], edgecolor="black", linewidth=0.3)
    for p, h in zip(polys, _HATCH):
        p.set_hatch(h)
    ax.set_ylabel("contribution\n(thousands)")
    ax.set_title("(c) True media contribution by channel")
    # (d) lift tests on the timeline: spend change (thick) and measurement window (thin)
    ax = axes[3]
    for j, row in tests.reset_index(drop=True).iterrows():
        y = channels.index(row["channel"]) + (0.25 if j % 2 else -0.1)
        end_w = row["start_date"] + pd.Timedelta(days=int(row["window_days"]) - 1)
        ax.plot([row["start_date"], end_w], [y, y], color="0.6", lw=1.2)
        ax.plot([row["start_date"], row["end_date"] + pd.Timedelta(days=6)], [y, y], color="black", lw=4,
                solid_capstyle="butt")
        label = f"{row['lift'] / 1e3:+.0f}k±{1.96 * row['lift_se'] / 1e3:.0f}k"
        if isinstance(row.get("failure_modes"), str) and row["failure_modes"]:
            label += f" [{row['failure_modes']}]"
        ax.annotate(label, (end_w, y), xytext=(3, -2), textcoords="offset points", fontsize=6)
    ax.set_yticks(range(len(channels)), channels)
    ax.set_ylim(-0.7, len(channels) - 0.2)
    ax.set_title("(d) Lift tests: changed weeks (thick), measurement window (thin), readout ±95% CI")
    ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 7)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %Y"))
    ax.set_xlabel("week")
    for a in axes:
        a.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    out_stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [out_stem.with_suffix(".png"), out_stem.with_suffix(".pdf")]
    fig.savefig(paths[0], dpi=200)
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        print("usage: python -m simulate.figures DATASET_DIR [OUT_STEM]", file=sys.stderr)
        sys.exit(2)
    src = Path(sys.argv[1])
    if not (src / "data.csv").exists():
        print(f"error: {src}: no data.csv (expected a folder written by python -m simulate)", file=sys.stderr)
        sys.exit(2)
    for p in dataset_figure(src, Path(sys.argv[2]) if len(sys.argv) == 3 else None):
        print(p)
