"""Figures of the calibration report, each a function of saved tables (frames) only.

* :func:`forest`: ROI mean and 90% interval per channel, before and after, with the tests' iROAS;
* :func:`shares_and_budget`: contribution shares and the weekly budget split, as bars;
* :func:`response_curves`: steady-state response curves, before and after, tested spend marked.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from estimators.report.intervals import interval_bars  # noqa: E402

BEFORE, AFTER, TEST_USED, TEST_OTHER = "#8c8c8c", "#1f5aa6", "#d2691e", "#bbbbbb"


def forest(channels: pd.DataFrame, tests: pd.DataFrame):
    """ROI intervals before (grey) and after (blue) per channel; tests' iROAS as diamonds (used: orange)."""
    k = len(channels)
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * k + 1.4))
    y = np.arange(k)[::-1]
    for off, tag, col, lab in ((0.15, "before", BEFORE, "baseline"), (-0.15, "after", AFTER, "calibrated")):
        m = channels[f"roi_mean_{tag}"].to_numpy()
        lo, hi = channels[f"roi_q05_{tag}"].to_numpy(), channels[f"roi_q95_{tag}"].to_numpy()
        interval_bars(ax, lo, hi, y + off, ecolor=col, capsize=3)
        ax.scatter(m, y + off, color=col, s=20, zorder=3, label=f"{lab} (mean, 90%)")
    pos = dict(zip(channels["channel"], y))
    for used, col, lab in ((True, TEST_USED, "test used"), (False, TEST_OTHER, "test not used")):
        sub = tests[tests["used"] == used]
        if len(sub):
            ax.scatter(sub["iroas"], [pos[c] for c in sub["channel"]], marker="D", s=28, color=col,
                       edgecolor="k", linewidth=0.4, zorder=3, label=lab)
    ax.set_yticks(y, channels["channel"])
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("ROI (KPI per unit of spend)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def shares_and_budget(channels: pd.DataFrame):
    """Left: share of media contribution before/after. Right: weekly spend now and as recommended."""
    k = len(channels)
    x = np.arange(k)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.bar(x - 0.2, channels["share_before"], 0.4, color=BEFORE, label="baseline")
    a.bar(x + 0.2, channels["share_after"], 0.4, color=AFTER, label="calibrated")
    a.set_xticks(x, channels["channel"], rotation=30, ha="right")
    a.set_ylabel("share of media contribution")
    a.legend(fontsize=8)
    w = 0.27
    b.bar(x - w, channels["budget_current"], w, color="#dddddd", edgecolor="k", lw=0.4, label="current")
    b.bar(x, channels["budget_before"], w, color=BEFORE, label="baseline recommends")
    b.bar(x + w, channels["budget_after"], w, color=AFTER, label="calibrated recommends")
    b.set_xticks(x, channels["channel"], rotation=30, ha="right")
    b.set_ylabel("weekly spend")
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def response_curves(curves: pd.DataFrame, levels: pd.DataFrame, tests: pd.DataFrame, current: pd.Series):
    """Small multiples per channel: mean and 90% band before/after; tested spend levels as
    vertical lines (solid orange: used; dashed grey: not used) with the tested range (business as
    usual to test level) as a bar at the top; the current mean spend dotted."""
    chans = list(dict.fromkeys(curves["channel"]))
    n = len(chans)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    used = dict(zip(tests["test_id"], tests["used"]))
    for i, ch in enumerate(chans):
        ax = axes[i // cols][i % cols]
        for fit, col in (("before", BEFORE), ("after", AFTER)):
            c = curves[(curves["channel"] == ch) & (curves["fit"] == fit)]
            ax.plot(c["weekly_spend"], c["mean"], color=col, lw=1.5, label="baseline" if fit == "before" else "calibrated")
            ax.fill_between(c["weekly_spend"], c["q05"], c["q95"], color=col, alpha=0.18, lw=0)
        mine = levels[(levels["channel"] == ch) & np.isfinite(levels["spend_test"])]
        top = ax.get_ylim()[1]
        for n_, (_, r) in enumerate(mine.iterrows()):
            u = bool(used.get(r["test_id"], False))
            col = TEST_USED if u else TEST_OTHER
            ax.axvline(r["spend_test"], color=col, ls="-" if u else "--", lw=1)
            y = top * (0.97 - 0.05 * n_)          # the tested range: business as usual -> test level
            ax.plot([r["spend_bau"], r["spend_test"]], [y, y], color=col, lw=2, marker="|", ms=6)
        if ch in current.index:
            ax.axvline(current[ch], color="k", ls=":", lw=0.8)
        ax.set_title(ch, fontsize=9)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(fontsize=7, loc="lower right")
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].axis("off")
    fig.supxlabel("weekly spend (national)", fontsize=9)
    fig.supylabel("weekly response (KPI)", fontsize=9)
    fig.tight_layout()
    return fig
