"""``simulate(key, spec) -> (Dataset, Truth)`` and the lift tests that go with it.

Key tree: the root key splits into one key per truth; a truth key splits into
the world key and one key per replicate; a replicate key splits into its noise
key and its experiments key. Replicates of one truth share every parameter,
the spend history and the demand, and differ in noise and experiments.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from simulate.allocation import optimal_allocation
from simulate.config import WorldSpec
from simulate.lifttests import LiftSpec, simulate_tests
from simulate.records import Dataset
from simulate.truth import Truth
from simulate import transforms as tf
from simulate import world as W


def _keys(key, n_truths: int, n_replicates: int):
    """World keys ``[n_truths]`` and replicate keys ``[n_truths, n_replicates]``."""
    truth_keys = jax.random.split(key, n_truths)
    world_keys, rep_keys = [], []
    for tk in truth_keys:
        wk, rk = jax.random.split(tk)
        world_keys.append(wk)
        rep_keys.append(jax.random.split(rk, n_replicates))
    return jnp.stack(world_keys), jnp.stack(rep_keys)


def _truth_allocation(world_np: dict, spec: WorldSpec):
    """Reference budget, bounds, optimum and response curves of one truth (numpy)."""
    t0 = spec.burn_in_weeks
    hist = world_np["full_spend"][t0:].mean(0)                       # [K]
    budget = float(hist.sum())
    lo, hi = spec.bounds
    bounds = np.stack([lo * hist, hi * hist], -1)                     # [K, 2]

    def response(b):
        with jax.enable_x64(True):
            return np.asarray(W.response(world_np["world"], jnp.asarray(b)))

    alloc = optimal_allocation(response, budget, bounds[:, 0], bounds[:, 1])
    grid = np.linspace(0.0, spec.curve_max, spec.curve_points)[:, None] * hist[None, :]   # [P, K]
    return budget, bounds, alloc, grid, response(grid)


def simulate(key, spec: WorldSpec, n_datasets: int = 1, n_replicates: int = 1,
             id_prefix: str | None = None, first_truth: int = 0):
    """Generate ``n_datasets`` truths with ``n_replicates`` noise replicates each.

    Args:
        key: root PRNG key.
        spec: the world profile.
        n_datasets: number of distinct truths.
        n_replicates: datasets per truth (new noise, new experiments).
        id_prefix: prefix of dataset ids (default: the profile name).
        first_truth: number of the first truth in the ids (``<prefix>-t<number>-r<rep>``).
    Returns:
        ``(Dataset, Truth)`` batched over ``N = n_datasets * n_replicates``
        datasets (truth-major order), numpy float64.
    """
    if n_datasets < 1 or n_replicates < 1:
        raise ValueError("n_datasets and n_replicates must be >= 1")
    prefix = id_prefix or spec.name
    world_keys, rep_keys = _keys(key, n_datasets, n_replicates)
    # One compiled single-world function serves any N (no recompiles across batch sizes).
    with jax.enable_x64(True):
        world_list, noise = [], []
        for i in range(n_datasets):
            w = jax.tree_util.tree_map(np.asarray, W.draw_world(world_keys[i], spec))
            world_list.append(w)
            noise.append([np.asarray(W.geo_noise(jax.random.split(rep_keys[i, r])[0], w, spec))
                          for r in range(n_replicates)])
        worlds = jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(x) for x in a]), *world_list)
        noise = np.asarray(noise)                                               # [n, r, G, T]
        lag_days = np.asarray(tf.carryover_lag(worlds.weights, 0.9))
    rows = {name: [] for name in ("kpi", "spend", "controls", "geo_kpi", "geo_spend", "population",
                                  "contributions", "baseline", "noise", "geo_noise", "alloc",
                                  "budget", "bounds", "grid", "curve")}
    ids, truth_ids, replicate, world_index = [], [], [], []
    for i in range(n_datasets):
        w = world_list[i]
        budget, bounds, alloc, grid, curve = _truth_allocation(
            {"full_spend": w.full_spend, "world": w}, spec)
        for r in range(n_replicates):
            with jax.enable_x64(True):
                geo_kpi, geo_spend, geo_base, geo_contrib = (np.asarray(a) for a in W.geo_panel(w, noise[i, r], spec))
            rows["geo_kpi"].append(geo_kpi)
            rows["geo_spend"].append(geo_spend)
            rows["geo_noise"].append(noise[i, r])
            # National series are the exact sums of the geos.
            rows["kpi"].append(geo_kpi.sum(0))
            rows["spend"].append(geo_spend.sum(0))
            rows["contributions"].append(geo_contrib.sum(0))
            rows["baseline"].append(geo_base.sum(0))
            rows["noise"].append(noise[i, r].sum(0))
            rows["controls"].append(np.asarray(w.controls))
            rows["population"].append(np.asarray(w.population))
            for name, val in (("alloc", alloc), ("budget", budget), ("bounds", bounds),
                              ("grid", grid), ("curve", curve)):
                rows[name].append(val)
            ids.append(f"{prefix}-t{first_truth + i:03d}-r{r}")
            truth_ids.append(f"{prefix}-t{first_truth + i:03d}")
            replicate.append(r)
            world_index.append(i)
    st = {k: np.stack(v) for k, v in rows.items()}
    idx = np.array(world_index)
    spend_obs = st["spend"]
    roi = st["contributions"].sum(1) / spend_obs.sum(1)
    n_k = spec.n_channels
    missp = worlds.misspecified[idx]
    delayed = np.array([c.adstock_family == "delayed" for c in spec.channels])
    ad_family = np.where(missp, "weibull", np.where(delayed[None, :], "delayed", "geometric"))
    dataset = Dataset(
        dates=W.week_dates(spec),
        kpi=st["kpi"], spend=spend_obs, controls=st["controls"],
        geo_kpi=st["geo_kpi"], geo_spend=st["geo_spend"], population=st["population"],
        channel_names=spec.channel_names, control_names=("promo",),
        channel_mask=np.ones(n_k, bool), n_train=spec.n_weeks - spec.holdout_weeks,
        dataset_ids=tuple(ids),
    )
    truth = Truth(
        truth_ids=tuple(truth_ids), replicate=np.array(replicate),
        contributions=st["contributions"], baseline=st["baseline"], noise=st["noise"],
        roi=roi, beta=worlds.beta[idx], adstock_weights=worlds.weights[idx],
        adstock_family=ad_family, saturation_family=np.where(missp, "exponential", "hill"),
        half_saturation=worlds.half_saturation[idx], slope=worlds.slope[idx],
        lag_days=lag_days[idx], reference_budget=st["budget"], optimal_allocation=st["alloc"],
        bounds=st["bounds"], curve_spend=st["grid"], curve_response=st["curve"],
        driver=worlds.driver[idx], season_index=worlds.season_index[idx],
        full_spend=worlds.full_spend[idx],
        geo_noise=st["geo_noise"], misspecified=missp, noise_sd=worlds.noise_sd[idx],
        noise_ar1=worlds.noise_ar1[idx],
    )
    return dataset, truth


def panel_inputs(dataset: Dataset, truth: Truth, i: int, spec: WorldSpec) -> dict:
    """What the lift tests of dataset ``i`` need, as numpy arrays."""
    geo_clean = dataset.geo_kpi[i] - truth.geo_noise[i]
    return {
        "full_spend": truth.full_spend[i], "weights": truth.adstock_weights[i],
        "beta": truth.beta[i], "half": truth.half_saturation[i], "slope": truth.slope[i],
        "misspecified": truth.misspecified[i], "burn_in": spec.burn_in_weeks,
        "geo_clean": geo_clean, "geo_noise": truth.geo_noise[i],
        "population": dataset.population[i], "noise_sd": float(truth.noise_sd[i]),
        "noise_ar1": float(truth.noise_ar1[i]), "roi": truth.roi[i],
        "common_noise_share": spec.common_noise_share,
    }


def experiment_keys(key, n_datasets: int, n_replicates: int):
    """The experiments key of every dataset, ``[N]`` in truth-major order."""
    _, rep_keys = _keys(key, n_datasets, n_replicates)
    return jax.vmap(jax.vmap(lambda k: jax.random.split(k)[1]))(rep_keys).reshape(-1)


def simulate_all_tests(key, dataset: Dataset, truth: Truth, spec: WorldSpec, lift: LiftSpec,
                       n_datasets: int, n_replicates: int, readout: str = "panel"):
    """Lift tests of every dataset from the same root key as :func:`simulate`.

    Returns:
        list over datasets of ``(tests, hidden)``.
    """
    ekeys = experiment_keys(key, n_datasets, n_replicates)
    return [simulate_tests(ekeys[i], panel_inputs(dataset, truth, i, spec), lift,
                           dataset.channel_names, dataset.dataset_ids[i], readout)
            for i in range(len(dataset.dataset_ids))]
