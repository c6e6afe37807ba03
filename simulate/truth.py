"""Hidden records: the truth of a simulated world. Never passed to ``estimators/``."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Truth(NamedTuple):
    """What the simulator knows and a practitioner does not (leading axis ``N``).

    Attributes:
        truth_ids: ``N`` ids; replicates of one world share an id.
        replicate: ``[N]`` replicate index within its truth.
        contributions: true national media contribution, ``[N, T, K]``.
        baseline: KPI without media and noise (trend, seasonality, holidays,
            controls, the unobserved driver), ``[N, T]``.
        noise: national noise, ``[N, T]``; ``kpi = baseline + contributions.sum(-1) + noise``.
        roi: true ROI = total contribution / total spend over the observed weeks, ``[N, K]``.
        beta: response scale per channel (KPI per week at full saturation), ``[N, K]``.
        adstock_weights: normalised lag weights, ``[N, K, L]``.
        adstock_family, saturation_family: per channel names, ``[N, K]`` strings.
        half_saturation: ``[N, K]`` in weekly (national) spend units.
        slope: Hill slope ``[N, K]`` (unused where the family is exponential).
        lag_days: days until 90% of carryover, ``[N, K]``.
        reference_budget: weekly budget of the planning question, ``[N]``
            (mean weekly total spend over the observed weeks).
        optimal_allocation: weekly spend per channel maximising the true
            steady-state response at the reference budget, ``[N, K]``.
        bounds: per-channel weekly spend bounds used for that optimum, ``[N, K, 2]``.
        curve_spend, curve_response: steady-state weekly response curves,
            ``[N, P, K]`` (spend grid and true weekly response).
        driver: the unobserved demand driver, ``[N, T]`` (standardised).
        season_index: the standardised seasonal + holiday demand index, ``[N, T]``.
        full_spend: national spend including the burn-in weeks before the data, ``[N, T0 + T, K]``.
        geo_noise: the geo residuals, ``[N, G, T]``.
        misspecified: channels whose truth uses Weibull adstock + exponential saturation, ``[N, K]``.
        noise_sd: national residual sd, ``[N]``; noise_ar1: its AR(1) coefficient, ``[N]``.
    """

    truth_ids: tuple
    replicate: np.ndarray
    contributions: np.ndarray
    baseline: np.ndarray
    noise: np.ndarray
    roi: np.ndarray
    beta: np.ndarray
    adstock_weights: np.ndarray
    adstock_family: np.ndarray
    saturation_family: np.ndarray
    half_saturation: np.ndarray
    slope: np.ndarray
    lag_days: np.ndarray
    reference_budget: np.ndarray
    optimal_allocation: np.ndarray
    bounds: np.ndarray
    curve_spend: np.ndarray
    curve_response: np.ndarray
    driver: np.ndarray
    season_index: np.ndarray
    full_spend: np.ndarray
    geo_noise: np.ndarray
    misspecified: np.ndarray
    noise_sd: np.ndarray
    noise_ar1: np.ndarray


class LiftTestTruth(NamedTuple):
    """The hidden side of one lift test.

    Attributes:
        true_lift: true incremental KPI in the treated geos over the measurement
            window, from the delivered spend change (what a noise-free readout gives).
        target_lift: incremental KPI of the planned change with full carryover
            (what calibration of the model's ROI needs).
        true_iroas: the channel's true average ROI (the M1 target).
        delivered_fraction: delivered / planned spend change.
        contamination: share of the change that reached control geos.
        failure_modes: names of injected failure modes ("" for none).
    """

    true_lift: float
    target_lift: float
    true_iroas: float
    delivered_fraction: float
    contamination: float
    failure_modes: tuple
