"""What a set of priors says about a channel before any data: ROI, curve shape and mROI.

With normalised adstock a constant weekly spend ``x`` (a multiple of mean spend) settles at a
steady weekly response ``beta * hill(x; h, s)``. At mean spend (``x = 1``) the model's ROI and
marginal ROI are then tied by the Hill's elasticity::

    ROI  = beta * hill(1) / 1,      mROI = beta * hill'(1),      mROI / ROI = e = s * h^s / (1 + h^s)

so a prior on ``(h, s)`` is also a prior on how far ROI sits above mROI where the data show only
the local slope (always-on spend). ``e`` near 1 is a near-linear curve over the observed range.

``python -m estimators.model.prior_implied [priors=NAME]`` prints the table the README quotes.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from estimators.model.priors import Priors


class Implied(NamedTuple):
    """Prior draws of one channel's ROI and curve at mean spend (each ``[n]``)."""

    roi: np.ndarray
    half_saturation: np.ndarray
    slope: np.ndarray
    elasticity: np.ndarray   # mROI / ROI at mean spend
    mroi: np.ndarray         # marginal ROI at mean spend, ROI * elasticity


def hill_elasticity(half, slope, x=1.0):
    """d log hill / d log x at ``x`` for Hill half-saturation ``half`` and slope ``slope``."""
    xs = np.power(x, slope)
    hs = np.power(half, slope)
    return slope * hs / (xs + hs)


def implied(pri: Priors, seed: int, n: int = 200_000) -> Implied:
    """Draw ``n`` times from the ROI and shape priors (independent, as in the model)."""
    rng = np.random.default_rng(seed)
    roi = np.exp(rng.normal(pri.roi[0], pri.roi[1], n))
    h = np.exp(rng.normal(pri.half_saturation[0], pri.half_saturation[1], n))
    s = np.exp(rng.normal(pri.slope[0], pri.slope[1], n))
    e = hill_elasticity(h, s)
    return Implied(roi, h, s, e, roi * e)


def table(pri: Priors, seed: int = 0) -> list[tuple[str, float, float, float]]:
    """Rows ``(quantity, q05, median, q95)``, then the share of draws that are :func:`near_linear`."""
    d = implied(pri, seed)
    rows = []
    for name in ("roi", "half_saturation", "slope", "elasticity", "mroi"):
        q = np.quantile(getattr(d, name), [0.05, 0.5, 0.95])
        rows.append((name, *map(float, q)))
    share = float(np.mean(near_linear(d.half_saturation, d.slope)))
    rows.append(("share near-linear over 0.5-2x mean spend", share, share, share))
    return rows


def near_linear(half, slope, band: float = 0.15, xs=(0.5, 1.0, 2.0)):
    """True where the Hill's elasticity stays within ``1 +- band`` at every spend multiple in ``xs``."""
    ok = np.ones(np.shape(half), bool)
    for x in xs:
        ok &= np.abs(hill_elasticity(half, slope, x) - 1.0) <= band
    return ok


def main(argv: list[str]) -> int:
    import yaml
    from pathlib import Path

    name = "default"
    for a in argv:
        if a.startswith("priors="):
            name = a.split("=", 1)[1]
    conf = Path(__file__).resolve().parents[2] / "conf" / "priors"
    path = conf / f"{name}.yaml"
    if not path.is_file():
        print(f"error: priors={name}: no file {path}; known: {sorted(p.stem for p in conf.glob('*.yaml'))}",
              file=sys.stderr)
        return 2
    node = yaml.safe_load(path.read_text()) or {}
    values = {}
    for parent in node.pop("defaults", []) or []:
        if parent not in ("_self_",):
            values.update({k: v for k, v in (yaml.safe_load((conf / f"{parent}.yaml").read_text()) or {}).items()
                           if k != "defaults"})
    values.update(node)
    pri = Priors.from_config(values)
    print(f"priors={name}: prior draws at mean spend (seed 0, 200,000 draws)")
    print(f"{'quantity':<44}{'q05':>9}{'median':>9}{'q95':>9}")
    for q, lo, med, hi in table(pri):
        print(f"{q:<44}{lo:>9.3f}{med:>9.3f}{hi:>9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
