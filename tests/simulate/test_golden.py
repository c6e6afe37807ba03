"""The shipped profiles simulate bit for bit as they did before the out-of-family options (issue 17).

``data/golden_sim.json`` was written by :mod:`tests.simulate.golden` at commit 1f8fb41, before
``spend_floor``, ``follows_demand`` or any other issue-17 option existed; this test recomputes the
same digests with today's code. Bits are promised only within one jax/XLA build, so it skips
(naming the versions) when they differ from the recorded ones.
"""
from __future__ import annotations

import json

import pytest

from tests.simulate import golden


@pytest.mark.parametrize("world", golden.WORLDS)
def test_shipped_profiles_are_bit_identical_to_the_recorded_digests(world):
    rec = json.loads(golden.OUT.read_text())
    if rec["versions"] != golden.versions():
        pytest.skip(f"digests recorded with {rec['versions']}, running {golden.versions()}")
    now = golden.digest(world)
    want = rec["digests"][world]
    assert set(now) == set(want)
    changed = sorted(k for k in want if now[k] != want[k])
    assert not changed, f"{world}: changed since {rec['written_at_commit'][:7]}: {changed}"
