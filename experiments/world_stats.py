"""What a world profile's truths look like to an MMM: ROI spread, marginal ROI, curvature, dark weeks.

``python -m experiments.world_stats worlds=[oof_linear,fashion] n=20 seed=0`` simulates ``n``
truths per profile (one replicate each; ``conf/world/<name>.yaml``) and prints, per profile,
pooled over truths and channels, quantiles of:

* ``roi``: the true ROI (total contribution / total spend over the observed weeks);
* ``mroi``: the true marginal ROI at mean spend, ``d R / d x`` of the channel's steady-state
  weekly response ``R`` (:func:`simulate.response.steady_response`) at its mean weekly spend;
* ``elasticity``: ``x R'(x) / R(x)`` at mean spend (Hill: ``s h^s / (x^s + h^s)``; 1 = linear);
* ``roi_over_mroi``: how far average and marginal returns part;
* ``low_share``: the share of observed weeks with spend below half the channel's mean.

Optionally writes the per-channel rows to ``out=FILE.csv``. Computation only; no figures.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from simulate import response as R
from simulate.core import simulate


class ChannelStats(NamedTuple):
    """Per truth and channel, ``[N, K]`` each (numpy)."""

    roi: np.ndarray
    mroi: np.ndarray
    elasticity: np.ndarray
    low_share: np.ndarray


def channel_stats(dataset, truth) -> ChannelStats:
    """Stats of a simulated batch (``N`` datasets, ``K`` channels) at each channel's mean weekly spend."""
    spend = np.asarray(dataset.spend)                                   # [N, T, K]
    mean = spend.mean(1)                                                # [N, K]
    p = jax.tree.map(jnp.asarray, R.params_of(truth))
    with jax.enable_x64(True):
        x = jnp.asarray(mean)[:, None, :]                               # [N, 1, K]
        resp, dresp = jax.jvp(lambda s: R.steady_response(p, s), (x,), (jnp.ones_like(x),))
    resp, dresp = np.asarray(resp)[:, 0], np.asarray(dresp)[:, 0]
    low = (spend < 0.5 * mean[:, None, :]).mean(1)
    return ChannelStats(np.asarray(truth.roi), dresp, mean * dresp / resp, low)


def table(world: str, n: int, seed: int) -> pd.DataFrame:
    """Per-channel rows of ``n`` truths of profile ``world``."""
    from experiments.study import load_world
    from simulate.config import world_spec

    spec = world_spec(load_world(world), f"world({world})")
    ds, tr = simulate(jax.random.key(seed), spec, n_datasets=n, n_replicates=1)
    st = channel_stats(ds, tr)
    k = spec.n_channels
    return pd.DataFrame({"world": world, "truth": np.repeat(np.arange(n), k),
                         "channel": np.tile(spec.channel_names, n),
                         **{f: np.asarray(getattr(st, f)).reshape(-1) for f in ChannelStats._fields},
                         "roi_over_mroi": (st.roi / st.mroi).reshape(-1)})


def summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Quantiles (5%, 25%, 50%, 75%, 95%) and min / max per world and statistic."""
    cols = list(ChannelStats._fields) + ["roi_over_mroi"]
    q = rows.groupby("world", sort=False)[cols].quantile([0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
    q.index = q.index.set_names(["world", "q"])
    return q.unstack("q").stack(0, future_stack=True).round(3)


def main(argv) -> int:
    args = dict(a.split("=", 1) for a in argv)
    worlds = args.get("worlds", "[oof_linear,oof_low_roi,oof_high_roi,oof_demand,fashion,home_goods]")
    worlds = [w.strip() for w in worlds.strip("[]").split(",") if w.strip()]
    rows = pd.concat([table(w, int(args.get("n", 20)), int(args.get("seed", 0))) for w in worlds])
    if "out" in args:
        rows.to_csv(args["out"], index=False)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(summary(rows).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
