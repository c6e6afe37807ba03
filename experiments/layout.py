"""The study layout: which datasets exist, which arms each gets, and how they are sharded.

Pure bookkeeping from the config; no fitting. Every id and key is a function of
the config alone, so a shard computes the same rows whichever run computes it.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Mapping

import jax

from harness.errors import ConfigError
from estimators.evidence.strategies import STRATEGIES

SCENARIOS = ("good", "bad", "mixed")


def tag(name: str) -> int:
    """A stable 31-bit integer for a name (for ``jax.random.fold_in``)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


@dataclass(frozen=True)
class Arm:
    scenario: str      # none | good | bad | mixed
    strategy: str

    @property
    def name(self) -> str:
        return "none" if self.scenario == "none" else f"{self.scenario}/{self.strategy}"


@dataclass(frozen=True)
class Shard:
    world: str
    first_truth: int
    n_truths: int
    replicates: int
    mixed_truths: int     # truths of this shard (from its first) whose replicate `mixed_rep` get the mixed arm
    mixed_rep: int

    @property
    def shard_id(self) -> str:
        return f"{self.world}-t{self.first_truth:03d}"


@dataclass(frozen=True)
class Layout:
    shards: tuple
    arms: tuple          # arms fitted on every dataset (besides none)
    mixed_arms: tuple    # arms fitted on the mixed datasets only

    @property
    def n_datasets(self) -> int:
        return sum(s.n_truths * s.replicates for s in self.shards)

    @property
    def n_fits(self) -> int:
        per = 1 + len(self.arms)
        return sum(s.n_truths * s.replicates * per + s.mixed_truths * len(self.mixed_arms) for s in self.shards)


def layout(study: Mapping, strategy: str, shard_truths: int) -> Layout:
    """Expand the ``study`` config into shards and arms."""
    worlds = study.get("worlds") or {}
    if not worlds:
        raise ConfigError("study.worlds", "needs at least one world profile with a truth count")
    reps = int(study.get("replicates", 1))
    if reps < 1:
        raise ConfigError("study.replicates", f"must be >= 1, got {reps}")
    if shard_truths < 1:
        raise ConfigError("study.shard_truths", f"must be >= 1, got {shard_truths}")
    arm_strats = list(study.get("arm_strategies") or [strategy])
    for s in arm_strats:
        if s not in STRATEGIES or s == "none":
            raise ConfigError("study.arm_strategies", f"unknown strategy {s!r}")
    arms = []
    for sc in study.get("arms") or []:
        if sc not in SCENARIOS:
            raise ConfigError("study.arms", f"unknown scenario {sc!r}; choose from {SCENARIOS}")
        arms += [Arm(sc, s) for s in arm_strats]
    mixed = study.get("mixed") or {}
    mixed_truths = dict(mixed.get("truths") or {})
    mixed_rep = int(mixed.get("replicate", 0))
    if not 0 <= mixed_rep < reps:
        raise ConfigError("study.mixed.replicate", f"must be in [0, {reps - 1}], got {mixed_rep}")
    mixed_arms = []
    for s in mixed.get("strategies") or []:
        if s not in STRATEGIES or s == "none":
            raise ConfigError("study.mixed.strategies", f"unknown strategy {s!r}")
        mixed_arms.append(Arm("mixed", s))
    shards = []
    for world, n in worlds.items():
        n = int(n)
        m = int(mixed_truths.get(world, 0))
        if m > n:
            raise ConfigError(f"study.mixed.truths.{world}", f"{m} exceeds the world's {n} truths")
        for first in range(0, n, shard_truths):
            size = min(shard_truths, n - first)
            shards.append(Shard(str(world), first, size, reps, max(0, min(size, m - first)), mixed_rep))
    return Layout(tuple(shards), tuple(arms), tuple(mixed_arms))


def truth_key(root, world: str, truth: int):
    return jax.random.fold_in(jax.random.fold_in(root, tag(world)), truth)


def experiment_key(root, world: str, truth: int, replicate: int, design: str):
    return jax.random.fold_in(jax.random.fold_in(truth_key(root, world, truth), 1000 + replicate), tag(design))


def fit_root(root):
    """Root of every fit's key: a fit's own key is ``fold_in(fit_root, crc32(fit id))`` with fit id
    ``<dataset id>/<arm>`` (see :func:`estimators.inference.laplace.dataset_keys`), so it depends
    on neither the shard layout nor the batch it was fitted in."""
    return jax.random.fold_in(root, tag("fits"))
