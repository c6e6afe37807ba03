"""``make bench``: this harness against PyMC-Marketing, the harness's own throughput, and the study targets.

    python benchmarks/bench.py [--quick] [--out results/bench/<date>] [--studies all|quick|none]

Four parts, one run, one machine (medians throughout):

1. **Peer, A/B, time to the quality bar.** ``--peer-datasets`` well-specified simulated datasets
   (fashion / home_goods alternating, 156 weeks, every week fitted), written as ``python -m
   simulate`` folders and fitted by both sides in alternating order so machine drift cancels.
   Ours: NUTS from the MAP sampled until every channel's ROI has rank-normalised R-hat <= 1.01 and
   bulk ESS >= 400 (the default ``inference=nuts``); compilation is counted once per shape, as a
   study counts it: a model's time is its fit plus its share of the compilations of the study
   (``--study-workers`` compiles, one per worker, over ``--study-models`` fits: the eqs_1241
   study). The same figure with the compilation spread over the bench's own few datasets is
   reported beside it. Peer: ``benchmarks/pymc_mmm.py`` (PyMC-Marketing's ``MMM`` with its defaults, its
   default sampler, 4 x 1,000 + 1,000) in its own environment; its ROI R-hat and ESS are read
   from its draws. When its full default run does not reach the bar, its time is that full run
   (model build, compile and sampling; interpreter start-up and imports excluded) and the report
   says so. The key figure is ``peer.median.speedup_time_to_quality``.
2. **Harness throughput.** Models per minute of the fast path by batch size and of NUTS to the
   bar (compile excluded, reported apart); the share of NUTS fits that meet the bar.
3. **Profile.** Seconds per log-density gradient (per lane at 1 and 4 lanes) and leapfrog steps
   per draw, so that the measured NUTS time can be set against its floor ``gradients x cost``.
4. **Study targets** (``--studies``), each in a fresh process with a cold compilation cache:
   ``python -m experiments.study`` (the quick study ``make study`` runs),
   ``study=eqs_1241 inference=fast`` and ``study=eqs_1241`` (NUTS at the bar): wall seconds,
   share of fits at the bar, peak resident memory of the whole process tree.

Writes ``<out>/bench.json`` and ``<out>/bench.md``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAD = dict(n_channels=6, n_controls=1, n_tests=0)   # one compiled program for 5- and 6-channel worlds


def machine() -> dict:
    import jax

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


class TreeRSS:
    """Peak resident memory of a process and all its descendants, sampled every 0.2 s from /proc."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree(pid: int) -> list:
        out, todo = [], [pid]
        while todo:
            p = todo.pop()
            out.append(p)
            try:
                for task in os.listdir(f"/proc/{p}/task"):
                    todo += [int(c) for c in Path(f"/proc/{p}/task/{task}/children").read_text().split()]
            except OSError:
                pass
        return out

    def _run(self):
        while not self._stop.is_set():
            total = 0
            for p in self._tree(self.pid):
                try:
                    for line in Path(f"/proc/{p}/status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                except OSError:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.2)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def self_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --- data ---------------------------------------------------------------------------------------

def datasets(n: int, seed: int, folder: Path | None = None):
    """``n`` well-specified datasets alternating fashion / home_goods; optionally written as simulate folders.

    Returns ``(observed, true ROI, folders)``.
    """
    import jax
    import yaml

    from estimators.model.data import observed_from_dataset
    from simulate.config import world_spec
    from simulate.core import simulate
    from simulate.io import write_dataset

    per = {}
    for j, name in enumerate(("fashion", "home_goods")):
        m = (n + 1 - j) // 2
        if m == 0:
            continue
        spec = world_spec(yaml.safe_load((ROOT / f"conf/world/{name}.yaml").read_text()))
        spec = dataclasses.replace(spec, confounding=0.0, collinearity=0.0, misspecification=0.0,
                                   unobserved_driver=0.0)
        per[name] = simulate(jax.random.key(seed + 100 + j), spec, n_datasets=m)
    obs, roi, dirs = [], [], []
    for i in range(n):
        ds, tr = per["fashion" if i % 2 == 0 else "home_goods"]
        k = i // 2
        obs.append(observed_from_dataset(ds, k, holdout=False))
        roi.append(np.asarray(tr.roi[k]))
        dirs.append(write_dataset(folder, ds, tr, k, [], []) if folder is not None else None)
    return obs, roi, dirs


def roi_scores(mean, q05, q95, truth) -> dict:
    err = np.abs(np.asarray(mean) - truth) / truth
    cover = (np.asarray(q05) <= truth) & (truth <= np.asarray(q95))
    return {"roi_abs_rel_error_median": float(np.median(err)), "roi_abs_rel_error": err.tolist(),
            "coverage90": float(cover.mean()), "covered": cover.tolist()}


# --- part 1: the peer ---------------------------------------------------------------------------

def ours_one(obs, truth, spec, key) -> dict:
    from estimators.inference.posterior import fit, summarise
    from estimators.model.batch import build_batch

    batch = build_batch([obs], None, spec, **PAD)
    t0 = time.perf_counter()
    post = fit(key, batch, spec)
    sec = time.perf_counter() - t0
    s, d, k = summarise(post), post.diagnostics, len(truth)
    return {"fit_seconds": sec, **roi_scores(s.roi_mean[0, :k], s.roi_q05[0, :k], s.roi_q95[0, :k], truth),
            "quality_ok": bool(d.quality_ok[0]), "draws_per_chain": int(d.n_draws[0]),
            "rhat_roi_max": float(np.nanmax(d.rhat_roi[0, :k])), "ess_bulk_roi_min": float(np.nanmin(d.ess_bulk_roi[0, :k])),
            "divergences": int(d.divergences[0]), "mean_leapfrog_steps": float(d.mean_steps[0])}


def peer_one(python: str, folder: Path, out: Path, a, max_lag: int, truth, bar) -> dict:
    cmd = [python, str(ROOT / "benchmarks" / "pymc_mmm.py"), "--data", str(folder), "--out", str(out),
           "--chains", str(a.chains), "--tune", str(a.peer_warmup), "--draws", str(a.peer_draws),
           "--seed", str(a.seed), "--max-lag", str(max_lag)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["failed"], "wall": wall}
    r = json.loads(out.read_text())
    names, roi, sec, dg = r["channels"], r["roi"], r["seconds"], r["diagnostics"]
    rhat = max(roi[c]["rhat"] for c in names)
    ess = min(roi[c]["ess_bulk"] for c in names)
    model_seconds = float(sec["build_model_only"]) + float(sec["fit"])
    return {"process_wall_seconds": wall, "model_seconds": model_seconds, "compile_seconds": sec.get("compile"),
            "sample_seconds": float(sec.get("sample_nuts") or sec["sample"]), "sampler": r.get("sampler"),
            **roi_scores([roi[c]["mean"] for c in names], [roi[c]["q05"] for c in names],
                         [roi[c]["q95"] for c in names], truth),
            "quality_ok": bool(rhat <= bar[0] and ess >= bar[1]), "rhat_roi_max": rhat, "ess_bulk_roi_min": ess,
            "divergences": dg["divergences"], "versions": r.get("versions"),
            "compile_cache_warm": (r.get("compile_cache") or {}).get("warm")}


def peer_part(a, key) -> dict:
    import jax

    from estimators.inference.posterior import fit
    from estimators.model.batch import build_batch
    from estimators.model.spec import FitSpec, InferenceSpec

    python = a.peer_python
    if not python or not Path(python).exists():
        print(f"peer: no PyMC-Marketing environment at {python}; skipped (make bench creates it)", flush=True)
        return {"skipped": f"no peer environment at {python}"}
    folder = Path(a.work) / "peer_data"
    folder.mkdir(parents=True, exist_ok=True)
    obs, truths, dirs = datasets(a.peer_datasets, a.seed, folder)
    spec = FitSpec(inference=InferenceSpec(method="nuts", chains=a.chains)).validate()
    bar = spec.inference.bar
    t0 = time.perf_counter()
    fit(jax.random.fold_in(key, 0), build_batch([obs[0]], None, spec, **PAD), spec)    # compiles (cold cache)
    first = time.perf_counter() - t0
    rows = []
    for i, (o, t, d) in enumerate(zip(obs, truths, dirs)):
        order = ("ours", "peer") if i % 2 == 0 else ("peer", "ours")
        row = {"dataset_id": o.dataset_id, "order": list(order), "true_roi": t.tolist()}
        for side in order:
            if side == "ours":
                row["ours"] = ours_one(o, t, spec, jax.random.fold_in(key, i))
            else:
                row["peer"] = peer_one(python, d, Path(a.work) / f"peer_{i}.json", a, spec.model.max_lag, t, bar)
        rows.append(row)
        ours, peer = row["ours"], row["peer"]
        print(f"  {o.dataset_id}: ours {ours['fit_seconds']:.2f} s (bar {'met' if ours['quality_ok'] else 'missed'}, "
              f"{ours['draws_per_chain']} draws/chain) | peer " + (
                  f"{peer['model_seconds']:.1f} s (bar {'met' if peer['quality_ok'] else 'missed'}: R-hat "
                  f"{peer['rhat_roi_max']:.3f}, ESS {peer['ess_bulk_roi_min']:.0f})" if "error" not in peer
                  else f"failed: {peer['error']}"), flush=True)
    # Compile counted once per shape: the first call's extra time over the same fit timed later.
    compile_s = max(0.0, first - rows[0]["ours"]["fit_seconds"])
    n = len(rows)
    per_study_fit = compile_s * a.study_workers / a.study_models
    for r in rows:
        o = r["ours"]
        o["time_to_quality_seconds"] = o["fit_seconds"] + per_study_fit
        o["time_to_quality_bench_seconds"] = o["fit_seconds"] + compile_s / n
        if "error" not in r["peer"]:
            r["speedup_time_to_quality"] = r["peer"]["model_seconds"] / o["time_to_quality_seconds"]
            r["speedup_time_to_quality_bench"] = r["peer"]["model_seconds"] / o["time_to_quality_bench_seconds"]
            r["speedup_steady_state"] = r["peer"]["model_seconds"] / o["fit_seconds"]
    ok = [r for r in rows if "error" not in r["peer"]]
    med = lambda xs: float(np.median(xs)) if len(xs) else None
    pool = lambda side, f: [x for r in ok for x in r[side][f]]
    return {
        "settings": {"chains": a.chains, "datasets": n, "peer_warmup": a.peer_warmup, "peer_draws": a.peer_draws,
                     "study_models": a.study_models, "study_workers": a.study_workers,
                     "quality_bar": {"rhat_max": bar[0], "ess_bulk_min": bar[1]}},
        "harness_compile_seconds": compile_s, "rows": rows,
        "peer_reaches_bar": [r["peer"]["quality_ok"] for r in ok],
        "median": {
            "speedup_time_to_quality": med([r["speedup_time_to_quality"] for r in ok]),
            "speedup_time_to_quality_bench": med([r["speedup_time_to_quality_bench"] for r in ok]),
            "speedup_steady_state": med([r["speedup_steady_state"] for r in ok]),
            "ours_time_to_quality_seconds": med([r["ours"]["time_to_quality_seconds"] for r in rows]),
            "ours_time_to_quality_bench_seconds": med([r["ours"]["time_to_quality_bench_seconds"] for r in rows]),
            "ours_fit_seconds": med([r["ours"]["fit_seconds"] for r in rows]),
            "peer_model_seconds": med([r["peer"]["model_seconds"] for r in ok]),
            "peer_sample_seconds": med([r["peer"]["sample_seconds"] for r in ok]),
            "peer_process_seconds": med([r["peer"]["process_wall_seconds"] for r in ok]),
            "ours_roi_error": med(pool("ours", "roi_abs_rel_error")) if ok else None,
            "peer_roi_error": med(pool("peer", "roi_abs_rel_error")) if ok else None,
            "ours_coverage90": float(np.mean(pool("ours", "covered"))) if ok else None,
            "peer_coverage90": float(np.mean(pool("peer", "covered"))) if ok else None,
            "ours_rhat_roi_max": max(r["ours"]["rhat_roi_max"] for r in rows),
            "peer_rhat_roi_max": max((r["peer"]["rhat_roi_max"] for r in ok), default=None),
            "ours_ess_bulk_roi_min": min(r["ours"]["ess_bulk_roi_min"] for r in rows),
            "peer_ess_bulk_roi_min": min((r["peer"]["ess_bulk_roi_min"] for r in ok), default=None),
        },
    }


# --- part 2 and 3: throughput and profile -------------------------------------------------------

def throughput(a, key) -> dict:
    import jax

    from estimators.inference.posterior import fit, summarise
    from estimators.model.batch import build_batch
    from estimators.model.spec import FitSpec, InferenceSpec

    sizes = [int(x) for x in a.sizes.split(",")]
    obs, truths, _ = datasets(max(sizes + [a.nuts_datasets]), a.seed + 7)
    out = {"fast": [], "nuts": None}
    fast = FitSpec(inference=InferenceSpec(method="fast")).validate()
    for b in sizes:
        batch = build_batch(obs[:b], None, fast, **PAD)
        t0 = time.perf_counter()
        fit(key, batch, fast)
        first = time.perf_counter() - t0
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            fit(key, batch, fast)
            times.append(time.perf_counter() - t0)
        med = float(np.median(times))
        out["fast"].append({"batch": b, "seconds_median": med, "first_call_seconds": first,
                            "models_per_minute": 60.0 * b / med})
        print(f"  fast B={b:4d}: {60 * b / med:8.0f} models/min", flush=True)
    nuts = FitSpec(inference=InferenceSpec(method="nuts", chains=a.chains)).validate()
    batch = build_batch(obs[:a.nuts_datasets], None, nuts, **PAD)
    fit(key, build_batch(obs[:1], None, nuts, **PAD), nuts)               # compile
    t0 = time.perf_counter()
    post = fit(key, batch, nuts)
    sec = time.perf_counter() - t0
    d = post.diagnostics
    s_fast = summarise(fit(key, build_batch(obs[:a.nuts_datasets], None, fast, **PAD), fast))
    s_nuts = summarise(post)
    z = np.abs(s_fast.roi_mean - s_nuts.roi_mean) / s_nuts.roi_sd
    z = z[np.isfinite(z)]
    out["nuts"] = {"datasets": a.nuts_datasets, "seconds": sec, "models_per_minute": 60.0 * a.nuts_datasets / sec,
                   "fit_seconds_median": float(np.median(d.seconds)), "share_quality_ok": float(np.mean(d.quality_ok)),
                   "draws_per_chain_median": float(np.median(d.n_draws)),
                   "mean_leapfrog_steps_median": float(np.median(d.mean_steps)),
                   "divergences_total": int(d.divergences.sum())}
    out["fast_vs_nuts"] = {"share_within_half_sd": float(np.mean(z <= 0.5)), "gap_in_nuts_sd_median": float(np.median(z))}
    print(f"  NUTS to the bar: {out['nuts']['models_per_minute']:.1f} models/min, "
          f"{100 * out['nuts']['share_quality_ok']:.0f}% at the bar", flush=True)
    out["profile"] = profile(obs, nuts, post, key)
    return out


def gradient_cost(obs, spec, repeats: int = 5) -> tuple[int, dict]:
    """``(parameters, {lanes: seconds per log-density gradient per lane})`` on ``obs[0]``, at 1 and
    4 lanes: a jitted scan of 200 gradient steps, the median of ``repeats`` timed runs."""
    import jax
    import jax.numpy as jnp

    from estimators.inference import laplace as L
    from estimators.model.batch import build_batch

    batch = build_batch(obs[:1], None, spec, **PAD)
    fk = L.fns_for(batch, spec)
    fns = L.model_fns_of(fk)
    d0 = jax.tree.map(lambda x: jnp.asarray(x[0]), batch.data)
    g = jax.grad(lambda u, d: L.potential(u, d, fns, spec.model, spec.priors))
    u0 = jnp.asarray(L.laplace_batch(batch, spec, fk).u[0])
    cost = {}
    for n in (1, 4):
        U = u0 + 0.01 * jax.random.normal(jax.random.key(0), (n, fns.dim), u0.dtype)
        D = jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), d0)
        run = jax.jit(lambda U, D: jax.lax.scan(lambda u, _: (u - 1e-6 * jax.vmap(g)(u, D), None), U, None,
                                                 length=200)[0])
        run(U, D).block_until_ready()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(U, D).block_until_ready()
            ts.append(time.perf_counter() - t0)
        cost[str(n)] = float(np.median(ts)) / 200 / n
    return fns.dim, cost


def profile(obs, spec, post, key) -> dict:
    """Gradient cost per lane, and the floor gradients x cost of the NUTS fits just timed."""
    from estimators.inference.nuts import warmup_iterations

    dim, cost = gradient_cost(obs, spec)
    d = post.diagnostics
    iters = spec.inference.chains * (warmup_iterations(spec) + d.n_draws)             # per dataset
    grads = iters * d.mean_steps
    floor = grads * cost["4"]
    sampling = d.seconds - d.map_seconds
    return {"dim": dim, "seconds_per_gradient_per_lane": cost,
            "gradients_per_model_median": float(np.median(grads)), "floor_seconds_median": float(np.median(floor)),
            "sampling_seconds_median": float(np.median(sampling)),
            "measured_over_floor_median": float(np.median(sampling / floor)),
            "map_seconds_median": float(np.median(d.map_seconds))}


# --- part 4: the study targets ------------------------------------------------------------------

STUDIES = {
    "quick": ["-m", "experiments.study"],
    "eqs_1241_fast": ["-m", "experiments.study", "study=eqs_1241", "inference=fast"],
    "eqs_1241_nuts": ["-m", "experiments.study", "study=eqs_1241"],
}


def study_part(a) -> dict:
    import pandas as pd

    which = {"none": [], "quick": ["quick"], "fast": ["quick", "eqs_1241_fast"],
             "all": ["quick", "eqs_1241_fast", "eqs_1241_nuts"]}[a.studies]
    out = {}
    for name in which:
        cache = tempfile.mkdtemp(prefix="mmm-bench-cache-")
        run_dir = Path(a.work) / f"study_{name}"
        shutil.rmtree(run_dir, ignore_errors=True)
        cmd = [sys.executable] + STUDIES[name] + [f"out={run_dir}"]
        env = {**os.environ, "MMM_JAX_CACHE": cache}
        print(f"  {' '.join(cmd[1:])} (cold compilation cache)", flush=True)
        t0 = time.perf_counter()
        with open(Path(a.work) / f"study_{name}.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            with TreeRSS(proc.pid) as mem:
                rc = proc.wait()
        wall = time.perf_counter() - t0
        shutil.rmtree(cache, ignore_errors=True)
        row = {"command": " ".join(["python"] + STUDIES[name]), "returncode": rc, "wall_seconds": wall,
               "peak_tree_rss_mb": mem.peak / 2**20}
        if rc == 0:
            m = json.loads((run_dir / "manifest.json").read_text())
            fits = pd.read_parquet(run_dir / "fits.parquet")
            nuts = fits["inference"] == "nuts"
            row.update({"manifest_wall_seconds": m.get("wall_seconds"), "n_fits": int(len(fits)),
                        "share_quality_ok": float(fits.loc[nuts, "quality_ok"].mean()) if nuts.any() else None,
                        "fit_seconds_median": float(fits["fit_seconds"].median())})
        out[name] = row
        print(f"    {wall:.0f} s wall, peak {row['peak_tree_rss_mb']:.0f} MB, rc {rc}", flush=True)
    return out


# --- report -------------------------------------------------------------------------------------

def markdown(res: dict) -> str:
    m = res["machine"]
    L = [f"# Benchmark {res['date']} (git {res['git_revision'][:7]})", "",
         f"Machine: {m['cpus']} CPU cores ({m['cpu']}), {m['memory_gib']} GiB, {m['platform']}, "
         f"JAX on {m['jax_backend']}. Figures are medians. Command: `{res['command']}`.", ""]
    p = res["peer"]
    L += ["## 1. Time to the quality bar, side by side with PyMC-Marketing (A/B alternated)", ""]
    if "skipped" in p:
        L.append(f"Skipped: {p['skipped']}.")
    else:
        s, md = p["settings"], p["median"]
        v = next((r["peer"].get("versions") for r in p["rows"] if "versions" in r["peer"]), {}) or {}
        reach = p["peer_reaches_bar"]
        L += [f"{s['datasets']} datasets. Bar: every channel's ROI R-hat <= {s['quality_bar']['rhat_max']} and bulk "
              f"ESS >= {s['quality_bar']['ess_bulk_min']:.0f}. Ours: NUTS from the MAP to the bar; its compile "
              f"({p['harness_compile_seconds']:.1f} s, cold cache) is counted once per worker of a "
              f"{s['study_models']}-fit study ({s['study_workers']} workers), and, beside it, once over the "
              f"{s['datasets']} bench datasets. "
              f"Peer: PyMC-Marketing {v.get('pymc_marketing', '?')} (PyMC {v.get('pymc', '?')}, "
              f"{p['rows'][0]['peer'].get('sampler', '?')}), its defaults, {s['chains']} x {s['peer_warmup']} + "
              f"{s['peer_draws']}; it reached the bar in {sum(reach)} of {len(reach)} runs"
              + ("" if all(reach) else ", so its time is its full default run (build, compile, sampling)") + ".", "",
              "| | harness | PyMC-Marketing | ratio |", "|---|---:|---:|---:|",
              f"| time to the bar, s/model (compile shared as in the {s['study_models']}-fit study) | "
              f"{md['ours_time_to_quality_seconds']:.2f} | {md['peer_model_seconds']:.1f} | "
              f"**{md['speedup_time_to_quality']:.0f}x** |",
              f"| time to the bar, s/model (compile shared over these {s['datasets']} datasets only) | "
              f"{md['ours_time_to_quality_bench_seconds']:.2f} | {md['peer_model_seconds']:.1f} | "
              f"{md['speedup_time_to_quality_bench']:.0f}x |",
              f"| fit alone (compile excluded), s/model | {md['ours_fit_seconds']:.2f} | | "
              f"{md['speedup_steady_state']:.0f}x |",
              f"| worst ROI R-hat / smallest ROI ESS | {md['ours_rhat_roi_max']:.3f} / {md['ours_ess_bulk_roi_min']:.0f} | "
              f"{md['peer_rhat_roi_max']:.3f} / {md['peer_ess_bulk_roi_min']:.0f} | |",
              f"| median abs. rel. ROI error | {md['ours_roi_error']:.3f} | {md['peer_roi_error']:.3f} | |",
              f"| 90% interval coverage of the true ROI | {md['ours_coverage90']:.2f} | {md['peer_coverage90']:.2f} | |", ""]
    t = res.get("throughput")
    if t:
        L += ["## 2. Harness throughput (compile excluded)", "", "| batch | fast path models/min |", "|---:|---:|"]
        L += [f"| {r['batch']} | {r['models_per_minute']:.0f} |" for r in t["fast"]]
        n = t["nuts"]
        L += ["", f"NUTS to the bar on {n['datasets']} datasets: {n['models_per_minute']:.1f} models/min "
                  f"({n['fit_seconds_median']:.2f} s/model), {100 * n['share_quality_ok']:.0f}% at the bar, "
                  f"{n['draws_per_chain_median']:.0f} draws per chain, {n['mean_leapfrog_steps_median']:.1f} leapfrog "
                  f"steps per draw. Fast vs NUTS: {100 * t['fast_vs_nuts']['share_within_half_sd']:.0f}% of channels "
                  f"within 0.5 NUTS sd (median gap {t['fast_vs_nuts']['gap_in_nuts_sd_median']:.2f} sd).", ""]
        pr = t["profile"]
        gl = pr["seconds_per_gradient_per_lane"]
        L += ["## 3. Where the time goes", "",
              f"Log-density gradient ({pr['dim']} parameters): {1e6 * gl['1']:.0f} us at 1 lane, {1e6 * gl['4']:.0f} us "
              f"per lane at 4 lanes. A NUTS fit needs {pr['gradients_per_model_median']:.0f} gradients (median), a floor "
              f"of {pr['floor_seconds_median']:.2f} s at the 4-lane cost; sampling took {pr['sampling_seconds_median']:.2f} s "
              f"({pr['measured_over_floor_median']:.1f}x the floor); the MAP + Laplace {pr['map_seconds_median']:.3f} s.", ""]
    st = res.get("studies") or {}
    if st:
        L += ["## 4. Study targets (fresh process, cold compilation cache)", "",
              "| command | wall | fits | at the bar | peak memory (process tree) |", "|---|---:|---:|---:|---:|"]
        for name, r in st.items():
            if name.startswith("_"):
                continue
            q = "" if r.get("share_quality_ok") is None else f"{100 * r['share_quality_ok']:.1f}%"
            L.append(f"| `{r['command']}` | {r['wall_seconds'] / 60:.1f} min | {r.get('n_fits', '')} | {q} | "
                     f"{r['peak_tree_rss_mb'] / 1024:.2f} GiB |")
        if "_from" in st:
            L += ["", f"(Part 4 from `{st['_from']['file']}`, produced by `{st['_from']['command']}` at "
                      f"{str(st['_from']['git_revision'])[:7]}.)"]
    return "\n".join(L) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    today = dt.date.today().isoformat()
    ap.add_argument("--out", default=str(ROOT / "results" / "bench" / today))
    ap.add_argument("--work", default=None, help="scratch folder (default: <out>/work)")
    ap.add_argument("--peer-python", default=str(ROOT / ".venv-pymc" / "bin" / "python"))
    ap.add_argument("--peer-datasets", type=int, default=4)
    ap.add_argument("--peer-warmup", type=int, default=1000)
    ap.add_argument("--peer-draws", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--sizes", default="1,8,32,128", help="fast-path batch sizes")
    ap.add_argument("--nuts-datasets", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--studies", default="all", choices=("none", "quick", "fast", "all"))
    ap.add_argument("--studies-from", default=None,
                    help="take part 4 from an earlier bench.json instead of running it (its command is kept)")
    ap.add_argument("--parts-from", default=None,
                    help="take parts 1-3 from an earlier bench.json and run part 4 only (its command is kept)")
    ap.add_argument("--study-models", type=int, default=1241, help="fits of the study a compile is shared by")
    ap.add_argument("--study-workers", type=int, default=2, help="worker processes (compiles) of that study")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibrate", default="run", choices=("run", "none"),
                    help="part 5: python -m estimators.calibrate end to end (benchmarks/bench_calibrate.py)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 1 peer dataset at 2 x 200 + 200, sizes 1,8")
    a = ap.parse_args(argv)
    if a.quick:
        a.peer_datasets, a.peer_warmup, a.peer_draws, a.sizes, a.nuts_datasets, a.repeats = 1, 200, 200, "1,8", 2, 1
        a.studies = "none" if a.studies == "all" else a.studies
    a.work = a.work or str(Path(a.out) / "work")
    Path(a.work).mkdir(parents=True, exist_ok=True)
    # A cold compilation cache for this process too, so the compile time counted is a real one.
    cache = tempfile.mkdtemp(prefix="mmm-bench-cache-")
    os.environ["MMM_JAX_CACHE"] = cache
    import jax

    from harness.jaxcache import enable_cache
    from harness.manifest import git_revision, package_versions

    enable_cache()
    t_start = time.perf_counter()
    key = jax.random.key(a.seed)
    if a.parts_from:
        earlier = json.loads(Path(a.parts_from).read_text())
        peer, thr = earlier["peer"], earlier["throughput"]
        peer["_from"] = {"file": a.parts_from, "command": earlier.get("command"),
                         "git_revision": earlier.get("git_revision")}
    else:
        print("part 1: time to the quality bar, side by side with PyMC-Marketing", flush=True)
        peer = peer_part(a, key)
        print("part 2-3: harness throughput and profile", flush=True)
        thr = throughput(a, key)
    print("part 4: study targets", flush=True)
    if a.studies_from:
        earlier = json.loads(Path(a.studies_from).read_text())
        studies = {**earlier["studies"], "_from": {"file": a.studies_from, "command": earlier.get("command"),
                                                   "git_revision": earlier.get("git_revision")}}
    else:
        studies = study_part(a)
    shutil.rmtree(cache, ignore_errors=True)
    calibrate = None
    if a.calibrate == "run":
        print("part 5: estimators.calibrate end to end (cold and warm cache)", flush=True)
        import bench_calibrate
        calibrate = bench_calibrate.part(Path(a.work) / "calibrate", a.seed)
    res = {"date": today, "command": "python benchmarks/bench.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "git_revision": git_revision(), "machine": machine(), "packages": package_versions(), "seed": a.seed,
           "peer": peer, "throughput": thr, "studies": studies, "calibrate": calibrate, "peak_rss_mb": self_peak_mb(),
           "wall_seconds": time.perf_counter() - t_start}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(res, indent=2, default=float))
    md = markdown(res)
    if calibrate is not None:
        import bench_calibrate
        md += "\n\n## Part 5: estimators.calibrate (3 years weekly, 7 channels, 10 tests)\n\n" + bench_calibrate.markdown(calibrate) + "\n"
    (out / "bench.md").write_text(md)
    print(markdown(res))
    print(f"wrote {out / 'bench.json'} and {out / 'bench.md'}", flush=True)
    return res


if __name__ == "__main__":
    main()
