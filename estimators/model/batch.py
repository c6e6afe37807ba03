"""Padded, scaled model inputs for a batch of datasets.

Scaling (documented once, used everywhere):

* ``kpi_scale`` = mean KPI over the fitted weeks; the model sees ``y = kpi / kpi_scale``.
* ``spend_mean[k]`` = mean weekly spend of channel k over the data's weeks
  (1 if the channel never spent); the model sees ``x = spend / spend_mean``.
* Pre-sample spend: the ``L - 1`` weeks before the data are filled with the
  first week's spend (``pre_sample='first'``) or zeros (``'zero'``); the true
  history is not observed.
* Features: trend ``t / T``; yearly Fourier terms of the week start's day of
  year; Gaussian holiday bumps in day-of-year distance; controls divided by
  their max |value| (so 0 still means "off").

Padding: channels to ``K``, weeks to ``T`` (at the end), controls to ``C``,
tests to ``J``, windows to ``W``, all with masks; padded channels have zero
spend and so zero contribution, padded weeks are outside both masks.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from common.records import LiftTest
from common.transforms import lag_stack
from estimators.evidence.calibration import m1_inputs, test_segments
from estimators.model.data import Observed
from estimators.model.spec import FitSpec


# Default pad of the lift-test window axis (weeks): most windows fit, so batches
# with different tests share one compiled program.
DEFAULT_WINDOW_WEEKS = 26


class ModelData(NamedTuple):
    """Arrays the model reads; every field has a leading batch axis ``N`` when batched.

    Shapes (unbatched): ``T`` weeks, ``K`` channels, ``L`` lags, ``S`` seasonal
    features, ``H`` holidays, ``C`` controls, ``J`` tests, ``W`` window weeks.
    """

    y: np.ndarray             # [T] KPI / kpi_scale (0 on padded weeks)
    fit_mask: np.ndarray      # [T] 1 where the likelihood applies
    week_mask: np.ndarray     # [T] 1 on real weeks (ROI and share window)
    spend_lag: np.ndarray     # [K, L, T] lag stack of scaled spend: spend_lag[k, l, t] = x[t - l, k]
                              # (channel-major with weeks last: the layout whose adstock
                              # gradient is cheapest on the CPU, see estimators.model.apply_lags)
    spend_sum: np.ndarray     # [K] sum over real weeks of spend / kpi_scale
    trend: np.ndarray         # [T]
    season: np.ndarray        # [T, S]
    holiday: np.ndarray       # [T, H]
    controls: np.ndarray      # [T, C]
    control_mask: np.ndarray  # [C]
    channel_mask: np.ndarray  # [K]
    delayed: np.ndarray       # [K] 1 for delayed-peak adstock
    roi_mu: np.ndarray        # [K] LogNormal mu of the ROI prior
    roi_sd: np.ndarray        # [K] LogNormal sd of the ROI prior
    roi_obs: np.ndarray       # [K] M1 with the default prior: the tests' combined iROAS ...
    roi_obs_se: np.ndarray    # [K] ... its standard error ...
    roi_obs_mask: np.ndarray  # [K] ... and 1 where a channel has one
    alpha_a: np.ndarray       # [K] Beta a of the retention prior
    alpha_b: np.ndarray       # [K] Beta b
    test_channel: np.ndarray  # [J] int
    test_mask: np.ndarray     # [J]
    test_share: np.ndarray    # [J]
    lift: np.ndarray          # [J] lift / kpi_scale
    lift_se: np.ndarray       # [J] lift_se / kpi_scale
    seg_bau: np.ndarray       # [J, L, W]
    seg_test: np.ndarray      # [J, L, W]
    seg_window: np.ndarray    # [J, W]


class BatchMeta(NamedTuple):
    """What is needed to turn scaled posteriors back into business units (numpy)."""

    dataset_ids: tuple        # N
    channel_names: tuple      # N tuples of K_i names
    kpi_scale: np.ndarray     # [N]
    spend_mean: np.ndarray    # [N, K]
    n_weeks: np.ndarray       # [N] real weeks
    n_fit: np.ndarray         # [N]
    dates: tuple              # N arrays datetime64[D] [T_i]
    spend: np.ndarray         # [N, T, K] unscaled spend (0-padded)


class ModelBatch(NamedTuple):
    data: ModelData
    meta: BatchMeta


def _day_of_year(dates: np.ndarray) -> np.ndarray:
    years = dates.astype("datetime64[Y]")
    return (dates - years.astype("datetime64[D]")).astype(np.float64)


def calendar_features(dates: np.ndarray, n_fourier: int, holidays: Sequence) -> tuple:
    """Yearly Fourier terms ``[T, 2 n_fourier]`` and holiday bumps ``[T, H]`` of week start dates."""
    doy = _day_of_year(np.asarray(dates, "datetime64[D]"))
    phase = 2 * np.pi * doy / 365.25
    season = [f(h * phase) for h in range(1, n_fourier + 1) for f in (np.cos, np.sin)]
    season = np.stack(season, -1) if season else np.zeros((len(doy), 0))
    bumps = []
    for _, centre, width in holidays:
        d = np.abs(doy - float(centre))
        d = np.minimum(d, 365.25 - d)
        bumps.append(np.exp(-0.5 * (d / float(width)) ** 2))
    hol = np.stack(bumps, -1) if bumps else np.zeros((len(doy), 0))
    return season, hol


def scaled_spend_full(spend: np.ndarray, n_lag: int, pre_sample: str) -> tuple:
    """Scaled spend with ``L-1`` pre-sample weeks: ``([L-1+T, K], spend_mean [K])``."""
    mean = spend.mean(0)
    mean = np.where(mean > 0, mean, 1.0)
    x = spend / mean
    pre = np.repeat(x[:1], n_lag - 1, 0) if pre_sample == "first" else np.zeros((n_lag - 1, x.shape[1]))
    return np.concatenate([pre, x], 0), mean


def _one(obs: Observed, tests: Sequence[LiftTest], spec: FitSpec, kpi_scale: float | None = None) -> tuple:
    ms, pr, cal = spec.model, spec.priors, spec.calibration
    n_t, n_k = obs.spend.shape
    n_l = ms.max_lag
    if kpi_scale is None:
        kpi_scale = float(np.mean(obs.kpi[: obs.n_fit]))
    if not kpi_scale > 0:
        raise ValueError(f"{obs.dataset_id}: mean KPI over the fitted weeks must be > 0")
    full, mean = scaled_spend_full(obs.spend, n_l, ms.pre_sample)
    spend_lag = lag_stack(full.T, n_l, n_t)                              # [K, L, T]
    season, hol = calendar_features(obs.dates, ms.n_fourier, ms.holidays)
    cmax = np.max(np.abs(obs.controls), 0) if obs.controls.size else np.zeros(0)
    controls = obs.controls / np.where(cmax > 0, cmax, 1.0)
    delayed = np.array([n.lower() in ms.delayed_channels for n in obs.channel_names], float)
    tests = list(tests) if cal.method != "none" else []
    m1 = m1_inputs(tests if cal.method == "m1" else [], obs.channel_names, pr.roi, cal.m1_with_default_prior,
                   cal.m1_conversion)
    m2 = [t for t in tests if cal.method == "m2"]
    seg = test_segments(m2, list(obs.channel_names), full, mean, kpi_scale, n_t, n_l,
                        period_days=ms.period_days)
    fields = dict(
        y=obs.kpi / kpi_scale,
        fit_mask=(np.arange(n_t) < obs.n_fit).astype(float),
        week_mask=np.ones(n_t),
        spend_lag=spend_lag,
        spend_sum=obs.spend.sum(0) / kpi_scale,
        trend=np.arange(n_t) / n_t,
        season=season, holiday=hol, controls=controls,
        control_mask=np.ones(controls.shape[1]),
        channel_mask=np.ones(n_k),
        delayed=delayed,
        roi_mu=m1.mu, roi_sd=m1.sd, roi_obs=m1.obs, roi_obs_se=m1.se, roi_obs_mask=m1.mask,
        alpha_a=np.where(delayed > 0, pr.alpha_delayed[0], pr.alpha_geometric[0]),
        alpha_b=np.where(delayed > 0, pr.alpha_delayed[1], pr.alpha_geometric[1]),
        test_channel=seg.channel, test_mask=np.ones(len(m2)), test_share=seg.share,
        lift=seg.lift, lift_se=seg.lift_se, seg_bau=seg.bau, seg_test=seg.test,
        seg_window=seg.window,
    )
    return fields, kpi_scale, mean


# Padding rule per field: which axes are (T, K, C, J, W) and the fill value.
_AXES = {
    "y": "T", "fit_mask": "T", "week_mask": "T", "spend_lag": "KLT", "spend_sum": "K",
    "trend": "T", "season": "TS", "holiday": "TH", "controls": "TC", "control_mask": "C",
    "channel_mask": "K", "delayed": "K", "roi_mu": "K", "roi_sd": "K", "roi_obs": "K",
    "roi_obs_se": "K", "roi_obs_mask": "K", "alpha_a": "K",
    "alpha_b": "K", "test_channel": "J", "test_mask": "J", "test_share": "J", "lift": "J",
    "lift_se": "J", "seg_bau": "JLW", "seg_test": "JLW", "seg_window": "JW",
}
_FILL = {"roi_sd": 1.0, "roi_obs_se": 1.0, "alpha_a": 1.0, "alpha_b": 1.0, "test_share": 1.0, "lift_se": 1.0}


def _pad(a: np.ndarray, axes: str, sizes: dict, fill: float) -> np.ndarray:
    widths = [(0, sizes[ax] - n) if ax in sizes else (0, 0) for ax, n in zip(axes, a.shape)]
    return np.pad(a, widths, constant_values=fill)


def _bucket(n: int, step: int, floor: int = 0) -> int:
    return max(floor, step * -(-int(n) // step)) if n > 0 else floor


def pad_sizes(observed: Sequence[Observed], tests: Sequence[Sequence[LiftTest]] | None,
              period_days: float = 7.0) -> dict:
    """Pad sizes for :func:`build_batch` read from the data, rounded up to buckets.

    Weeks, channels and controls are the batch's maxima; tests per dataset round up to a
    multiple of 8 and test windows to a multiple of 13 weeks (at least ``DEFAULT_WINDOW_WEEKS``),
    so batches of similar data share one compiled program while no profile can exceed a pad.
    """
    tests = tests or [[] for _ in observed]
    n_j = max((len(t) for t in tests), default=0)
    w = max((int(np.ceil(t.window_days / period_days)) for ts in tests for t in ts), default=0)
    return {"n_weeks": max(o.spend.shape[0] for o in observed),
            "n_channels": max(o.spend.shape[1] for o in observed),
            "n_controls": max(o.controls.shape[1] for o in observed),
            "n_tests": _bucket(n_j, 8), "n_window": _bucket(w, 13, DEFAULT_WINDOW_WEEKS)}


def build_batch(observed: Sequence[Observed], tests: Sequence[Sequence[LiftTest]] | None,
                spec: FitSpec, *, n_weeks: int | None = None, n_channels: int | None = None,
                n_controls: int | None = None, n_tests: int | None = None,
                n_window: int | None = None, kpi_scale: Sequence[float] | None = None,
                dtype=np.float32) -> ModelBatch:
    """Scale, pad and stack datasets (and their lift tests) into one batch.

    Args:
        observed: ``N`` datasets.
        tests: ``N`` lists of lift tests (used per ``spec.calibration``), or None.
        spec: the fit spec (model structure, priors, calibration).
        n_weeks, n_channels, n_controls, n_tests, n_window: pad sizes (default: the
            batch's maxima; windows at least ``DEFAULT_WINDOW_WEEKS``); fix them to
            reuse one compiled program across batches.
        kpi_scale: per-dataset KPI scale (default: mean KPI over the fitted weeks);
            fix it when the scale must not depend on the data (SBC).
        dtype: float dtype of the arrays.
    Returns:
        a :class:`ModelBatch` whose arrays have leading axis ``N``.
    """
    tests = tests if tests is not None else [[] for _ in observed]
    if len(tests) != len(observed):
        raise ValueError("need one list of tests per dataset")
    scales = kpi_scale if kpi_scale is not None else [None] * len(observed)
    rows = [_one(o, t, spec, s) for o, t, s in zip(observed, tests, scales)]
    f0 = [r[0] for r in rows]
    sizes = {
        "T": n_weeks or max(f["y"].shape[0] for f in f0),
        "K": n_channels or max(f["channel_mask"].shape[0] for f in f0),
        "C": n_controls if n_controls is not None else max(f["controls"].shape[1] for f in f0),
        "J": n_tests if n_tests is not None else max(f["lift"].shape[0] for f in f0),
        "W": n_window or max([DEFAULT_WINDOW_WEEKS] + [f["seg_window"].shape[1] for f in f0]),
    }
    for f in f0:
        for name, cur, ax in (("weeks", f["y"].shape[0], "T"), ("channels", f["channel_mask"].shape[0], "K"),
                              ("controls", f["controls"].shape[1], "C"), ("tests", f["lift"].shape[0], "J"),
                              ("window", f["seg_window"].shape[1], "W")):
            if cur > sizes[ax]:
                raise ValueError(f"pad size for {name} ({sizes[ax]}) is below a dataset's {cur}")
    stacked = {}
    for name, axes in _AXES.items():
        arrs = [_pad(np.asarray(f[name]), axes, sizes, _FILL.get(name, 0.0)) for f in f0]
        a = np.stack(arrs)
        stacked[name] = a.astype(np.int32) if name == "test_channel" else a.astype(dtype)
    data = ModelData(**stacked)
    spend = np.stack([_pad(o.spend, "TK", sizes, 0.0) for o in observed])
    meta = BatchMeta(
        dataset_ids=tuple(o.dataset_id for o in observed),
        channel_names=tuple(tuple(o.channel_names) for o in observed),
        kpi_scale=np.array([r[1] for r in rows]),
        spend_mean=np.stack([_pad(r[2], "K", sizes, 1.0) for r in rows]),
        n_weeks=np.array([o.spend.shape[0] for o in observed]),
        n_fit=np.array([o.n_fit for o in observed]),
        dates=tuple(np.asarray(o.dates) for o in observed),
        spend=spend,
    )
    return ModelBatch(data, meta)


def concat(batches: Sequence[ModelBatch]) -> ModelBatch:
    """Stack batches built with the same pad sizes (e.g. different calibrations) into one."""
    data = ModelData(*[np.concatenate([np.asarray(getattr(b.data, f)) for b in batches])
                       for f in ModelData._fields])
    ms = [b.meta for b in batches]
    meta = BatchMeta(
        dataset_ids=sum((m.dataset_ids for m in ms), ()),
        channel_names=sum((m.channel_names for m in ms), ()),
        kpi_scale=np.concatenate([m.kpi_scale for m in ms]),
        spend_mean=np.concatenate([m.spend_mean for m in ms]),
        n_weeks=np.concatenate([m.n_weeks for m in ms]),
        n_fit=np.concatenate([m.n_fit for m in ms]),
        dates=sum((m.dates for m in ms), ()),
        spend=np.concatenate([m.spend for m in ms]))
    return ModelBatch(data, meta)
