"""Random history and future sets ``H`` and ``F`` for extended logit matrices.

Histories are distinct uniformly random sequences of one length ``t``; futures are distinct uniformly
random sequences whose lengths ``0..max_length`` are spread as evenly as the number of sequences of
each length allows (there is one empty future, ``V`` of length 1, ...).
"""

from __future__ import annotations

import numpy as np

from .validation import RngLike, as_rng, check_int, check_positive_int, check_size

__all__ = ["random_futures", "random_histories", "spread_lengths"]

MAX_VOCAB = 2**62
"""Token ids are drawn as int64: larger vocabularies are refused by name."""


def _distinct_rows(gen: np.random.Generator, vocab_size: int, n: int, length: int) -> np.ndarray:
    """``n`` distinct uniformly random rows of ``length`` tokens (int64, shape (n, length))."""
    capacity = vocab_size**length
    if n > capacity:
        raise ValueError(f"n: must be <= {capacity} (= {vocab_size}^{length}, the number of distinct "
                         f"sequences of length {length}), got {n}")
    if capacity <= 4 * n:  # small population: choose codes without replacement, decode base V
        codes = gen.choice(capacity, size=n, replace=False)
        digits = vocab_size ** np.arange(length - 1, -1, -1, dtype=np.int64)
        return (codes[:, None] // digits) % vocab_size if length else np.zeros((n, 0), dtype=np.int64)
    rows = np.empty((0, length), dtype=np.int64)
    while rows.shape[0] < n:  # rejection: each round keeps the first occurrence of every new row
        more = gen.integers(0, vocab_size, size=(2 * (n - rows.shape[0]), length), dtype=np.int64)
        both = np.concatenate([rows, more])
        _, first = np.unique(both, axis=0, return_index=True)
        rows = both[np.sort(first)]
    return rows[:n]


def random_histories(vocab_size: int, n: int, length: int, *, rng: RngLike = None) -> list[tuple[int, ...]]:
    """``n`` distinct uniformly random histories of exactly ``length`` tokens.

    Returns
    -------
    list of ``n`` tuples of int, in random order. Raises when ``n > vocab_size ** length``.
    """
    V = check_positive_int("vocab_size", vocab_size, maximum=MAX_VOCAB)
    n = check_positive_int("n", n)
    length = check_int("length", length, minimum=0)
    check_size("(n, length)", (n, length), (n, max(length, 1)), what="the histories (n, length)")
    rows = _distinct_rows(as_rng(rng), V, n, length)
    return [tuple(int(z) for z in row) for row in rows]


def _capped_powers(vocab_size: int, lengths: list[int], n: int) -> dict[int, int]:
    """``{m: min(V^m, n + 1)}``: the counts never need more, and huge powers ``V^m`` (``m`` up to 10^5) cost
    time quadratic in ``max(lengths)`` to form."""
    caps, power, at = {}, 1, 0  # power = V^at, grown only while it is <= n
    for m in lengths:  # ascending
        while at < m and power <= n:
            power *= vocab_size
            at += 1
        caps[m] = min(power, n + 1) if at == m else n + 1
    return caps


def spread_lengths(vocab_size: int, n: int, min_length: int, max_length: int) -> dict[int, int]:
    """How many futures of each length: as even as possible, never more than ``V^l`` of length ``l``."""
    lengths = list(range(min_length, max_length + 1))
    caps = _capped_powers(vocab_size, lengths, n)
    total = sum(caps.values())
    if n > total:
        raise ValueError(f"n: must be <= {total} (the number of distinct sequences of length {min_length}.."
                         f"{max_length} over {vocab_size} tokens), got {n}")
    counts = {}
    remaining = n
    for i, m in enumerate(sorted(lengths, key=lambda m: caps[m])):  # smallest capacity first
        share = -(-remaining // (len(lengths) - i))
        counts[m] = min(caps[m], share)
        remaining -= counts[m]
    return {m: counts[m] for m in lengths}


def random_futures(
    vocab_size: int, n: int, max_length: int, *, min_length: int = 0, rng: RngLike = None
) -> list[tuple[int, ...]]:
    """``n`` distinct uniformly random futures with lengths spread over ``min_length..max_length``.

    Returns
    -------
    list of ``n`` tuples of int, shortest first (as :func:`logitrank.all_futures`).
    """
    V = check_positive_int("vocab_size", vocab_size, maximum=MAX_VOCAB)
    n = check_positive_int("n", n)
    max_length = check_int("max_length", max_length, minimum=0)
    min_length = check_int("min_length", min_length, minimum=0, maximum=max_length)
    check_size("max_length", max_length, max_length - min_length + 1, itemsize=128,
               what="one count per future length (a dict entry each)")
    counts = spread_lengths(V, n, min_length, max_length)
    check_size("n", n, sum(m * c for m, c in counts.items()), what="the futures' tokens")
    gen = as_rng(rng)
    out: list[tuple[int, ...]] = []
    for m, count in counts.items():
        if count:
            out.extend(tuple(int(z) for z in row) for row in _distinct_rows(gen, V, count, m))
    return out
