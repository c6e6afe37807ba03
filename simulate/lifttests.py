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

A design with ``target_rel_se`` set plans each test's duration and treated share to that
``lift_se / |lift|`` from the observed pre-period noise of the geo panel, the planned spend change
and an assumed return ``planning_roi`` (:func:`_plan_precise`); without it (the default) both are
drawn, exactly as before the option existed.

Planning is numpy (one Generator per dataset, drawn from its experiments key); the replays
and readouts of every planned test of a batch of datasets run in one vmapped call
(:func:`run_designs`), whatever the readout.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from common import did
from common.blocks import run_blocked
from common.records import LiftTest
from harness.errors import ConfigError
from simulate.config import field, number, pair_range
from simulate.response import channel_media
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
    target_rel_se: float | None = None   # plan duration and share to this lift_se / |lift| (None: draw them)
    planning_roi: float = 1.0            # the planner's assumed return per unit of spend change


def lift_spec(cfg: Mapping, path: str = "lift", source: str | None = None) -> LiftSpec:
    """Validate a lift-design mapping; errors name the field (and ``source`` file and line)."""
    from harness.validate.profiles import validate_profile, with_source

    try:
        validate_profile("lift", cfg, path, source)
        return _lift_spec(cfg, path)
    except ConfigError as e:
        raise with_source(e, source) from None


def _lift_spec(cfg: Mapping, path: str) -> LiftSpec:
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
    # Optional (absent from older configs): the precision planner of :func:`_plan_precise`.
    target = cfg.get("target_rel_se")
    if target is not None:
        target = number(cfg, "target_rel_se", path, lo=0.01, hi=10.0)
    planning_roi = number(cfg, "planning_roi", path, lo=0.01, hi=100.0) if "planning_roi" in cfg else 1.0
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
        target_rel_se=target,
        planning_roi=planning_roi,
    )


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
    planned_se: float = float("nan")     # precision planner only: the SE it planned for
    planned_lift: float = float("nan")   # ... the lift it assumed (planning_roi x |spend change|)
    target_met: bool | None = None       # ... False: out of reach; the most precise allowed design


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


def _plan(rng, spec: LiftSpec, channel: int, weights_k, population, spend_pc, max_lag: int,
          geo_kpi=None) -> _Design:
    """Design one test on ``channel``.

    Args:
        spend_pc: observed national spend ``[T, K]``.
        geo_kpi: the observed geo KPI ``[G, T]`` (only the precision planner reads it, and
            only its weeks before any test can start).
    """
    n_weeks = spend_pc.shape[0]
    modes = _pick_modes(rng, spec)
    mag = dict(zip(FAILURE_MODES, spec.failure_magnitude))
    level_factor = 0.0 if spec.test_type == "go_dark" else 1.0 + spec.scale_up
    cooldown = _cooldown_weeks(weights_k, spec.cooldown_share)
    if spec.target_rel_se is None:
        duration = int(rng.integers(spec.duration_weeks[0], spec.duration_weeks[1] + 1))
        share = rng.uniform(*spec.treated_share)
        precise = None
    else:
        precise = _plan_precise(rng, spec, level_factor, cooldown, population, spend_pc[:, channel],
                                geo_kpi, max_lag)
        duration, share = precise.duration, precise.share
    delivered, contamination = 1.0, 0.0
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
    order = rng.permutation(population.size) if precise is None else precise.order
    cum = np.cumsum(population[order])
    n_treat = int(np.clip(np.searchsorted(cum, share) + 1, 1, population.size - 1))
    treated = np.zeros(population.size, bool)
    treated[order[:n_treat]] = True
    if precise is None:
        start = _pick_start(spec, spend_pc[:, channel], duration, max_lag,
                            lambda live: int(rng.choice(live)))
    else:
        start = precise.start          # a failure mode only shortens the planned test
    detected = {m: bool(rng.random() < spec.p_detect) for m in ("contamination", "non_compliance")}
    detected["verified"] = bool(rng.random() < spec.p_holdout_verified)
    extra = {} if precise is None else dict(planned_se=precise.planned_se, planned_lift=precise.planned_lift,
                                            target_met=precise.met)
    return _Design(channel, start, duration, window, treated, level_factor, delivered,
                   contamination, modes, detected, **extra)


def _pick_start(spec: LiftSpec, spend_k, duration: int, max_lag: int, choose) -> int:
    """Start week of a ``duration``-week test on a channel with observed spend ``spend_k [T]``.

    Room for the pre-period before and the full carryover after. A planner tests a live
    channel: every changed week must carry at least a fifth of the channel's mean spend
    (``choose(live starts)`` picks one); failing that, the start with the most spend.
    """
    n_weeks = spend_k.shape[0]
    latest = n_weeks - (duration + max_lag - 1)
    if latest < spec.pre_weeks:
        raise ConfigError("lift.pre_weeks", f"{spec.pre_weeks} pre-weeks plus a {duration}-week test "
                          f"and {max_lag}-week carryover do not fit in {n_weeks} weeks")
    starts = np.arange(spec.pre_weeks, latest + 1)
    windows = np.stack([spend_k[s:s + duration] for s in starts])
    live = starts[windows.min(1) >= 0.2 * spend_k.mean()]
    return choose(live) if live.size else int(starts[np.argmax(windows.mean(1))])


# --------------------------------------------------------------------------
# The precision planner (``target_rel_se``)
# --------------------------------------------------------------------------
def _ar1_factor(n, rho):
    """``n + 2 sum_{k<n} (n - k) rho^k`` (numpy, :func:`common.did.ar1_sum_factor`), broadcast over ``rho``."""
    k = np.arange(1, max(int(n), 1))
    rho = np.asarray(rho, float)[..., None]
    return n + 2.0 * np.sum((n - k) * rho ** k, axis=-1)


def pre_period_noise(d_pre):
    """Residual sd and AR(1) coefficient of pre-period differences, as :func:`common.did.did_readout`
    estimates them (demeaned; lag-1 autocorrelation Kendall bias-corrected, clipped to [0, 0.95]).

    Args:
        d_pre: ``[..., P]`` pre-period series ``d_t = y_T,t - r y_C,t``.
    Returns:
        ``(sigma [...], rho [...])``.
    """
    n_pre = d_pre.shape[-1]
    e = d_pre - d_pre.mean(-1, keepdims=True)
    ss = np.sum(e ** 2, -1)
    sigma = np.sqrt(ss / (n_pre - 1))
    rho_hat = np.sum(e[..., 1:] * e[..., :-1], -1) / np.maximum(ss, 1e-300)
    rho = np.clip((n_pre * rho_hat + 1.0) / (n_pre - 3.0), 0.0, 0.95)
    return sigma, rho


def planned_did_se(sigma, rho, n_pre: int, n_window: int):
    """The DiD readout's standard error for a window of ``n_window`` weeks (numpy, ``[...]``).

    The readout (:func:`common.did.did_readout`, run by :func:`run_designs`) is
    ``lift = n_W (mean_W d - mean_pre d)`` on ``d_t = y_T,t - r y_C,t``; with AR(1)
    residuals of sd ``sigma`` and lag-1 ``rho``::

        SE^2 = sigma^2 [ F(n_W, rho) + n_W^2 F(n_pre, rho) / n_pre^2 ],
        F(n, rho) = n + 2 sum_{k=1}^{n-1} (n - k) rho^k.
    """
    return sigma * np.sqrt(_ar1_factor(n_window, rho) + n_window ** 2 * _ar1_factor(n_pre, rho) / n_pre ** 2)


class _Precise(NamedTuple):
    duration: int
    share: float          # realised population share of the chosen treated prefix
    order: np.ndarray     # [G] geo order (treated = a prefix)
    start: int
    planned_se: float
    planned_lift: float
    met: bool


def _plan_precise(rng, spec: LiftSpec, level_factor: float, cooldown: int, population, spend_k, geo_kpi,
                  max_lag: int) -> _Precise:
    """Choose duration ``D`` and treated share ``s`` so that the planned ``SE / |lift|`` meets
    ``spec.target_rel_se``, from what an experimenter observes before the test.

    ``duration_weeks`` and ``treated_share`` are the allowed ranges here, not draw ranges.

    * Candidate splits: one random geo order; the treated set is a prefix of it, from the first
      prefix reaching ``treated_share[0]`` up to a share of ``treated_share[1]``.
    * Noise: per split ``j``, ``sigma_j`` and ``rho_j`` of ``d_t = y_T,t - r y_C,t`` on the observed
      geo KPI over weeks ``[0, pre_weeks)`` (before any test can start), estimated as the readout
      does (:func:`pre_period_noise`). The planner assumes idiosyncratic geo noise with variance
      proportional to population (shocks common to all geos in proportion to population cancel
      in ``d``), so ``Var(d) = c s / (1 - s)`` for a split of share ``s``; it pools
      ``c = mean_j sigma_j^2 (1 - s_j) / s_j`` and ``rho = mean_j rho_j`` over the candidate
      splits. (Each split's own estimate would do, but choosing the cheapest split that meets
      the target then picks the luckiest estimate: the realised SE ran 7-11% above plan.)
      The planned SE is :func:`planned_did_se` with the test's window
      ``n_W = min(D + cooldown, T - start)``.
    * Lift: ``planning_roi x s x |level_factor - 1| x base(D) x D``, where ``base(D)`` is the
      channel's observed national spend per week over the planned test weeks (the planned spend
      change, as :func:`run_designs` applies it); ``planning_roi`` is an assumption, never the truth.
    * Durations ``D`` from ``duration_weeks[0]`` to ``duration_weeks[1]`` (at most what fits between
      the pre-period and the carryover before the data end); each ``D`` has its own live start
      (:func:`_pick_start`), picked by one uniform draw per test.

    The design chosen is the cheapest that meets the target, in treated population-weeks
    ``s x D`` (ties: the shorter); when none does, the most precise allowed design (``met=False``).
    """
    n_weeks, n_pre, n_geo = spend_k.shape[0], spec.pre_weeks, population.size
    order = rng.permutation(n_geo)
    u = rng.random()
    cum = np.cumsum(population[order])
    first = int(np.clip(np.searchsorted(cum, spec.treated_share[0]) + 1, 1, n_geo - 1))
    sizes = np.arange(first, n_geo)
    sizes = sizes[(cum[sizes - 1] <= spec.treated_share[1]) | (sizes == first)]
    shares = cum[sizes - 1]                                            # [S]
    y = np.cumsum(np.asarray(geo_kpi, float)[order, :n_pre], axis=0)   # prefix sums [G, P]
    y_t = y[sizes - 1]
    y_c = y[-1] - y_t
    odds = shares / (1.0 - shares)
    sigma_j, rho_j = pre_period_noise(y_t - odds[:, None] * y_c)
    # Pooled over the splits (each alone is a noisy 52-week estimate, and picking the cheapest
    # split that meets the target would pick the luckiest): Var(d) = c s / (1 - s), rho common.
    sigma = np.sqrt(np.mean(sigma_j ** 2 / odds) * odds)
    rho = np.full_like(rho_j, rho_j.mean())
    d_max = min(spec.duration_weeks[1], n_weeks - max_lag + 1 - n_pre)
    d_min = min(spec.duration_weeks[0], max(d_max, 1))
    best = None                                                        # (key, D, j, start, se, lift, met)
    for dur in range(d_min, max(d_max, d_min) + 1):
        start = _pick_start(spec, spend_k, dur, max_lag, lambda live: int(live[int(u * live.size)]))
        n_w = min(dur + cooldown, n_weeks - start)
        se = planned_did_se(sigma, rho, n_pre, n_w)
        lift = spec.planning_roi * shares * abs(level_factor - 1.0) * spend_k[start:start + dur].mean() * dur
        rel = se / np.maximum(lift, 1e-300)
        met = rel <= spec.target_rel_se
        for j in range(shares.size):
            key = (0, shares[j] * dur, dur) if met[j] else (1, rel[j], -dur)
            if best is None or key < best[0]:
                best = (key, dur, j, start, float(se[j]), float(lift[j]), bool(met[j]))
    _, dur, j, start, se, lift, met = best
    return _Precise(dur, float(shares[j]), order, start, se, lift, met)


class Panel(NamedTuple):
    """What the replays of a batch of ``N`` datasets need (numpy float64, leading axis ``N``)."""

    full_spend: np.ndarray      # [N, T0+T, K] national spend incl. burn-in
    weights: np.ndarray         # [N, K, L] true normalised lag weights
    beta: np.ndarray            # [N, K]
    half: np.ndarray            # [N, K]
    slope: np.ndarray           # [N, K]
    misspecified: np.ndarray    # [N, K] bool
    geo_clean: np.ndarray       # [N, G, T] noise-free panel KPI
    geo_noise: np.ndarray       # [N, G, T]
    population: np.ndarray      # [N, G]
    noise_sd: np.ndarray        # [N] national residual sd
    noise_ar1: np.ndarray       # [N]
    roi: np.ndarray             # [N, K] true ROI
    burn_in: int
    common_noise_share: float


def panel_of(dataset, truth, spec) -> Panel:
    """The :class:`Panel` of a simulated batch (``spec``: its :class:`simulate.config.WorldSpec`)."""
    return Panel(
        full_spend=np.asarray(truth.full_spend), weights=np.asarray(truth.adstock_weights),
        beta=np.asarray(truth.beta), half=np.asarray(truth.half_saturation), slope=np.asarray(truth.slope),
        misspecified=np.asarray(truth.misspecified),
        geo_clean=np.asarray(dataset.geo_kpi) - np.asarray(truth.geo_noise), geo_noise=np.asarray(truth.geo_noise),
        population=np.asarray(dataset.population), noise_sd=np.asarray(truth.noise_sd, float),
        noise_ar1=np.asarray(truth.noise_ar1, float), roi=np.asarray(truth.roi),
        burn_in=int(spec.burn_in_weeks), common_noise_share=float(spec.common_noise_share))


def plan_tests(rng, panel: Panel, i: int, spec: LiftSpec) -> list[_Design]:
    """Design ``tests_per_channel`` tests per channel (channel order) on dataset ``i`` of ``panel``."""
    w = panel.weights[i]
    spend_obs = panel.full_spend[i, panel.burn_in:]
    # The observed geo KPI (the dataset's panel); only the precision planner reads it.
    geo_kpi = None if spec.target_rel_se is None else panel.geo_clean[i] + panel.geo_noise[i]
    return [_plan(rng, spec, k, w[k], panel.population[i], spend_obs, w.shape[1], geo_kpi)
            for k in range(w.shape[0]) for _ in range(spec.tests_per_channel)]


READOUTS = ("panel", "analytic", "noise_free")


class Readouts(NamedTuple):
    """Per-test results of :func:`run_designs`, each ``[J]`` (numpy)."""

    lift: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    true_lift: np.ndarray
    target_lift: np.ndarray
    spend_baseline: np.ndarray
    spend_delta: np.ndarray
    sign_flip: np.ndarray
    population_share: np.ndarray


def _replay_one(x, w, beta, half, slope, missp, geo_clean, geo_noise, treated, pop, noise_sd, ar1, z,
                start, duration, window, level, delivered, contamination, *, burn_in: int, pre: int,
                readout: str, phi: float, q_t: float, q_norm: float):
    """Replay one test on its dataset's panel and read it out (one channel's series ``x [T0+T]``)."""
    n_all = x.shape[0]
    n_weeks = n_all - burn_in
    t_all = jnp.arange(n_all)
    weeks = (t_all >= burn_in + start) & (t_all < burn_in + start + duration)
    base_pc = jnp.sum(jnp.where(weeks, x, 0.0)) / duration               # per-capita (national) baseline
    planned = jnp.where(weeks, level * base_pc, x)
    change = planned - x
    series = jnp.stack([x, x + delivered * change, x + contamination * delivered * change, planned])
    media = channel_media(w, beta, half, slope, missp, series, burn_in)   # [4, T]
    p_t = jnp.sum(jnp.where(treated, pop, 0.0))
    p_c = 1.0 - p_t
    treat_change = p_t * (media[1] - media[0])
    ctrl_change = p_c * (media[2] - media[0])
    planned_change = p_t * (media[3] - media[0])
    t = jnp.arange(n_weeks)
    n_w = jnp.minimum(start + window, n_weeks) - start
    true_lift = jnp.sum(jnp.where((t >= start) & (t < start + n_w), treat_change, 0.0))
    target_lift = jnp.sum(jnp.where(t >= start, planned_change, 0.0))
    tr = treated.astype(x.dtype)
    y_t = tr @ geo_clean + treat_change
    y_c = (1.0 - tr) @ geo_clean + ctrl_change
    ratio = p_t / p_c
    if readout == "panel":
        lift, se, lo, hi, flip = did.did_readout(y_t + tr @ geo_noise, y_c + (1.0 - tr) @ geo_noise, ratio,
                                                 start, n_w, pre, q_t)
    else:
        point = did.did_point(y_t, y_c, ratio, start, n_w, pre, pre)
        # The common shock cancels in d_t; the idiosyncratic part remains.
        sigma_d = noise_sd * jnp.sqrt((1.0 - phi) * (p_t + ratio ** 2 * p_c))
        se = did.did_se(sigma_d, ar1, pre, n_w, n_weeks)
        lift = point + (se * z if readout == "analytic" else 0.0)
        lo, hi, flip = lift - q_norm * se, lift + q_norm * se, jnp.zeros((), bool)
    return (lift, se, lo, hi, true_lift, target_lift, p_t * base_pc, p_t * (level - 1.0) * base_pc, flip, p_t)


@lru_cache(maxsize=32)
def _replay_program(burn_in: int, pre: int, readout: str, phi: float, q_t: float, q_norm: float):
    fn = partial(_replay_one, burn_in=burn_in, pre=pre, readout=readout, phi=phi, q_t=q_t, q_norm=q_norm)
    return jax.jit(jax.vmap(fn))


REPLAY_BLOCK = 64   # tests per compiled call (fixed: a test's readout never depends on its batch)


def run_designs(panel: Panel, owners: Sequence[int], designs: Sequence[_Design], spec: LiftSpec,
                readout: str = "panel", z=None) -> Readouts:
    """Replay and read out every design of a batch in one compiled call.

    Args:
        panel: the datasets' :class:`Panel`.
        owners: the dataset index of each design, ``J``.
        designs: ``J`` designs from :func:`plan_tests`.
        spec: the design spec (pre-period, CI level).
        readout: ``panel`` (DiD on the noisy panel, SE estimated from the pre-period),
            ``analytic`` (the fast path: DiD of the noise-free panel plus Gaussian noise with
            the theoretical SE), or ``noise_free`` (DiD of the noise-free panel: the design's
            bias alone; the SE is the theoretical one).
        z: standard normal draws ``[J]`` for the analytic readout.
    Returns:
        :class:`Readouts` (computed in fixed blocks of ``REPLAY_BLOCK`` tests).
    """
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    n_j = len(designs)
    if n_j == 0:
        e = np.zeros(0)
        return Readouts(e, e, e, e, e, e, e, e, np.zeros(0, bool), e)
    own = np.asarray(owners, int)
    ch = np.array([d.channel for d in designs])
    dz = np.zeros(n_j) if z is None else np.asarray(z, float)
    per = lambda attr, dtype=float: np.array([getattr(d, attr) for d in designs], dtype)
    args = (panel.full_spend[own, :, ch], panel.weights[own, ch], panel.beta[own, ch], panel.half[own, ch],
            panel.slope[own, ch], panel.misspecified[own, ch], panel.geo_clean[own], panel.geo_noise[own],
            np.stack([d.treated for d in designs]), panel.population[own], panel.noise_sd[own],
            panel.noise_ar1[own], dz, per("start", np.int32), per("duration", np.int32),
            per("window", np.int32), per("level_factor"), per("delivered"), per("contamination"))
    q_t = float(stats.t.ppf(0.5 + spec.ci_level / 2.0, df=spec.pre_weeks - 1))
    q_norm = float(stats.norm.ppf(0.5 + spec.ci_level / 2.0))
    prog = _replay_program(panel.burn_in, spec.pre_weeks, readout, panel.common_noise_share, q_t, q_norm)
    with jax.enable_x64(True):
        return Readouts(*run_blocked(prog, args, REPLAY_BLOCK))


def key_to_rng(key) -> np.random.Generator:
    """A numpy Generator seeded deterministically from a JAX PRNG key."""
    bits = np.asarray(jax.random.bits(key, (4,), dtype=jnp.uint32))
    return np.random.default_rng(bits.astype(np.uint64))


def plan_batch(keys, panel: Panel, spec: LiftSpec, indices: Sequence[int] | None = None, readout: str = "panel"):
    """Designs of datasets ``indices`` (default: all), each from its own key.

    Returns:
        ``(owners [J], designs [J], z [J])``: the analytic readout's normal draws follow each
        dataset's designs in its own Generator, so a dataset's tests never depend on the batch.
    """
    indices = range(panel.full_spend.shape[0]) if indices is None else indices
    owners, designs, z = [], [], []
    for key, i in zip(keys, indices):
        rng = key_to_rng(key)
        ds = plan_tests(rng, panel, i, spec)
        designs += ds
        owners += [i] * len(ds)
        z += list(rng.standard_normal(len(ds))) if readout == "analytic" else [0.0] * len(ds)
    return owners, designs, np.asarray(z)


def records(readouts: Readouts, owners, designs, spec: LiftSpec, panel: Panel, channel_names,
            id_prefix: Sequence[str], readout: str = "panel", offset: int = 0):
    """Observable :class:`LiftTest` and hidden :class:`LiftTestTruth` records of run designs.

    Args:
        id_prefix: per design, the prefix of its test id (its dataset's id plus a design tag).
        offset: index of the first design within its dataset's numbering.
    Returns:
        ``(tests, hidden)``, lists of length ``J``.
    """
    tests, hidden = [], []
    count: dict = {}
    for j, (i, d) in enumerate(zip(owners, designs)):
        n = count.get(id_prefix[j], offset)
        count[id_prefix[j]] = n + 1
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
        r = lambda name: float(getattr(readouts, name)[j])
        tests.append(LiftTest(
            test_id=f"{id_prefix[j]}-x{n:02d}", channel=channel_names[d.channel],
            start_week=d.start, end_week=d.start + d.duration - 1, window_days=7 * d.window,
            population_share=r("population_share"), spend_baseline=r("spend_baseline"),
            spend_delta=r("spend_delta"), lift=r("lift"), lift_se=r("se"), ci_low=r("ci_low"),
            ci_high=r("ci_high"), n_geos=int(d.treated.sum()), leakage=leakage, holdout_verified=verified,
            spend_delivery_ok=delivery_ok,
            sensitivity_sign_flip=bool(readouts.sign_flip[j]) if readout == "panel" else None,
            estimator="scaled_did" if readout == "panel" else f"scaled_did_{readout}"))
        hidden.append(LiftTestTruth(true_lift=r("true_lift"), target_lift=r("target_lift"),
                                    true_iroas=float(panel.roi[i, d.channel]), delivered_fraction=d.delivered,
                                    contamination=d.contamination, failure_modes=d.modes))
    return tests, hidden


def simulate_batch_tests(keys, panel: Panel, spec: LiftSpec, channel_names, dataset_ids,
                         readout: str = "panel", tag: str = ""):
    """Plan, run and record the tests of every dataset of ``panel`` (one replay call).

    Args:
        keys: one experiments key per dataset, ``[N]``.
        dataset_ids: ``N`` ids (test ids are ``<dataset id><tag>-x<nn>``).
    Returns:
        list over datasets of ``(tests, hidden)``.
    """
    owners, designs, z = plan_batch(keys, panel, spec, readout=readout)
    reads = run_designs(panel, owners, designs, spec, readout, z)
    tests, hidden = records(reads, owners, designs, spec, panel, channel_names,
                            [f"{dataset_ids[i]}{tag}" for i in owners], readout)
    out = [([], []) for _ in dataset_ids]
    for i, t, h in zip(owners, tests, hidden):
        out[i][0].append(t)
        out[i][1].append(h)
    return out
