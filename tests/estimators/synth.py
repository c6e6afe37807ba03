"""Small synthetic inputs for estimator tests (re-exported from estimators.prior_predictive)."""
from __future__ import annotations

from estimators.model.data import Observed
from estimators.model.prior_predictive import spend_template


def template(seed: int, n_weeks: int = 104, n_channels: int = 3, level: float = 1e6,
             spend_ratio: float = 0.12, n_fit: int | None = None, dark_prob: float = 0.1) -> Observed:
    """Spend/dates/controls template with a placeholder KPI (= level)."""
    obs = spend_template(seed, n_weeks, n_channels, level, spend_ratio, dark_prob)
    return obs._replace(n_fit=n_fit or n_weeks)
