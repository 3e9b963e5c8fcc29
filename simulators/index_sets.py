"""Index sets of a synthetic model: ``|H|`` random histories of one length ``t`` and ``|F|`` random
futures of lengths ``0..T-1-t`` (all that fit the horizon), clipped to the number of distinct sequences.

One home for ``logitrank spectrum`` on a synthetic family and the synthetic-spectra experiment
(:mod:`experiments.synthetic_spectra`).
"""

from __future__ import annotations

from collections.abc import Iterable

from logitrank import random_futures, random_histories
from logitrank.validation import RngLike, as_rng, check_int

__all__ = ["distinct_count", "synthetic_index_sets"]


def distinct_count(V: int, lengths: Iterable[int], cap: int) -> int:
    """``min(cap, sum_{m in lengths} V^m)`` without forming huge powers."""
    total = 0
    for m in lengths:
        power = 1
        for _ in range(m):
            power *= V
            if power >= cap:
                break
        total += power
        if total >= cap:
            return cap
    return total


def synthetic_index_sets(vocab_size: int, horizon: int, n_histories: int, n_futures: int, *,
                         history_length: int | None = None, rng: RngLike = None
                         ) -> tuple[int, list[tuple[int, ...]], list[tuple[int, ...]]]:
    """``(t, H, F)``: ``t = history_length`` (default ``horizon // 2``), ``H`` of ``min(n_histories, V^t)``
    random distinct histories of length ``t``, then (same generator) ``F`` of ``min(n_futures, sum_m V^m)``
    random distinct futures of lengths ``0..horizon-1-t``."""
    t = horizon // 2 if history_length is None else check_int("history_length", history_length, minimum=0,
                                                               maximum=horizon - 1)
    gen = as_rng(rng)
    H = random_histories(vocab_size, distinct_count(vocab_size, [t], n_histories), t, rng=gen)
    F = random_futures(vocab_size, distinct_count(vocab_size, range(horizon - t), n_futures), horizon - 1 - t,
                       rng=gen)
    return t, H, F
