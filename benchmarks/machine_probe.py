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
    """``{lanes: seconds per gradient per lane}`` for 1 and 4 lanes."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import bench
    from estimators.inference import laplace as L
    from estimators.model.batch import build_batch
    from estimators.model.spec import FitSpec, InferenceSpec

    obs, _, _ = bench.datasets(1, 0)
    spec = FitSpec(inference=InferenceSpec(method="nuts", chains=4)).validate()
    batch = build_batch(obs[:1], None, spec, **bench.PAD)
    fns = L.model_fns_of(L.fns_for(batch, spec))
    d0 = jax.tree.map(lambda x: jnp.asarray(x[0]), batch.data)
    grad = jax.grad(lambda u, d: L.potential(u, d, fns, spec.model, spec.priors))
    u0 = jnp.asarray(L.laplace_batch(batch, spec, L.fns_for(batch, spec)).u[0])
    out = {}
    for n in (1, 4):
        U = u0 + 0.01 * jax.random.normal(jax.random.key(0), (n, fns.dim), u0.dtype)
        D = jax.tree.map(lambda x: jnp.broadcast_to(x, (n,) + x.shape), d0)
        run = jax.jit(lambda U, D: jax.lax.scan(lambda u, _: (u - 1e-6 * jax.vmap(grad)(u, D), None), U, None,
                                                 length=200)[0])
        run(U, D).block_until_ready()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            run(U, D).block_until_ready()
            ts.append(time.perf_counter() - t0)
        out[n] = float(np.median(ts)) / 200 / n
    return out


if __name__ == "__main__":
    for n, s in probe().items():
        print(f"{n} lane(s): {1e6 * s:.1f} us per gradient per lane")
