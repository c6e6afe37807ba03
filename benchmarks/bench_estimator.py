"""Estimator benchmark: models per minute vs batch size, NUTS and fast path vs a plain numpyro loop.

    python benchmarks/bench_estimator.py [--quick] [--out results/bench]

Datasets: well-specified ``fashion`` (5 channels) and ``home_goods`` (6 channels)
worlds from ``simulate`` (no confounding, collinearity or misspecification),
interleaved and padded to 6 channels so both profiles share each batch.
For each batch size B in (1, 8, 32, 128): time ``estimators.posterior.fit`` on
the first B datasets after compiling ahead of time (``compile_only``, persistent
cache; compile time reported separately); the figure is the median over
``--repeats`` timed calls for B <= 8 (after one untimed warm call) and a single
timed call for larger batches (minutes each).
Baseline: a plain Python loop of ``numpyro.infer.MCMC.run`` (same model, same
chains/warm-up/draws, ``chain_method='sequential'``, jitted model args so it
compiles once) over the first ``--loop-models`` datasets, excluding the first
(compiling) run. Peak memory is the process's max RSS after each stage.
Fast-vs-NUTS gaps: per channel ``|mean_fast - mean_nuts| / sd_nuts`` and
``sd_fast / sd_nuts`` on the same datasets, medians over channels and datasets.
Writes ``<out>/estimator.json`` and ``<out>/estimator.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import resource
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.jaxcache import enable_cache  # noqa: E402
from harness.manifest import git_revision, package_versions  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def datasets(n: int, seed: int = 0):
    """``n`` observed datasets alternating fashion / home_goods (well specified)."""
    import yaml

    from estimators.model.data import observed_from_dataset
    from simulate.config import world_spec
    from simulate.core import simulate

    out = {}
    for j, name in enumerate(("fashion", "home_goods")):
        spec = world_spec(yaml.safe_load((ROOT / f"conf/world/{name}.yaml").read_text()))
        spec = dataclasses.replace(spec, confounding=0.0, collinearity=0.0, misspecification=0.0,
                                   unobserved_driver=0.0)
        m = (n + 1 - j) // 2
        ds, _ = simulate(jax.random.key(seed + j), spec, n_datasets=max(m, 1))
        out[name] = [observed_from_dataset(ds, i, holdout=False) for i in range(m)]
    mixed = []
    for i in range(n):
        src = out["fashion"] if i % 2 == 0 else out["home_goods"]
        mixed.append(src[i // 2])
    return mixed


def timed(fn, repeats: int):
    times = []
    res = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), times, res


def bench_batched(obs, spec, sizes, repeats, key):
    from estimators.model.batch import build_batch
    from estimators.inference.laplace import compile_only
    from estimators.inference.posterior import fit

    rows, posts = [], {}
    for b in sizes:
        batch = build_batch(obs[:b], None, spec, n_channels=6, n_tests=0)
        first = compile_only(batch, spec)                 # compile (persistent cache), no run
        fit(key, batch, spec) if b <= 8 else None         # small batches: one untimed warm call
        med, times, post = timed(lambda: fit(key, batch, spec), repeats if b <= 8 else 1)
        d = post.diagnostics
        rows.append({"batch": b, "seconds_median": med, "seconds_all": times,
                     "compile_seconds": first, "models_per_minute": 60.0 * b / med,
                     "mean_leapfrog_steps": float(np.mean(d.mean_steps)),
                     "divergences_total": int(np.sum(d.divergences)),
                     "rhat_max": float(np.nanmax(d.rhat_max)) if np.isfinite(d.rhat_max).any() else None,
                     "peak_rss_mb": peak_mb()})
        posts[b] = post
        print(f"  {spec.inference.method:5s} B={b:4d}: {med:8.2f} s  {60 * b / med:8.1f} models/min "
              f"(compile {first:.1f} s)", flush=True)
    return rows, posts


def bench_loop(obs, spec, n_models, key):
    """Plain numpyro: one MCMC.run per dataset, sequential chains."""
    from functools import partial

    from numpyro.infer import MCMC, NUTS

    from estimators.model.batch import ModelData, build_batch
    from estimators.model.mmm import mmm_model

    inf = spec.inference
    model = partial(mmm_model, spec=spec.model, priors=spec.priors)
    mcmc = MCMC(NUTS(model, target_accept_prob=inf.target_accept, max_tree_depth=inf.max_tree_depth),
                num_warmup=inf.warmup, num_samples=inf.draws, num_chains=inf.chains,
                chain_method="sequential", progress_bar=False, jit_model_args=True)
    times = []
    for i in range(n_models):
        b = build_batch([obs[i]], None, spec, n_channels=6, n_tests=0)
        d = ModelData(*[np.asarray(a[0]) for a in b.data])
        t0 = time.perf_counter()
        mcmc.run(jax.random.fold_in(key, i), d)
        jax.block_until_ready(mcmc.get_samples()["roi"])
        times.append(time.perf_counter() - t0)
        print(f"  loop model {i}: {times[-1]:.1f} s", flush=True)
    steady = times[1:] if len(times) > 1 else times
    med = float(np.median(steady))
    return {"models": n_models, "seconds_per_model_median": med, "seconds_all": times,
            "models_per_minute": 60.0 / med, "peak_rss_mb": peak_mb()}


def gaps(nuts, fast):
    from estimators.inference.posterior import summarise

    sn, sf = summarise(nuts), summarise(fast)
    z = np.abs(sf.roi_mean - sn.roi_mean) / sn.roi_sd
    r = sf.roi_sd / sn.roi_sd
    m = np.isfinite(z)
    return {"datasets": int(sn.roi_mean.shape[0]),
            "mean_gap_in_nuts_sd_median": float(np.median(z[m])),
            "mean_gap_in_nuts_sd_p90": float(np.quantile(z[m], 0.9)),
            "share_within_half_sd": float(np.mean(z[m] <= 0.5)),
            "relative_mean_gap_median": float(np.median(np.abs(sf.roi_mean - sn.roi_mean)[m] / sn.roi_mean[m])),
            "sd_ratio_fast_over_nuts_median": float(np.median(r[m])),
            "sd_ratio_p10_p90": [float(np.quantile(r[m], 0.1)), float(np.quantile(r[m], 0.9))]}


def markdown(res) -> str:
    s = res["settings"]
    lines = [f"Estimator benchmark ({res['machine']['cpus']} CPU cores, {s['chains']} chains x "
             f"{s['warmup']} warm-up x {s['draws']} draws; median of {s['repeats']} timed calls for "
             "batch <= 8, one call above; compile excluded)", "",
             "| batch | NUTS models/min | NUTS s/batch | fast models/min | fast s/batch |",
             "|---:|---:|---:|---:|---:|"]
    fast = {r["batch"]: r for r in res["fast"]}
    for r in res["nuts"]:
        f = fast.get(r["batch"], {})
        lines.append(f"| {r['batch']} | {r['models_per_minute']:.1f} | {r['seconds_median']:.1f} | "
                     f"{f.get('models_per_minute', float('nan')):.0f} | {f.get('seconds_median', float('nan')):.2f} |")
    lp = res["numpyro_loop"]
    g = res["fast_vs_nuts"]
    lines += ["", f"Plain numpyro `MCMC.run` loop: {lp['models_per_minute']:.2f} models/min "
                  f"({lp['seconds_per_model_median']:.1f} s/model, median of {max(lp['models'] - 1, 1)}).",
              f"Peak RSS: {res['peak_rss_mb']:.0f} MB.",
              f"Fast vs NUTS on {g['datasets']} datasets: median |ROI mean gap| = "
              f"{g['mean_gap_in_nuts_sd_median']:.2f} NUTS sd ({100 * g['relative_mean_gap_median']:.1f}% of the mean), "
              f"median sd ratio fast/NUTS = {g['sd_ratio_fast_over_nuts_median']:.2f}."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "results" / "bench"))
    ap.add_argument("--sizes", default="1,8,32,128")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-models", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="sizes 1,8; 2 chains x 150 x 150; 1 repeat")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.quick:
        a.sizes, a.chains, a.warmup, a.draws, a.repeats, a.loop_models = "1,8", 2, 150, 150, 1, 2
    enable_cache()
    from estimators.model.spec import FitSpec, InferenceSpec

    sizes = [int(x) for x in a.sizes.split(",")]
    obs = datasets(max(sizes + [a.loop_models]), a.seed)
    key = jax.random.key(a.seed)
    nuts_spec = FitSpec(inference=InferenceSpec(method="nuts", chains=a.chains, warmup=a.warmup, draws=a.draws))
    fast_spec = FitSpec(inference=InferenceSpec(method="fast"))
    print("fast path:", flush=True)
    fast_rows, fast_posts = bench_batched(obs, fast_spec, sizes, a.repeats, key)
    print("NUTS:", flush=True)
    nuts_rows, nuts_posts = bench_batched(obs, nuts_spec, sizes, a.repeats, key)
    print("numpyro loop:", flush=True)
    loop = bench_loop(obs, nuts_spec, a.loop_models, key)
    big = max(sizes)
    res = {
        "settings": {"chains": a.chains, "warmup": a.warmup, "draws": a.draws, "repeats": a.repeats,
                     "sizes": sizes, "seed": a.seed, "datasets": "fashion/home_goods alternating, "
                     "well specified, 156 weeks, padded to 6 channels"},
        "machine": {"cpus": __import__("os").cpu_count(), "platform": platform.platform()},
        "git_revision": git_revision(), "packages": package_versions(),
        "fast": fast_rows, "nuts": nuts_rows, "numpyro_loop": loop,
        "fast_vs_nuts": gaps(nuts_posts[big], fast_posts[big]),
        "speedup_nuts_batched_vs_loop": nuts_rows[-1]["models_per_minute"] / loop["models_per_minute"],
        "peak_rss_mb": peak_mb(),
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "estimator.json").write_text(json.dumps(res, indent=2))
    (out / "estimator.md").write_text(markdown(res))
    print(markdown(res))
    return res


if __name__ == "__main__":
    main()
