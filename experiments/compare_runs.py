"""``python -m experiments.compare_runs A=DIR B=DIR [C=DIR ...]``: verdicts of study runs side by side.

Reads each run's ``summary_long.csv`` and prints, per arm and metric, the paired improvement
(median and bootstrap 95% CI) of every run, and whether the CIs of the first two runs overlap.
Writes the table to ``out=PATH.md`` when given. Used to check a rerun against a reference.
With ``same_truths=true`` every run's verdicts are recomputed from its ``fits.parquet`` on the
truths all the runs share (the same datasets and tests when the runs share their seed), so that
runs of different sizes compare on common ground.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

METRICS = ("roi_mape", "attribution_error", "counterfactual_mape", "counterfactual_delta_mape", "budget_regret",
           "coverage90", "stability")


def _longs(runs: dict, same_truths: bool) -> dict:
    if not same_truths:
        return {name: pd.read_csv(Path(d) / "summary_long.csv") for name, d in runs.items()}
    from experiments.aggregate import paired

    fits = {name: pd.read_parquet(Path(d) / "fits.parquet") for name, d in runs.items()}
    common = set.intersection(*(set(f["truth_id"]) for f in fits.values()))
    return {name: paired(f[f["truth_id"].isin(common)]) for name, f in fits.items()}


def table(runs: dict, same_truths: bool = False) -> pd.DataFrame:
    longs = {name: lg.set_index(["arm", "metric"]) for name, lg in _longs(runs, same_truths).items()}
    names = list(runs)
    arms = list(dict.fromkeys(a for lg in longs.values() for a, _ in lg.index))
    rows = []
    for arm in arms:
        for m in METRICS:
            row = {"arm": arm, "metric": m}
            cis = []
            for n in names:
                lg = longs[n]
                if (arm, m) not in lg.index or lg.loc[(arm, m), "n"] == 0:
                    row[n] = "n/a"
                    cis.append(None)
                    continue
                r = lg.loc[(arm, m)]
                row[n] = f"{100 * r['median']:+.0f}% [{100 * r['ci_low']:+.0f}, {100 * r['ci_high']:+.0f}]"
                cis.append((r["ci_low"], r["ci_high"]))
            if len(cis) >= 2 and cis[0] and cis[1]:
                row["CIs overlap (first two)"] = "yes" if cis[0][0] <= cis[1][1] and cis[1][0] <= cis[0][1] else "**no**"
            rows.append(row)
    return pd.DataFrame(rows)


def main(argv) -> int:
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    out = args.pop("out", None)
    same = args.pop("same_truths", "false")
    if same not in ("true", "false"):
        print(f"error: same_truths must be true or false, got {same!r}", file=sys.stderr)
        return 2
    if len(args) < 2:
        print("usage: python -m experiments.compare_runs NAME=DIR NAME=DIR [...] [out=PATH.md]", file=sys.stderr)
        return 2
    for n, d in args.items():
        if not (Path(d) / "summary_long.csv").is_file():
            print(f"error: {d}: no summary_long.csv (not a finished study run)", file=sys.stderr)
            return 2
    t = table(args, same == "true")
    cols = list(t.columns)
    md = "\n".join(["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
                   + ["| " + " | ".join(str(v) for v in r) + " |" for r in t.itertuples(index=False)])
    print(md)
    if out:
        Path(out).write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
