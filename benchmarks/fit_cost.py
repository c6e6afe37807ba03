"""Where a NUTS study's fit time goes: baseline against calibrated fits, per run.

    python benchmarks/fit_cost.py [--exclude-shards S,S] RUN_DIR [RUN_DIR ...]

For each study run folder (its ``fits.parquet``): the fits, their summed ``fit_seconds`` (the MAP
share, sampling and the analysis of each fit; a worker's first batch carries its compile), the
fits at the quality bar and with divergences; then, split into the baseline (``strategy ==
none``) and the calibrated fits, the summed seconds and the means of draws per chain, leapfrog
steps per draw and sampler restarts. ``--exclude-shards`` leaves shards out (e.g. each worker's
first, whose fits carry the compile). Compare runs of one machine and one session only.
"""
from __future__ import annotations

import sys

import pandas as pd


def cost(fits: pd.DataFrame) -> pd.DataFrame:
    """Per group (baseline, calibrated): fits, seconds and the sampler's work (means)."""
    group = fits["strategy"].eq("none").map({True: "baseline", False: "calibrated"})
    return fits.groupby(group).agg(fits=("fit_seconds", "size"), seconds=("fit_seconds", "sum"),
                                   draws=("draws_per_chain", "mean"), steps=("mean_leapfrog_steps", "mean"),
                                   restarts=("sampler_restarts", "mean"))


def main(argv) -> int:
    exclude = set()
    if argv and argv[0].startswith("--exclude-shards"):
        flag = argv.pop(0)
        exclude = set((flag.split("=", 1)[1] if "=" in flag else argv.pop(0) if argv else "").split(","))
    if not argv:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    for run in argv:
        f = pd.read_parquet(f"{run}/fits.parquet")
        f = f[~f["shard"].isin(exclude)]
        print(f"\n{run}: {len(f)} fits, {f.fit_seconds.sum():.0f} fit seconds, {int(f.quality_ok.sum())} at the bar, "
              f"{int((f.divergences > 0).sum())} with divergences")
        print(cost(f).round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
