"""How much the out-of-family data can say about each channel's marginal return (issue 17).

    python benchmarks/oof_oracle.py [--truths 4] [--replicates 2] [--seed 0] [--worlds W ...] [--run RUN_DIR]

Issue 17 asks for a median mROI error <= 25% from the uncalibrated model on the ``oof_*`` worlds.
This script asks whether any estimator could reach that from those data alone. It rebuilds the
study's datasets (the same keys as ``python -m experiments.study study=out_of_family seed=S``) and
fits two *oracle* regressions, each told more of the truth than a real model ever is:

* ``shape known``: the true baseline series (trend, seasonality, holidays, controls, the
  unobserved driver) and every channel's true contribution *shape* are given; only one scale per
  channel and an intercept are estimated. ``y - baseline = a + sum_k s_k m_k(t) + e``, so
  ``mROI_hat / mROI = s_k``.
* ``adstock known``: the true baseline and each channel's true adstock are given, the saturation is
  not; the slope of the KPI on adstocked spend is the estimate of the marginal return
  (``y - baseline = a + sum_k b_k adstock_k(t) + e``, ``mROI_hat = b_k``, exact for a linear
  response and first-order for a curved one).

Both use the training weeks and generalised least squares with the true AR(1) coefficient of the
noise (Prais-Winsten), i.e. the efficient unbiased estimator for that model. The intercept stays
free: a real model never knows the baseline's level, so a channel's level is learnt only from how
its spend moves. The median relative mROI error of these oracles is what the data carry; the
estimator, which also has to learn the baseline and the shape, cannot be expected to do better
without prior information or experiments. With ``--run``, the uncalibrated arm of that study run
is put beside the oracles, channel by channel (the same datasets).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORLDS = ("oof_linear", "oof_low_roi", "oof_high_roi", "oof_demand")


def prais_winsten(y, x, rho):
    """GLS of ``y [T]`` on ``x [T, P]`` under AR(1) errors with coefficient ``rho``.

    Returns ``(coef [P], se [P])``; the first row is kept with weight ``sqrt(1 - rho^2)``.
    """
    w0 = np.sqrt(max(1.0 - rho * rho, 1e-12))
    ys = np.concatenate([[w0 * y[0]], y[1:] - rho * y[:-1]])
    xs = np.concatenate([w0 * x[:1], x[1:] - rho * x[:-1]], 0)
    coef, *_ = np.linalg.lstsq(xs, ys, rcond=None)
    resid = ys - xs @ coef
    s2 = resid @ resid / max(len(ys) - xs.shape[1], 1)
    cov = s2 * np.linalg.inv(xs.T @ xs)
    return coef, np.sqrt(np.diag(cov))


def adstocked(full_spend, weights, burn_in: int):
    """True adstock of national spend ``[T0 + T, K]`` with normalised weights ``[K, L]`` -> ``[T, K]``
    (:func:`common.transforms.adstock` in float64)."""
    from common import transforms as tf

    with jax.enable_x64(True):
        return np.asarray(tf.adstock(jax.numpy.asarray(full_spend), jax.numpy.asarray(weights)))[burn_in:]


def oracle_rows(world: str, truths: int, replicates: int, seed: int) -> pd.DataFrame:
    """One row per dataset and channel: the true mROI and both oracles' estimates and SEs."""
    from experiments.layout import truth_key
    from experiments.study import load_world
    from simulate import response as R
    from simulate.config import world_spec
    from simulate.core import simulate_truths

    spec = world_spec(load_world(world), path=f"world/{world}")
    root = jax.random.key(seed)
    keys = jax.numpy.stack([truth_key(root, world, t) for t in range(truths)])
    ds, tr = simulate_truths(keys, spec, replicates, [f"{world}-t{t:03d}" for t in range(truths)])
    mroi = R.marginal_at(R.params_of(tr), ds.spend.mean(1))                  # [N, K]
    n_train, t0 = ds.n_train, spec.burn_in_weeks
    rows = []
    for i, did in enumerate(ds.dataset_ids):
        y = (ds.kpi[i] - tr.baseline[i])[:n_train]
        rho = float(tr.noise_ar1[i])
        one = np.ones((n_train, 1))
        contrib = tr.contributions[i][:n_train]                              # [T, K]
        s, s_se = prais_winsten(y, np.concatenate([one, contrib], 1), rho)
        ad = adstocked(tr.full_spend[i], tr.adstock_weights[i], t0)[:n_train]
        b, b_se = prais_winsten(y, np.concatenate([one, ad], 1), rho)
        for k, name in enumerate(ds.channel_names):
            spend = ds.spend[i][:n_train, k]
            rows.append(dict(world=world, dataset=did, channel=name, mroi_true=float(mroi[i, k]),
                             roi_true=float(tr.roi[i, k]), spend_cv=float(spend.std() / spend.mean()),
                             shape_ratio=float(s[1 + k]), shape_rel_se=float(s_se[1 + k]),
                             adstock_ratio=float(b[1 + k] / mroi[i, k]),
                             adstock_rel_se=float(b_se[1 + k] / mroi[i, k])))
    return pd.DataFrame(rows)


def model_rows(run: Path) -> pd.DataFrame:
    """The uncalibrated arm's mROI estimates of a study run, one row per dataset and channel."""
    from experiments.channel_errors import channel_rows

    c = channel_rows(pd.read_parquet(run / "fits.parquet"))
    c = c[c.arm == "none"]
    return pd.DataFrame({"dataset": c.dataset_id.values, "channel": c.channel.values,
                         "model_ratio": (c.mroi_hat / c.mroi_true).values})


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Median relative mROI error (and median relative SE) per world and pooled."""
    err = lambda col: (rows[col] - 1.0).abs()
    cols = {"shape_err": err("shape_ratio"), "shape_rel_se": rows.shape_rel_se.abs(),
            "adstock_err": err("adstock_ratio"), "adstock_rel_se": rows.adstock_rel_se.abs(),
            "spend_cv": rows.spend_cv}
    if "model_ratio" in rows:
        cols["model_err"] = err("model_ratio")
    t = pd.DataFrame(cols).assign(world=rows.world.values)
    per = t.groupby("world").median()
    per.loc["pooled"] = t.drop(columns="world").median()
    per.insert(0, "n", list(t.groupby("world").size()) + [len(t)])
    return per


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--truths", type=int, default=4, help="truths per world (the study: 4)")
    ap.add_argument("--replicates", type=int, default=2, help="datasets per truth (the study: 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worlds", nargs="+", default=list(WORLDS), help="world profiles (default: the four oof_*)")
    ap.add_argument("--run", type=Path, default=None, help="a study=out_of_family run to put beside")
    ap.add_argument("--out", type=Path, default=None, help="write the per-channel rows as CSV here")
    a = ap.parse_args(argv)
    rows = pd.concat([oracle_rows(w, a.truths, a.replicates, a.seed) for w in a.worlds], ignore_index=True)
    if a.run is not None:
        rows = rows.merge(model_rows(a.run), on=["dataset", "channel"], how="left")
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(a.out, index=False)
    print("median relative mROI error (|estimate / truth - 1|) and median relative SE, training weeks")
    print(summarise(rows).round(3).to_string())


if __name__ == "__main__":
    main()
