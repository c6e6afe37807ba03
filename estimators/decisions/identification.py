"""What the data identify: marginal ROI, posterior-over-prior sd ratios and the identification flag.

Per channel of every fit, beside the ROI:

* **mROI**, the marginal ROI at current spend: the derivative of the channel's steady-state
  weekly response ``beta * hill(b; h, s)`` at its mean weekly spend ``m`` over the data,
  ``beta * hill'(m; h, s)``, in KPI per unit of spend like the ROI (with normalised adstock a
  constant weekly spend settles at itself, so this is the return of the next unit of weekly spend
  once carryover has settled). Meridian reports the same quantity from a small spend increase
  over the historical flighting; here it is the closed-form derivative at the mean spend;
* the **sd ratios** ``posterior sd / prior sd`` of log ROI and of log mROI (both are positive;
  on the log scale the sd is the relative spread, so a posterior that moved to a low value does not
  look informed merely because it is small, nor one that moved high uninformed because it is
  large; the natural-scale sd of a LogNormal grows with its median). The prior sd comes from draws
  of the model's own prior (:func:`estimators.model.prior_predictive.sample_prior`, one explicit
  key) pushed through the same functions as the posterior draws. The prior is the fit's ROI prior
  *before any experiment* (the ``priors`` group's ``roi``), so in a calibrated fit the ratio
  measures what the data and the experiments together added;
* the **share of weeks with spend below** ``low_spend_fraction`` (default half) of the channel's
  mean: a channel that is always on shows the data nothing of its curve below current spend;
* ``roi_identified``: the (log) ROI sd ratio is at most ``max_sd_ratio`` (default 0.7; above it the
  posterior is "mostly prior"), with a one-line ``identification_reason``.

Nothing here sees the truth. Shapes: ``N`` datasets, ``K`` (padded) channels, ``S`` prior draws.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from common import transforms as tf
from estimators.inference.posterior import Posterior
from estimators.model.batch import ModelBatch, ModelData
from estimators.model.spec import FitSpec
from harness.errors import ConfigError


@dataclass(frozen=True)
class IdentificationSpec:
    """The identification rule (``conf/identification/default.yaml``)."""

    max_sd_ratio: float = 0.7          # ROI posterior sd / prior sd above this: not identified
    prior_draws: int = 4000            # prior draws behind the prior sds (MC error of an sd about 2-3%)
    low_spend_fraction: float = 0.5    # "low-spend week": spend below this x the channel's mean

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None, prefix: str = "identification") -> "IdentificationSpec":
        """From a mapping (unknown keys, non-numbers or out-of-range values raise ConfigError)."""
        if cfg is None:
            return cls()
        known = {f.name: f for f in fields(cls)}
        kw = {}
        for name, value in dict(cfg).items():
            if name not in known:
                raise ConfigError(f"{prefix}.{name}", f"unknown setting; known: {sorted(known)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{prefix}.{name}", f"expected a number, got {value!r}")
            if name == "prior_draws" and (float(value) != int(value) or int(value) < 100):
                raise ConfigError(f"{prefix}.prior_draws", f"must be a whole number >= 100, got {value!r}")
            kw[name] = int(value) if name == "prior_draws" else float(value)
        spec = cls(**kw)
        if not spec.max_sd_ratio > 0:
            raise ConfigError(f"{prefix}.max_sd_ratio", f"must be > 0, got {spec.max_sd_ratio!r}")
        if not 0 < spec.low_spend_fraction < 1:
            raise ConfigError(f"{prefix}.low_spend_fraction", f"must be in (0, 1), got {spec.low_spend_fraction!r}")
        return spec


def prior_key(root) -> jax.Array:
    """The prior draws' key from a fit's root key (a stream of its own: ``fold_in(root, crc32("prior"))``)."""
    return jax.random.fold_in(root, zlib.crc32(b"prior") & 0x7FFFFFFF)


def marginal_roi(beta, half, slope, spend):
    """mROI ``beta * hill'(spend; half, slope)``: KPI per unit of spend (any consistent units; broadcasts)."""
    return beta * tf.hill_derivative(spend, half, slope)


def mroi_draws(post: Posterior) -> np.ndarray:
    """Posterior mROI draws at each channel's mean weekly spend: ``[N, C, D, K]`` (NaN-padded like ``roi``)."""
    m = post.spend_mean[:, None, None, :]
    with jax.enable_x64(True):
        return np.asarray(marginal_roi(jnp.asarray(post.beta, jnp.float64), jnp.asarray(post.half_saturation, jnp.float64),
                                       jnp.asarray(post.slope, jnp.float64), jnp.asarray(m, jnp.float64)))


class PriorSummary(NamedTuple):
    """Prior ROI and mROI per channel, each ``[N, K]``: sd of the log, and the 90% interval
    (business units)."""

    roi_log_sd: np.ndarray
    roi_q05: np.ndarray
    roi_q95: np.ndarray
    mroi_log_sd: np.ndarray
    mroi_q05: np.ndarray
    mroi_q95: np.ndarray

    def take(self, index) -> "PriorSummary":
        """The rows ``index`` (e.g. the dataset of each fit)."""
        return PriorSummary(*(np.asarray(a)[np.asarray(index)] for a in self))


def _prior_one(keys, d: ModelData, scale, mean, spec: FitSpec):
    """ROI and mROI of ``S`` prior draws of one dataset: ``([S, K], [S, K])``."""
    from estimators.model.mmm import media
    from estimators.model.prior_predictive import sample_prior

    def one(k):
        p = sample_prior(k, d, spec)
        _, _, beta = media(p, d, spec.model.max_lag)
        # Scaled problem: spend / m, KPI / scale, h in multiples of m; d/dx hill(x / m) = hill'(x / m) / m.
        return p["roi"], marginal_roi(beta * scale, p["half_saturation"], p["slope"], 1.0) / mean

    return jax.vmap(one)(keys)


@lru_cache(maxsize=8)
def _prior_program(spec: FitSpec):
    return jax.jit(lambda keys, data, scale, mean: jax.lax.map(
        lambda a: _prior_one(keys, a[0], a[1], a[2], spec), (data, scale, mean)))


def prior_summary(key, batch: ModelBatch, spec: FitSpec, n_draws: int = 4000) -> PriorSummary:
    """Prior sd of the log and 90% interval of ROI and mROI of every dataset of ``batch``.

    The ROI prior is the spec's ``priors.roi`` on every channel (the prior before any experiment,
    whatever M1 put into the batch). Every dataset uses the same ``n_draws`` keys split from
    ``key``, so the ROI prior draws are common and mROI differs only through each dataset's spend.

    Args:
        key: PRNG key (e.g. :func:`prior_key` of the fit's root key).
        batch: the fits' padded inputs.
        spec: model and priors.
        n_draws: ``S``.
    """
    mu, sd = spec.priors.roi
    data = batch.data._replace(roi_mu=np.full_like(batch.data.roi_mu, mu),
                               roi_sd=np.full_like(batch.data.roi_sd, sd),
                               lift=batch.data.lift[:, :0], test_mask=batch.data.test_mask[:, :0])
    with jax.enable_x64(True):
        f64 = lambda a: jnp.asarray(a, jnp.float64) if np.issubdtype(np.asarray(a).dtype, np.floating) else jnp.asarray(a)
        roi, mroi = _prior_program(spec)(jax.random.split(key, n_draws), jax.tree.map(f64, data),
                                         jnp.asarray(batch.meta.kpi_scale, jnp.float64),
                                         jnp.asarray(batch.meta.spend_mean, jnp.float64))
        roi, mroi = np.asarray(roi), np.asarray(mroi)
    mask = np.asarray(batch.data.channel_mask) > 0
    nan = lambda a: np.where(mask, a, np.nan)
    q = lambda a, p: nan(np.quantile(a, p, axis=1))
    def lsd(a):            # padded channels have zero mROI draws; they are masked to NaN
        with np.errstate(divide="ignore", invalid="ignore"):
            return nan(np.log(a).std(1, ddof=1))

    return PriorSummary(roi_log_sd=lsd(roi), roi_q05=q(roi, 0.05), roi_q95=q(roi, 0.95),
                        mroi_log_sd=lsd(mroi), mroi_q05=q(mroi, 0.05), mroi_q95=q(mroi, 0.95))


class Identification(NamedTuple):
    """Per channel of ``N`` fits, each ``[N, K]`` (NaN / False / "" on padded channels)."""

    mroi_mean: np.ndarray
    mroi_sd: np.ndarray
    mroi_q05: np.ndarray
    mroi_q95: np.ndarray
    roi_log_sd: np.ndarray          # posterior sd of log ROI
    mroi_log_sd: np.ndarray         # posterior sd of log mROI
    roi_sd_ratio: np.ndarray        # roi_log_sd / prior's
    mroi_sd_ratio: np.ndarray
    low_spend_share: np.ndarray
    roi_identified: np.ndarray      # bool
    reason: np.ndarray              # str
    prior: PriorSummary


def low_spend_share(batch: ModelBatch, fraction: float = 0.5) -> np.ndarray:
    """Share of each dataset's real weeks whose spend is below ``fraction`` x the channel's mean: ``[N, K]``."""
    meta = batch.meta
    real = np.arange(meta.spend.shape[1])[None, :] < np.asarray(meta.n_weeks)[:, None]            # [N, T]
    low = (meta.spend < fraction * meta.spend_mean[:, None, :]) & real[:, :, None]
    return low.sum(1) / np.asarray(meta.n_weeks)[:, None]


def reason_text(roi_ratio: float, mroi_ratio: float, low_share: float, spec: IdentificationSpec) -> str:
    """The one-line reason of a channel's flag (the rule: ROI sd ratio <= ``max_sd_ratio``)."""
    thr = spec.max_sd_ratio
    if not np.isfinite(roi_ratio):
        return "no posterior or prior spread"
    if roi_ratio <= thr:
        return f"identified: sd of log ROI {roi_ratio:.2f} x the prior's (<= {thr:g})"
    out = f"mostly prior: sd of log ROI {roi_ratio:.2f} x the prior's (> {thr:g})"
    if np.isfinite(mroi_ratio) and mroi_ratio <= thr:
        out += f"; mROI sd {mroi_ratio:.2f} x: the data fix the marginal return more than the average"
    if low_share == 0:
        out += f"; no week below {spec.low_spend_fraction:g} x mean spend"
    else:
        out += f"; {low_share:.0%} of weeks below {spec.low_spend_fraction:g} x mean spend"
    return out


def identify(post: Posterior, batch: ModelBatch, prior: PriorSummary, spec: IdentificationSpec) -> Identification:
    """mROI, sd ratios, low-spend share and the identification flag of every fit of ``post``.

    Args:
        post: the fits' posterior.
        batch: the batch they were fitted on (mean spend, weeks).
        prior: :func:`prior_summary` of the same datasets (rows aligned with ``post``).
        spec: the rule.
    """
    n, c, d, k = post.roi.shape
    flat = lambda a: np.asarray(a, np.float64).reshape(n, c * d, k)
    roi, mroi = flat(post.roi), flat(mroi_draws(post))
    mask = post.channel_mask
    nan = lambda a: np.where(mask, a, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.nanquantile(mroi, [0.05, 0.95], axis=1)
        r_lsd = nan(np.nanstd(np.log(roi), 1, ddof=1))
        m_lsd = nan(np.nanstd(np.log(mroi), 1, ddof=1))
        m_sd = nan(np.nanstd(mroi, 1, ddof=1))
        roi_ratio, m_ratio = r_lsd / prior.roi_log_sd, m_lsd / prior.mroi_log_sd
    low = nan(low_spend_share(batch, spec.low_spend_fraction))
    ident = mask & (roi_ratio <= spec.max_sd_ratio)
    reason = np.array([[reason_text(roi_ratio[i, j], m_ratio[i, j], low[i, j], spec) if mask[i, j] else ""
                        for j in range(k)] for i in range(n)], dtype=object)
    return Identification(mroi_mean=nan(np.nanmean(mroi, 1)), mroi_sd=m_sd, mroi_q05=nan(q[0]), mroi_q95=nan(q[1]),
                          roi_log_sd=r_lsd, mroi_log_sd=m_lsd, roi_sd_ratio=roi_ratio, mroi_sd_ratio=m_ratio, low_spend_share=low,
                          roi_identified=ident, reason=reason, prior=prior)


IDENT_COLUMNS = ("mroi_mean", "mroi_sd", "mroi_q05", "mroi_q95", "roi_log_sd", "roi_prior_log_sd",
                 "mroi_log_sd", "mroi_prior_log_sd", "roi_sd_ratio", "mroi_sd_ratio", "low_spend_share", "roi_identified", "identification_reason",
                 "roi_prior_q05", "roi_prior_q95", "mroi_prior_q05", "mroi_prior_q95")


def identification_frame(ident: Identification, i: int, k: int) -> pd.DataFrame:
    """The :data:`IDENT_COLUMNS` of fit ``i``'s ``k`` real channels (appended to ``posterior_summary.csv``)."""
    p = ident.prior
    cols = {"mroi_mean": ident.mroi_mean, "mroi_sd": ident.mroi_sd, "mroi_q05": ident.mroi_q05,
            "mroi_q95": ident.mroi_q95, "roi_log_sd": ident.roi_log_sd, "roi_prior_log_sd": p.roi_log_sd,
            "mroi_log_sd": ident.mroi_log_sd, "mroi_prior_log_sd": p.mroi_log_sd,
            "roi_sd_ratio": ident.roi_sd_ratio, "mroi_sd_ratio": ident.mroi_sd_ratio,
            "low_spend_share": ident.low_spend_share, "roi_identified": ident.roi_identified,
            "identification_reason": ident.reason, "roi_prior_q05": p.roi_q05, "roi_prior_q95": p.roi_q95,
            "mroi_prior_q05": p.mroi_q05, "mroi_prior_q95": p.mroi_q95}
    df = pd.DataFrame({c: np.asarray(v)[i, :k] for c, v in cols.items()}, columns=list(IDENT_COLUMNS))
    df["roi_identified"] = df["roi_identified"].astype(bool)
    return df


def identify_fits(key, post: Posterior, batch: ModelBatch, spec: FitSpec, ident_spec: IdentificationSpec) -> Identification:
    """:func:`prior_summary` then :func:`identify` for one batch of fits (the command-line path)."""
    return identify(post, batch, prior_summary(key, batch, spec, ident_spec.prior_draws), ident_spec)
