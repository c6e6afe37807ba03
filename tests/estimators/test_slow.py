"""Slow checks of the NUTS reference (``pytest -m slow tests/estimators``)."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from estimators.model.batch import build_batch
from estimators.inference.posterior import fit, summarise

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

pytestmark = pytest.mark.slow


def test_sbc_nuts_ranks_are_uniform():
    """SBC (Talts et al. 2018) at the default NUTS settings: 100 prior replicates, seed 0, chi-square per parameter,
    Bonferroni at family-wise alpha = 0.01."""
    import sbc

    res = sbc.run(reps=100, seed=0)                   # the project's NUTS defaults (to the quality bar)
    assert res["passed"], {k: v for k, v in res["p_values"].items() if v < 0.05}
    assert res["reps_rhat_over_1_05"] <= 5


@pytest.mark.parametrize("lockstep", [1, 2])
def test_nuts_batch_vs_alone(prior_draws, nuts_spec, lockstep):
    """NUTS alone (N=1) vs inside a batch of 3 (same key by dataset id).

    Lockstep 1: every dataset runs the same compiled block-of-one program, so the draws are
    identical. Lockstep 2: the batch runs as a block of two and a block of one (never a filler);
    the block of two is another program, floating-point re-association makes the chaotic
    trajectories differ, and the tolerance is Monte Carlo: ROI means within 0.3 posterior sd,
    sds within 30%.
    """
    nuts_spec = dataclasses.replace(nuts_spec, inference=dataclasses.replace(nuts_spec.inference,
                                                                             lockstep=lockstep))
    b3 = build_batch([d.observed for d in prior_draws], None, nuts_spec,
                     kpi_scale=[d.kpi_scale for d in prior_draws], n_tests=2)
    b1 = build_batch([prior_draws[1].observed], None, nuts_spec,
                     kpi_scale=[prior_draws[1].kpi_scale], n_tests=2)
    key = jax.random.key(0)
    s3, s1 = summarise(fit(key, b3, nuts_spec)), summarise(fit(key, b1, nuts_spec))
    if lockstep == 1:
        np.testing.assert_array_equal(s3.roi_mean[1], s1.roi_mean[0])
        np.testing.assert_array_equal(s3.roi_q95[1], s1.roi_q95[0])
        return
    z = np.abs(s3.roi_mean[1] - s1.roi_mean[0]) / s3.roi_sd[1]
    assert np.all(z < 0.3), z
    np.testing.assert_allclose(s1.roi_sd[0], s3.roi_sd[1], rtol=0.3)


def test_recovery_coverage_on_simulated_worlds(tmp_path):
    """20 well-specified simulated datasets, fitted under the prior preset written around their
    profiles (``priors=profiles``): NUTS 90% coverage in [0.80, 0.97]. The weak default prior
    (issue 17) is wider than these worlds by design and over-covers them (97.3% on 2026-12-03,
    README "Validation"), so the upper bound would test the prior's width, not the sampler."""
    import recovery

    res = recovery.main(["--n", "20", "--priors", "profiles", "--out", str(tmp_path)])
    assert 0.80 <= res["nuts"]["coverage90"] <= 0.97
    assert res["nuts"]["median_abs_rel_error"] < 0.4


def test_program_store_gives_the_plain_fits_bits(prior_draws, nuts_spec, tmp_path, monkeypatch):
    """A NUTS fit (MAP, chain starts, init, steps) with the program store on, first writing its
    programs and then, as a new process would, reading them back, equals the plain fit bit for bit."""
    from estimators.inference import fast, laplace, nuts
    from harness import programs

    b1 = build_batch([prior_draws[0].observed], None, nuts_spec, kpi_scale=[prior_draws[0].kpi_scale], n_tests=2)
    key = jax.random.key(3)
    plain = summarise(fit(key, b1, nuts_spec))
    monkeypatch.setitem(programs._STATE, "dir", None)
    assert programs.enable(tmp_path) is not None
    try:
        runs = []
        for _ in range(2):                     # write, then read back (fresh wrappers: a new process)
            for cached in (laplace._map_program, nuts._programs, fast._program):
                cached.cache_clear()
            runs.append(summarise(fit(key, b1, nuts_spec)))
        names = sorted(p.name.split("-")[0] for p in tmp_path.glob("*.jaxexport"))
    finally:
        programs.disable()
        for cached in (laplace._map_program, nuts._programs, fast._program):
            cached.cache_clear()
    assert names == ["map", "nuts_init", "nuts_starts", "nuts_step"]
    for s in runs:
        np.testing.assert_array_equal(s.roi_mean, plain.roi_mean)
        np.testing.assert_array_equal(s.roi_q05, plain.roi_q05)
