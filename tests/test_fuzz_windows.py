"""Fuzz tests for the window helpers of llm_bridge (issue 16, group 4): token ids are exact integers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_bridge.windows import permute_windows, prefix_closure, windows_to_tuples

non_integers = st.one_of(st.floats(0.01, 9.99).filter(lambda x: x != int(x)), st.booleans())


@given(bad=non_integers, pos=st.integers(0, 2))
def test_window_helpers_refuse_non_integer_tokens(bad, pos):
    row: list = [0, 1, 2]
    row[pos] = bad
    with pytest.raises(ValueError, match=r"windows: token ids must be integers, got"):
        permute_windows([row, [3, 4, 5]], rng=0)
    with pytest.raises(ValueError, match=r"windows: token ids must be integers, got"):
        windows_to_tuples([row])
    with pytest.raises(ValueError, match=r"futures\[1\]: token ids must be integers, got"):
        prefix_closure([(0,), row])


@given(rows=st.lists(st.lists(st.integers(0, 50), min_size=4, max_size=4), min_size=1, max_size=5),
       dtype=st.sampled_from([np.int64, np.int32, np.uint16]))
def test_window_helpers_on_integer_arrays_match_the_reference(rows, dtype):
    arr = np.array(rows, dtype=dtype)
    assert windows_to_tuples(arr) == [tuple(r) for r in rows]
    perm = permute_windows(arr, rng=3)
    assert perm.dtype == np.int64
    assert [sorted(r) for r in perm.tolist()] == [sorted(r) for r in rows]
    ref = sorted({tuple(r[:j]) for r in rows for j in range(len(r) + 1)})
    assert prefix_closure(rows) == ref


def test_window_helpers_refuse_ragged_and_wrong_shapes():
    with pytest.raises(ValueError, match=r"windows: must be a rectangular array of token ids"):
        windows_to_tuples([[0, 1], [2]])
    with pytest.raises(ValueError, match=r"windows: must be a 2-D array of token ids, got shape \(3,\)"):
        permute_windows(np.arange(3), rng=0)
    assert prefix_closure([]) == []
