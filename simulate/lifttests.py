"""Lift tests run on the simulated geo panel, read out by difference-in-differences.

A test changes one channel's spend in a set of treated geos for ``D`` weeks:
during those weeks the treated geos' weekly spend is *set* to the constant
``spend_baseline + spend_delta`` (go-dark: zero). The panel is replayed with
that spend (same baseline and same noise as the dataset, so the test sees the
dataset's own shocks), and the readout is a population-scaled
difference-in-differences on the treated and control aggregates:

    d_t   = y_T,t - r * y_C,t,          r = pop(T) / pop(C)
    lift  = n_W * (mean_{t in W} d_t - mean_{t in pre} d_t)

with an AR(1)-corrected standard error (the residual autocorrelation is
estimated from the pre-period and bias-corrected). Because the estimator is
linear in the panel, the *analytic path* can apply it to the noise-free panel
and add Gaussian noise with the theoretical standard error; a test checks that
it matches the panel path in mean and spread.

The national history in ``data.csv`` is business as usual: the tests are
replays on the panel and are not folded into it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from harness.errors import ConfigError
from simulate.config import field, number, pair_range
from simulate import transforms as tf
from simulate.records import LiftTest
from simulate.truth import LiftTestTruth

FAILURE_MODES = ("too_short", "window_mismatch", "contamination", "non_compliance",
                 "low_power", "saturation_point")
TEST_TYPES = ("go_dark", "scale_up")


@dataclass(frozen=True)
class LiftSpec:
    """Validated lift-test design (see ``conf/lift/*.yaml``)."""

    name: str
    tests_per_channel: int
    test_type: str
    scale_up: float
    duration_weeks: tuple
    treated_share: tuple
    pre_weeks: int
    cooldown_share: float
    ci_level: float
    p_holdout_verified: float
    p_detect: float
    min_failures: int
    failure_prob: tuple       # per FAILURE_MODES
    failure_magnitude: tuple  # per FAILURE_MODES


def lift_spec(cfg: Mapping, path: str = "lift") -> LiftSpec:
    """Validate a lift-design mapping; errors name the field."""
    def get(key):
        return field(cfg, key, path)

    def num(key, lo=None, hi=None, integer=False):
        return number(cfg, key, path, lo=lo, hi=hi, integer=integer)

    def pair(key, lo, hi):
        return pair_range(cfg, key, path, lo=lo, hi=hi)

    test_type = str(get("test_type"))
    if test_type not in TEST_TYPES:
        raise ConfigError(f"{path}.test_type", f"unknown test type {test_type!r}; choose from {TEST_TYPES}")
    modes = get("failure_modes") or {}
    for name in modes:
        if name not in FAILURE_MODES:
            raise ConfigError(f"{path}.failure_modes.{name}",
                              f"unknown failure mode; choose from {', '.join(FAILURE_MODES)}")
    probs, mags = [], []
    for name in FAILURE_MODES:
        m = modes.get(name, {"prob": 0.0, "magnitude": 0.0})
        for key in ("prob", "magnitude"):
            if key not in m:
                raise ConfigError(f"{path}.failure_modes.{name}.{key}", "missing")
        p, mag = m["prob"], m["magnitude"]
        if not (0.0 <= float(p) <= 1.0):
            raise ConfigError(f"{path}.failure_modes.{name}.prob", f"must be in [0, 1], got {p}")
        upper = 10.0 if name == "saturation_point" else 0.95
        if not (0.0 <= float(mag) <= upper):
            raise ConfigError(f"{path}.failure_modes.{name}.magnitude", f"must be in [0, {upper}], got {mag}")
        probs.append(float(p))
        mags.append(float(mag))
    min_failures = num("min_failures", 0, len(FAILURE_MODES), integer=True)
    if min_failures > sum(p > 0 for p in probs):
        raise ConfigError(f"{path}.min_failures",
                          f"asks for {min_failures} failure modes but only {sum(p > 0 for p in probs)} have prob > 0")
    dur = pair("duration_weeks", 1, 52)
    return LiftSpec(
        name=str(get("name")),
        tests_per_channel=num("tests_per_channel", 0, 50, integer=True),
        test_type=test_type,
        scale_up=num("scale_up", 0.01, 10),
        duration_weeks=(int(dur[0]), int(dur[1])),
        treated_share=pair("treated_share", 0.02, 0.8),
        pre_weeks=num("pre_weeks", 8, 156, integer=True),
        cooldown_share=num("cooldown_share", 0.5, 1.0),
        ci_level=num("ci_level", 0.5, 0.999),
        p_holdout_verified=num("p_holdout_verified", 0, 1),
        p_detect=num("p_detect", 0, 1),
        min_failures=min_failures,
        failure_prob=tuple(probs),
        failure_magnitude=tuple(mags),
    )


# --------------------------------------------------------------------------
# The media response of arbitrary spend histories (the truth's own transforms)
# --------------------------------------------------------------------------
@partial(jax.jit, static_argnums=(6,))
def _media(spend_all, weights, beta, half, slope, misspecified, burn_in: int):
    """National contributions of spend histories ``[M, T0+T, K]`` -> ``[M, T, K]``."""
    ad = tf.adstock(spend_all, weights, normalise=True)[..., burn_in:, :]
    sat = jnp.where(misspecified, tf.exponential_saturation(ad, half), tf.hill(ad, half, slope))
    return beta * sat


# --------------------------------------------------------------------------
# The readout
# --------------------------------------------------------------------------
def _ar1_sum_factor(n: int, rho: float) -> float:
    """``Var(sum of n AR(1) terms) / sigma^2 = n + 2 sum_{k<n} (n-k) rho^k``."""
    k = np.arange(1, n)
    return float(n + 2.0 * np.sum((n - k) * rho**k))


def did_point(y_t, y_c, ratio, pre: slice, window: slice) -> float:
    """Population-scaled DiD point estimate of the total lift over ``window``.

    Args:
        y_t, y_c: treated and control aggregate KPI, ``[T]``.
        ratio: population ratio treated / control.
        pre, window: week slices.
    Returns:
        estimated total incremental KPI in the treated geos over the window.
    """
    d = y_t - ratio * y_c
    n_w = window.stop - window.start
    return float(n_w * (d[window].mean() - d[pre].mean()))


def did_se(sigma: float, rho: float, n_pre: int, n_w: int) -> float:
    """Standard error of :func:`did_point` for AR(1) residuals (sd ``sigma``, lag-1 ``rho``)."""
    var_w = sigma**2 * _ar1_sum_factor(n_w, rho)                      # Var(sum over window)
    var_pre_mean = sigma**2 * _ar1_sum_factor(n_pre, rho) / n_pre**2   # Var(mean over pre)
    return float(np.sqrt(var_w + n_w**2 * var_pre_mean))


def did_readout(y_t, y_c, ratio, pre: slice, window: slice, ci_level: float):
    """DiD estimate with an AR(1)-corrected standard error estimated from the pre-period.

    Returns:
        ``(lift, se, ci_low, ci_high)``.
    """
    lift = did_point(y_t, y_c, ratio, pre, window)
    d_pre = (y_t - ratio * y_c)[pre]
    e = d_pre - d_pre.mean()
    n_pre = e.size
    sigma = float(np.sqrt(np.sum(e**2) / (n_pre - 1)))
    rho_hat = float(np.sum(e[1:] * e[:-1]) / max(np.sum(e**2), 1e-300))
    rho = float(np.clip((n_pre * rho_hat + 1.0) / (n_pre - 3.0), 0.0, 0.95))  # Kendall bias correction
    se = did_se(sigma, rho, n_pre, window.stop - window.start)
    q = stats.t.ppf(0.5 + ci_level / 2.0, df=n_pre - 1)
    return lift, se, lift - q * se, lift + q * se


# --------------------------------------------------------------------------
# Planning and running one dataset's tests
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class _Design:
    channel: int
    start: int
    duration: int
    window: int
    treated: np.ndarray      # [G] bool
    level_factor: float      # treated per-capita spend during the test / baseline mean
    delivered: float         # delivered fraction of the planned change
    contamination: float
    modes: tuple
    detected: dict


def _cooldown_weeks(weights_k: np.ndarray, share: float) -> int:
    """Weeks after the last changed week until ``share`` of a pulse's carryover has passed."""
    cum = np.cumsum(weights_k / weights_k.sum())
    return int(np.argmax(cum >= share - 1e-12))


def expected_capture(weights_k: np.ndarray, duration: int, window: int) -> float:
    """Share of a ``duration``-week constant change's full-carryover effect inside the first ``window`` weeks.

    Exact for a linear response (the documented size of the ``too_short`` and
    ``window_mismatch`` biases); approximate under saturation.

    Args:
        weights_k: the channel's lag weights ``[L]``.
        duration: weeks of changed spend.
        window: measurement window in weeks from the start.
    """
    w = np.asarray(weights_k, float) / np.sum(weights_k)
    effect = np.convolve(np.ones(duration), w)          # per-week effect, full carryover
    return float(effect[:window].sum() / effect.sum())


def _pick_modes(rng, spec: LiftSpec) -> tuple:
    probs = np.array(spec.failure_prob)
    chosen = rng.random(probs.size) < probs
    eligible = np.flatnonzero(probs > 0)
    while chosen.sum() < spec.min_failures:
        chosen[rng.choice(eligible[~chosen[eligible]])] = True
    return tuple(FAILURE_MODES[i] for i in np.flatnonzero(chosen))


def _plan(rng, spec: LiftSpec, channel: int, weights_k, population, spend_pc, max_lag: int) -> _Design:
    """Design one test on ``channel``; ``spend_pc`` is observed national spend ``[T, K]``."""
    n_weeks = spend_pc.shape[0]
    modes = _pick_modes(rng, spec)
    mag = dict(zip(FAILURE_MODES, spec.failure_magnitude))
    duration = int(rng.integers(spec.duration_weeks[0], spec.duration_weeks[1] + 1))
    share = rng.uniform(*spec.treated_share)
    level_factor = 0.0 if spec.test_type == "go_dark" else 1.0 + spec.scale_up
    delivered, contamination = 1.0, 0.0
    cooldown = _cooldown_weeks(weights_k, spec.cooldown_share)
    if "low_power" in modes:
        m = mag["low_power"]
        share *= 1.0 - m
        duration = max(1, int(round(duration * (1.0 - m / 2.0))))
        level_factor = 1.0 - (1.0 - level_factor) * (1.0 - m)
    if "too_short" in modes:
        duration = max(1, int(round(duration * (1.0 - mag["too_short"]))))
        cooldown = 0
    if "saturation_point" in modes:
        level_factor = 1.0 + mag["saturation_point"]
    window = duration + cooldown
    if "window_mismatch" in modes:
        window = max(1, int(round(window * (1.0 - mag["window_mismatch"]))))
    if "non_compliance" in modes:
        delivered = 1.0 - mag["non_compliance"]
    if "contamination" in modes:
        contamination = mag["contamination"]
    # Treated geos: a random set reaching the target population share; the rest control.
    order = rng.permutation(population.size)
    cum = np.cumsum(population[order])
    n_treat = int(np.clip(np.searchsorted(cum, share) + 1, 1, population.size - 1))
    treated = np.zeros(population.size, bool)
    treated[order[:n_treat]] = True
    # Room for the pre-period before and the full carryover after.
    latest = n_weeks - (duration + max_lag - 1)
    if latest < spec.pre_weeks:
        raise ConfigError("lift.pre_weeks", f"{spec.pre_weeks} pre-weeks plus a {duration}-week test "
                          f"and {max_lag}-week carryover do not fit in {n_weeks} weeks")
    # A planner tests a live channel: every changed week must carry at least a
    # fifth of the channel's mean spend; failing that, the start with the most spend.
    starts = np.arange(spec.pre_weeks, latest + 1)
    spend_k = spend_pc[:, channel]
    windows = np.stack([spend_k[s:s + duration] for s in starts])
    live = starts[windows.min(1) >= 0.2 * spend_k.mean()]
    start = int(rng.choice(live)) if live.size else int(starts[np.argmax(windows.mean(1))])
    detected = {m: bool(rng.random() < spec.p_detect) for m in ("contamination", "non_compliance")}
    detected["verified"] = bool(rng.random() < spec.p_holdout_verified)
    return _Design(channel, start, duration, window, treated, level_factor, delivered,
                   contamination, modes, detected)


class PanelInputs(dict):
    """Per-dataset arrays the lift tests need (numpy, float64); a plain dict with keys:

    ``full_spend [T0+T, K]``, ``weights [K, L]``, ``beta, half, slope, misspecified [K]``,
    ``burn_in``, ``geo_clean [G, T]`` (noise-free panel KPI), ``geo_noise [G, T]``,
    ``population [G]``, ``noise_sd`` and ``noise_ar1`` (national residual sd and AR(1)),
    ``common_noise_share`` (the share of that variance common to all geos),
    ``roi [K]``, ``lag_weeks`` (max lag).
    """


def _spend_variants(inp, d: _Design):
    """National-per-capita spend histories: BAU, treated-with-test, control-with-contamination
    and treated-with-planned-change, ``[4, T0+T, K]``, plus the baseline weekly spend per capita."""
    t0 = inp["burn_in"]
    bau = inp["full_spend"]
    k = d.channel
    weeks = slice(t0 + d.start, t0 + d.start + d.duration)
    base_pc = float(bau[weeks, k].mean())                # per-capita (national) baseline spend
    planned = bau.copy()
    planned[weeks, k] = d.level_factor * base_pc         # the planned setting
    change = planned[:, k] - bau[:, k]
    delivered = bau.copy()
    delivered[:, k] = bau[:, k] + d.delivered * change
    control = bau.copy()
    control[:, k] = bau[:, k] + d.contamination * d.delivered * change
    return np.stack([bau, delivered, control, planned]), base_pc


READOUTS = ("panel", "analytic", "noise_free")


def run_test(inp, d: _Design, spec: LiftSpec, readout: str = "panel", rng=None):
    """Run one designed test on the panel and read it out.

    Args:
        inp: :class:`PanelInputs` of the dataset.
        d: the design.
        spec: the lift spec (CI level).
        readout: ``panel`` (DiD on the noisy panel, SE estimated from the
            pre-period), ``analytic`` (the fast path: DiD of the noise-free
            panel plus Gaussian noise with the theoretical SE), or
            ``noise_free`` (DiD of the noise-free panel: the design's bias alone;
            the SE is the theoretical one).
        rng: numpy Generator, needed by the analytic path.
    Returns:
        ``(lift, se, ci_low, ci_high, true_lift, target_lift, spend_baseline,
        spend_delta, sign_flip)``.
    """
    variants, base_pc = _spend_variants(inp, d)
    with jax.enable_x64(True):
        contrib = np.asarray(_media(variants, inp["weights"], inp["beta"], inp["half"],
                                    inp["slope"], inp["misspecified"], inp["burn_in"]))
    k = d.channel
    pop = inp["population"]
    p_t = float(pop[d.treated].sum())
    p_c = 1.0 - p_t
    n_weeks = contrib.shape[1]
    treat_change = p_t * (contrib[1, :, k] - contrib[0, :, k])     # [T], treated geos
    ctrl_change = p_c * (contrib[2, :, k] - contrib[0, :, k])      # [T], control geos
    planned_change = p_t * (contrib[3, :, k] - contrib[0, :, k])
    window = slice(d.start, min(d.start + d.window, n_weeks))
    pre = slice(d.start - spec.pre_weeks, d.start)
    full = slice(d.start, n_weeks)
    true_lift = float(treat_change[window].sum())
    target_lift = float(planned_change[full].sum())
    clean = inp["geo_clean"]
    y_t_clean = clean[d.treated].sum(0) + treat_change
    y_c_clean = clean[~d.treated].sum(0) + ctrl_change
    ratio = p_t / p_c
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    if readout != "panel":
        point = did_point(y_t_clean, y_c_clean, ratio, pre, window)
        # The common shock cancels in d_t; the idiosyncratic part remains.
        sigma_d = inp["noise_sd"] * np.sqrt((1.0 - inp["common_noise_share"]) * (p_t + ratio**2 * p_c))
        se = did_se(sigma_d, inp["noise_ar1"], spec.pre_weeks, window.stop - window.start)
        lift = point + (se * rng.standard_normal() if readout == "analytic" else 0.0)
        q = stats.norm.ppf(0.5 + spec.ci_level / 2.0)
        lo, hi = lift - q * se, lift + q * se
        sign_flip = False
    else:
        noise = inp["geo_noise"]
        y_t = y_t_clean + noise[d.treated].sum(0)
        y_c = y_c_clean + noise[~d.treated].sum(0)
        lift, se, lo, hi = did_readout(y_t, y_c, ratio, pre, window, spec.ci_level)
        # Sensitivity check: the same readout on the later and the earlier half of the pre-period.
        half = spec.pre_weeks // 2
        alt = [did_point(y_t, y_c, ratio, slice(d.start - half, d.start), window),
               did_point(y_t, y_c, ratio, slice(d.start - spec.pre_weeks, d.start - half), window)]
        sign_flip = bool(any(np.sign(a) != np.sign(lift) for a in alt))
    spend_baseline = p_t * base_pc
    spend_delta = p_t * (d.level_factor - 1.0) * base_pc
    return lift, se, lo, hi, true_lift, target_lift, spend_baseline, spend_delta, sign_flip


def plan_tests(rng, inp, spec: LiftSpec):
    """Design ``tests_per_channel`` tests per channel (channel order), with a numpy Generator."""
    designs = []
    for k in range(inp["weights"].shape[0]):
        for _ in range(spec.tests_per_channel):
            designs.append(_plan(rng, spec, k, inp["weights"][k], inp["population"],
                                 inp["full_spend"][inp["burn_in"]:], inp["weights"].shape[1]))
    return designs


def key_to_rng(key) -> np.random.Generator:
    """A numpy Generator seeded deterministically from a JAX PRNG key."""
    bits = np.asarray(jax.random.bits(key, (4,), dtype=jnp.uint32))
    return np.random.default_rng(bits.astype(np.uint64))


def simulate_tests(key, inp, spec: LiftSpec, channel_names, dataset_id: str, readout: str = "panel"):
    """Plan and run one dataset's lift tests.

    Args:
        key: PRNG key for this dataset's experiments.
        inp: :class:`PanelInputs`.
        spec: the design.
        channel_names: ``K`` names.
        dataset_id: prefix of the test ids.
        readout: see :func:`run_test`.
    Returns:
        ``(tests: list[LiftTest], hidden: list[LiftTestTruth])``.
    """
    rng = key_to_rng(key)
    tests, hidden = [], []
    for i, d in enumerate(plan_tests(rng, inp, spec)):
        lift, se, lo, hi, true_lift, target, sb, sd, flip = run_test(inp, d, spec, readout, rng)
        contaminated = d.contamination > 0
        if contaminated and d.detected["contamination"]:
            leakage, verified = d.contamination, False
        elif contaminated:
            leakage, verified = 0.0, True          # undetected: looks clean
        elif d.detected["verified"]:
            leakage, verified = 0.0, True
        else:
            leakage, verified = float("nan"), None  # holdout never checked
        delivery_ok = not ("non_compliance" in d.modes and d.detected["non_compliance"])
        tests.append(LiftTest(
            test_id=f"{dataset_id}-x{i:02d}", channel=channel_names[d.channel],
            start_week=d.start, end_week=d.start + d.duration - 1, window_days=7 * d.window,
            population_share=float(inp["population"][d.treated].sum()),
            spend_baseline=sb, spend_delta=sd, lift=lift, lift_se=se, ci_low=lo, ci_high=hi,
            n_geos=int(d.treated.sum()), leakage=leakage, holdout_verified=verified,
            spend_delivery_ok=delivery_ok, sensitivity_sign_flip=flip if readout == "panel" else None,
            estimator="scaled_did" if readout == "panel" else f"scaled_did_{readout}"))
        hidden.append(LiftTestTruth(true_lift=true_lift, target_lift=target,
                                    true_iroas=float(inp["roi"][d.channel]),
                                    delivered_fraction=d.delivered, contamination=d.contamination,
                                    failure_modes=d.modes))
    return tests, hidden
