"""Input validation and random-state normalisation shared by the whole package.

Every error names the parameter, the rule it broke and the value received, so that a
user reading a traceback knows what to change without opening the source.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

RngLike = np.random.Generator | int | None

__all__ = ["RngLike", "as_rng", "check_positive_int", "check_prefixes", "check_finite", "short"]


def short(value: Any, limit: int = 80) -> str:
    """A repr of ``value`` cut to ``limit`` characters for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_rng(rng: RngLike) -> np.random.Generator:
    """Normalise ``rng`` (a Generator, an int seed or None) to a numpy Generator, once."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, int | np.integer):
        if rng is not None and int(rng) < 0:
            raise ValueError(f"rng: a seed must be a non-negative integer, got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(f"rng: expected a numpy Generator, an int seed or None, got {type(rng).__name__}")


def check_positive_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int after checking ``minimum <= value <= maximum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: must be an integer, got {short(value)} ({type(value).__name__})")
    v = int(value)
    if v < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {v}")
    return v


def check_prefixes(
    name: str,
    prefixes: Sequence[Sequence[int]] | np.ndarray,
    vocab_size: int,
    max_length: int | None,
    *,
    allow_empty_set: bool = False,
) -> list[tuple[int, ...]]:
    """Validate a collection of token sequences and return it as a list of int tuples.

    Rules: every token is an integer in ``[0, vocab_size)``; every sequence has length
    ``<= max_length`` (when given); the collection is non-empty unless ``allow_empty_set``.
    """
    if isinstance(prefixes, np.ndarray) and prefixes.ndim == 2:
        arr = prefixes
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name}: token ids must be integers, got dtype {arr.dtype}")
        out = [tuple(int(t) for t in row) for row in arr]
    else:
        out = []
        for i, p in enumerate(prefixes):
            a = np.asarray(p)
            if a.ndim != 1 and a.size:
                raise ValueError(f"{name}[{i}]: each sequence must be 1-D, got shape {a.shape}")
            if a.size and not np.issubdtype(a.dtype, np.integer):
                raise ValueError(f"{name}[{i}]: token ids must be integers, got {short(p)}")
            out.append(tuple(int(t) for t in a.reshape(-1)))
    if not out and not allow_empty_set:
        raise ValueError(f"{name}: must contain at least one sequence, got an empty collection")
    for i, seq in enumerate(out):
        if max_length is not None and len(seq) > max_length:
            raise ValueError(
                f"{name}[{i}]: length must be <= {max_length} (the model's horizon minus one), "
                f"got length {len(seq)}"
            )
        for t in seq:
            if t < 0 or t >= vocab_size:
                raise ValueError(
                    f"{name}[{i}]: token ids must lie in [0, {vocab_size}), got {t} in {short(seq)}"
                )
    return out


def check_finite(name: str, values: np.ndarray) -> np.ndarray:
    """Raise if ``values`` holds NaN or infinity (reporting how many and where the first is)."""
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: must be finite, got {int(bad.sum())} non-finite entries "
            f"(first at index {first}: {values[first]})"
        )
    return values
