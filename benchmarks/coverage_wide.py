"""Coverage when the world is not drawn from the model's prior (issue 17, part 5).

    python benchmarks/coverage_wide.py [--reps 40] [--fit-priors default profiles] [--out results/bench]

SBC (``benchmarks/sbc.py``) checks the sampler on worlds drawn from the model's own prior, where
90% intervals cover 90% by construction. Here each replicate's parameters come from *wider*
ranges than any fitted prior (``WORLD``: ROI LogNormal(0.35, 1.5), 90% 0.12-16.6; half-saturation
LogNormal(1.0, 1.3), 90% 0.32-23x mean spend; slope LogNormal(0, 0.5), 90% 0.44-2.3; the other
parameters from the default set), the KPI is simulated from the model's likelihood on a fixed
3-channel, 104-week spend design, and every replicate is fitted with NUTS to the quality bar under
each ``--fit-priors`` set, the same datasets for every set. Reported per set: the 90% interval
coverage of ROI and of mROI (the marginal ROI at mean weekly spend,
:func:`estimators.decisions.identification.mroi_draws`), the median relative errors, and the share
of intervals that miss the truth by more than 2x. Writes ``<out>/coverage_wide.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The worlds' parameter ranges: wider than every shipped prior set (see the module docstring).
WORLD = {"roi": (0.35, 1.5), "half_saturation": (1.0, 1.3), "slope": (0.0, 0.5)}


def prior_set(name: str):
    """A named ``conf/priors/<name>.yaml`` as :class:`Priors` (one level of ``defaults``)."""
    import yaml

    from estimators.model.priors import Priors

    conf = ROOT / "conf" / "priors"
    node = yaml.safe_load((conf / f"{name}.yaml").read_text()) or {}
    values = {}
    for parent in node.pop("defaults", []) or []:
        if parent != "_self_":
            values.update({k: v for k, v in (yaml.safe_load((conf / f"{parent}.yaml").read_text()) or {}).items()
                           if k != "defaults"})
    values.update(node)
    return Priors.from_config(values)


def true_mroi(draws, template, spec) -> np.ndarray:
    """True mROI ``[R, K]`` of prior-predictive draws, in KPI per unit of spend (as the posterior's)."""
    from estimators.decisions.identification import marginal_roi
    from estimators.model.batch import ModelData, build_batch
    from estimators.model.mmm import media

    b = build_batch([template], None, spec, dtype=np.float64)
    d = ModelData(*[jnp.asarray(a[0]) for a in b.data])
    scale, mean = float(b.meta.kpi_scale[0]), np.asarray(b.meta.spend_mean[0], float)
    out = []
    with jax.enable_x64(True):
        for dr in draws:
            p = {k: jnp.asarray(v) for k, v in dr.params.items()}
            _, _, beta = media(p, d, spec.model.max_lag)
            k = mean.shape[0]
            out.append(np.asarray(marginal_roi(beta[:k] * scale, p["half_saturation"][:k], p["slope"][:k], 1.0)) / mean)
    return np.stack(out)


def scores(post_draws, truth: np.ndarray) -> dict:
    """Coverage, median relative error of the mean and the 2x-miss share.

    ``post_draws`` is one ``[S_r, K]`` array per replicate (adaptive NUTS stops each replicate at
    its own draw count); ``truth`` is ``[R, K]``.
    """
    lo = np.stack([np.quantile(d, 0.05, axis=0) for d in post_draws])
    hi = np.stack([np.quantile(d, 0.95, axis=0) for d in post_draws])
    mean = np.stack([d.mean(0) for d in post_draws])
    return {"coverage90": float(np.mean((lo <= truth) & (truth <= hi))),
            "median_rel_error": float(np.median(np.abs(mean - truth) / truth)),
            "miss2x": float(np.mean((truth > 2 * hi) | (truth < lo / 2))),
            "median_ratio": float(np.median(mean / truth))}


def run(reps: int = 40, fit_priors=("default", "profiles"), seed: int = 0, n_weeks: int = 104, n_channels: int = 3):
    from dataclasses import replace

    from estimators.decisions.identification import mroi_draws
    from estimators.inference.posterior import fit, flat_draws
    from estimators.model.batch import build_batch
    from estimators.model.prior_predictive import prior_datasets, spend_template
    from estimators.model.spec import FitSpec, InferenceSpec, ModelSpec

    base = FitSpec(model=ModelSpec(n_fourier=2), inference=InferenceSpec(method="nuts")).validate()
    world_priors = replace(prior_set("default"), **WORLD)
    world_spec = replace(base, priors=world_priors)
    tpl = spend_template(seed + 1, n_weeks=n_weeks, n_channels=n_channels)
    draws = prior_datasets(jax.random.key(seed), tpl, world_spec, reps)
    roi_true = np.stack([np.asarray(d.params["roi"])[:n_channels] for d in draws])
    mroi_true = true_mroi(draws, tpl, world_spec)
    res = {"reps": reps, "channels": n_channels, "weeks": n_weeks, "seed": seed, "world": WORLD, "fits": {}}
    for name in fit_priors:
        spec = replace(base, priors=prior_set(name))
        batch = build_batch([d.observed for d in draws], None, spec, kpi_scale=[d.kpi_scale for d in draws], n_tests=0)
        t0 = time.perf_counter()
        post = fit(jax.random.key(seed + 7), batch, spec)
        secs = time.perf_counter() - t0
        roi = [flat_draws(post.roi, post, i)[:, :n_channels] for i in range(reps)]
        md = mroi_draws(post)
        mroi = [flat_draws(md, post, i)[:, :n_channels] for i in range(reps)]
        res["fits"][name] = {"roi": scores(roi, roi_true), "mroi": scores(mroi, mroi_true),
                             "share_quality_ok": float(np.mean(post.diagnostics.quality_ok)),
                             "seconds_incl_compile": round(secs, 1)}
        print(f"coverage_wide: fit priors={name}: {json.dumps(res['fits'][name])}", flush=True)
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--fit-priors", nargs="+", default=["default", "profiles"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "results" / "bench"))
    a = ap.parse_args(argv)
    for name in a.fit_priors:
        if not (ROOT / "conf" / "priors" / f"{name}.yaml").is_file():
            ap.error(f"--fit-priors {name}: no conf/priors/{name}.yaml")
    from harness.jaxcache import enable_cache

    enable_cache()
    res = run(a.reps, tuple(a.fit_priors), a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "coverage_wide.json").write_text(json.dumps(res, indent=2))
    print(f"wrote {out / 'coverage_wide.json'}")
    return res


if __name__ == "__main__":
    main()
