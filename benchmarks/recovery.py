"""Parameter recovery on well-specified simulated worlds (the truth is read here, outside estimators/).

    python benchmarks/recovery.py [--n 20] [--out results/bench]

``n`` datasets alternate ``fashion`` / ``home_goods`` with no confounding,
collinearity, unobserved driver or misspecification, 156 weeks, all weeks
fitted. One batched NUTS fit (the project's default NUTS: from the MAP, sampled to
the quality bar) and one fast-path fit. Reports, per method, the median absolute relative ROI
error of the posterior mean and the share of channels whose 90% interval
(5%-95% quantiles) holds the true ROI. Writes ``<out>/recovery.json``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def simulate_worlds(n: int, seed: int):
    import yaml

    from estimators.model.data import observed_from_dataset
    from simulate.config import world_spec
    from simulate.core import simulate

    obs, roi, names = [], [], []
    per = {}
    for j, name in enumerate(("fashion", "home_goods")):
        spec = world_spec(yaml.safe_load((ROOT / f"conf/world/{name}.yaml").read_text()))
        spec = dataclasses.replace(spec, confounding=0.0, collinearity=0.0, misspecification=0.0,
                                   unobserved_driver=0.0)
        m = (n + 1 - j) // 2
        per[name] = simulate(jax.random.key(1000 + seed + j), spec, n_datasets=max(m, 1))
    for i in range(n):
        ds, tr = per["fashion" if i % 2 == 0 else "home_goods"]
        obs.append(observed_from_dataset(ds, i // 2, holdout=False))
        roi.append(np.asarray(tr.roi[i // 2]))
        names.append(obs[-1].channel_names)
    return obs, roi, names


def score(post, roi):
    from estimators.inference.posterior import summarise

    s = summarise(post)
    err, cover, width = [], [], []
    for i, r in enumerate(roi):
        k = len(r)
        err += list(np.abs(s.roi_mean[i, :k] - r) / r)
        cover += list((s.roi_q05[i, :k] <= r) & (r <= s.roi_q95[i, :k]))
        width += list((s.roi_q95[i, :k] - s.roi_q05[i, :k]) / r)
    d = post.diagnostics
    return {"channels": len(err), "median_abs_rel_error": float(np.median(err)),
            "mean_abs_rel_error": float(np.mean(err)), "coverage90": float(np.mean(cover)),
            "median_rel_interval_width": float(np.median(width)),
            "divergences_total": int(np.sum(d.divergences)),
            "share_quality_ok": float(np.mean(d.quality_ok)) if post.method == "nuts" else None,
            "draws_per_chain_median": float(np.median(d.n_draws)),
            "rhat_max": float(np.nanmax(d.rhat_max)) if np.isfinite(d.rhat_max).any() else None,
            "ess_bulk_min": float(np.nanmin(d.ess_bulk_min)) if np.isfinite(d.ess_bulk_min).any() else None,
            "seconds": float(np.sum(d.seconds))}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=None, help="default: the project's NUTS setting")
    ap.add_argument("--draws", type=int, default=None, help="cap on draws per chain (default: the project's)")
    ap.add_argument("--priors", default=None, help="a conf/priors preset (default: the project's default)")
    ap.add_argument("--readapt-after", type=int, default=None, help="default: the project's NUTS setting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench"))
    a = ap.parse_args(argv)
    from harness.jaxcache import enable_cache

    enable_cache()
    from coverage_wide import prior_set
    from estimators.model.batch import build_batch
    from estimators.inference.posterior import fit
    from estimators.model.spec import FitSpec, InferenceSpec

    obs, roi, _ = simulate_worlds(a.n, a.seed)
    res = {"n_datasets": a.n, "settings": vars(a)}
    for method in ("fast", "nuts"):
        inf = dict(method=method, chains=a.chains)
        opts = (("warmup", a.warmup), ("draws", a.draws)) + (
            (("readapt_after", a.readapt_after),) if method == "nuts" else ())
        inf.update({k: v for k, v in opts if v is not None})
        priors = {} if a.priors is None else {"priors": prior_set(a.priors)}
        spec = FitSpec(inference=InferenceSpec(**inf), **priors).validate()
        batch = build_batch(obs, None, spec, n_channels=6, n_tests=0)
        t0 = time.perf_counter()
        post = fit(jax.random.key(a.seed), batch, spec)
        res[method] = score(post, roi)
        res[method]["wall_seconds_incl_compile"] = time.perf_counter() - t0
        print(method, json.dumps(res[method]), flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recovery.json").write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
