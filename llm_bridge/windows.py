"""History and future windows drawn from a token stream, real and nonsense, all seeded.

A *window* is a contiguous run of tokens ``tokens[s : s + length]``. :func:`disjoint_windows` places any
number of windows of given lengths so that no two share a corpus position, uniformly at random among all
such placements (the classic stars-and-bars construction: the free positions are split into gaps by a
uniformly chosen multiset, and the windows are laid out in a uniformly random order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from logitrank.validation import RngLike, as_rng, check_positive_int, check_prefixes, check_token_array

__all__ = ["WindowSpec", "draw_windows", "disjoint_windows", "history_future_windows", "permute_windows",
           "prefix_closure", "random_windows", "reduce_futures", "windows_to_tuples"]


def _as_stream(tokens: np.ndarray | Sequence[int]) -> np.ndarray:
    arr = np.asarray(tokens)
    if arr.ndim != 1:
        raise ValueError(f"tokens: must be a 1-D token stream, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"tokens: token ids must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def disjoint_windows(
    tokens: np.ndarray | Sequence[int], lengths: Sequence[int], *, rng: RngLike = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Draw one window per entry of ``lengths``, pairwise disjoint in the corpus.

    With ``N = len(tokens)``, ``S = N - sum(lengths)`` free positions and ``k`` windows: draw ``k``
    distinct values from ``{0 .. S + k - 1}``, sort them and subtract ``0 .. k-1`` (a uniform multiset of gap
    sizes), then lay the windows out in a uniformly random order with those gaps in front.

    Parameters
    ----------
    tokens : int array, shape (N,)
    lengths : sequence of int, each ``>= 1``
    rng : Generator or seed

    Returns
    -------
    windows : list of int64 arrays, ``windows[i]`` of shape ``(lengths[i],)``
    starts : int64 array, shape (k,) — ``windows[i] = tokens[starts[i] : starts[i] + lengths[i]]``
    """
    stream = _as_stream(tokens)
    lens = [check_positive_int(f"lengths[{i}]", v) for i, v in enumerate(lengths)]
    k = len(lens)
    if k == 0:
        return [], np.zeros(0, dtype=np.int64)
    total = sum(lens)
    free = stream.size - total
    if free < 0:
        raise ValueError(f"tokens: corpus of {stream.size} tokens is too short for {k} disjoint windows "
                         f"totalling {total} tokens")
    gen = as_rng(rng)
    gaps = np.sort(gen.choice(free + k, size=k, replace=False)) - np.arange(k)
    order = gen.permutation(k)
    starts = np.empty(k, dtype=np.int64)
    used = 0
    for slot, idx in enumerate(order):
        starts[idx] = gaps[slot] + used
        used += lens[idx]
    windows = [stream[s : s + n].copy() for s, n in zip(starts, lens)]
    return windows, starts


def history_future_windows(
    tokens: np.ndarray | Sequence[int],
    n_histories: int,
    history_length: int,
    n_futures: int,
    future_length: int,
    *,
    rng: RngLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Histories and futures from one corpus, all ``n_histories + n_futures`` windows pairwise disjoint.

    Returns
    -------
    histories : int64 array, shape (n_histories, history_length)
    futures : int64 array, shape (n_futures, future_length)
    """
    nh = check_positive_int("n_histories", n_histories)
    nf = check_positive_int("n_futures", n_futures)
    lh = check_positive_int("history_length", history_length)
    lf = check_positive_int("future_length", future_length)
    wins, _ = disjoint_windows(tokens, [lh] * nh + [lf] * nf, rng=rng)
    return np.stack(wins[:nh]), np.stack(wins[nh:])


def permute_windows(windows: np.ndarray, *, rng: RngLike = None) -> np.ndarray:
    """Nonsense windows: the tokens of each row independently and uniformly permuted.

    Parameters
    ----------
    windows : int array, shape (n, L)

    Returns
    -------
    int64 array, shape (n, L) — same multiset of tokens per row, order destroyed.
    """
    arr = check_token_array("windows", windows)  # integers only: no float or bool truncation
    gen = as_rng(rng)
    return gen.permuted(arr, axis=1)


def random_windows(n: int, length: int, vocab_size: int, *, rng: RngLike = None) -> np.ndarray:
    """Nonsense windows of uniformly random tokens: int64 array, shape (n, length), entries in ``[0, V)``."""
    n = check_positive_int("n", n)
    length = check_positive_int("length", length)
    vocab_size = check_positive_int("vocab_size", vocab_size)
    return as_rng(rng).integers(0, vocab_size, size=(n, length), dtype=np.int64)


def prefix_closure(futures: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
    """Every prefix of every future, the empty one included, once each, sorted (integer token ids only)."""
    checked = check_prefixes("futures", futures, 2**63, None, allow_empty_set=True)
    return sorted({f[:j] for f in checked for j in range(len(f) + 1)})


def windows_to_tuples(windows: np.ndarray) -> list[tuple[int, ...]]:
    """Rows of a window array as a list of int tuples (the core's history/future format)."""
    return [tuple(int(t) for t in row) for row in check_token_array("windows", windows)]


@dataclass(frozen=True)
class WindowSpec:
    """Sizes of the history/future windows of an experiment: ``|H|``, ``|h|``, ``|F|``, ``|f|``, top-k."""

    n_histories: int = 256
    history_length: int = 32
    n_futures: int = 256
    future_length: int = 8
    top_k: int | None = 50


def draw_windows(
    tokens: np.ndarray, spec: WindowSpec, rng: RngLike = None
) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Disjoint corpus windows ``(H, F)`` of ``spec``'s sizes, as lists of token tuples."""
    H, F = history_future_windows(
        tokens, spec.n_histories, spec.history_length, spec.n_futures, spec.future_length, rng=rng
    )
    return windows_to_tuples(H), windows_to_tuples(F)


def reduce_futures(
    futures: Sequence[tuple[int, ...]],
) -> tuple[list[tuple[int, ...]], np.ndarray, np.ndarray]:
    """Cover a future set by its maximal elements (those not a proper prefix of another).

    Returns
    -------
    maximal : list of tuple
        Futures ``g`` to run; every non-empty requested future is a prefix of one of them.
    which : int64 array, shape (|F|,)
        ``which[j]``: index into ``maximal`` of a future that starts with ``futures[j]`` (-1 if it is empty).
    position : int64 array, shape (|F|,)
        ``len(futures[j]) - 1``: the position of ``maximal[which[j]]`` whose output gives ``l(h . f_j)``.
    """
    cover: dict[tuple[int, ...], int] = {}
    maximal: list[tuple[int, ...]] = []
    for f in sorted(set(futures), key=len, reverse=True):
        if not f or f in cover:
            continue
        idx = len(maximal)
        maximal.append(f)
        for m in range(1, len(f) + 1):
            cover.setdefault(f[:m], idx)
    which = np.array([cover[f] if f else -1 for f in futures], dtype=np.int64)
    position = np.array([len(f) - 1 for f in futures], dtype=np.int64)
    return maximal, which, position
