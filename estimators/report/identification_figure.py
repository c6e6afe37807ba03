"""The prior-against-posterior figure: per channel, the prior's and the posterior's 90% interval of
ROI (left) and mROI (right), from saved tables only.

Each table (one per fit: ``posterior_summary.csv``, or a calibrate run's baseline / calibrated
columns renamed) needs ``channel``, ``roi_mean``, ``roi_q05``, ``roi_q95``, ``mroi_mean``,
``mroi_q05``, ``mroi_q95``, ``roi_prior_q05``, ``roi_prior_q95``, ``mroi_prior_q05``,
``mroi_prior_q95``, ``roi_sd_ratio``, ``mroi_sd_ratio`` and ``roi_identified``. A channel whose ROI
is not identified has a hollow marker and its ratio printed in red.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from estimators.report.intervals import interval_bars  # noqa: E402

PRIOR = "#c8c8c8"
FITS = ("#1f5aa6", "#d2691e", "#2e8b57")


def prior_posterior(tables: dict, max_sd_ratio: float):
    """``tables``: ``{label: frame}`` of one dataset's fits (the prior bars come from the first)."""
    first = next(iter(tables.values()))
    chans = list(first["channel"])
    k = len(chans)
    y = np.arange(k)[::-1].astype(float)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.6 * k + 1.6), sharey=True)
    n = len(tables)
    for ax, q, title in ((axes[0], "roi", "ROI (average return)"), (axes[1], "mroi", "mROI at mean spend (marginal return)")):
        lo, hi = first[f"{q}_prior_q05"].to_numpy(float), first[f"{q}_prior_q95"].to_numpy(float)
        ax.barh(y, hi - lo, left=lo, height=0.8, color=PRIOR, label="prior 90%", zorder=1)
        for j, (label, t) in enumerate(tables.items()):
            t = t.set_index("channel").loc[chans]
            off = (j - (n - 1) / 2) * 0.25
            m = t[f"{q}_mean"].to_numpy(float)
            l, h = t[f"{q}_q05"].to_numpy(float), t[f"{q}_q95"].to_numpy(float)
            ok = t["roi_identified"].astype(bool).to_numpy()
            col = FITS[j % len(FITS)]
            interval_bars(ax, l, h, y + off, ecolor=col, capsize=3, zorder=2)
            ax.scatter(m[ok], (y + off)[ok], color=col, zorder=3, s=22, label=f"{label} 90% (ROI identified)")
            ax.scatter(m[~ok], (y + off)[~ok], facecolor="white", edgecolor=col, zorder=3, s=22,
                       label=f"{label} 90% (ROI mostly prior)")
            ratio = t[f"{q}_sd_ratio"].to_numpy(float)
            for yy, r in zip(y + off, ratio):
                ax.annotate(f"{r:.2f}", (1.0, yy), xycoords=("axes fraction", "data"), xytext=(3, 0),
                            textcoords="offset points", va="center", fontsize=7,
                            color="#b22222" if r > max_sd_ratio else "#333333", annotation_clip=False)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("KPI per unit of spend", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0].set_yticks(y, chans)
    handles, labels = axes[0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    fig.legend(uniq.values(), uniq.keys(), loc="lower center", ncol=min(3, len(uniq)), fontsize=7, frameon=False)
    fig.suptitle(f"Prior against posterior; right of each panel: sd of the log, posterior / prior "
                 f"(red: above {max_sd_ratio:g}, mostly prior)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06 + 0.02 * n, 0.97, 0.95))
    return fig


def calibrate_tables(channels: pd.DataFrame) -> dict:
    """The baseline and calibrated frames of a calibrate run's ``channels.csv`` for :func:`prior_posterior`."""
    out = {}
    for tag, label in (("before", "baseline"), ("after", "calibrated")):
        cols = {"channel": channels["channel"]}
        for c in ("roi_mean", "roi_q05", "roi_q95", "mroi_mean", "mroi_q05", "mroi_q95", "roi_sd_ratio",
                  "mroi_sd_ratio", "roi_identified"):
            cols[c] = channels[f"{c}_{tag}"]
        for c in ("roi_prior_q05", "roi_prior_q95", "mroi_prior_q05", "mroi_prior_q95"):
            cols[c] = channels[c]
        out[label] = pd.DataFrame(cols)
    return out
