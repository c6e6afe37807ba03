"""Every prior of the MMM, in one place.

All priors act on the *scaled* problem (see :mod:`estimators.batch`):

* KPI is divided by its mean over the fitted weeks (``kpi_scale``), so the
  intercept is the baseline's share of mean KPI and noise is relative to it;
* each channel's spend is divided by its mean weekly spend ``m_k`` over the
  data's weeks, so the Hill half-saturation is a multiple of mean spend;
* ROI is in natural units (KPI currency per spend currency, e.g. revenue per
  dollar): ROI_k = sum_t contribution_k[t] / sum_t spend_k[t] over the data's
  weeks, as in Meridian's ROI parameterisation. An experiment's iROAS is in the
  same units, which is what makes the M1 conversion explicit (see
  :mod:`estimators.calibration`).

Normal priors are ``(loc, scale)``, LogNormal ``(mu, sigma)`` of the log,
Beta ``(a, b)``, Uniform ``(low, high)``. Override any of them from Hydra, e.g.
``priors.roi=[0.5,0.8]``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from harness.errors import ConfigError


@dataclass(frozen=True)
class Priors:
    """Prior hyper-parameters (hashable, so a :class:`Priors` is a static jit argument).

    The defaults are the weakly-informative set of issue 17 (``conf/priors/default.yaml``); the
    earlier, profile-matched defaults are :data:`PROFILE_MATCHED` (``priors=profiles``).
    """

    intercept: tuple = (0.7, 0.25)          # Normal: baseline level / mean KPI
    trend: tuple = (0.0, 0.2)               # Normal: change over the data's span, / mean KPI
    seasonality: tuple = (0.0, 0.1)         # Normal: each yearly Fourier coefficient
    holiday: tuple = (0.0, 0.3)             # Normal: each holiday bump height
    control: tuple = (0.0, 0.2)             # Normal: effect of a control at its max |value|
    noise_sigma: tuple = (-3.2, 0.5)        # LogNormal: innovation sd / mean KPI (median 0.041)
    noise_rho: tuple = (-0.5, 0.9)          # Uniform: AR(1) coefficient of the residual
    roi: tuple = (0.3466, 1.1891)           # LogNormal: ROI (median 1.41, 90% 0.2-10)
    alpha_geometric: tuple = (1.5, 3.0)     # Beta: geometric retention per week
    alpha_delayed: tuple = (3.0, 2.0)       # Beta: delayed-peak retention
    theta_delayed: tuple = (0.0, 3.0)       # Uniform: delayed-peak lag in weeks
    half_saturation: tuple = (0.69, 1.0)    # LogNormal: Hill h / mean weekly spend (median 2, 90% 0.39-10.4)
    slope: tuple = (0.0, 0.35)              # LogNormal: Hill slope s (median 1, 90% 0.56-1.78)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "Priors":
        """Build from a mapping of overrides; unknown names or bad values raise ConfigError."""
        if cfg is None:
            return cls()
        known = {f.name for f in fields(cls)}
        out = {}
        for name, value in dict(cfg).items():
            if name not in known:
                raise ConfigError(f"priors.{name}", f"unknown prior; known: {sorted(known)}")
            try:
                pair = tuple(float(v) for v in value)
            except (TypeError, ValueError):
                raise ConfigError(f"priors.{name}", f"expected two numbers, got {value!r}") from None
            if len(pair) != 2:
                raise ConfigError(f"priors.{name}", f"expected two numbers, got {value!r}")
            out[name] = pair
        pri = cls(**out)
        pri.validate()
        return pri

    def validate(self) -> None:
        """Raise ConfigError on a scale, shape or range that is not positive / ordered."""
        for name in ("intercept", "trend", "seasonality", "holiday", "control",
                     "noise_sigma", "roi", "half_saturation", "slope"):
            if getattr(self, name)[1] <= 0:
                raise ConfigError(f"priors.{name}", "scale must be > 0")
        for name in ("alpha_geometric", "alpha_delayed"):
            a, b = getattr(self, name)
            if a <= 0 or b <= 0:
                raise ConfigError(f"priors.{name}", "Beta shapes must be > 0")
        for name in ("noise_rho", "theta_delayed"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise ConfigError(f"priors.{name}", "need low < high")
        lo, hi = self.noise_rho
        if lo <= -1 or hi >= 1:
            raise ConfigError("priors.noise_rho", "AR(1) range must lie inside (-1, 1)")


# The defaults before issue 17, set around this project's own world profiles (conf/priors/profiles.yaml);
# every reference run committed before then used them.
PROFILE_MATCHED = Priors(roi=(0.6, 0.6), half_saturation=(0.18, 0.45), slope=(0.26, 0.3))
