"""llm_bridge.pair_blocks: the plan of every h . f read with key/value reuse covers each (history, future)
pair exactly once, reads it at the right position, and keeps every forward within its budget."""

from __future__ import annotations

import numpy as np
import pytest

from llm_bridge.pair_blocks import history_blocks, pair_blocks, plan_futures


def sets(seed: int) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    rng = np.random.default_rng(seed)
    H = [tuple(int(t) for t in rng.integers(0, 9, size=rng.integers(0, 4))) for _ in range(13)]
    F = [(), (1,), (1, 2), (1, 2, 3), (4,), (), (1, 2)] + [
        tuple(int(t) for t in rng.integers(0, 9, size=rng.integers(1, 5))) for _ in range(6)]
    return H, F


@pytest.mark.parametrize(("rows", "pairs"), [(1, 1), (2, 3), (4, 7), (100, 1000)])
def test_blocks_read_every_history_future_pair_exactly_once(rows: int, pairs: int) -> None:
    H, F = sets(rows)
    plan = plan_futures(F)
    seen = np.zeros((len(H), len(F)), dtype=np.int64)
    blocks = history_blocks(H, [7], lambda t: rows)
    for idx, ids in blocks:
        assert 1 <= len(idx) <= rows and ids.shape == (len(idx), 1 + len(H[idx[0]]))
        for r, i in enumerate(idx):  # equal-length histories, BOS first
            assert tuple(ids[r]) == (7, *H[i])
        seen[np.ix_(idx, plan.empty)] += 1  # the empty future: the history's last position
        for pb in pair_blocks(len(idx), plan, pairs):
            assert 1 <= pb.count * len(pb.futures) <= max(1, pairs)
            inputs, rows_of = pb.inputs(), pb.cache_rows()
            assert inputs.shape[0] == rows_of.shape[0] == pb.count * len(pb.futures)
            for r in range(inputs.shape[0]):  # row r: history start + r // b, then future r mod b
                assert rows_of[r] == pb.start + r // len(pb.futures)
                np.testing.assert_array_equal(inputs[r], pb.futures[r % len(pb.futures)])
            for j, w, p in zip(pb.targets, pb.which, pb.position, strict=True):
                assert tuple(pb.futures[w][: p + 1]) == F[j]  # read at the future's last token
            seen[np.ix_(idx[pb.start : pb.start + pb.count], pb.targets)] += 1
    np.testing.assert_array_equal(seen, 1)


def test_a_future_set_of_only_the_empty_future_has_no_pair_blocks() -> None:
    plan = plan_futures([(), ()])
    assert plan.padded.shape == (0, 0) and list(plan.empty) == [0, 1]
    assert list(pair_blocks(5, plan, 10)) == []
