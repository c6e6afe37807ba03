"""Turn a world profile (YAML via Hydra) into a validated, hashable :class:`WorldSpec`.

Every problem raises :class:`harness.errors.ConfigError` naming the field, so the
command line can print one clear line.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any, Mapping

from harness.errors import ConfigError

ADSTOCK_FAMILIES = ("geometric", "delayed")


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    spend_share: float
    spend_cv: tuple
    dark_prob: float
    roi: tuple
    adstock_family: str
    alpha: tuple
    theta: tuple
    half_saturation: tuple
    slope: tuple
    # Out-of-family options (issue 17); absent from a profile = 0 = off, and the old code path.
    spend_floor: float = 0.0     # every week's spend >= spend_floor x the channel's mean weekly spend
    follows_demand: float = 0.0  # log spend moves 0.5 x strength per sd of the unobserved demand driver


@dataclass(frozen=True)
class WorldSpec:
    """Static description of a world profile; ranges are ``(lo, hi)`` tuples."""

    name: str
    n_weeks: int
    start_date: str
    holdout_weeks: int
    burn_in_weeks: int
    max_lag: int
    revenue_level: tuple
    trend: tuple
    seasonality: tuple
    holiday_peak: tuple
    promo_effect: tuple
    promo_frequency: float
    spend_to_revenue: tuple
    channels: tuple
    noise_sd: tuple
    noise_ar1: tuple
    n_geos: int
    population_concentration: float
    geo_effect_sd: float
    common_noise_share: float
    confounding: float
    collinearity: float
    unobserved_driver: float
    misspecification: float
    bounds: tuple
    curve_points: int
    curve_max: float
    latent_demand: float = 0.0   # the unobserved driver moves the KPI (10% of level per unit) without moving spend

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    @property
    def channel_names(self) -> tuple:
        return tuple(c.name for c in self.channels)


def field(node: Mapping, key: str, path: str):
    """``node[key]``, or a ConfigError naming ``path.key`` when it is missing."""
    if node is None or key not in node:
        raise ConfigError(f"{path}.{key}", "missing")
    return node[key]


def number(node, key, path, lo=None, hi=None, integer=False):
    """A number field within ``[lo, hi]`` (whole when ``integer``)."""
    v = field(node, key, path)
    where = f"{path}.{key}"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(where, f"must be a number, got {v!r}")
    if integer and int(v) != v:
        raise ConfigError(where, f"must be a whole number, got {v!r}")
    if lo is not None and v < lo:
        raise ConfigError(where, f"must be >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise ConfigError(where, f"must be <= {hi}, got {v}")
    return int(v) if integer else float(v)


def pair_range(node, key, path, lo=None, hi=None, positive=False):
    """A ``[lo, hi]`` pair field with ``lo <= hi`` inside the given bounds."""
    v = field(node, key, path)
    where = f"{path}.{key}"
    try:
        pair = tuple(float(x) for x in v)
    except (TypeError, ValueError):
        raise ConfigError(where, f"must be a [lo, hi] pair of numbers, got {v!r}") from None
    if len(pair) != 2:
        raise ConfigError(where, f"must be a [lo, hi] pair, got {len(pair)} values")
    a, b = pair
    if a > b:
        raise ConfigError(where, f"lo must not exceed hi, got [{a}, {b}]")
    if lo is not None and a < lo:
        raise ConfigError(where, f"must be >= {lo}, got [{a}, {b}]")
    if hi is not None and b > hi:
        raise ConfigError(where, f"must be <= {hi}, got [{a}, {b}]")
    if positive and a <= 0:
        raise ConfigError(where, f"must be > 0, got [{a}, {b}]")
    return pair


def _optional(node, key, path, hi):
    """An optional number in ``[0, hi]`` that is 0 (off) when absent."""
    return number(node, key, path, lo=0, hi=hi) if key in node else 0.0


def _noise_sd(noise, path):
    """``noise.sd`` must be > 0: a noise-free panel gives every lift test ``lift_se = 0``, which
    no fit can use (``readout=noise_free`` is the way to study bias without noise)."""
    pair = pair_range(noise, "sd", path, lo=0)
    if pair[0] <= 0:
        raise ConfigError(f"{path}.sd", f"must be > 0 (a noise-free world writes lift_se = 0; use "
                                        f"readout=noise_free to study bias alone), got [{pair[0]}, {pair[1]}]")
    return pair


def world_spec(cfg: Mapping[str, Any], path: str = "world", source: str | None = None) -> WorldSpec:
    """Validate a world profile mapping and return its :class:`WorldSpec`.

    The schema (unknown keys, NaN, inf, types) is :mod:`harness.validate.profiles`; the range
    rules are below. Errors name ``source`` (the profile's YAML file) and line when given.
    """
    from harness.validate.profiles import validate_profile, with_source

    try:
        validate_profile("world", cfg, path, source)
        return _world_spec(cfg, path)
    except ConfigError as e:
        raise with_source(e, source) from None


def _world_spec(cfg: Mapping[str, Any], path: str) -> WorldSpec:
    from harness.validate.paths import safe_name

    name = safe_name(field(cfg, "name", path), f"{path}.name")
    start = str(field(cfg, "start_date", path))
    try:
        _dt.date.fromisoformat(start)
    except ValueError:
        raise ConfigError(f"{path}.start_date", f"must be an ISO date YYYY-MM-DD, got {start!r}") from None
    base = field(cfg, "baseline", path)
    bpath = f"{path}.baseline"
    controls = field(base, "controls", bpath)
    promo = field(controls, "promo", f"{bpath}.controls")
    media = field(cfg, "media", path)
    mpath = f"{path}.media"
    raw_channels = field(media, "channels", mpath)
    if not raw_channels:
        raise ConfigError(f"{mpath}.channels", "needs at least one channel")
    max_lag = number(cfg, "max_lag", path, lo=1, hi=104, integer=True)
    channels = []
    names = set()
    for i, ch in enumerate(raw_channels):
        cpath = f"{mpath}.channels[{i}]"
        cname = str(field(ch, "name", cpath))
        if cname in names:
            raise ConfigError(f"{cpath}.name", f"duplicate channel name {cname!r}")
        names.add(cname)
        ad = field(ch, "adstock", cpath)
        apath = f"{cpath}.adstock"
        family = str(field(ad, "family", apath))
        if family not in ADSTOCK_FAMILIES:
            raise ConfigError(f"{apath}.family", f"unknown adstock family {family!r}; choose from {ADSTOCK_FAMILIES}")
        theta = pair_range(ad, "theta", apath, lo=0, hi=max_lag - 1) if family == "delayed" else (0.0, 0.0)
        channels.append(ChannelSpec(
            name=cname,
            spend_share=number(ch, "spend_share", cpath, lo=0),
            spend_cv=pair_range(ch, "spend_cv", cpath, lo=0, hi=3),
            dark_prob=number(ch, "dark_prob", cpath, lo=0, hi=0.9),
            roi=pair_range(ch, "roi", cpath, lo=0),
            adstock_family=family,
            alpha=pair_range(ad, "alpha", apath, lo=0, hi=0.99),
            theta=theta,
            half_saturation=pair_range(ch, "half_saturation", cpath, positive=True),
            slope=pair_range(ch, "slope", cpath, positive=True, hi=10),
            spend_floor=_optional(ch, "spend_floor", cpath, hi=0.95),
            follows_demand=_optional(ch, "follows_demand", cpath, hi=1),
        ))
    if sum(c.spend_share for c in channels) <= 0:
        raise ConfigError(f"{mpath}.channels", "spend_share must be positive for at least one channel")
    noise = field(cfg, "noise", path)
    geo = field(cfg, "geo", path)
    knobs = field(cfg, "knobs", path)
    plan = field(cfg, "planning", path)
    n_weeks = number(cfg, "n_weeks", path, lo=26, integer=True)
    holdout = number(cfg, "holdout_weeks", path, lo=0, hi=n_weeks // 2, integer=True)
    bounds = pair_range(plan, "bounds", f"{path}.planning", lo=0)
    if bounds[1] <= 0:
        raise ConfigError(f"{path}.planning.bounds", "upper bound must be > 0")
    return WorldSpec(
        name=name,
        n_weeks=n_weeks,
        start_date=start,
        holdout_weeks=holdout,
        burn_in_weeks=number(cfg, "burn_in_weeks", path, lo=0, integer=True),
        max_lag=max_lag,
        revenue_level=pair_range(base, "revenue_level", bpath, positive=True),
        trend=pair_range(base, "trend", bpath, lo=-0.9),
        seasonality=pair_range(base, "seasonality", bpath, lo=0),
        holiday_peak=pair_range(base, "holiday_peak", bpath, lo=0),
        promo_effect=pair_range(promo, "effect", f"{bpath}.controls.promo", lo=0),
        promo_frequency=number(promo, "frequency", f"{bpath}.controls.promo", lo=0, hi=1),
        spend_to_revenue=pair_range(media, "spend_to_revenue", mpath, lo=0),
        channels=tuple(channels),
        noise_sd=_noise_sd(noise, f"{path}.noise"),
        noise_ar1=pair_range(noise, "ar1", f"{path}.noise", lo=-0.95, hi=0.95),
        n_geos=number(geo, "n_geos", f"{path}.geo", lo=4, integer=True),
        population_concentration=number(geo, "population_concentration", f"{path}.geo", lo=1e-3),
        geo_effect_sd=number(geo, "effect_sd", f"{path}.geo", lo=0, hi=0.5),
        common_noise_share=number(geo, "common_noise_share", f"{path}.geo", lo=0, hi=1),
        confounding=number(knobs, "confounding", f"{path}.knobs", lo=0, hi=1),
        collinearity=number(knobs, "collinearity", f"{path}.knobs", lo=0, hi=1),
        unobserved_driver=number(knobs, "unobserved_driver", f"{path}.knobs", lo=0, hi=1),
        misspecification=number(knobs, "misspecification", f"{path}.knobs", lo=0, hi=1),
        latent_demand=_optional(knobs, "latent_demand", f"{path}.knobs", hi=1),
        bounds=bounds,
        curve_points=number(plan, "curve_points", f"{path}.planning", lo=3, integer=True),
        curve_max=number(plan, "curve_max", f"{path}.planning", lo=0.1),
    )
