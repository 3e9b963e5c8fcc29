"""Every concatenation ``h . f`` of a history and a future, run with key/value reuse, in blocks that fit.

One plan serves both readers of a causal LM: :meth:`llm_bridge.HFModel.extended_logits` (logits at every
future position) and :func:`llm_bridge.hidden_states.final_hidden` (final hidden states there).

* **Histories** (:func:`history_blocks`) are grouped by length, so that the rows of one key/value cache share
  a length and need no padding or mask; each group is cut into blocks of as many rows as one forward fits,
  with the BOS token (if any) in front.
* **Futures** (:func:`plan_futures`) are covered by their maximal elements
  (:func:`llm_bridge.windows.reduce_futures`): requested future ``j`` is read at position ``position[j]`` of
  maximal future ``which[j]``; the maximal futures are right-padded (a pad after the real tokens is never
  attended to by them in a causal model); the empty future is read at the history's last position.
* **Pairs** (:func:`pair_blocks`): a history block's cache is repeated over ``b`` maximal futures for ``a``
  histories at a time, ``a b <= pairs`` (the caller's budget), and the futures fed as one batch of
  ``a b`` rows: row ``r`` of a :class:`PairBlock` is history ``start + r // b`` followed by future
  ``r mod b``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .windows import reduce_futures

__all__ = ["FuturePlan", "PairBlock", "plan_futures", "history_blocks", "pair_blocks"]


@dataclass(frozen=True)
class FuturePlan:
    """The maximal futures of a future set and where each requested future is read.

    Attributes
    ----------
    padded : int64 array, shape (n_maximal, max length), right-padded with 0
    which : int64 array, shape (|F|,): the maximal future of ``F[j]``, -1 for the empty future
    position : int64 array, shape (|F|,): ``len(F[j]) - 1``, the position read in it
    """

    padded: np.ndarray
    which: np.ndarray
    position: np.ndarray

    @property
    def empty(self) -> np.ndarray:
        """Indices ``j`` of the empty futures (read at the history's last position)."""
        return np.flatnonzero(self.which < 0)


def plan_futures(futures: Sequence[tuple[int, ...]]) -> FuturePlan:
    """:class:`FuturePlan` of ``futures`` (validated token tuples)."""
    maximal, which, position = reduce_futures(futures)
    padded = np.zeros((len(maximal), max((len(g) for g in maximal), default=0)), dtype=np.int64)
    for i, g in enumerate(maximal):
        padded[i, : len(g)] = g
    return FuturePlan(padded, which, position)


def history_blocks(histories: Sequence[tuple[int, ...]], bos: list[int],
                   rows_for: Callable[[int], int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Blocks ``(rows, ids)`` of equal-length histories: ``rows`` their indices in ``histories``, ``ids`` the
    int64 inputs ``(len(rows), len(bos) + t)``, at most ``rows_for(len(bos) + t)`` of them per block."""
    groups: dict[int, list[int]] = {}
    for i, h in enumerate(histories):
        groups.setdefault(len(h), []).append(i)
    out = []
    for idx_list in groups.values():
        ids = np.array([bos + list(histories[i]) for i in idx_list], dtype=np.int64)
        step = rows_for(ids.shape[1])
        out += [(np.asarray(idx_list[a : a + step]), ids[a : a + step])
                for a in range(0, len(idx_list), step)]
    return out


@dataclass(frozen=True)
class PairBlock:
    """Histories ``start .. start + count - 1`` of a history block, each followed by every row of ``futures``.

    ``targets`` are the requested futures read from this block: ``F[targets[i]]`` is position
    ``position[i]`` of ``futures[which[i]]``.
    """

    start: int
    count: int
    futures: np.ndarray
    targets: np.ndarray
    which: np.ndarray
    position: np.ndarray

    def inputs(self) -> np.ndarray:
        """The future tokens fed after the cache, shape ``(count len(futures), lg)``."""
        return np.tile(self.futures, (self.count, 1))

    def cache_rows(self) -> np.ndarray:
        """The row of the history block's cache each input row continues, shape ``(count len(futures),)``."""
        return np.repeat(np.arange(self.start, self.start + self.count), len(self.futures))


def pair_blocks(n_histories: int, plan: FuturePlan, pairs: int) -> Iterator[PairBlock]:
    """The :class:`PairBlock` s of a block of ``n_histories`` histories, at most ``pairs`` (history, maximal
    future) rows each (at least one), future blocks outermost; blocks that read no future are skipped."""
    ng = len(plan.padded)
    if ng == 0:
        return
    b = min(ng, max(1, pairs))
    a = max(1, min(n_histories, pairs // b))
    nonempty = np.flatnonzero(plan.which >= 0)
    for g0 in range(0, ng, b):
        futures = plan.padded[g0 : g0 + b]
        js = nonempty[(plan.which[nonempty] >= g0) & (plan.which[nonempty] < g0 + len(futures))]
        if js.size == 0:
            continue
        for a0 in range(0, n_histories, a):
            yield PairBlock(a0, min(a, n_histories - a0), futures, js, plan.which[js] - g0, plan.position[js])
