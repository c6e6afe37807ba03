"""Why NUTS fits restart, and what a restart policy costs (issue 10: time to the quality bar).

    python benchmarks/nuts_bar_trace.py [--n 24] [--world fashion] [--readapt-after 500 250] [--seed 0]

Simulates ``n`` datasets of a world profile as the study does (its knobs as written, the holdout
weeks held out), fits each with the project's NUTS under the default priors, uncalibrated, once
per ``--readapt-after`` setting (the same datasets and keys), and records every check of the
quality bar: the draws per chain so far, the smallest ROI bulk ESS, the largest ROI R-hat and
the largest R-hat of all parameters. Prints, per setting, the fits that restarted, the reason
their bar still failed when they restarted, the ESS per draw before and after the restart, the
total NUTS iterations per chain (warm-up included) and the seconds; then the share of fits at
the bar. Writes ``<out>/nuts_bar_trace.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def simulate_datasets(world: str, n: int, seed: int):
    from estimators.model.data import observed_from_dataset
    from experiments.study import load_world
    from simulate.config import world_spec
    from simulate.core import simulate

    spec = world_spec(load_world(world), path=f"world/{world}")
    ds, _ = simulate(jax.random.key(seed), spec, n_datasets=n)
    return [observed_from_dataset(ds, i) for i in range(n)]


def traced_fit(obs, readapt_after: int, seed: int):
    """Fit with NUTS; returns ``(posterior, checks)`` with one list of checks per dataset."""
    from estimators.inference import nuts
    from estimators.inference.posterior import fit
    from estimators.model.batch import build_batch
    from estimators.model.spec import FitSpec, InferenceSpec

    spec = FitSpec(inference=InferenceSpec(method="nuts", readapt_after=readapt_after)).validate()
    log = []
    original = nuts.check_bar

    def check(u, roi, real, bar):
        from estimators.inference.diagnostics import ess_bulk_numpy, rhat_bulk

        met, reasons = original(u, roi, real, bar)
        r = rhat_bulk(u[..., real])
        log.append(dict(chains=int(u.shape[0]), draws=int(u.shape[1]), ess_roi_min=float(np.nanmin(ess_bulk_numpy(u[..., roi]))),
                        rhat_roi_max=float(np.nanmax(r[np.cumsum(real)[roi] - 1])), rhat_max=float(np.nanmax(r)),
                        met=bool(met), reasons=reasons))
        return met, reasons

    nuts.check_bar = check
    checks = []
    try:
        posts = []
        for i in range(len(obs)):            # one dataset at a time, so each check belongs to it
            log.clear()
            one = build_batch([obs[i]], None, spec)          # one world: every dataset has its shapes
            posts.append(fit(jax.random.key(seed), one, spec))
            checks.append(list(log))
    finally:
        nuts.check_bar = original
    return posts, checks


def summarise(posts, checks, warmup: int):
    """One row per fit: whether it restarted (the draw count falls back between two checks), why,
    the ROI ESS per draw before and after, and its NUTS iterations per chain (warm-ups included)."""
    rows = []
    for p, c in zip(posts, checks):
        d = p.diagnostics
        cut = next((j for j in range(1, len(c)) if c[j]["draws"] < c[j - 1]["draws"]), None)
        before, after = (c[:cut], c[cut:]) if cut is not None else (c, [])
        last = before[-1] if before else None
        iters = warmup + (last["draws"] if last else 0) + ((warmup + after[-1]["draws"]) if after else 0)
        per_draw = lambda x: x["ess_roi_min"] / (x["chains"] * x["draws"])
        rows.append(dict(restarted=cut is not None, iterations=iters,
                         seconds=float(np.asarray(d.seconds)[0]), quality_ok=bool(np.asarray(d.quality_ok)[0]),
                         reasons_at_restart=last["reasons"] if cut is not None else [],
                         ess_per_draw_before=per_draw(last) if last else None,
                         ess_per_draw_after=per_draw(after[-1]) if after else None, checks=c))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--world", default="fashion")
    ap.add_argument("--readapt-after", type=int, nargs="+", default=[500, 250])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    a = ap.parse_args(argv)
    from harness.jaxcache import enable_cache
    from estimators.inference.nuts import warmup_iterations
    from estimators.model.spec import FitSpec, InferenceSpec

    enable_cache()
    obs = simulate_datasets(a.world, a.n, a.seed)
    warm = warmup_iterations(FitSpec(inference=InferenceSpec(method="nuts")).validate())
    res = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}, "runs": {}}
    for r in a.readapt_after:
        t0 = time.perf_counter()
        posts, checks = traced_fit(obs, r, a.seed)
        wall = time.perf_counter() - t0
        rows = summarise(posts, checks, warm)
        res["runs"][str(r)] = {"wall_seconds": wall, "fits": rows}
        rs = [x for x in rows if x["restarted"]]
        print(f"\nreadapt_after={r}: {len(rows)} fits, {len(rs)} restarted, at the bar {sum(x['quality_ok'] for x in rows)}, "
              f"iterations per chain: total {sum(x['iterations'] for x in rows)}, median "
              f"{np.median([x['iterations'] for x in rows]):.0f}; fit seconds {sum(x['seconds'] for x in rows):.1f} "
              f"(wall {wall:.1f} incl. compile)")
        for j, x in enumerate(rows):
            if x["restarted"]:
                print(f"  dataset {j}: restarted because {'; '.join(x['reasons_at_restart'])}; ESS per draw "
                      f"{x['ess_per_draw_before']:.3f} -> {x['ess_per_draw_after']:.3f}; iterations {x['iterations']}")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "nuts_bar_trace.json").write_text(json.dumps(res, indent=2, default=str))


if __name__ == "__main__":
    main()
