"""Small synthetic inputs for estimator tests (numpy only; no simulate truth).

``template`` makes weekly spend, dates and a promo control that look like the
simulator's (lognormal AR(1) spend with dark weeks); the KPI comes from the
estimator's own prior predictive or from fixed parameters.
"""
from __future__ import annotations

import numpy as np

from estimators.data import Observed


def template(seed: int, n_weeks: int = 104, n_channels: int = 3, level: float = 1e6,
             spend_ratio: float = 0.12, n_fit: int | None = None, dark_prob: float = 0.1) -> Observed:
    """Spend/dates/controls template with a placeholder KPI (= level)."""
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet(np.full(n_channels, 3.0))
    mean = level * spend_ratio * shares
    z = np.zeros((n_weeks, n_channels))
    e = rng.normal(size=(n_weeks, n_channels))
    z[0] = e[0]
    for t in range(1, n_weeks):
        z[t] = 0.6 * z[t - 1] + 0.8 * e[t]
    raw = np.exp(0.3 * z)
    raw[rng.uniform(size=raw.shape) < dark_prob] = 0.0
    raw[:, 0] = np.maximum(raw[:, 0], 0.2)   # first channel never dark
    spend = raw / raw.mean(0) * mean
    promo = np.where(rng.uniform(size=n_weeks) < 0.15, rng.uniform(0.5, 1.0, n_weeks), 0.0)
    dates = np.datetime64("2022-01-03") + 7 * np.arange(n_weeks)
    return Observed(dates=dates, kpi=np.full(n_weeks, level), spend=spend,
                    controls=promo[:, None], channel_names=tuple(f"ch{k}" for k in range(n_channels)),
                    control_names=("promo",), n_fit=n_fit or n_weeks, dataset_id=f"synth{seed}")
