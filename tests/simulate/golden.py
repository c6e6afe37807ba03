"""Digests of simulated data from the shipped profiles, to prove new world options leave them unchanged.

``python -m tests.simulate.golden`` writes ``tests/simulate/data/golden_sim.json``: for
``conf/world/fashion.yaml`` and ``home_goods.yaml`` (seed 0, 2 truths x 2 replicates), the
sha256 of every array of the :class:`common.records.Dataset` and :class:`simulate.truth.Truth`
and of the good and bad lift tests' records (panel readout), plus the versions of jax, jaxlib and
numpy that produced them. The committed file was written at the commit before the out-of-family
options (issue 17) existed, by this module, so ``test_golden.py`` compares today's code against
the old code path's output bit for bit. Bits are only promised within one build of jax/XLA: the
test skips (saying why) when the versions differ from those recorded.
"""
from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "data" / "golden_sim.json"
WORLDS = ("fashion", "home_goods")
N_TRUTHS, N_REPLICATES, SEED = 2, 2, 0


def _sha(a) -> str:
    a = np.asarray(a)
    if a.dtype.kind in "OUS":
        return hashlib.sha256(repr(a.tolist()).encode()).hexdigest()
    return hashlib.sha256(np.ascontiguousarray(a).tobytes() + str(a.dtype).encode()
                          + str(a.shape).encode()).hexdigest()


def _lift(name: str) -> dict:
    cfg = yaml.safe_load((ROOT / f"conf/lift/{name}.yaml").read_text())
    if "defaults" in cfg:
        base = _lift("good")
        over = {k: v for k, v in cfg.items() if k != "defaults"}
        modes = {**base["failure_modes"], **over.pop("failure_modes", {})}
        cfg = {**base, **over, "failure_modes": modes}
    return cfg


def versions() -> dict:
    import jax
    import jaxlib

    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "numpy": np.__version__,
            "machine": platform.machine()}


def digest(world: str) -> dict:
    """``{field: sha256}`` of one profile's simulated batch and its lift tests."""
    import jax

    from simulate.config import world_spec
    from simulate.core import simulate, simulate_all_tests
    from simulate.lifttests import lift_spec

    spec = world_spec(yaml.safe_load((ROOT / f"conf/world/{world}.yaml").read_text()))
    key = jax.random.key(SEED)
    ds, tr = simulate(key, spec, n_datasets=N_TRUTHS, n_replicates=N_REPLICATES)
    out = {f"dataset.{k}": _sha(v) for k, v in ds._asdict().items()}
    out.update({f"truth.{k}": _sha(v) for k, v in tr._asdict().items()})
    for design in ("good", "bad"):
        per = simulate_all_tests(key, ds, tr, spec, lift_spec(_lift(design)), N_TRUTHS, N_REPLICATES)
        out[f"lift_{design}"] = hashlib.sha256(repr(per).encode()).hexdigest()
    return out


def main() -> None:
    import subprocess

    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    data = {"written_at_commit": rev, "versions": versions(),
            "digests": {w: digest(w) for w in WORLDS}}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
