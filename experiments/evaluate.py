"""Score one fitted dataset against its truth: every metric of DESIGN.md section 6.

The truth enters here. Model-side quantities come from the :class:`Posterior`
(ROI draws, contribution means, response parameters); truth-side ones from
:class:`simulate.truth.Truth` with the simulator's own transforms.

Counterfactual plans: for each channel, its observed spend x0.5 and x1.5, and
all channels x0.75 and x1.25 (``P = 2K + 2`` plans). ``counterfactual_mape``
compares the total KPI over the fitted weeks under each plan (the model's fitted
KPI plus its predicted media change, against the truth's expected KPI);
``counterfactual_delta_mape`` compares only the changes from the observed plan,
the sharper test of the media model.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from estimators.model import adstock_weights
from estimators.posterior import Posterior
from estimators.budget import optimise, posterior_response
from experiments import metrics as M
from simulate import transforms as tf
from simulate.records import Dataset
from simulate.truth import Truth

PLAN_FACTORS = (0.5, 1.5)
ALL_FACTORS = (0.75, 1.25)
MAX_DRAWS = 200


def plans(n_k: int) -> np.ndarray:
    """Spend multipliers of the counterfactual plans, ``[P, K]``."""
    rows = []
    for k in range(n_k):
        for f in PLAN_FACTORS:
            r = np.ones(n_k)
            r[k] = f
            rows.append(r)
    rows += [np.full(n_k, f) for f in ALL_FACTORS]
    return np.array(rows)


def _truth_saturate(x, tr: Truth, i: int):
    return np.where(tr.misspecified[i], tf.exponential_saturation(x, tr.half_saturation[i]),
                    tf.hill(x, tr.half_saturation[i], tr.slope[i]))


def true_response(tr: Truth, i: int):
    """The true steady-state weekly response, a callable ``[..., K] -> [..., K]``."""
    def f(b):
        with jax.enable_x64(True):
            return np.asarray(tr.beta[i] * _truth_saturate(jnp.asarray(b, jnp.float64), tr, i))
    return f


def true_media_under(tr: Truth, i: int, factors: np.ndarray, burn_in: int) -> np.ndarray:
    """True media contributions when observed spend is scaled by ``factors [P, K]``: ``[P, T, K]``."""
    full = tr.full_spend[i]
    scale = np.ones((factors.shape[0],) + full.shape)
    scale[:, burn_in:, :] = factors[:, None, :]
    with jax.enable_x64(True):
        ad = tf.adstock(jnp.asarray(full[None] * scale), jnp.asarray(tr.adstock_weights[i]), True)[:, burn_in:]
        return np.asarray(tr.beta[i] * _truth_saturate(ad, tr, i))


def model_media_under(post: Posterior, i: int, spend: np.ndarray, factors: np.ndarray, max_lag: int,
                      delayed: np.ndarray, pre_sample: str = "first") -> np.ndarray:
    """Posterior-mean media contributions under scaled spend plans, ``[P, T, K]`` (KPI units).

    Uses the model's own transforms and its pre-sample convention; ``beta`` stays as
    fitted (it is the response scale, not re-derived from the plan).
    """
    n_k = spend.shape[1]
    c, d = post.roi.shape[1:3]
    flat = lambda a: a[i].reshape(c * d, -1)[:, :n_k]
    take = np.linspace(0, c * d - 1, min(MAX_DRAWS, c * d)).astype(int)
    alpha, theta = flat(post.params["alpha"])[take], flat(post.params["theta"])[take]
    beta, half, slope = flat(post.beta)[take], flat(post.half_saturation)[take], flat(post.slope)[take]
    pre = np.repeat(spend[:1], max_lag - 1, 0) if pre_sample == "first" else np.zeros((max_lag - 1, n_k))
    full = np.concatenate([pre, spend], 0)                                 # [L-1+T, K]
    plan = full[None] * factors[:, None, :]                                # [P, L-1+T, K]
    w = adstock_weights(jnp.asarray(alpha), jnp.asarray(theta), jnp.asarray(delayed[:n_k]), max_lag)  # [S, K, L]
    ad = tf.adstock(jnp.asarray(plan)[None], w[:, None], True)[:, :, max_lag - 1:]          # [S, P, T, K]
    contrib = beta[:, None, None, :] * tf.hill(ad, half[:, None, None, :], slope[:, None, None, :])
    return np.asarray(contrib.mean(0))


def evaluate(post: Posterior, i: int, ds: Dataset, j: int, tr: Truth, *, burn_in: int, max_lag: int,
             delayed: np.ndarray, bounds: tuple) -> dict:
    """All metrics of posterior dataset ``i`` against simulated dataset ``j``.

    Args:
        post: the batch posterior.
        i: index in the posterior batch.
        ds, j, tr: the simulated dataset batch, its index, and its truth.
        burn_in: the world's burn-in weeks (for the truth's counterfactuals).
        max_lag, delayed: the model's lag count and delayed-adstock flags ``[K]``.
        bounds: per-channel planning bounds as multiples of historical spend.
    Returns:
        a flat dict of metrics and per-channel vectors (``roi_hat`` etc.).
    """
    n_k = len(ds.channel_names)
    n_fit = int(ds.n_train)
    roi_draws = post.roi[i].reshape(-1, post.roi.shape[-1])[:, :n_k].astype(np.float64)
    roi_hat = roi_draws.mean(0)
    q05, q95 = np.quantile(roi_draws, [0.05, 0.95], axis=0)
    roi = tr.roi[j]
    contrib_hat = post.contribution_mean[i, :n_fit, :n_k].sum(0)
    contrib = tr.contributions[j, :n_fit].sum(0)
    kpi = ds.kpi[j]
    kpi_hat = post.kpi_mean[i, : kpi.shape[0]]
    out = {
        "roi_mape": M.roi_mape(roi_hat, roi),
        "attribution_error": M.attribution_error(contrib_hat, contrib),
        "holdout_mape": M.mape(kpi_hat[n_fit:], kpi[n_fit:]) if n_fit < kpi.shape[0] else float("nan"),
        "fit_mape": M.mape(kpi_hat[:n_fit], kpi[:n_fit]),
        "coverage90": M.coverage(q05, q95, roi),
    }
    # Counterfactual plans over the fitted weeks.
    factors = plans(n_k)
    true_plan = true_media_under(tr, j, factors, burn_in)[:, :n_fit].sum((1, 2))          # [P]
    true_now = tr.contributions[j, :n_fit].sum()
    model_plan = model_media_under(post, i, ds.spend[j], factors, max_lag, delayed)[:, :n_fit].sum((1, 2))
    model_now = model_media_under(post, i, ds.spend[j], np.ones((1, n_k)), max_lag, delayed)[0, :n_fit].sum()
    base_true = (tr.baseline[j, :n_fit]).sum()
    total_true = base_true + true_plan
    total_hat = kpi_hat[:n_fit].sum() + (model_plan - model_now)
    out["counterfactual_mape"] = M.mape(total_hat, total_true)
    out["counterfactual_delta_mape"] = M.mape(model_plan - model_now, true_plan - true_now)
    # Budget: the model's recommended allocation at the truth's reference budget and bounds.
    budget = float(tr.reference_budget[j])
    hist = ds.spend[j].mean(0)
    lo, hi = bounds[0] * hist, bounds[1] * hist
    c, d = post.beta.shape[1:3]
    draws = lambda a: a[i].reshape(c * d, -1)[:, :n_k]
    model_response = posterior_response(draws(post.beta), draws(post.half_saturation), draws(post.slope))
    b_hat = optimise(model_response, budget, lo, hi).spend
    b_star = tr.optimal_allocation[j]
    out["budget_regret"] = M.budget_regret(true_response(tr, j), b_hat, b_star)
    out["allocation_error"] = M.allocation_error(b_hat, b_star)
    out["roi_hat"] = roi_hat.tolist()
    out["roi_q05"] = q05.tolist()
    out["roi_q95"] = q95.tolist()
    out["roi_true"] = roi.tolist()
    out["allocation_hat"] = b_hat.tolist()
    return out
