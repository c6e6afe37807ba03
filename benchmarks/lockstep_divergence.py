"""Where ``inference.lockstep`` 1 and 2 part, piece by piece: NUTS chain starts, the initial
potential energy, then the first warm-up iterations one at a time (chunk=1), for dataset 0 of the
same 2-dataset batch (the model's prior predictive, seed 11, 3 channels, 104 weeks; key 0).

    python benchmarks/lockstep_divergence.py        (about 40 s on 2 cores)
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "estimators")]
import jax, numpy as np
from harness.jaxcache import enable_cache; enable_cache()
from estimators.model.spec import FitSpec, InferenceSpec, ModelSpec
from estimators.model.prior_predictive import prior_datasets
from estimators.model.batch import build_batch
from estimators.inference import laplace as L, nuts
from synth import template

ms = ModelSpec(n_fourier=2)
fs = FitSpec(model=ms, inference=InferenceSpec(method="fast", laplace_draws=2000))
d = prior_datasets(jax.random.key(11), template(5, n_weeks=104, n_channels=3), fs, 3)[:2]
spec = FitSpec(model=ms, inference=InferenceSpec(method="nuts", chains=2, warmup=25, chunk=1, draws=50,
                                                 min_draws=50, adaptive=False))
b = build_batch([x.observed for x in d], None, spec, kpi_scale=[x.kpi_scale for x in d], n_tests=2)
fk = L.fns_for(b, spec)
lap = L.laplace_batch(b, spec, fk)
keys = L.dataset_keys(jax.random.key(0), b.meta.dataset_ids)
res = {}
for ls in (1, 2):
    starts_fn, init, step = nuts._programs(spec, fk, ls)
    idx = np.arange(ls)
    data = L.take(b.data, idx)
    ks, ki, _ = jax.vmap(lambda k: jax.random.split(k, 3))(keys[idx]).transpose(1, 0)
    st, im = starts_fn(ks, L.take(lap, idx), data)
    state = init(ki, st, im, data)
    zs = []
    for it in range(12):
        state, out = step(state, data)
        zs.append(np.asarray(out[0])[0, :, 0])          # dataset 0, [C, P]
    res[ls] = (np.asarray(st)[0], np.asarray(state.z if hasattr(state, "z") else 0), zs,
               np.asarray(init(ki, st, im, data).potential_energy)[0])
s1, s2 = res[1], res[2]
print("starts identical:", np.array_equal(s1[0], s2[0]), "max diff", np.abs(s1[0] - s2[0]).max())
print("initial potential energy:", s1[3], s2[3], "diff", np.abs(s1[3] - s2[3]).max())
for it in range(12):
    dz = np.abs(s1[2][it] - s2[2][it]).max()
    print(f"iteration {it + 1}: max |z1 - z2| = {dz:.3g}")
