"""Schemas of the world and lift profiles (``conf/world/*.yaml``, ``conf/lift/*.yaml``), in pydantic.

The schema refuses unknown keys (a typo such as ``noise.sdd``), missing keys, NaN and inf, and
values of the wrong type; the range rules (``lo <= hi``, bounds) stay with the specs that use
them (:func:`simulate.config.world_spec`, :func:`simulate.lifttests.lift_spec`). Every error is
one :class:`harness.errors.ConfigError` naming the profile's file and line when known, and the
field, e.g. ``conf/world/shop.yaml, line 41, field 'world.noise.sdd': unknown key``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import ConfigError

Pair = Annotated[list[float], Field(min_length=2, max_length=2)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Promo(_Strict):
    effect: Pair
    frequency: float


class Controls(_Strict):
    promo: Promo


class Baseline(_Strict):
    revenue_level: Pair
    trend: Pair
    seasonality: Pair
    holiday_peak: Pair
    controls: Controls


class Adstock(_Strict):
    family: str
    alpha: Pair
    theta: Optional[Pair] = None


class Channel(_Strict):
    name: str
    spend_share: float
    spend_cv: Pair
    dark_prob: float
    roi: Pair
    adstock: Adstock
    half_saturation: Pair
    slope: Pair
    spend_floor: float = 0.0       # issue 17: always-on floor, share of the channel's mean spend
    follows_demand: float = 0.0    # issue 17: spend follows the unobserved demand driver


class Media(_Strict):
    spend_to_revenue: Pair
    channels: list[Channel]


class Noise(_Strict):
    sd: Pair
    ar1: Pair


class Geo(_Strict):
    n_geos: int
    population_concentration: float
    effect_sd: float
    common_noise_share: float


class Knobs(_Strict):
    confounding: float
    collinearity: float
    unobserved_driver: float
    misspecification: float
    latent_demand: float = 0.0     # issue 17: the unobserved driver moves the KPI only


class Planning(_Strict):
    bounds: Pair
    curve_points: int
    curve_max: float


class WorldProfile(_Strict):
    """A world profile (``conf/world/<name>.yaml``); see the comments in ``fashion.yaml``."""

    name: str
    n_weeks: int
    start_date: str
    holdout_weeks: int
    burn_in_weeks: int
    max_lag: int
    baseline: Baseline
    media: Media
    noise: Noise
    geo: Geo
    knobs: Knobs
    planning: Planning


class FailureMode(_Strict):
    prob: float
    magnitude: float


class LiftProfile(_Strict):
    """A lift-test design (``conf/lift/<name>.yaml``)."""

    name: str
    tests_per_channel: int
    test_type: str
    scale_up: float
    duration_weeks: Pair
    treated_share: Pair
    pre_weeks: int
    cooldown_share: float
    ci_level: float
    p_holdout_verified: float
    p_detect: float
    min_failures: int
    failure_modes: dict[str, FailureMode] = {}
    target_rel_se: float | None = None     # precision-planned design (simulate/lifttests.py)
    planning_roi: float = 1.0


SCHEMAS = {"world": WorldProfile, "lift": LiftProfile}


def _dotted(prefix: str, loc) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _problem(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing"
    if kind in ("finite_number",):
        return f"must be a finite number, got {err.get('input')!r}"
    msg = err.get("msg", "invalid value")
    return f"{msg[0].lower() + msg[1:]}, got {err.get('input')!r}"


def yaml_line(source, loc) -> int | None:
    """1-based line of the node at ``loc`` (keys and list indices) in the YAML file ``source``."""
    import yaml

    try:
        node = yaml.compose(Path(source).read_text())
    except (OSError, yaml.YAMLError, TypeError):
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            hit = [(k, v) for k, v in node.value if getattr(k, "value", None) == str(part)]
            if not hit:
                return line
            line = hit[0][0].start_mark.line + 1
            node = hit[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def where(source, loc, dotted: str) -> str:
    """``file, line N, field 'x.y'`` (file and line when known)."""
    parts = []
    if source:
        parts.append(str(source))
        line = yaml_line(source, loc)
        if line is not None:
            parts.append(f"line {line}")
    parts.append(f"field '{dotted}'")
    return ", ".join(parts)


def validate_profile(kind: str, data: Mapping[str, Any], path: str, source=None) -> dict:
    """Check a profile mapping against its schema; returns it unchanged.

    Args:
        kind: ``world`` or ``lift``.
        data: the composed profile (plain mapping).
        path: the field prefix in messages (``world``, ``lift_good``, ``world(fashion)``).
        source: the YAML file it came from, when known.
    Raises:
        ConfigError: one line naming file, line and field.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(where(source, (), path), f"must be a mapping, got {type(data).__name__}")
    try:
        SCHEMAS[kind].model_validate(dict(data))
    except ValidationError as e:
        errs = e.errors()
        err = next((x for x in errs if x.get("type") == "extra_forbidden"), errs[0])
        loc = tuple(err["loc"])
        raise ConfigError(where(source, loc, _dotted(path, loc)), _problem(err)) from None
    return dict(data)


def profile_file(group: str, name: str) -> str | None:
    """The YAML file of ``<group>/<name>`` on the running Hydra app's search path (its
    ``--config-dir`` first), else the project's ``conf/``; None when not found."""
    candidates = []
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            for src in HydraConfig.get().runtime.config_sources:
                if src.schema == "file":
                    candidates.append(Path(src.path))
    except Exception:  # noqa: BLE001 - outside a Hydra app: only the project folder
        pass
    candidates.append(Path(__file__).resolve().parents[2] / "conf")
    for root in candidates:
        f = root / group / f"{name}.yaml"
        if f.is_file():
            return str(f)
    return None


def loc_of(dotted: str) -> tuple:
    """``world.media.channels[0].roi`` -> ``("media", "channels", 0, "roi")`` (prefix dropped)."""
    import re

    parts = []
    for tok in dotted.split(".")[1:]:
        m = re.match(r"^([^\[]*)((?:\[\d+\])*)$", tok)
        if not m:
            parts.append(tok)
            continue
        if m.group(1):
            parts.append(m.group(1))
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return tuple(parts)


def with_source(err: ConfigError, source) -> ConfigError:
    """The same error with the profile's file and line in front (unchanged without a source)."""
    if not source or str(err.field).startswith(str(source)):
        return err
    return ConfigError(where(source, loc_of(err.field), err.field), err.problem)


def yaml_error_line(exc) -> str:
    """One line for a YAML syntax error: ``FILE, line N, column M: YAML syntax error: <problem>``."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f"YAML syntax error: {problem}"
    return f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: YAML syntax error: {problem}"
