"""``make bench``: this harness against PyMC-Marketing, side by side, plus the harness's own sweep.

    python benchmarks/bench.py [--quick] [--out results/bench/<date>] [--peer-python .venv-pymc/bin/python]

Three parts, one run, one machine:

1. **Peer, A/B.** ``--peer-datasets`` well-specified simulated datasets (fashion / home_goods
   alternating, 156 weeks, every week fitted) are written as ``python -m simulate`` folders and
   fitted twice each, alternating which goes first so machine drift cancels: by this harness
   (NUTS, batch of one, ``--chains`` x ``--warmup`` x ``--draws``, chains started from the MAP's
   Laplace draws) and by ``benchmarks/pymc_mmm.py`` in its own environment (PyMC-Marketing's
   ``MMM`` with its defaults: geometric adstock, logistic saturation, 3 yearly Fourier
   harmonics, the data's controls plus a linear trend, its default sampler). Same chains,
   warm-up and draws on both sides. Reported per model: compile and sampling wall time apart,
   ROI error against the truth, 90% coverage, min bulk ESS of the ROIs per sampling second.
2. **Harness sweep.** Models per minute for NUTS (``--sweep-warmup`` x ``--sweep-draws``, the
   study's setting) and the fast path at batch sizes ``--sizes``; a plain per-model loop of
   numpyro ``MCMC.run`` at the same setting; fast-vs-NUTS ROI gaps on the largest batch.
3. **Profile.** Seconds per log-density gradient (one lane, and per lane when vmapped), leapfrog
   steps per draw, and from them the floor ``gradients x cost`` that sampling cannot beat, set
   against the measured NUTS time.

Writes ``<out>/bench.json`` and ``<out>/bench.md`` (medians; the machine it ran on). Without the
peer environment (``make bench`` creates it when Python 3.12 is available) part 1 is skipped and
the report says so.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_estimator import bench_batched, bench_loop, datasets, gaps  # noqa: E402
from harness.jaxcache import enable_cache  # noqa: E402
from harness.manifest import git_revision, package_versions  # noqa: E402


def peak_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem, 1), "platform": platform.platform(),
            "python": platform.python_version(), "jax_backend": jax.default_backend()}


# --- part 1: the peer --------------------------------------------------------------------------

def write_peer_datasets(n: int, seed: int, folder: Path):
    """``n`` well-specified datasets written as simulate folders; returns (observed, truth ROI, dirs)."""
    import yaml

    from estimators.model.data import observed_from_dataset
    from simulate.config import world_spec
    from simulate.core import simulate
    from simulate.io import write_dataset

    out = []
    for j, name in enumerate(("fashion", "home_goods")):
        m = (n + 1 - j) // 2
        if m == 0:
            continue
        spec = world_spec(yaml.safe_load((ROOT / f"conf/world/{name}.yaml").read_text()))
        spec = dataclasses.replace(spec, confounding=0.0, collinearity=0.0, misspecification=0.0,
                                   unobserved_driver=0.0)
        ds, tr = simulate(jax.random.key(seed + 100 + j), spec, n_datasets=m)
        for i in range(m):
            d = write_dataset(folder, ds, tr, i, [], [])
            out.append((i * 2 + j, observed_from_dataset(ds, i, holdout=False), np.asarray(tr.roi[i]), d))
    out.sort(key=lambda r: r[0])
    return [r[1] for r in out], [r[2] for r in out], [r[3] for r in out]


def roi_scores(mean, q05, q95, truth) -> dict:
    err = np.abs(np.asarray(mean) - truth) / truth
    cover = (np.asarray(q05) <= truth) & (truth <= np.asarray(q95))
    return {"roi_abs_rel_error_median": float(np.median(err)), "roi_abs_rel_error": err.tolist(),
            "coverage90": float(cover.mean()), "covered": cover.tolist()}


PAD = dict(n_channels=6, n_controls=1, n_tests=0)   # one compiled program for 5- and 6-channel worlds


def ours_one(obs, truth, spec, key) -> dict:
    from estimators.model.batch import build_batch
    from estimators.inference.posterior import fit, summarise

    batch = build_batch([obs], None, spec, **PAD)
    t0 = time.perf_counter()
    post = fit(key, batch, spec)
    sec = time.perf_counter() - t0
    s = summarise(post)
    k = len(truth)
    d = post.diagnostics
    ess = np.asarray(d.ess_bulk_roi[0, :k])
    return {"sample_seconds": sec, **roi_scores(s.roi_mean[0, :k], s.roi_q05[0, :k], s.roi_q95[0, :k], truth),
            "roi_mean": s.roi_mean[0, :k].tolist(), "divergences": int(d.divergences[0]),
            "max_rhat": float(d.rhat_max[0]), "ess_bulk_roi_min": float(ess.min()),
            "ess_roi_per_second": float(ess.min() / sec), "mean_leapfrog_steps": float(d.mean_steps[0])}


def peer_one(python: str, folder: Path, out: Path, chains: int, warmup: int, draws: int, seed: int,
             max_lag: int, truth) -> dict:
    cmd = [python, str(ROOT / "benchmarks" / "pymc_mmm.py"), "--data", str(folder), "--out", str(out),
           "--chains", str(chains), "--tune", str(warmup), "--draws", str(draws), "--seed", str(seed),
           "--max-lag", str(max_lag)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"], "wall": wall}
    r = json.loads(out.read_text())
    names = r["channels"]
    roi = r["roi"]
    mean = [roi[c]["mean"] for c in names]
    sec = r["seconds"]
    sample = float(sec.get("sample_nuts") or sec["sample"])
    ess = float(r["diagnostics"]["ess_bulk_roi_min"])
    return {"process_wall_seconds": wall, "build_seconds": sec.get("build"), "compile_seconds": sec.get("compile"),
            "sample_seconds": sample, "fit_seconds": sec.get("fit"), "total_seconds": sec["total"],
            "sampler": r.get("sampler"), "compile_cache": r.get("compile_cache"),
            **roi_scores(mean, [roi[c]["q05"] for c in names], [roi[c]["q95"] for c in names], truth),
            "roi_mean": mean, "divergences": r["diagnostics"]["divergences"],
            "max_rhat": r["diagnostics"]["max_rhat"], "ess_bulk_roi_min": ess,
            "ess_roi_per_second": ess / sample, "versions": r.get("versions")}


def peer_part(a, key) -> dict:
    from estimators.model.batch import build_batch
    from estimators.inference.laplace import compile_only
    from estimators.inference.posterior import fit
    from estimators.model.spec import FitSpec, InferenceSpec

    python = a.peer_python
    if not python or not Path(python).exists():
        print(f"peer: no PyMC-Marketing environment at {python}; skipped (make bench creates it with Python 3.12)",
              flush=True)
        return {"skipped": f"no peer environment at {python}"}
    folder = Path(a.work) / "peer_data"
    folder.mkdir(parents=True, exist_ok=True)
    obs, truths, dirs = write_peer_datasets(a.peer_datasets, a.seed, folder)
    spec = FitSpec(inference=InferenceSpec(method="nuts", chains=a.chains, warmup=a.warmup, draws=a.draws))
    batch = build_batch([obs[0]], None, spec, **PAD)
    compile_s = compile_only(batch, spec)
    t0 = time.perf_counter()
    fit(jax.random.fold_in(key, 10**6), batch, spec)   # untimed: loads the compiled program into this process
    warm_s = time.perf_counter() - t0
    print(f"peer: harness compile {compile_s:.1f} s, first (untimed) call {warm_s:.1f} s", flush=True)
    rows = []
    for i, (o, t, d) in enumerate(zip(obs, truths, dirs)):
        order = ("ours", "peer") if i % 2 == 0 else ("peer", "ours")
        row = {"dataset_id": o.dataset_id, "order": list(order), "true_roi": t.tolist()}
        for side in order:
            if side == "ours":
                row["ours"] = ours_one(o, t, spec, jax.random.fold_in(key, i))
            else:
                row["peer"] = peer_one(python, d, Path(a.work) / f"peer_{i}.json", a.chains, a.warmup,
                                       a.draws, a.seed, spec.model.max_lag, t)
        ours, peer = row["ours"], row["peer"]
        if "error" not in peer:
            row["speedup_sampling"] = peer["sample_seconds"] / ours["sample_seconds"]
            row["speedup_end_to_end"] = peer["process_wall_seconds"] / ours["sample_seconds"]
        print(f"  {o.dataset_id}: ours {ours['sample_seconds']:.1f} s (ROI err {ours['roi_abs_rel_error_median']:.2f}, "
              f"cov {ours['coverage90']:.2f}) | peer "
              + (f"{peer['sample_seconds']:.1f} s sampling, {peer['process_wall_seconds']:.1f} s process "
                 f"(ROI err {peer['roi_abs_rel_error_median']:.2f}, cov {peer['coverage90']:.2f})"
                 if "error" not in peer else f"failed: {peer['error']}"), flush=True)
        rows.append(row)
    ok = [r for r in rows if "error" not in r["peer"]]
    med = lambda xs: float(np.median(xs)) if len(xs) else None
    pool = lambda side, f: [x for r in ok for x in r[side][f]]
    return {
        "settings": {"chains": a.chains, "warmup": a.warmup, "draws": a.draws, "datasets": len(rows)},
        "harness_compile_seconds": compile_s, "harness_first_call_seconds": warm_s,
        "rows": rows,
        "median": {
            "ours_sample_seconds": med([r["ours"]["sample_seconds"] for r in ok]),
            "peer_sample_seconds": med([r["peer"]["sample_seconds"] for r in ok]),
            "peer_compile_seconds": med([r["peer"]["compile_seconds"] or np.nan for r in ok]),
            "peer_process_seconds": med([r["peer"]["process_wall_seconds"] for r in ok]),
            "speedup_sampling": med([r["speedup_sampling"] for r in ok]),
            "speedup_end_to_end": med([r["speedup_end_to_end"] for r in ok]),
            "ours_roi_error": med(pool("ours", "roi_abs_rel_error")),
            "peer_roi_error": med(pool("peer", "roi_abs_rel_error")),
            "ours_coverage90": float(np.mean(pool("ours", "covered"))) if ok else None,
            "peer_coverage90": float(np.mean(pool("peer", "covered"))) if ok else None,
            "ours_ess_per_second": med([r["ours"]["ess_roi_per_second"] for r in ok]),
            "peer_ess_per_second": med([r["peer"]["ess_roi_per_second"] for r in ok]),
            "peer_divergences": med([r["peer"]["divergences"] for r in ok]),
            "peer_max_rhat": max([r["peer"]["max_rhat"] for r in ok], default=None),
            "ours_max_rhat": max([r["ours"]["max_rhat"] for r in ok], default=None),
        },
        "peer_peak_rss_mb": peak_mb(resource.RUSAGE_CHILDREN),
    }


# --- part 3: the profile -----------------------------------------------------------------------

def gradient_cost(obs, spec, lanes=(1, 4, 32), steps=200) -> dict:
    """Seconds per log-density gradient, timed as ``steps`` gradient steps inside one jitted scan."""
    from estimators import inference as inf
    from estimators.model.batch import build_batch

    batch = build_batch(obs[:1], None, spec, n_channels=6, n_tests=0)
    fk = inf._fns_for(batch, spec)
    fns = inf._FNS[fk]
    d0 = jax.tree.map(lambda x: jax.numpy.asarray(x[0]), batch.data)
    g = jax.grad(lambda u, d: inf._potential(u, d, fns, spec.model, spec.priors))
    u0 = inf._map_program(inf._map_key(spec), fk)(batch.data).u[0]
    out = {}
    for n in lanes:
        U = u0 + 0.01 * jax.random.normal(jax.random.key(0), (n, fns.dim), u0.dtype)
        D = jax.tree.map(lambda x: jax.numpy.broadcast_to(x, (n,) + x.shape), d0)

        @jax.jit
        def run(U, D):
            return jax.lax.scan(lambda u, _: (u - 1e-6 * jax.vmap(g)(u, D), None), U, None, length=steps)[0]

        run(U, D).block_until_ready()
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            run(U, D).block_until_ready()
            ts.append(time.perf_counter() - t0)
        out[str(n)] = float(np.median(ts)) / steps / n
    return {"dim": fns.dim, "seconds_per_gradient_per_lane": out}


def profile(peer: dict, grad: dict, nuts_rows: list, sweep_spec) -> dict:
    """Where NUTS time goes: gradients x cost (the floor) against the measured time."""
    inf = sweep_spec.inference
    res = {"gradient": grad}
    one = grad["seconds_per_gradient_per_lane"]["1"]
    r1 = next((r for r in nuts_rows if r["batch"] == 1), None)
    if r1:
        n_grad = inf.chains * (inf.warmup + inf.draws) * r1["mean_leapfrog_steps"]
        floor = n_grad * one
        res["sweep_batch1"] = {"gradients_per_model": n_grad, "floor_seconds": floor,
                               "measured_seconds": r1["seconds_median"],
                               "measured_over_floor": r1["seconds_median"] / floor}
    if peer and "rows" in peer:
        ok = [r for r in peer["rows"] if "ours" in r]
        st = peer["settings"]
        steps = float(np.median([r["ours"]["mean_leapfrog_steps"] for r in ok]))
        n_grad = st["chains"] * (st["warmup"] + st["draws"]) * steps
        meas = float(np.median([r["ours"]["sample_seconds"] for r in ok]))
        res["peer_setting"] = {"leapfrog_steps_per_draw": steps, "gradients_per_model": n_grad,
                               "floor_seconds": n_grad * one, "measured_seconds": meas,
                               "measured_over_floor": meas / (n_grad * one)}
    return res


# --- report ------------------------------------------------------------------------------------

def markdown(res: dict) -> str:
    m = res["machine"]
    L = [f"# Benchmark {res['date']} (git {res['git_revision'][:7]})", "",
         f"Machine: {m['cpus']} CPU cores ({m['cpu']}), {m['memory_gib']} GiB, {m['platform']}, "
         f"JAX on {m['jax_backend']}. Figures are medians. Command: `{res['command']}`.", ""]
    p = res["peer"]
    L.append("## 1. Side by side with PyMC-Marketing (same datasets, A/B alternated)")
    L.append("")
    if "skipped" in p:
        L.append(f"Skipped: {p['skipped']}.")
    else:
        s, md = p["settings"], p["median"]
        v = next((r["peer"].get("versions") for r in p["rows"] if "versions" in r["peer"]), {}) or {}
        L += [f"{s['datasets']} datasets, {s['chains']} chains x {s['warmup']} warm-up x {s['draws']} draws on both "
              f"sides. Peer: PyMC-Marketing {v.get('pymc_marketing', '?')} (PyMC {v.get('pymc', '?')}, "
              f"sampler {p['rows'][0]['peer'].get('sampler', '?')}), its default priors and sampler settings. "
              f"Harness: NUTS from the MAP, one dataset per call, compiled once ({p['harness_compile_seconds']:.0f} s).",
              "",
              "| | harness | PyMC-Marketing | ratio |", "|---|---:|---:|---:|",
              f"| sampling s/model | {md['ours_sample_seconds']:.1f} | {md['peer_sample_seconds']:.1f} | "
              f"{md['speedup_sampling']:.1f}x |",
              f"| end to end s/model (peer: whole process incl. its compile) | {md['ours_sample_seconds']:.1f} | "
              f"{md['peer_process_seconds']:.1f} | {md['speedup_end_to_end']:.1f}x |",
              f"| median abs. rel. ROI error | {md['ours_roi_error']:.3f} | {md['peer_roi_error']:.3f} | |",
              f"| 90% interval coverage of true ROI | {md['ours_coverage90']:.2f} | {md['peer_coverage90']:.2f} | |",
              f"| min ROI bulk ESS per sampling second | {md['ours_ess_per_second']:.0f} | "
              f"{md['peer_ess_per_second']:.0f} | |",
              f"| max r-hat (worst dataset) | {md['ours_max_rhat']:.3f} | {md['peer_max_rhat']:.3f} | |",
              f"| peer divergences (median per fit) | | {md['peer_divergences']:.0f} | |", ""]
    L.append("## 2. Harness throughput")
    L.append("")
    sw = res["sweep"]["settings"]
    L += [f"NUTS {sw['chains']} chains x {sw['warmup']} warm-up x {sw['draws']} draws (sweep setting; the study uses 4 x 500 x 500); "
          "compile excluded (reported apart).", "",
          "| batch | NUTS models/min | NUTS compile s | leapfrog/draw | fast models/min |", "|---:|---:|---:|---:|---:|"]
    fast = {r["batch"]: r for r in res["sweep"]["fast"]}
    nuts = {r["batch"]: r for r in res["sweep"]["nuts"]}
    for b in sorted(set(fast) | set(nuts)):
        r, f = nuts.get(b), fast.get(b, {})
        cells = (f"{r['models_per_minute']:.1f} | {r['compile_seconds']:.0f} | {r['mean_leapfrog_steps']:.1f}"
                 if r else "not run | | ")
        L.append(f"| {b} | {cells} | {f.get('models_per_minute', float('nan')):.0f} |")
    lp, g = res["sweep"]["numpyro_loop"], res["sweep"]["fast_vs_nuts"]
    best = max(r["models_per_minute"] for r in res["sweep"]["nuts"])
    L += ["", f"Plain numpyro `MCMC.run` loop, same setting: {lp['models_per_minute']:.2f} models/min; "
              f"best batched NUTS / loop = {best / lp['models_per_minute']:.1f}x.",
          f"Fast vs NUTS on {g['datasets']} datasets: {100 * g['share_within_half_sd']:.0f}% of channels have "
          f"ROI means within 0.5 NUTS sd (median gap {g['mean_gap_in_nuts_sd_median']:.2f} sd).",
          f"Peak RSS: harness {res['peak_rss_mb']:.0f} MB; peer processes {res['peer'].get('peer_peak_rss_mb', 0):.0f} MB.",
          ""]
    pr = res["profile"]
    L.append("## 3. Where the time goes")
    L.append("")
    gl = pr["gradient"]["seconds_per_gradient_per_lane"]
    L.append("Log-density gradient (" + f"{pr['gradient']['dim']} parameters): "
             + ", ".join(f"{1e6 * v:.0f} us per lane at {k} lane(s)" for k, v in gl.items()) + ".")
    for name, title in (("sweep_batch1", "sweep setting, batch 1"), ("peer_setting", "peer setting")):
        if name in pr:
            x = pr[name]
            L.append(f"- {title}: {x['gradients_per_model']:.0f} gradients per model -> floor "
                     f"{x['floor_seconds']:.2f} s; measured {x['measured_seconds']:.2f} s "
                     f"({x['measured_over_floor']:.2f}x the floor).")
    if res.get("study"):
        st = res["study"]
        L += ["", f"Reference study run ({st['source']}): {st['n_fits']} fits in {st['wall_minutes']:.1f} min wall."]
    return "\n".join(L) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    today = dt.date.today().isoformat()
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / today))
    ap.add_argument("--work", default=None, help="scratch folder (default: <out>/work)")
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-pymc" / "bin" / "python"))
    ap.add_argument("--peer-datasets", type=int, default=4)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--sizes", default="1,8,32,128", help="fast-path batch sizes")
    ap.add_argument("--nuts-sizes", default=None, help="NUTS batch sizes (default: --sizes)")
    ap.add_argument("--sweep-warmup", type=int, default=500)
    ap.add_argument("--sweep-draws", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--loop-models", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 1 peer dataset, 2 chains x 100 x 100, sizes 1,4, 1 repeat")
    a = ap.parse_args(argv)
    if a.quick:
        a.peer_datasets, a.chains, a.warmup, a.draws = 1, 2, 100, 100
        a.sizes, a.sweep_warmup, a.sweep_draws, a.repeats, a.loop_models = "1,4", 100, 100, 1, 2
        a.nuts_sizes = None
    a.work = a.work or str(Path(a.out) / "work")
    Path(a.work).mkdir(parents=True, exist_ok=True)
    enable_cache()
    from estimators.model.spec import FitSpec, InferenceSpec

    t_start = time.perf_counter()
    key = jax.random.key(a.seed)
    print("part 1: side by side with PyMC-Marketing", flush=True)
    peer = peer_part(a, key)
    sizes = [int(x) for x in a.sizes.split(",")]
    nuts_sizes = [int(x) for x in (a.nuts_sizes or a.sizes).split(",")]
    obs = datasets(max(sizes + nuts_sizes + [a.loop_models]), a.seed)
    sweep_spec = FitSpec(inference=InferenceSpec(method="nuts", chains=a.chains, warmup=a.sweep_warmup,
                                                 draws=a.sweep_draws))
    fast_spec = FitSpec(inference=InferenceSpec(method="fast"))
    print("part 2: harness sweep (fast path)", flush=True)
    fast_rows, fast_posts = bench_batched(obs, fast_spec, sizes, a.repeats, key)
    print("part 2: harness sweep (NUTS)", flush=True)
    nuts_rows, nuts_posts = bench_batched(obs, sweep_spec, nuts_sizes, a.repeats, key)
    print("part 2: plain numpyro loop", flush=True)
    loop = bench_loop(obs, sweep_spec, a.loop_models, key)
    big = max(set(sizes) & set(nuts_sizes))
    gap = gaps(nuts_posts[big], fast_posts[big])
    print("part 3: gradient cost", flush=True)
    grad = gradient_cost(obs, sweep_spec)
    study = None
    ref = ROOT / "results" / "reference" / "eqs_1241" / "manifest.json"
    if ref.exists():
        mf = json.loads(ref.read_text())
        if mf.get("wall_seconds_last_invocation"):
            study = {"source": "results/reference/eqs_1241/manifest.json", "n_fits": mf.get("n_fits"),
                     "wall_minutes": mf["wall_seconds_last_invocation"] / 60.0,
                     "git_revision": mf.get("git_revision")}
    res = {
        "date": dt.date.today().isoformat(), "command": "python benchmarks/bench.py " + " ".join(argv or sys.argv[1:]),
        "git_revision": git_revision(), "machine": machine(), "packages": package_versions(), "seed": a.seed,
        "peer": peer,
        "sweep": {"settings": {"chains": a.chains, "warmup": a.sweep_warmup, "draws": a.sweep_draws,
                               "sizes": sizes, "nuts_sizes": nuts_sizes, "repeats": a.repeats},
                  "fast": fast_rows, "nuts": nuts_rows, "numpyro_loop": loop, "fast_vs_nuts": gap},
        "profile": profile(peer, grad, nuts_rows, sweep_spec),
        "study": study,
        "peak_rss_mb": peak_mb(),
        "wall_seconds": time.perf_counter() - t_start,
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(res, indent=2, default=float))
    (out / "bench.md").write_text(markdown(res))
    print(markdown(res))
    print(f"wrote {out / 'bench.json'} and {out / 'bench.md'}", flush=True)
    return res


if __name__ == "__main__":
    main()
