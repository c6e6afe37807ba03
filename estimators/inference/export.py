"""A fit's draws as an ArviZ ``InferenceData`` (``posterior`` and ``sample_stats``), for netCDF.

``inference_data(post, draws, i)`` takes dataset ``i`` of a batch fit: its valid draws only
(``post.n_draws[i]`` per chain), channels named, padded channels dropped. Parameters are on the
model's scaled problem as in :class:`estimators.inference.posterior.Posterior`; ``roi``,
``share``, ``lag_days``, ``beta`` (KPI units), ``half_saturation`` (spend units) and ``slope``
are in business units and match ``posterior_summary.csv``.
"""
from __future__ import annotations

import numpy as np

from estimators.inference.diagnostics import _arviz

# Parameters with one value per channel (last axis), besides the derived per-channel arrays.
CHANNEL_PARAMS = ("alpha", "half_saturation", "roi", "slope", "theta", "theta_z")


def inference_data(post, draws, i: int = 0):
    """ArviZ ``InferenceData`` of dataset ``i``.

    Args:
        post: :class:`estimators.inference.posterior.Posterior` of the batch.
        draws: the method's :class:`estimators.inference.methods.Draws` of the same fit.
        i: dataset index.
    Returns:
        ``arviz.InferenceData`` with groups ``posterior`` (variables ``[chain, draw, ...]``,
        channel variables on dim ``channel``) and ``sample_stats`` (``diverging``, ``n_steps``,
        ``acceptance_rate``, ``step_size``; zeros / NaN on the fast path).
    """
    az = _arviz()
    n = int(post.n_draws[i])
    names = list(post.channel_names[i])
    k = len(names)
    valid = lambda a: np.asarray(a[i])[:, :n]
    posterior, dims = {}, {}
    for name, a in post.params.items():
        x = valid(a)
        if name in CHANNEL_PARAMS:
            x = x[..., :k]
            dims[name] = ["channel"]
        if name in ("roi", "half_saturation", "slope"):
            continue                                        # business-unit versions below
        posterior[name] = x
    for name in ("roi", "share", "lag_days", "beta", "half_saturation", "slope"):
        posterior[name] = valid(getattr(post, name))[..., :k]
        dims[name] = ["channel"]
    c = posterior["roi"].shape[0]
    stats = {
        "diverging": valid(draws.diverging).astype(bool),
        "n_steps": valid(draws.num_steps).astype(np.int64),
        "acceptance_rate": valid(draws.accept_prob).astype(np.float64),
        "step_size": np.repeat(np.asarray(draws.step_size[i], np.float64)[:, None], n, 1),
    }
    idata = az.from_dict(posterior=posterior, sample_stats=stats, coords={"channel": names}, dims=dims,
                         attrs={"dataset_id": str(post.dataset_ids[i]), "inference": post.method,
                                "calibration": post.calibration, "chains": c, "draws_per_chain": n})
    return idata
