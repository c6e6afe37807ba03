"""The multirun helpers of harness/cli.py: which overrides sweep, and their keys."""
from __future__ import annotations

import pytest

from harness.cli import _is_sweep, _key


@pytest.mark.parametrize("override,sweeps", [
    ("seed=0,1", True), ("eqs.tiers.gold=65,70,75", True), ("priors.roi=[0.2,1.0]", False),
    ("priors.roi=[0.2,1.0],[0.3,0.9]", True), ("seed=range(3)", True), ("inference=fast", False),
    ("~study.worlds.home_goods", False), ("study.worlds={fashion: 2, home_goods: 1}", False),
])
def test_sweep_detection(override, sweeps):
    assert _is_sweep(override) is sweeps


def test_override_keys():
    assert _key("~study.worlds.home_goods") == "study.worlds.home_goods"
    assert _key("++model.max_lag=8") == "model.max_lag" and _key("+a=1") == "a" and _key("seed=0,1") == "seed"
