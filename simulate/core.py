"""``simulate(key, spec) -> (Dataset, Truth)``: known-truth datasets, every truth of a call in one batch.

Key tree: the root key splits into one key per truth; a truth key splits into the world key
and one key per replicate; a replicate key splits into its noise key and its experiments key.
Replicates of one truth share every parameter, the spend history and the demand, and differ in
noise and experiments. The worlds, the noise and the geo panels of every truth and replicate
come from single vmapped calls; the truth's optimal allocation from one batched call of the
project's optimiser.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from common import transforms as tf
from common.blocks import run_blocked
from common.records import Dataset
from simulate import response as R
from simulate import world as W
from simulate.config import WorldSpec
from simulate.truth import Truth


SIM_BLOCK = 4   # truths per compiled call (fixed, so a truth's data never depends on its batch)


def key_tree(truth_keys, n_replicates: int):
    """World keys ``[n]``, noise keys ``[n, R]`` and experiment keys ``[n, R]`` of truth keys ``[n]``."""
    pairs = jax.vmap(jax.random.split)(truth_keys)                          # [n, 2]
    world_keys, rep_root = pairs[:, 0], pairs[:, 1]
    reps = jax.vmap(lambda k: jax.random.split(k, n_replicates))(rep_root)  # [n, R]
    halves = jax.vmap(jax.vmap(jax.random.split))(reps)                     # [n, R, 2]
    return world_keys, halves[:, :, 0], halves[:, :, 1]


def simulate_truths(truth_keys, spec: WorldSpec, n_replicates: int, truth_ids) -> tuple[Dataset, Truth]:
    """The datasets of truths ``truth_ids`` drawn from ``truth_keys [n]``, ``n_replicates`` each.

    Returns:
        ``(Dataset, Truth)`` batched over ``N = n * n_replicates`` datasets (truth-major order),
        numpy float64. Dataset ids are ``<truth id>-r<replicate>``.
    """
    n, r = len(truth_ids), int(n_replicates)
    if n < 1 or r < 1:
        raise ValueError("need at least one truth and one replicate")
    world_keys, noise_keys, _ = key_tree(truth_keys, r)
    t0 = spec.burn_in_weeks
    with jax.enable_x64(True):
        worlds = run_blocked(lambda k: W.draw_worlds(k, spec), (world_keys,), SIM_BLOCK)
        noise, geo_kpi, geo_base, geo_contrib = run_blocked(
            lambda k, w: W.replicate_panels(k, w, spec), (noise_keys, worlds), SIM_BLOCK)
        lag_days = np.asarray(tf.carryover_lag(worlds.weights, 0.9))
    rep = lambda a: np.repeat(np.asarray(a), r, axis=0)                     # per truth -> per dataset
    flat = lambda a: np.asarray(a).reshape((n * r,) + np.shape(a)[2:])      # [n, R, ...] -> [N, ...]
    spend_obs = np.asarray(worlds.full_spend)[:, t0:]                        # [n, T, K]
    hist = spend_obs.mean(1)                                                 # [n, K]
    lo, hi = spec.bounds
    p = R.ResponseParams(worlds.beta, worlds.half_saturation, worlds.slope, worlds.misspecified)
    alloc = R.optimal_allocation(p, hist.sum(-1), lo * hist, hi * hist).spend          # [n, K]
    grid = np.linspace(0.0, spec.curve_max, spec.curve_points)[None, :, None] * hist[:, None, :]
    with jax.enable_x64(True):
        curve = np.asarray(R.steady_response(jax.tree.map(jnp.asarray, p), jnp.asarray(grid)))
    pop = np.asarray(worlds.population)
    geo_spend = pop[:, :, None, None] * spend_obs[:, None]                   # [n, G, T, K]
    contributions = geo_contrib.sum(1)                                       # national = sum of geos
    kpi, base_nat, noise_nat = flat(geo_kpi).sum(1), flat(geo_base).sum(1), flat(noise).sum(1)
    roi = contributions.sum(1) / spend_obs.sum(1)                            # [n, K]
    missp = np.asarray(worlds.misspecified)
    delayed = np.array([c.adstock_family == "delayed" for c in spec.channels])
    ad_family = np.where(missp, "weibull", np.where(delayed[None, :], "delayed", "geometric"))
    ids = [f"{t}-r{j}" for t in truth_ids for j in range(r)]
    dataset = Dataset(
        dates=W.week_dates(spec), kpi=kpi, spend=rep(spend_obs),
        controls=rep(worlds.controls), geo_kpi=flat(geo_kpi), geo_spend=rep(geo_spend),
        population=rep(pop), channel_names=spec.channel_names, control_names=("promo",),
        channel_mask=np.ones(spec.n_channels, bool), n_train=spec.n_weeks - spec.holdout_weeks,
        dataset_ids=tuple(ids))
    truth = Truth(
        truth_ids=tuple(t for t in truth_ids for _ in range(r)), replicate=np.tile(np.arange(r), n),
        contributions=rep(contributions), baseline=base_nat, noise=noise_nat, roi=rep(roi),
        beta=rep(worlds.beta), adstock_weights=rep(worlds.weights), adstock_family=rep(ad_family),
        saturation_family=rep(np.where(missp, "exponential", "hill")),
        half_saturation=rep(worlds.half_saturation), slope=rep(worlds.slope), lag_days=rep(lag_days),
        reference_budget=rep(hist.sum(-1)), optimal_allocation=rep(alloc),
        bounds=rep(np.stack([lo * hist, hi * hist], -1)), curve_spend=rep(grid), curve_response=rep(curve),
        driver=rep(worlds.driver), season_index=rep(worlds.season_index), full_spend=rep(worlds.full_spend),
        geo_noise=flat(noise), misspecified=rep(missp), noise_sd=rep(worlds.noise_sd),
        noise_ar1=rep(worlds.noise_ar1))
    return dataset, truth


def simulate(key, spec: WorldSpec, n_datasets: int = 1, n_replicates: int = 1,
             id_prefix: str | None = None, first_truth: int = 0):
    """Generate ``n_datasets`` truths with ``n_replicates`` noise replicates each.

    Args:
        key: root PRNG key (split into one key per truth).
        spec: the world profile.
        n_datasets: number of distinct truths.
        n_replicates: datasets per truth (new noise, new experiments).
        id_prefix: prefix of dataset ids (default: the profile name).
        first_truth: number of the first truth in the ids (``<prefix>-t<number>-r<rep>``).
    Returns:
        ``(Dataset, Truth)`` batched over ``N = n_datasets * n_replicates`` datasets.
    """
    if n_datasets < 1 or n_replicates < 1:
        raise ValueError("n_datasets and n_replicates must be >= 1")
    prefix = id_prefix or spec.name
    ids = [f"{prefix}-t{first_truth + i:03d}" for i in range(n_datasets)]
    return simulate_truths(jax.random.split(key, n_datasets), spec, n_replicates, ids)


def experiment_keys(key, n_datasets: int, n_replicates: int):
    """The experiments key of every dataset of :func:`simulate`, ``[N]`` in truth-major order."""
    _, _, ekeys = key_tree(jax.random.split(key, n_datasets), n_replicates)
    return ekeys.reshape(-1)


def simulate_all_tests(key, dataset: Dataset, truth: Truth, spec: WorldSpec, lift, n_datasets: int,
                       n_replicates: int, readout: str = "panel"):
    """Lift tests of every dataset of :func:`simulate` (same root key), in one replay call.

    Returns:
        list over datasets of ``(tests, hidden)``.
    """
    from simulate.lifttests import panel_of, simulate_batch_tests

    return simulate_batch_tests(experiment_keys(key, n_datasets, n_replicates), panel_of(dataset, truth, spec),
                                lift, dataset.channel_names, dataset.dataset_ids, readout)
