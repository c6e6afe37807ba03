"""Static, hashable specifications of the model, the inference and a fit.

A spec never holds data: arrays live in :class:`estimators.model.batch.ModelData`.
Everything here is a frozen dataclass so that it can be a static jit argument;
two fits with equal specs and equal array shapes share one compiled program.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from harness.errors import ConfigError
from estimators.model.priors import Priors

CALIBRATIONS = ("none", "m1", "m2")
LIKELIHOODS = ("normal", "student_t")
PRE_SAMPLE = ("first", "zero")


@dataclass(frozen=True)
class ModelSpec:
    """Structure of the MMM.

    Attributes:
        max_lag: adstock lags ``L`` in weeks (lag 0 included).
        n_fourier: yearly Fourier harmonics (2 * n_fourier features).
        holidays: ``((name, day_of_year, width_days), ...)``: Gaussian bumps in
            day-of-year distance, day 0 = 1 January.
        delayed_channels: channel names that get delayed-peak adstock (the rest
            get geometric adstock).
        likelihood: ``normal`` or ``student_t`` innovations.
        student_df: degrees of freedom of the Student-t.
        ar1: AR(1) residuals (otherwise independent).
        pre_sample: spend assumed in the ``L-1`` weeks before the data:
            ``first`` repeats the first week, ``zero`` assumes no spend.
        lag_share: share of carryover that defines the lag window (EQS).
        period_days: days per period.
        level_param: sample the mean fitted KPI level instead of the intercept
            (same model and prior, unit-Jacobian reparameterisation; the
            data pin the level, which otherwise couples intercept and every ROI).
    """

    max_lag: int = 13
    n_fourier: int = 3
    holidays: tuple = (("black_friday", 330.0, 3.0), ("christmas", 359.0, 9.0))
    delayed_channels: tuple = ("tv", "youtube", "ctv", "olv", "video")
    likelihood: str = "normal"
    student_df: float = 5.0
    ar1: bool = True
    pre_sample: str = "first"
    lag_share: float = 0.9
    period_days: float = 7.0
    level_param: bool = True

    def validate(self) -> None:
        if self.max_lag < 1:
            raise ConfigError("model.max_lag", "must be >= 1")
        if self.n_fourier < 0:
            raise ConfigError("model.n_fourier", "must be >= 0")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError("model.likelihood", f"must be one of {LIKELIHOODS}")
        if self.pre_sample not in PRE_SAMPLE:
            raise ConfigError("model.pre_sample", f"must be one of {PRE_SAMPLE}")
        if not 0.0 < self.lag_share <= 1.0:
            raise ConfigError("model.lag_share", "must be in (0, 1]")
        if self.student_df <= 0:
            raise ConfigError("model.student_df", "must be > 0")


@dataclass(frozen=True)
class InferenceSpec:
    """How to fit.

    Attributes:
        method: a registered inference method (:mod:`estimators.inference.methods`):
            ``nuts`` (the reference) or ``fast`` (MAP + Laplace).
        chains: NUTS chains per dataset (vmapped).
        warmup: NUTS warm-up iterations from the MAP.
        chunk: NUTS draws per chain between two checks of the quality bar.
        min_draws, draws: NUTS draws per chain: at least ``min_draws``; more in chunks until
            the quality bar holds, up to ``draws`` (with ``adaptive=False`` exactly ``draws``).
        adaptive: sample to the quality bar (True) or a fixed ``draws``.
        readapt_after: when the bar is still missed after this many draws per chain, those
            draws become warm-up: every chain restarts where it stands with their covariance
            as the mass matrix (once; 0 never).
        target_rhat, target_ess: the quality bar on every channel's ROI: rank-normalised
            split R-hat at most ``target_rhat`` and bulk ESS at least ``target_ess``.
        guard_rhat: and every other parameter's R-hat at most this (a convergence guard: a
            run may not stop on its ROIs alone while another parameter has not mixed).
        max_tree_depth: NUTS tree-depth cap.
        target_accept: dual-averaging target.
        dense_mass: dense (True) or diagonal mass matrix.
        adapt_mass: adapt the mass matrix during warm-up (Stan windows); False keeps the
            Laplace covariance at the MAP and adapts the step size only.
        init: ``map`` starts chains from Laplace draws around the MAP and the mass matrix from
            the Laplace covariance; ``prior`` from the prior median with a unit mass matrix.
        init_scale: scale of the Laplace draws used as chain starts.
        lockstep: NUTS only: how many datasets advance together (a vmapped NUTS iteration
            lasts as long as its deepest tree, so one at a time is usually fastest).
        adam_steps, adam_lr, newton_steps: MAP optimiser settings.
        laplace_draws: draws of the fast path's posterior.
    """

    method: str = "nuts"
    chains: int = 4
    warmup: int = 100
    chunk: int = 25
    min_draws: int = 100
    draws: int = 1000
    adaptive: bool = True
    readapt_after: int = 500
    target_rhat: float = 1.01
    target_ess: float = 400.0
    guard_rhat: float = 1.05
    max_tree_depth: int = 8
    target_accept: float = 0.8
    dense_mass: bool = True
    adapt_mass: bool = False
    init: str = "map"
    init_scale: float = 0.5
    lockstep: int = 1
    adam_steps: int = 200
    adam_lr: float = 0.02
    newton_steps: int = 40
    laplace_draws: int = 1000

    def validate(self) -> None:
        from estimators.inference.methods import METHODS

        if self.method not in METHODS:
            raise ConfigError("inference.method", f"unknown method {self.method!r}; registered: {sorted(METHODS)}")
        if self.init not in ("map", "prior"):
            raise ConfigError("inference.init", "must be 'map' or 'prior'")
        for name in ("chains", "draws", "chunk", "max_tree_depth", "laplace_draws", "lockstep"):
            if getattr(self, name) < 1:
                raise ConfigError(f"inference.{name}", "must be >= 1")
        for name in ("warmup", "adam_steps", "newton_steps", "min_draws", "readapt_after"):
            if getattr(self, name) < 0:
                raise ConfigError(f"inference.{name}", "must be >= 0")
        if self.min_draws > self.draws:
            raise ConfigError("inference.min_draws", f"must be <= inference.draws ({self.draws})")
        if not 0.0 < self.target_accept < 1.0:
            raise ConfigError("inference.target_accept", "must be in (0, 1)")
        if not self.target_rhat > 1.0:
            raise ConfigError("inference.target_rhat", "must be > 1")
        if not self.guard_rhat > 1.0:
            raise ConfigError("inference.guard_rhat", "must be > 1")
        if not self.target_ess > 0:
            raise ConfigError("inference.target_ess", "must be > 0")

    @property
    def bar(self) -> tuple:
        """The quality bar: ``(max ROI R-hat, min ROI bulk ESS, max R-hat of every parameter)``."""
        return self.target_rhat, self.target_ess, self.guard_rhat


@dataclass(frozen=True)
class CalibrationSpec:
    """How lift tests enter the fit.

    Attributes:
        method: ``none``, ``m1`` (soft ROI prior, eq. 11) or ``m2`` (likelihood
            augmentation, eq. 12).
        m1_with_default_prior: M1 only: if True the tests' iROAS likelihood is multiplied
            into the default ROI prior (eq. 11 with p(tau) = the default prior; the
            ``m1_prior`` option); if False the tests' flat-prior posterior replaces it.
        m1_conversion: M1 replacing the prior: ``quantile`` (the read's truncated-normal
            posterior as a LogNormal with its 5% and 95% quantiles) or ``moment`` (the earlier
            reference runs': the LogNormal with the read's mean, floored at 0.05, and sd).
    """

    method: str = "none"
    m1_with_default_prior: bool = False
    m1_conversion: str = "quantile"

    def validate(self) -> None:
        if self.method not in CALIBRATIONS:
            raise ConfigError("calibration", f"must be one of {CALIBRATIONS}, got {self.method!r}")
        if self.m1_conversion not in ("quantile", "moment"):
            raise ConfigError("calibration.m1_conversion", f"must be quantile or moment, got {self.m1_conversion!r}")

    @property
    def label(self) -> str:
        """The name of the calibration in tables: ``none``, ``m1``, ``m1_prior`` or ``m2``."""
        if self.method != "m1":
            return self.method
        if self.m1_with_default_prior:
            return "m1_prior"
        return "m1" if self.m1_conversion == "quantile" else "m1_moment"


@dataclass(frozen=True)
class FitSpec:
    """Everything static about a fit."""

    model: ModelSpec = field(default_factory=ModelSpec)
    priors: Priors = field(default_factory=Priors)
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    calibration: CalibrationSpec = field(default_factory=CalibrationSpec)
    curve_points: int = 41
    curve_max: float = 3.0

    def validate(self) -> "FitSpec":
        self.model.validate()
        self.priors.validate()
        self.inference.validate()
        self.calibration.validate()
        return self


def _build(cls, cfg: Mapping[str, Any] | None, prefix: str):
    if cfg is None:
        return cls()
    known = {f.name: f for f in cls.__dataclass_fields__.values()}
    kwargs = {}
    for name, value in dict(cfg).items():
        if name not in known:
            raise ConfigError(f"{prefix}.{name}", f"unknown setting; known: {sorted(known)}")
        default = getattr(cls(), name)
        if value is None:
            raise ConfigError(f"{prefix}.{name}", "must not be null")
        try:
            if isinstance(default, tuple):
                value = tuple(tuple(v) if isinstance(v, (list, tuple)) else v for v in value)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ValueError
            elif isinstance(default, int):
                if isinstance(value, bool) or float(value) != int(float(value)):
                    raise ValueError
                value = int(value)
            elif isinstance(default, float):
                value = float(value)
                if value != value or value in (float("inf"), float("-inf")):
                    raise ValueError
            elif isinstance(default, str):
                value = str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{prefix}.{name}", f"expected {type(default).__name__}, got {value!r}") from None
        kwargs[name] = value
    return cls(**kwargs)


def fit_spec_from_config(cfg: Mapping[str, Any]) -> FitSpec:
    """Build a validated :class:`FitSpec` from a plain mapping (e.g. a resolved Hydra config).

    Recognised keys: ``model``, ``priors``, ``inference`` (mapping with a
    ``method``), ``calibration`` (a mapping with ``method`` or a plain string),
    ``curve_points``, ``curve_max``.
    """
    cal = cfg.get("calibration")
    if isinstance(cal, str) or cal is None:
        cal = {"method": cal or "none"}
    spec = FitSpec(
        model=_build(ModelSpec, cfg.get("model"), "model"),
        priors=Priors.from_config(cfg.get("priors")),
        inference=_build(InferenceSpec, cfg.get("inference"), "inference"),
        calibration=_build(CalibrationSpec, cal, "calibration"),
        curve_points=int(cfg.get("curve_points", 41)),
        curve_max=float(cfg.get("curve_max", 3.0)),
    )
    return spec.validate()
