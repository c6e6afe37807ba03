"""From lift-test readouts to calibration inputs: M1 ROI priors (eq. 11) and M2 test segments (eq. 12).

Unit conversion (M1)
--------------------
A lift test reports ``lift`` = total incremental KPI in the treated geos over
its measurement window, caused by changing the treated geos' weekly spend by
``spend_delta`` during ``weeks`` weeks. Its iROAS is

    iroas = lift / (spend_delta * weeks)          [KPI currency per spend currency]
    se(iroas) = lift_se / |spend_delta * weeks|

The model's ROI_k is total contribution over total spend of channel k over the
data's weeks, also in KPI currency per spend currency (and the model is fitted
on a scaled KPI, but ROI is a ratio of two sums that the scaling leaves
untouched: beta_scaled = ROI * sum(spend) / kpi_scale / sum(saturation), so
ROI itself needs no rescaling). The conversion is therefore the identity in
units, under two stated assumptions that M1 cannot check and M2 removes: the
measurement window catches all of the carryover, and the response is linear
between the test's spend level and the business-as-usual level (iROAS is a
secant, ROI an average). Several tests on one channel combine by precision::

    m = sum_j w_j iroas_j / sum_j w_j,   s = (sum_j w_j) ** -0.5,   w_j = se_j ** -2

The combined read ``N(m, s)`` then enters the model in one of two ways:

* **M1, replace** (``calibration=m1``): the experiment's flat-prior posterior on a positive ROI,
  the normal ``N(m, s)`` truncated to ``ROI > 0``, becomes the channel's ROI prior, as the
  LogNormal with the same 5% and 95% quantiles. A precise read gives nearly the moment-matched
  LogNormal; an imprecise or negative read gives a wide prior (log-sd at most about 1.2, the
  limit of a read far below zero), never a confident low one. On unbiased reads its 90%
  interval covers the true ROI at about the nominal rate (a test checks 85-95%).
  ``calibration.m1_conversion=moment`` keeps the conversion of the earlier reference runs for
  comparison: the LogNormal with the read's mean and sd, the mean floored at 0.05, which turns an
  imprecise or negative read into a confident prior near zero.
* **M1, multiplied into the default prior** (``calibration=m1_prior``, i.e.
  ``m1_with_default_prior=true``): the default ROI prior stays, and the read is one more
  likelihood term, ``m ~ Normal(ROI, s)``, inside the model: the exact product of the two.

Test segments (M2)
------------------
For a test on channel k with treated population share p, the treated geos'
spend is ``x_bau = p * spend_k`` outside the test weeks and the constant
``spend_baseline + spend_delta`` inside them. Geos saturate per capita, so the
treated response is ``p * beta_k * hill(adstock(x / p))`` and

    g(theta) = p * beta_k * sum_{window weeks} [hill(adstock(x_test / p)) - hill(adstock(x_bau / p))]

Here we cut, per test, the national scaled spend segment that feeds the
window's adstock (``L - 1`` weeks before the start to the end of the window)
and its counterfactual, as lag stacks ``[L, W]``, so the model evaluates g with
two small contractions.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from common.records import LiftTest
from common.transforms import lag_stack


class RoiPrior(NamedTuple):
    """LogNormal ROI prior per channel: ``log ROI ~ Normal(mu, sd)``, each ``[K]``."""

    mu: np.ndarray
    sd: np.ndarray


def iroas(test: LiftTest) -> tuple[float, float]:
    """Experiment iROAS and its standard error: ``lift / (spend_delta * weeks)``."""
    denom = test.spend_delta * test.weeks
    return test.lift / denom, test.lift_se / abs(denom)


def combine_precision(means: Sequence[float], ses: Sequence[float]) -> tuple[float, float]:
    """Inverse-variance combination of independent estimates: ``(mean, sd)``."""
    w = 1.0 / np.square(np.asarray(ses, float))
    return float(np.sum(w * np.asarray(means, float)) / np.sum(w)), float(np.sum(w) ** -0.5)


MOMENT_FLOOR = 0.05    # the moment conversion's floor on the combined iROAS (earlier reference runs)


def moment_prior(mean: float, sd: float) -> tuple[float, float]:
    """LogNormal ``(mu_log, sd_log)`` with the read's mean (floored at ``MOMENT_FLOOR``) and sd."""
    m = max(mean, MOMENT_FLOOR)
    s2 = float(np.log1p((sd / m) ** 2))
    return float(np.log(m) - s2 / 2), float(np.sqrt(s2))


def replacement_prior(mean: float, sd: float, level: float = 0.90) -> tuple[float, float]:
    """LogNormal ``(mu_log, sd_log)`` with the central ``level`` interval of ``N(mean, sd)`` truncated to > 0."""
    from scipy import stats

    tail = (1.0 - level) / 2.0
    t = stats.truncnorm((0.0 - mean) / sd, np.inf, loc=mean, scale=sd)
    lo, hi = (float(x) for x in t.ppf([tail, 1.0 - tail]))
    lo = max(lo, 1e-12 * max(hi, 1e-12))
    z = float(stats.norm.ppf(1.0 - tail))
    return (np.log(lo) + np.log(hi)) / 2.0, (np.log(hi) - np.log(lo)) / (2.0 * z)


class M1Inputs(NamedTuple):
    """What M1 puts into the model, per channel ``[K]``: the LogNormal ROI prior ``(mu, sd)`` and,
    for ``m1_prior``, the combined read ``obs`` with its ``se`` and a ``mask`` of channels that have one."""

    mu: np.ndarray
    sd: np.ndarray
    obs: np.ndarray
    se: np.ndarray
    mask: np.ndarray


def m1_inputs(tests: Sequence[LiftTest], channel_names: Sequence[str], default: tuple,
              with_default_prior: bool = False, conversion: str = "quantile") -> M1Inputs:
    """M1 (eq. 11) per channel; channels without tests keep ``default`` and no read.

    Args:
        tests: lift-test readouts (any channels).
        channel_names: the model's ``K`` channels.
        default: the default LogNormal ``(mu, sd)``.
        with_default_prior: keep the default prior and add the read as a likelihood term
            (``m1_prior``) instead of replacing the prior (``m1``).
        conversion: how a read replaces the prior: ``quantile`` (:func:`replacement_prior`) or
            ``moment`` (:func:`moment_prior`, the earlier reference runs' conversion).
    """
    convert = moment_prior if conversion == "moment" else replacement_prior
    n_k = len(channel_names)
    out = M1Inputs(np.full(n_k, float(default[0])), np.full(n_k, float(default[1])), np.zeros(n_k),
                   np.ones(n_k), np.zeros(n_k))
    for k, name in enumerate(channel_names):
        mine = [iroas(t) for t in tests if t.channel == name]
        if not mine:
            continue
        m, s = combine_precision([a for a, _ in mine], [b for _, b in mine])
        if with_default_prior:
            out.obs[k], out.se[k], out.mask[k] = m, s, 1.0
        else:
            out.mu[k], out.sd[k] = convert(m, s)
    return out


class TestSegments(NamedTuple):
    """M2 inputs of ``J`` tests (numpy, scaled units). ``W`` = longest window in weeks.

    Attributes:
        channel: channel index ``[J]``.
        share: treated population share ``[J]``.
        lift: reported lift / kpi_scale ``[J]``.
        lift_se: its standard error / kpi_scale ``[J]``.
        bau: lag stack of business-as-usual national scaled spend ``[J, L, W]``.
        test: lag stack of the counterfactual (test) spend ``[J, L, W]``.
        window: 1 for measured weeks inside the data, else 0 ``[J, W]``.
    """

    channel: np.ndarray
    share: np.ndarray
    lift: np.ndarray
    lift_se: np.ndarray
    bau: np.ndarray
    test: np.ndarray
    window: np.ndarray


def test_segments(tests: Sequence[LiftTest], channel_names: Sequence[str], spend_full: np.ndarray,
                  spend_mean: np.ndarray, kpi_scale: float, n_weeks: int, n_lag: int,
                  n_window: int | None = None, period_days: float = 7.0) -> TestSegments:
    """Cut the M2 segments of every test.

    Args:
        tests: readouts whose channels are in ``channel_names``.
        channel_names: ``K`` names.
        spend_full: national spend / spend_mean incl. ``L-1`` pre-sample weeks, ``[L-1+T, K]``.
        spend_mean: ``m_k`` ``[K]`` (spend units per scaled unit).
        kpi_scale: KPI scale.
        n_weeks: ``T`` (weeks in the data).
        n_lag: ``L``.
        n_window: ``W`` (default: the longest window).
        period_days: days per week.
    Returns:
        :class:`TestSegments` with ``J = len(tests)``.
    """
    windows = [max(1, int(np.ceil(t.window_days / period_days))) for t in tests]
    w_max = int(n_window if n_window is not None else max(windows, default=1))
    n_j = len(tests)
    pad = np.concatenate([spend_full, np.zeros((w_max, spend_full.shape[1]))], axis=0)
    out = TestSegments(
        channel=np.zeros(n_j, np.int32), share=np.ones(n_j), lift=np.zeros(n_j),
        lift_se=np.ones(n_j), bau=np.zeros((n_j, n_lag, w_max)), test=np.zeros((n_j, n_lag, w_max)),
        window=np.zeros((n_j, w_max)))
    for j, t in enumerate(tests):
        k = channel_names.index(t.channel)
        s = t.start_week
        seg = pad[s: s + n_lag - 1 + w_max, k].copy()      # weeks s-(L-1) .. s+W-1
        cf = seg.copy()
        n_test = min(t.end_week, n_weeks - 1) - s + 1
        level = max(t.spend_baseline + t.spend_delta, 0.0) / t.population_share / spend_mean[k]
        cf[n_lag - 1: n_lag - 1 + min(n_test, w_max)] = level
        out.channel[j] = k
        out.share[j] = t.population_share
        out.lift[j] = t.lift / kpi_scale
        out.lift_se[j] = t.lift_se / kpi_scale
        out.bau[j] = lag_stack(seg, n_lag, w_max)
        out.test[j] = lag_stack(cf, n_lag, w_max)
        n_meas = min(min(windows[j], w_max), n_weeks - s)
        out.window[j, :n_meas] = 1.0
    return out
