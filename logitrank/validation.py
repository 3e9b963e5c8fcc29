"""Input validation and random-state normalisation: the one validation module of every package.

Every error names the parameter, the rule it broke and the value received, so that a
user reading a traceback knows what to change without opening the source. One public helper
per kind of value (scikit-learn's ``check_scalar`` / ``check_random_state`` are the model):

- :func:`check_int` / :func:`check_positive_int` -- integers (no float, bool or string truncation);
- :func:`check_float` -- finite real numbers with optional open or closed bounds;
- :func:`check_choice` -- one of a fixed set of options;
- :func:`check_prefixes` -- collections of token sequences; :func:`check_finite` -- arrays;
- :func:`check_stochastic` -- probability tables; :func:`check_cut` -- a cut position;
- :func:`as_rng` -- normalise an rng once; :func:`spawn_rngs` / :func:`spawn_seeds` -- independent
  sub-streams from :class:`numpy.random.SeedSequence` (never ``seed + 1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

RngLike = np.random.Generator | int | None

__all__ = [
    "RngLike", "as_rng", "spawn_rngs", "spawn_seeds", "check_int", "check_positive_int", "check_float",
    "check_choice", "check_prefixes", "check_finite", "check_stochastic", "check_cut", "short",
    "STOCHASTIC_ATOL",
]


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


def _seed_sequence(rng: RngLike | np.random.SeedSequence) -> np.random.SeedSequence:
    if isinstance(rng, np.random.SeedSequence):
        return rng
    if isinstance(rng, np.random.Generator):
        # draw the entropy from the generator, so the parent stream advances deterministically
        return np.random.SeedSequence(int(rng.integers(0, 2**63)))
    if rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool)):
        if rng is not None and int(rng) < 0:
            raise ValueError(f"rng: a seed must be a non-negative integer, got {rng}")
        return np.random.SeedSequence(None if rng is None else int(rng))
    raise TypeError(f"rng: expected a numpy Generator, an int seed or None, got {type(rng).__name__}")


def spawn_seeds(rng: RngLike | np.random.SeedSequence, n: int) -> list[int]:
    """``n`` independent integer seeds spawned from ``rng`` with :meth:`numpy.random.SeedSequence.spawn`.

    Integers (rather than Generators) are what a cache key or a JSON record can hold; the same ``rng``
    always gives the same seeds.
    """
    n = check_int("n", n, minimum=0)
    return [int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))
            for child in _seed_sequence(rng).spawn(n)]


def spawn_rngs(rng: RngLike | np.random.SeedSequence, n: int) -> list[np.random.Generator]:
    """``n`` independent Generators spawned from ``rng`` (:meth:`numpy.random.SeedSequence.spawn`)."""
    n = check_int("n", n, minimum=0)
    return [np.random.default_rng(child) for child in _seed_sequence(rng).spawn(n)]


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an int after checking it is an integer (not a bool, float or string) in
    ``[minimum, maximum]`` (each bound optional)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: must be an integer, got {short(value)} ({type(value).__name__})")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {v}")
    return v


def check_float(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a real number (not a bool or string), finite
    (unless ``allow_inf``) and inside the interval given by ``low`` / ``high`` (open or closed ends)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: must be a real number, got {short(value)} ({type(value).__name__})")
    v = float(value)
    if np.isnan(v) or (np.isinf(v) and not allow_inf):
        raise ValueError(f"{name}: must be a finite number, got {v}")
    if low is not None and (v < low or (v == low and not low_inclusive)):
        raise ValueError(f"{name}: must be {'>=' if low_inclusive else '>'} {low:g}, got {v:g}")
    if high is not None and (v > high or (v == high and not high_inclusive)):
        raise ValueError(f"{name}: must be {'<=' if high_inclusive else '<'} {high:g}, got {v:g}")
    return v


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """Return ``value`` after checking it is one of ``choices``."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        raise ValueError(f"{name}: must be one of {', '.join(map(repr, choices))}, got {short(value)}")
    return value


def check_positive_int(name: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as an int after checking ``minimum <= value <= maximum`` (default minimum 1)."""
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


STOCHASTIC_ATOL = 1e-8
"""Rows of a probability table must sum to 1 within this absolute tolerance."""


def check_stochastic(name: str, table: np.ndarray, *, strictly_positive: bool = False) -> np.ndarray:
    """Return ``table`` as float64 after checking that it is finite, non-negative (or ``> 0``) and that
    every slice along the last axis sums to 1 (within :data:`STOCHASTIC_ATOL`)."""
    arr = np.asarray(table, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] < 1:
        raise ValueError(f"{name}: must have at least one axis of positive length, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: must be finite, got non-finite entries")
    if strictly_positive and not np.all(arr > 0):
        raise ValueError(f"{name}: entries must be > 0 (so every log-probability is finite), "
                         f"got minimum {arr.min():g}")
    if not np.all(arr >= 0):
        raise ValueError(f"{name}: entries must be >= 0 (probabilities), got minimum {arr.min():g}")
    sums = arr.sum(axis=-1)
    worst = float(np.max(np.abs(sums - 1.0)))
    if worst > STOCHASTIC_ATOL:
        raise ValueError(f"{name}: each row (last axis) must sum to 1 within {STOCHASTIC_ATOL:g}, "
                         f"got a row summing to {float(sums.flat[np.argmax(np.abs(sums - 1.0))])!r}")
    return arr


def check_cut(t: int, horizon: int) -> int:
    """Check a cut position ``0 <= t <= horizon - 1`` (the length of the histories)."""
    if isinstance(t, bool) or not isinstance(t, int | np.integer):
        raise TypeError(f"t: must be an integer, got {t!r} ({type(t).__name__})")
    if not 0 <= int(t) <= horizon - 1:
        raise ValueError(f"t: must satisfy 0 <= t <= horizon - 1 = {horizon - 1}, got {t}")
    return int(t)
