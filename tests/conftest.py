"""Shared fixtures. Compiles are expensive: build each simulated batch once per session."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.jaxcache import enable_cache

ROOT = Path(__file__).resolve().parents[1]
enable_cache()


def load_yaml(rel: str) -> dict:
    return yaml.safe_load((ROOT / rel).read_text())


def load_lift(name: str) -> dict:
    """A lift profile with its ``defaults`` (good.yaml) merged in, as Hydra would."""
    cfg = load_yaml(f"conf/lift/{name}.yaml")
    if "defaults" in cfg:
        base = load_lift("good")
        over = {k: v for k, v in cfg.items() if k != "defaults"}
        modes = {**base["failure_modes"], **over.pop("failure_modes", {})}
        cfg = {**base, **over, "failure_modes": modes}
    return cfg


@pytest.fixture(scope="session")
def fashion_cfg() -> dict:
    return load_yaml("conf/world/fashion.yaml")


@pytest.fixture(scope="session")
def fashion_spec(fashion_cfg):
    from simulate.config import world_spec

    return world_spec(fashion_cfg)


@pytest.fixture(scope="session")
def fashion_sim(fashion_spec):
    """4 truths x 2 replicates of the fashion world, seed 0."""
    import jax

    from simulate.core import simulate

    return simulate(jax.random.key(0), fashion_spec, n_datasets=4, n_replicates=2)
