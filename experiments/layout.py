"""The study layout: which datasets exist, which arms each gets, and how they are sharded.

Pure bookkeeping from the config; no fitting. Every id and key is a function of
the config alone, so a shard computes the same rows whichever run computes it.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Mapping, Sequence

import jax

from harness.errors import ConfigError
from estimators.evidence.strategies import STRATEGIES

SCENARIOS = ("good", "bad", "mixed")


def tag(name: str) -> int:
    """A stable 31-bit integer for a name (for ``jax.random.fold_in``)."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


EXPERIMENT_DRAWS = {False: ("redrawn",), True: ("fixed",), "both": ("redrawn", "fixed")}


@dataclass(frozen=True)
class Arm:
    """One arm of the study: a scenario's tests, a strategy, a calibration and an experiment draw.

    ``calibration`` is a calibration config name (``conf/calibration/<name>.yaml``); ``draws`` is
    ``redrawn`` (each replicate runs its own experiments) or ``fixed`` (every replicate of a truth
    gets replicate 0's readouts). ``suffix`` is what the layout adds to the name to tell arms
    apart when a study has several calibrations or both draws (empty otherwise, so single-design
    studies keep the names and keys of earlier runs).
    """

    scenario: str      # none | good | bad | mixed
    strategy: str
    calibration: str = ""
    draws: str = "redrawn"
    suffix: str = ""

    @property
    def name(self) -> str:
        return "none" if self.scenario == "none" else f"{self.scenario}/{self.strategy}{self.suffix}"


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


def _fixed(value):
    if value in (False, True, "both"):
        return value
    if isinstance(value, str) and value.lower() in ("false", "true"):
        return value.lower() == "true"
    raise ConfigError("study.fixed_experiments", f"must be false, true or both, got {value!r}")


def _variants(calibrations: Sequence[str], draws: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(calibration, draws, suffix)`` of every calibrated variant of a scenario and strategy."""
    out = []
    for c in calibrations:
        for d in draws:
            parts = ([c] if len(calibrations) > 1 else []) + ([d] if len(draws) > 1 else [])
            out.append((c, d, "".join(f"/{p}" for p in parts)))
    return out


def layout(study: Mapping, strategy: str, shard_truths: int, calibration: str = "") -> Layout:
    """Expand the ``study`` config into shards and arms.

    Args:
        study: the ``study`` config (worlds, replicates, arms, mixed, and optionally
            ``calibrations``: calibration config names fitted side by side, and
            ``fixed_experiments``: false | true | both).
        strategy: the arms' strategy when ``study.arm_strategies`` is not set.
        shard_truths: truths per shard.
        calibration: the study's one calibration when ``study.calibrations`` is not set.
    """
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
    cals = list(study.get("calibrations") or [calibration])
    if len(set(cals)) != len(cals):
        raise ConfigError("study.calibrations", f"lists a calibration twice: {cals}")
    if "none" in cals:
        raise ConfigError("study.calibrations", "none is the baseline every dataset gets; list calibrations only")
    draws = EXPERIMENT_DRAWS[_fixed(study.get("fixed_experiments", False))]
    variants = _variants(cals, draws)
    arms = []
    for sc in study.get("arms") or []:
        if sc not in SCENARIOS:
            raise ConfigError("study.arms", f"unknown scenario {sc!r}; choose from {SCENARIOS}")
        arms += [Arm(sc, s, c, d, x) for s in arm_strats for c, d, x in variants]
    mixed = study.get("mixed") or {}
    mixed_truths = dict(mixed.get("truths") or {})
    mixed_rep = int(mixed.get("replicate", 0))
    if not 0 <= mixed_rep < reps:
        raise ConfigError("study.mixed.replicate", f"must be in [0, {reps - 1}], got {mixed_rep}")
    mixed_arms = []
    for s in mixed.get("strategies") or []:
        if s not in STRATEGIES or s == "none":
            raise ConfigError("study.mixed.strategies", f"unknown strategy {s!r}")
        mixed_arms += [Arm("mixed", s, c, d, x) for c, d, x in variants]
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


def dispatch_order(shards: Sequence[Shard]) -> list[Shard]:
    """The order in which parallel workers take ``shards``: round robin over the worlds, each
    world's shards in layout order (``[f0, h0, f1, h1, ...]`` for worlds ``f`` and ``h``).

    A world's simulator programs (truth draw, panels, lift tests, response) compile once per
    profile. Taken world by world, every worker starts on the same world and compiles the same
    programs at the same time, then does so again for the next world; interleaved, the workers
    start on different worlds and each later reads the other's compiles from the persistent
    compilation cache. Results do not depend on the order: the tables are sorted by dataset and arm.
    """
    by_world: dict[str, list[Shard]] = {}
    for s in shards:
        by_world.setdefault(s.world, []).append(s)
    queues = list(by_world.values())
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def truth_key(root, world: str, truth: int):
    return jax.random.fold_in(jax.random.fold_in(root, tag(world)), truth)


def experiment_key(root, world: str, truth: int, replicate: int, design: str):
    """Key of one dataset's experiments of ``design``; fixed experiments use replicate 0's."""
    return jax.random.fold_in(jax.random.fold_in(truth_key(root, world, truth), 1000 + replicate), tag(design))


def fit_root(root):
    """Root of every fit's key: a fit's own key is ``fold_in(fit_root, crc32(fit id))`` with fit id
    ``<dataset id>/<arm>`` (see :func:`estimators.inference.laplace.dataset_keys`), so it depends
    on neither the shard layout nor the batch it was fitted in."""
    return jax.random.fold_in(root, tag("fits"))


def planned_fits(shard: Shard, arms: Sequence[Arm], mixed_arms: Sequence[Arm]) -> list[tuple]:
    """Every fit a shard will make (:func:`experiments.pipeline.run_shard`), from the layout alone:
    ``(dataset_id, truth_id, replicate, arm)``; the baseline ``none`` of every dataset, then each
    calibrated arm on its datasets (``mixed_arms`` on the mixed datasets only). Dataset ids are the
    simulator's, ``<world>-t<truth>-r<replicate>``."""
    data = [(f"{shard.world}-t{t:03d}", t, r) for t in range(shard.first_truth, shard.first_truth + shard.n_truths)
            for r in range(shard.replicates)]
    mixed = [d for d in data if d[2] == shard.mixed_rep and d[1] - shard.first_truth < shard.mixed_truths]
    out = [(f"{tid}-r{r}", tid, r, Arm("none", "none")) for tid, _, r in data]
    for arm in list(arms) + list(mixed_arms):
        out += [(f"{tid}-r{r}", tid, r, arm) for tid, _, r in (mixed if arm in mixed_arms else data)]
    return out
