"""``python -m experiments.reference run=DIR dest=results/reference/NAME``: publish a finished study run.

Copies ``summary.csv``, ``summary_long.csv``, ``manifest.json``, ``config.yaml``, the other
summaries (``PUBLISHED``: ratio of means, share improved, stability, precision, the verdicts split
by identification and by test kind, the status counts), the
per-fit and per-experiment tables (``fits.parquet``, ``eqs.parquet``, so that
``python -m experiments.figures run=dest`` can redraw the figures) and ``figures/`` of a
complete run into ``dest``, and writes ``comparison.md``: our paired improvements beside
seeds/000's claims (the README quotes it).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd

# Every table a study run writes at its top level (experiments.study), published when present.
PUBLISHED = ("summary.csv", "summary_long.csv", "manifest.json", "config.yaml", "fits.parquet", "eqs.parquet",
             "summary_ratio_of_means.csv", "summary_share_improved.csv", "stability.csv", "summary_precision.csv",
             "summary_identified.csv", "summary_test_kind.csv", "status.csv")

# seeds/000's claims: metric -> (good experiments, bad experiments)
CLAIMS = [
    ("channel attribution accuracy", "attribution_error", "+6 to +16%", "-10 to -40%"),
    ("prediction accuracy (forecasting from other spend levels)", "counterfactual_mape", "+44%", "-20%"),
    ("model stability", "stability", "+53%", "-5 to -92%"),
    ("budget recommendation quality", "budget_regret", "significantly better", "significantly worse"),
]


def _cell(long: pd.DataFrame, arm: str, metric: str) -> str:
    r = long[(long["arm"] == arm) & (long["metric"] == metric)]
    if r.empty or int(r["n"].iloc[0]) == 0:
        return "n/a"
    r = r.iloc[0]
    return f"{100 * r['median']:+.0f}% [{100 * r['ci_low']:+.0f}, {100 * r['ci_high']:+.0f}]"


def _suffixes(long: pd.DataFrame) -> list[str]:
    """Arm-name suffixes of the variants of ``good/all`` (``""`` in a one-calibration study,
    ``/m1``, ``/m2``, ``/m2/fixed``, ... when calibrations or draws are side by side)."""
    names = [a for a in long["arm"].unique() if a.startswith("good/all")]
    return sorted({a[len("good/all"):] for a in names}) or [""]


def comparison(long: pd.DataFrame) -> str:
    """seeds/000's claims beside our verdicts, one table per calibration / draw variant."""
    lines = []
    mixed_metrics = ("roi_mape", "attribution_error", "counterfactual_mape", "counterfactual_delta_mape",
                     "budget_regret")
    for sfx in _suffixes(long):
        if sfx:
            lines += [f"### variant `{sfx.strip('/')}`", ""]
        lines += ["| seeds/000 claim | metric here | good: claimed | good: ours | bad: claimed | bad: ours |",
                  "|---|---|---|---|---|---|"]
        for label, metric, good, bad in CLAIMS:
            lines.append(f"| {label} | `{metric}` | {good} | {_cell(long, 'good/all' + sfx, metric)} | {bad} | "
                         f"{_cell(long, 'bad/all' + sfx, metric)} |")
        lines.append(f"| (media-only counterfactual) | `counterfactual_delta_mape` | | "
                     f"{_cell(long, 'good/all' + sfx, 'counterfactual_delta_mape')} | | "
                     f"{_cell(long, 'bad/all' + sfx, 'counterfactual_delta_mape')} |")
        mixed = sorted(a for a in long["arm"].unique() if a.startswith("mixed/") and a.endswith(sfx)
                       and (sfx or a.count("/") == 1))
        if mixed:
            lines += ["", "| mixed-quality arm | " + " | ".join(f"`{m}`" for m in mixed_metrics) + " |",
                      "|---|" + "---|" * len(mixed_metrics)]
            lines += [f"| {arm} | " + " | ".join(_cell(long, arm, m) for m in mixed_metrics) + " |" for arm in mixed]
        lines.append("")
    lines.append("Cells: median of per-dataset paired improvements, 95% bootstrap CI over truths. "
                 "summary_ratio_of_means.csv and summary_share_improved.csv give the other two summaries.")
    return "\n".join(lines) + "\n"


def main(argv) -> int:
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    if set(args) != {"run", "dest"}:
        print("usage: python -m experiments.reference run=DIR dest=DIR", file=sys.stderr)
        return 2
    run, dest = Path(args["run"]), Path(args["dest"])
    manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").exists() else {}
    if manifest.get("status") != "complete":
        print(f"error: {run}: not a complete study run (manifest status {manifest.get('status')!r})", file=sys.stderr)
        return 2
    dest.mkdir(parents=True, exist_ok=True)
    for name in PUBLISHED:
        if (run / name).exists():
            shutil.copy2(run / name, dest / name)
    if (dest / "figures").exists():
        shutil.rmtree(dest / "figures")
    shutil.copytree(run / "figures", dest / "figures")
    (dest / "comparison.md").write_text(comparison(pd.read_csv(run / "summary_long.csv")))
    print(dest / "comparison.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
