"""``make bench`` part 5: ``python -m estimators.calibrate`` end to end, against its targets.

    python benchmarks/bench_calibrate.py [--out results/bench/<date>] [--seed 0]

Data: a 3-year weekly (156 weeks), 7-channel ``home_goods`` world with an ``audio`` channel added
and 10 lift tests (good and bad designs mixed, some readouts partial), written under realistic
column names by :func:`experiments.demo.make_world`. Each figure is the wall time of the whole
command in a fresh process (interpreter start, imports, reading, both fits, EQS, the comparison,
the budget, figures and the report), on this machine:

* NUTS at the quality bar (every ROI R-hat <= 1.01, bulk ESS >= 400), cold compilation cache
  (a new, empty ``MMM_JAX_CACHE``): target <= 90 s;
* the same command again, warm cache: target <= 30 s;
* the fast path (``inference=fast``) once to fill the cache with its own programs (``fast_first``,
  the cache already holding the NUTS runs' MAP programs), then again warm: target <= 15 s.

Writes ``<out>/bench_calibrate.json`` and prints a table.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"nuts_cold": 90.0, "nuts_warm": 30.0, "fast_warm": 15.0}


def part(work: Path, seed: int = 0) -> dict:
    """Run the four timed commands; returns seconds, targets and each run's quality bar."""
    from experiments.demo import make_world, run_calibrate

    work = Path(work)
    paths = make_world(work / "input", seed=seed, n_channels=7, n_tests=10)
    cache = tempfile.mkdtemp(prefix="mmm-bench-calibrate-cache-")
    env = {"MMM_JAX_CACHE": cache}
    res = {}
    try:
        for name, extra in (("nuts_cold", ["inference=nuts"]), ("nuts_warm", ["inference=nuts"]),
                            ("fast_first", ["inference=fast"]), ("fast_warm", ["inference=fast"])):
            out = work / name
            print(f"bench calibrate: {name}", flush=True)
            secs = run_calibrate(paths, out, extra + [f"seed={seed}"], env)
            diag = json.loads((out / "diagnostics.json").read_text())
            res[name] = {"seconds": round(secs, 1), "target_seconds": TARGETS.get(name),
                         "met": None if name not in TARGETS else secs <= TARGETS[name],
                         "quality_baseline": diag["baseline"]["quality"],
                         "quality_calibrated": diag["calibrated"]["quality"],
                         "fit_seconds": [round(diag["baseline"]["seconds"], 1), round(diag["calibrated"]["seconds"], 1)]}
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    res["data"] = {"weeks": 156, "channels": 7, "tests": 10, "seed": seed}
    return res


def markdown(res: dict) -> str:
    lines = ["| run | seconds | target | met | baseline quality | calibrated quality |", "|---|---|---|---|---|---|"]
    for name in ("nuts_cold", "nuts_warm", "fast_first", "fast_warm"):
        r = res[name]
        lines.append(f"| {name} | {r['seconds']} | {r['target_seconds'] or ''} | {'' if r['met'] is None else r['met']} "
                     f"| {r['quality_baseline']} | {r['quality_calibrated']} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / dt.date.today().isoformat()))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    out = Path(a.out)
    res = part(out / "work_calibrate", a.seed)
    res["command"] = "python benchmarks/bench_calibrate.py " + " ".join(argv if argv is not None else sys.argv[1:])
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_calibrate.json").write_text(json.dumps(res, indent=2))
    print(markdown(res))
    print(f"wrote {out / 'bench_calibrate.json'}")
    return res


if __name__ == "__main__":
    main()
