"""NUTS reports every chunk: iterations per chain so far out of the cap (warm-up + draws), so a
single fit's progress bar has an ETA measured after the first (compiling) chunk."""
from __future__ import annotations

import numpy as np
import pytest

from estimators.inference import nuts
from estimators.model.spec import InferenceSpec


def _fake_step(chains=2, chunk=25, dim=3):
    """A stand-in for the compiled chunk program: Gaussian draws ``[1, C, chunk, P]`` (seed 0)."""
    rng = np.random.default_rng(0)

    def step(state, data):
        return state, (rng.normal(size=(1, chains, chunk, dim)),)
    return step


def test_every_chunk_reports_iterations_out_of_the_cap():
    inf = InferenceSpec(method="nuts", chains=2, warmup=50, chunk=25, min_draws=50, draws=150, adaptive=False)
    seen = []
    chunks, again = nuts._warm_and_draw(None, None, _fake_step(), [0], None, inf, 50, on_chunk=seen.append)
    assert again is None and len(chunks) == 6
    assert seen == [25, 50, 75, 100, 125, 150, 175, 200]       # 2 warm-up chunks, 6 draw chunks, cap 200


def test_the_bar_met_early_stops_the_reports_before_the_cap():
    """Well-mixed fake chains (independent normals, 2 chains) meet the bar (bulk ESS >= 400) once
    they hold a little more than 400 draws: the reports stop at the chunk that met it, warm-up 50 +
    225 draws, below the cap of 50 + 400."""
    inf = InferenceSpec(method="nuts", chains=2, warmup=50, chunk=25, min_draws=100, draws=400, adaptive=True)
    coords = [(np.array([True, True, False]), np.array([True, True, True]))]
    seen = []
    nuts._warm_and_draw(None, None, _fake_step(), [0], coords, inf, 50, on_chunk=seen.append)
    assert seen == list(range(25, 276, 25)) and seen[-1] < 50 + 400


def test_progress_bar_total_can_grow(monkeypatch):
    from harness.progress import Progress

    monkeypatch.setenv("MMM_PROGRESS", "0")
    bar = Progress(200, "fit", unit="iter")
    bar.to(25)
    bar.retotal(400)
    bar.to(50)
    assert bar.total == 400 and bar.n == 50 and bar.eta is not None


@pytest.mark.slow
def test_a_real_nuts_fit_reports_its_chunks(prior_draws, nuts_spec):
    """One dataset, NUTS (2 chains, warm-up 150, cap 150 draws, chunk 25): progress reports come
    after every chunk, increase by 25, never pass the cap (a re-adapted run raises the cap), and the
    last one is the fit's own warm-up + draws (+ the first run's iterations if it re-adapted)."""
    import jax

    from estimators.inference.posterior import fit
    from estimators.model.batch import build_batch

    seen = []
    batch = build_batch([prior_draws[0].observed], None, nuts_spec)
    post = fit(jax.random.key(0), batch, nuts_spec, progress=lambda n, step=None: seen.append((n, step)))
    steps = [s for _, s in seen if s is not None]
    assert seen[-1] == (1, None) and len(steps) >= 7
    assert all(it <= cap for it, cap in steps)
    its = [it for it, _ in steps]
    assert all(b - a == 25 for a, b in zip(its, its[1:]))
    n_warm = nuts.warmup_iterations(nuts_spec)
    restarted = int(post.diagnostics.restarts[0])
    first = steps[-1][1] - (n_warm + nuts_spec.inference.draws) if restarted else 0
    assert its[-1] == first + n_warm + int(post.diagnostics.n_draws[0])
