"""Input validation and random-state normalisation: the one validation module of every package.

Every error names the parameter, the rule it broke and the value received, so that a
user reading a traceback knows what to change without opening the source. One public helper
per kind of value (scikit-learn's ``check_scalar`` / ``check_random_state`` are the model):

- :func:`check_int` / :func:`check_positive_int` -- integers (no float, bool or string truncation);
- :func:`check_float` -- finite real numbers with optional open or closed bounds;
- :func:`check_choice` -- one of a fixed set of options;
- :func:`check_prefixes` -- collections of token sequences; :func:`check_finite` -- arrays;
  :func:`check_real_array` -- a rectangular array of real numbers; :func:`check_spectrum` -- a spectrum
  (a non-empty 1-D array of finite, non-negative singular values);
- :func:`check_stochastic` -- probability tables; :func:`check_cut` -- a cut position;
- :func:`check_token_array` -- a rectangular integer array of token ids; :func:`check_positions` -- a
  set of distinct integer positions; :func:`check_model` -- the ``SequenceModel`` protocol attributes;
  :func:`check_size` -- a size guard before a large allocation (:data:`MAX_ARRAY_BYTES`);
- :func:`as_rng` -- normalise an rng once; :func:`spawn_rngs` / :func:`spawn_seeds` -- independent
  sub-streams from :class:`numpy.random.SeedSequence` (never an offset added to a seed).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

RngLike = np.random.Generator | int | None

__all__ = [
    "RngLike", "as_rng", "spawn_rngs", "spawn_seeds", "check_int", "check_positive_int", "check_float",
    "check_choice", "check_prefixes", "check_finite", "check_stochastic", "check_cut", "short",
    "STOCHASTIC_ATOL", "check_token_array", "check_positions", "check_model", "check_size", "MAX_ARRAY_BYTES",
    "check_real_array", "check_spectrum",
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
    """Return ``value`` as an int after checking ``minimum <= value <= maximum`` (default minimum 1):
    :func:`check_int` with a lower bound always set."""
    return check_int(name, value, minimum=minimum, maximum=maximum)


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

    Vectorised: the tokens of the whole batch become one int64 array with one range check (a 2-D integer
    array directly; sequences of plain ints after one type scan); only other element types (numpy scalars,
    junk to be named) are converted sequence by sequence.
    """
    if prefixes is None or isinstance(prefixes, str | bytes) or not isinstance(prefixes, Iterable):
        raise TypeError(f"{name}: must be a collection of token sequences, got {short(prefixes)} "
                        f"({type(prefixes).__name__})")
    if isinstance(prefixes, np.ndarray) and prefixes.ndim == 2:
        if prefixes.size and not np.issubdtype(prefixes.dtype, np.integer):
            raise ValueError(f"{name}: token ids must be integers, got dtype {prefixes.dtype}")
        out = [tuple(row) for row in prefixes.tolist()]
        flat: np.ndarray | None = _flat_int64(prefixes) if prefixes.size else np.zeros(0, dtype=np.int64)
    else:
        items = list(prefixes)
        out, flat = _plain_tuples(items)
        if flat is None:
            out = [_token_tuple(f"{name}[{i}]", p) for i, p in enumerate(items)]
    if not out and not allow_empty_set:
        raise ValueError(f"{name}: must contain at least one sequence, got an empty collection")
    _check_lengths_and_range(name, out, flat, vocab_size, max_length)
    return out


def _flat_int64(arr: np.ndarray) -> np.ndarray:
    """An integer array's entries as int64 (uint64 past the int64 range becomes -1, out of every range)."""
    if arr.dtype == np.uint64:
        return np.where(arr >= np.uint64(2**63), -1, arr).astype(np.int64).reshape(-1)
    return arr.astype(np.int64, copy=False).reshape(-1)


def _plain_tuples(items: list[Any]) -> tuple[list[tuple[int, ...]], np.ndarray | None]:
    """Tuples of ``items`` and their tokens as one int64 array when every sequence is a tuple or list of
    plain Python ints within int64 (one C-level type scan); ``([], None)`` otherwise (the slow path)."""
    if not all(isinstance(p, tuple | list) for p in items):
        return [], None
    out = [tuple(p) for p in items]
    tokens = list(itertools.chain.from_iterable(out))
    if tokens and set(map(type, tokens)) != {int}:
        return [], None
    try:
        return out, np.array(tokens, dtype=np.int64)
    except OverflowError:  # a Python int past int64: out of range, named by the per-sequence check
        return [], None


def _check_lengths_and_range(name: str, out: list[tuple[int, ...]], flat: np.ndarray | None, vocab_size: int,
                             max_length: int | None) -> None:
    """Raise for the first sequence (in order) too long or holding a token outside ``[0, vocab_size)``."""
    lengths = np.fromiter(map(len, out), dtype=np.int64, count=len(out))
    too_long = lengths > max_length if max_length is not None else np.zeros(len(out), dtype=bool)
    if flat is None:  # the slow path's ints may exceed int64: compare them in Python
        per_seq = np.array([any(t < 0 or t >= vocab_size for t in seq) for seq in out], dtype=bool)
    else:
        bad_token = (flat < 0) | (flat >= vocab_size)
        per_seq = np.zeros(len(out), dtype=bool)
        if bad_token.any():
            per_seq[np.repeat(np.arange(len(out)), lengths)[bad_token]] = True
    if not (too_long.any() or per_seq.any()):
        return
    i = int(np.flatnonzero(too_long | per_seq)[0])
    seq = out[i]
    if too_long[i]:
        raise ValueError(f"{name}[{i}]: length must be <= {max_length} (the model's horizon minus one), "
                         f"got length {len(seq)}")
    t = next(t for t in seq if t < 0 or t >= vocab_size)
    raise ValueError(f"{name}[{i}]: token ids must lie in [0, {vocab_size}), got {t} in {short(seq)}")


def _is_int(t: Any) -> bool:
    return isinstance(t, int | np.integer) and not isinstance(t, bool | np.bool_)


def _token_tuple(name: str, p: Any) -> tuple[int, ...]:
    """One token sequence as a tuple of Python ints (no float, bool or string truncation)."""
    if isinstance(p, tuple | list) and all(type(t) is int for t in p):  # the common case, no numpy
        return tuple(p)
    if isinstance(p, str | bytes) or p is None:
        raise ValueError(f"{name}: each sequence must be a sequence of integer token ids, got {short(p)}")
    try:
        a = np.asarray(p)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{name}: each sequence must be a flat sequence of integer token ids, "
                         f"got {short(p)}") from None
    if a.ndim != 1 and a.size:
        raise ValueError(f"{name}: each sequence must be 1-D, got shape {a.shape}")
    if not isinstance(p, np.ndarray) and a.size:
        # numpy promotes a mix such as (np.uint64(2), 0) to float64 and huge ints to object, and a mix of
        # bools and ints to int64: judge the elements themselves
        items = list(p)
        if all(_is_int(t) for t in items):
            return tuple(int(t) for t in items)
        raise ValueError(f"{name}: token ids must be integers, got {short(p)}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name}: token ids must be integers, got {short(p)}")
    return tuple(int(t) for t in a.reshape(-1))


def _int_array(name: str, values: Any, ndim: int, what: str) -> np.ndarray:
    """``values`` as an integer numpy array of ``ndim`` dimensions (exact integers only)."""
    if values is None or isinstance(values, str | bytes):
        raise TypeError(f"{name}: must be an array of {what}, got {short(values)} ({type(values).__name__})")
    if isinstance(values, np.ndarray):
        arr = values
    else:
        try:
            arr = np.asarray(values)
        except (ValueError, TypeError, OverflowError):
            raise ValueError(f"{name}: must be a rectangular array of {what} (rows of equal length), "
                             f"got {short(values)}") from None
        if arr.size and (arr.dtype == object or not np.issubdtype(arr.dtype, np.integer)
                         or arr.dtype == np.int64):
            elems = np.asarray(values, dtype=object).reshape(-1)
            if not all(_is_int(t) for t in elems):
                raise ValueError(f"{name}: {what} must be integers, got {short(values)}")
            if arr.dtype != np.int64:
                big = [int(t) for t in elems if not -(2**63) <= int(t) < 2**63]
                if big:
                    raise ValueError(f"{name}: {what} must fit in int64, got {big[0]}")
                arr = np.array([int(t) for t in elems], dtype=np.int64).reshape(arr.shape)
    if arr.ndim != ndim:
        raise ValueError(f"{name}: must be a {ndim}-D array of {what}, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: {what} must be integers, got dtype {arr.dtype}")
    if arr.size and arr.dtype == np.uint64 and int(arr.max()) >= 2**63:
        raise ValueError(f"{name}: {what} must fit in int64, got {int(arr.max())}")
    return arr.astype(np.int64, copy=False)


def check_token_array(name: str, values: Any, vocab_size: int | None = None, *, ndim: int = 2) -> np.ndarray:
    """Return ``values`` as an int64 array after checking it is a rectangular ``ndim``-D array of integer
    token ids (no float, bool or string truncation, no ragged rows) in ``[0, vocab_size)`` when given."""
    arr = _int_array(name, values, ndim, "token ids")
    if vocab_size is not None and arr.size and (arr.min() < 0 or arr.max() >= vocab_size):
        raise ValueError(f"{name}: token ids must lie in [0, {vocab_size}), "
                         f"got range [{arr.min()}, {arr.max()}]")
    return arr


def check_positions(name: str, values: Any, n: int, n_name: str | None = None) -> list[int]:
    """Return ``values`` as a list of ints after checking it is a 1-D collection of distinct integer
    positions in ``[0, n)`` (empty allowed); ``n_name`` names the bound in the message."""
    arr = _int_array(name, values, 1, "positions")
    pos = [int(j) for j in arr]
    bad = [j for j in pos if not 0 <= j < n]
    if bad:
        raise ValueError(f"{name}: positions must lie in [0, {n if n_name is None else f'{n_name}={n}'}), "
                         f"got {bad}")
    if len(set(pos)) != len(pos):
        raise ValueError(f"{name}: positions must be distinct, got {pos}")
    return pos


def check_model(model: Any, name: str = "model") -> tuple[int, int]:
    """Check the :class:`logitrank.SequenceModel` protocol and return ``(vocab_size, horizon)`` as ints:
    integer attributes ``vocab_size >= 1`` and ``horizon >= 1`` and a callable ``logits``."""
    for attr in ("vocab_size", "horizon"):
        if not hasattr(model, attr):
            raise TypeError(f"{name}: must follow the SequenceModel protocol (integer attributes vocab_size "
                            f"and horizon, a logits method), got a {type(model).__name__} without {attr!r}")
    if not callable(getattr(model, "logits", None)):
        raise TypeError(f"{name}: must follow the SequenceModel protocol (a logits method), got a "
                        f"{type(model).__name__} without one")
    V = check_int(f"{name}.vocab_size", model.vocab_size, minimum=1)
    T = check_int(f"{name}.horizon", model.horizon, minimum=1)
    return V, T


MAX_ARRAY_BYTES = 8 * 2**30
"""Size guard: :func:`check_size` refuses an allocation above this many bytes (8 GiB; raise it on purpose
by assigning ``logitrank.validation.MAX_ARRAY_BYTES``)."""


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if size < 1024 or unit == "EiB":
            return f"{size:.3g} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def check_size(name: str, value: Any, shape: Sequence[int] | int, *, what: str, itemsize: int = 8) -> None:
    """Refuse (``ValueError`` stating the size) an allocation of ``shape`` (or that many entries) of
    ``itemsize`` bytes each above :data:`MAX_ARRAY_BYTES`, before it is attempted; ``name``/``value`` are
    the parameter that made it large."""
    entries = int(shape) if isinstance(shape, int | np.integer) else math.prod(int(s) for s in shape)
    nbytes = entries * int(itemsize)
    if nbytes > MAX_ARRAY_BYTES:
        where = f"{entries} entries" if isinstance(shape, int | np.integer) else f"shape {tuple(shape)}"
        raise ValueError(f"{name}: {what} must fit in {_human_bytes(MAX_ARRAY_BYTES)} "
                         f"(logitrank.validation.MAX_ARRAY_BYTES), got {name} = {short(value)} needing "
                         f"{where} = {_human_bytes(nbytes)}")


def check_real_array(name: str, values: Any, *, ndim: int | None = None) -> np.ndarray:
    """``values`` as a float64 array after checking it holds real numbers in a rectangular layout: strings,
    ragged rows and objects are refused naming ``name`` (numpy's own words name nothing)."""
    if values is None or isinstance(values, str | bytes):
        raise TypeError(f"{name}: must be an array of real numbers, got {short(values)} "
                        f"({type(values).__name__})")
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):
        arr = np.empty(0, dtype=object)
    if arr.dtype == object:
        raise ValueError(f"{name}: must be a rectangular array of real numbers (rows of equal length), got "
                         f"{short(values)}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: must hold real numbers, got dtype {arr.dtype} ({short(values)})")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name}: must be a {ndim}-D array, got shape {arr.shape}")
    return arr.astype(np.float64, copy=False)


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


def check_spectrum(s: Any, name: str = "s") -> np.ndarray:
    """``s`` as a float64 array of singular values after checking it is a non-empty 1-D array of finite,
    non-negative real numbers (any order); errors name ``name``.

    Parameters
    ----------
    s : array-like, shape (n,), ``n >= 1``
    name : str, the parameter name used in error messages

    Returns
    -------
    array, shape (n,), float64 (the same values, in the same order).
    """
    arr = check_real_array(name, s)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: must be a non-empty 1-D array of singular values, got shape {arr.shape}")
    check_finite(name, arr)
    if (arr < 0).any():
        raise ValueError(f"{name}: singular values must be >= 0, got minimum {arr.min()}")
    return arr
