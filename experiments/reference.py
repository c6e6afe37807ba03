"""``python -m experiments.reference run=DIR dest=results/reference/NAME``: publish a finished study run.

Copies ``summary.csv``, ``summary_long.csv``, ``manifest.json``, ``config.yaml``, the
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


def comparison(long: pd.DataFrame) -> str:
    lines = ["| seeds/000 claim | metric here | good: claimed | good: ours | bad: claimed | bad: ours |",
             "|---|---|---|---|---|---|"]
    for label, metric, good, bad in CLAIMS:
        lines.append(f"| {label} | `{metric}` | {good} | {_cell(long, 'good/all', metric)} | {bad} | "
                     f"{_cell(long, 'bad/all', metric)} |")
    lines += ["", "| mixed-quality arm | " + " | ".join(
        f"`{m}`" for m in ("roi_mape", "attribution_error", "counterfactual_mape", "budget_regret")) + " |",
        "|---|---|---|---|---|"]
    for arm in sorted(a for a in long["arm"].unique() if a.startswith("mixed/")):
        lines.append(f"| {arm} | " + " | ".join(_cell(long, arm, m) for m in
                                                ("roi_mape", "attribution_error", "counterfactual_mape",
                                                 "budget_regret")) + " |")
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
    for name in ("summary.csv", "summary_long.csv", "manifest.json", "config.yaml", "fits.parquet", "eqs.parquet"):
        shutil.copy2(run / name, dest / name)
    if (dest / "figures").exists():
        shutil.rmtree(dest / "figures")
    shutil.copytree(run / "figures", dest / "figures")
    (dest / "comparison.md").write_text(comparison(pd.read_csv(run / "summary_long.csv")))
    print(dest / "comparison.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
