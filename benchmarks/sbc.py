"""Simulation-based calibration (Talts et al. 2018) of the NUTS fit.

    python benchmarks/sbc.py [--reps 100] [--out results/bench]

Each replicate draws parameters from the estimator's own prior, simulates a KPI
series from its likelihood on a fixed synthetic spend design (3 channels, 104
weeks), and fits it with batched NUTS (all replicates in one compiled call, the
KPI scale fixed to the design's so the prior is exactly the one fitted). The
rank of each true parameter among ``L`` thinned posterior draws should be
uniform on ``0..L``; we test ROI, adstock retention, half-saturation, slope
(per channel), noise sd and the AR(1) coefficient with a chi-square test on
``bins`` equal bins, Bonferroni over parameters. Writes ``<out>/sbc.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PARAMS = ("roi", "alpha", "half_saturation", "slope", "sigma", "rho")


def run(reps: int = 100, chains: int = 4, warmup: int | None = None, draws: int | None = None, thin_to: int = 99,
        readapt_after: int | None = None,
        bins: int = 10, seed: int = 0, n_weeks: int = 104, n_channels: int = 3, alpha: float = 0.01):
    from estimators.model.batch import build_batch
    from estimators.inference.posterior import fit
    from estimators.model.prior_predictive import prior_datasets, spend_template
    from estimators.model.spec import FitSpec, InferenceSpec, ModelSpec

    inf = dict(method="nuts", chains=chains)
    inf.update({k: v for k, v in (("warmup", warmup), ("draws", draws), ("readapt_after", readapt_after))
                if v is not None})
    spec = FitSpec(model=ModelSpec(n_fourier=2), inference=InferenceSpec(**inf)).validate()
    tpl = spend_template(seed + 1, n_weeks=n_weeks, n_channels=n_channels)
    pd_ = prior_datasets(jax.random.key(seed), tpl, spec, reps)
    batch = build_batch([d.observed for d in pd_], None, spec, kpi_scale=[d.kpi_scale for d in pd_],
                        n_tests=0)
    t0 = time.perf_counter()
    post = fit(jax.random.key(seed + 7), batch, spec)
    seconds = time.perf_counter() - t0
    from estimators.inference.posterior import thinned

    ranks, pvals = {}, {}
    for name in PARAMS:
        post_d = thinned(post.params[name], post, thin_to)                   # [R, L, ...] valid draws only
        post_d = post_d.reshape(reps, thin_to, -1)
        true = np.stack([np.atleast_1d(d.params[name]) for d in pd_])       # [R, k]
        r = (post_d < true[:, None, :]).sum(1)                              # [R, k] in 0..L
        for j in range(r.shape[1]):
            label = f"{name}[{j}]" if r.shape[1] > 1 else name
            counts = np.histogram(r[:, j], bins=bins, range=(0, thin_to + 1))[0]
            ranks[label] = r[:, j].tolist()
            pvals[label] = float(stats.chisquare(counts).pvalue)
    n_tests = len(pvals)
    worst = min(pvals.values())
    d = post.diagnostics
    return {"reps": reps, "chains": chains, "warmup": spec.inference.warmup, "draws_cap": spec.inference.draws,
            "adaptive": spec.inference.adaptive, "quality_bar": list(spec.inference.bar),
            "share_quality_ok": float(np.mean(d.quality_ok)), "draws_per_chain_median": float(np.median(d.n_draws)),
            "restarts": int(np.sum(d.restarts)), "thin_to": thin_to,
            "bins": bins, "seed": seed, "seconds_incl_compile": seconds, "p_values": pvals,
            "min_p": worst, "bonferroni_threshold": alpha / n_tests, "passed": worst > alpha / n_tests,
            "divergences_total": int(np.sum(d.divergences)),
            "rhat_max": float(np.nanmax(d.rhat_max)),
            "reps_rhat_over_1_05": int(np.sum(d.rhat_max > 1.05)),
            "reps_with_divergences": int(np.sum(d.divergences > 0)),
            "ess_bulk_min_median": float(np.nanmedian(d.ess_bulk_min)), "ranks": ranks}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=100)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=None, help="default: the project's NUTS setting")
    ap.add_argument("--draws", type=int, default=None, help="cap on draws per chain (default: the project's)")
    ap.add_argument("--readapt-after", type=int, default=None, help="default: the project's NUTS setting")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench"))
    a = ap.parse_args(argv)
    from harness.jaxcache import enable_cache

    enable_cache()
    res = run(a.reps, a.chains, a.warmup, a.draws, seed=a.seed, readapt_after=a.readapt_after)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sbc.json").write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if k != "ranks"}, indent=2))
    return res


if __name__ == "__main__":
    main()
