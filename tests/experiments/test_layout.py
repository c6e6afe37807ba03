"""The order in which parallel workers take a study's shards."""
from __future__ import annotations

from hypothesis import given, strategies as st

from experiments.layout import dispatch_order, layout


def _shards(worlds: dict):
    study = {"worlds": worlds, "replicates": 1, "arms": ["good"]}
    return list(layout(study, "all", 4).shards)


def test_workers_start_on_different_worlds():
    shards = _shards({"fashion": 12, "home_goods": 9})          # 3 and 3 shards
    order = dispatch_order(shards)
    assert [s.world for s in order] == ["fashion", "home_goods"] * 3
    assert [s.world for s in shards][:2] == ["fashion", "fashion"]  # the layout itself is world by world


@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(1, 30), min_size=1))
def test_every_shard_once_and_each_world_in_layout_order(worlds):
    shards = _shards(worlds)
    order = dispatch_order(shards)
    assert sorted(s.shard_id for s in order) == sorted(s.shard_id for s in shards)
    for w in worlds:
        assert [s for s in order if s.world == w] == [s for s in shards if s.world == w]
    # round robin: while every world still has shards, no world comes twice before the others
    head = min(sum(s.world == w for s in shards) for w in worlds) * len(worlds)
    for i in range(0, head, len(worlds)):
        assert len({s.world for s in order[i:i + len(worlds)]}) == len(worlds)
