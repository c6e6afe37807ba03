"""Horizontal interval bars for the report's figures."""
from __future__ import annotations

import numpy as np


def interval_bars(ax, lo, hi, y, **kw):
    """Draw ``[lo, hi]`` at heights ``y`` as capped horizontal bars (arrays ``[K]``).

    The bar is centred on the interval, not on a point estimate. A posterior mean can fall outside
    its own 5-95% interval when the posterior is skewed, for example under an unconverged MAP's
    Laplace draws. Error bars measured from the mean would then have negative lengths, which
    matplotlib refuses. Rows with a non-finite bound are skipped.
    """
    lo, hi, y = (np.asarray(a, float) for a in (lo, hi, y))
    ok = np.isfinite(lo) & np.isfinite(hi)
    lo, hi = np.minimum(lo, hi)[ok], np.maximum(lo, hi)[ok]
    return ax.errorbar((lo + hi) / 2, y[ok], xerr=(hi - lo) / 2, fmt="none", **kw)
