"""benchmarks/compile_profile.py: XLA compiles are counted per program, with their distinct shapes,
and attributed to the project's calling frame."""
from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import compile_profile as cp  # noqa: E402


def test_recorder_counts_compiles_and_shapes_per_program():
    """A program jitted at two shapes and called three times compiles twice (two shapes); a second
    program at one shape compiles once; both are attributed to this test's frame."""
    rec = cp.Recorder(ROOT)
    cp.install(rec)

    def twice_plus_one_of_this_test(x):
        return 2 * x + 1

    f = jax.jit(twice_plus_one_of_this_test)
    g = jax.jit(lambda x: jnp.sin(x).sum())
    f(jnp.ones(3)), f(jnp.ones(5)), f(jnp.ones(5))
    g(jnp.ones(7))
    rows = {r["program"]: r for r in rec.table() if r["compiles"]}
    row_f = rows["jit(twice_plus_one_of_this_test)"]
    assert row_f["compiles"] == 2 and row_f["shapes"] == 2
    assert row_f["compile_s"] > 0 and row_f["compile_cpu_s"] >= 0
    assert "tests/harness/test_compile_profile.py" in row_f["caller"]
    assert rows["jit(<lambda>)"]["compiles"] == 1 and rows["jit(<lambda>)"]["shapes"] == 1
    text = cp.report(rec.table(), cpu=1.0, wall=2.0, top=5)
    assert "XLA compilations" in text and "jit(twice_plus_one_of_this_test)" in text
