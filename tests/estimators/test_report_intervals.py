"""estimators.report: interval bars survive a mean outside its own 90% interval (a skewed posterior)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from estimators.report.intervals import interval_bars  # noqa: E402


def test_bars_span_the_interval_whatever_the_mean():
    fig, ax = plt.subplots()
    lo, hi = np.array([1.0, 2.0, np.nan]), np.array([3.0, 5.0, 1.0])
    bars = interval_bars(ax, lo, hi, np.arange(3.0))
    seg = bars.lines[2][0].get_segments()          # the horizontal error segments
    assert len(seg) == 2                            # the row with a NaN bound is skipped
    np.testing.assert_allclose([s[:, 0] for s in seg], [[1.0, 3.0], [2.0, 5.0]])
    plt.close(fig)


def test_identification_figure_draws_a_mean_outside_its_interval():
    """The case that raised "'xerr' must not contain negative values" before (mROI mean above q95)."""
    from estimators.report.identification_figure import prior_posterior

    t = pd.DataFrame({"channel": ["a", "b"], "roi_mean": [1.0, 2.0], "roi_q05": [0.5, 1.0], "roi_q95": [2.0, 3.0],
                      "mroi_mean": [4.0, 1.0], "mroi_q05": [0.2, 0.5], "mroi_q95": [1.5, 2.0],
                      "roi_prior_q05": [0.2, 0.2], "roi_prior_q95": [5.0, 5.0], "mroi_prior_q05": [0.1, 0.1],
                      "mroi_prior_q95": [4.0, 4.0], "roi_sd_ratio": [0.5, 0.9], "mroi_sd_ratio": [0.6, 0.8],
                      "roi_identified": [True, False]})
    fig = prior_posterior({"fit": t}, 0.7)
    assert fig is not None
    plt.close("all")
