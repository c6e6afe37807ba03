"""How fast is this machine today? Seconds per log-density gradient of the bench's model.

    python benchmarks/machine_probe.py

The same measurement as part 3 of ``make bench`` (one fashion dataset, 6 padded channels, a
jitted scan of 200 gradient steps, median of 7), on its own in about 20 s. The machine is
shared, and the same code has run 2x slower from one day to the next, so a figure from another
day is comparable only after dividing by this probe's ratio (part 3 of
``results/reference/bench/2026-12-03/bench.md`` measured 15 us at 1 lane and 14 us per lane at 4).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def probe(repeats: int = 7) -> dict:
    """``{lanes: seconds per gradient per lane}`` for 1 and 4 lanes (:func:`bench.gradient_cost`)."""
    import bench
    from estimators.model.spec import FitSpec, InferenceSpec

    obs, _, _ = bench.datasets(1, 0)
    spec = FitSpec(inference=InferenceSpec(method="nuts", chains=4)).validate()
    return bench.gradient_cost(obs, spec, repeats)[1]


if __name__ == "__main__":
    for n, s in probe().items():
        print(f"{n} lane(s): {1e6 * s:.1f} us per gradient per lane")
