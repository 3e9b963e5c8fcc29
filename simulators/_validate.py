"""Validation helpers and the trivial rank bound shared by the synthetic models."""

from __future__ import annotations

import numpy as np

__all__ = ["check_cut", "check_stochastic", "trivial_rank_bound", "dirichlet_rows"]

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


def trivial_rank_bound(vocab_size: int, horizon: int, t: int) -> int:
    """``min(#rows, #independent columns)`` of ``L(Sigma^t, Sigma^{<= T-1-t})``.

    Rows: ``V^t`` histories. Columns: ``V`` per future, but centered logits sum to zero over the
    ``V`` tokens of each future block, so at most ``V - 1`` of them are independent; there are
    ``sum_{m=0}^{T-1-t} V^m`` futures.
    """
    V = vocab_size
    n_futures = sum(V**m for m in range(horizon - t))
    return int(min(V**t, (V - 1) * n_futures))


def dirichlet_rows(gen: np.random.Generator, concentration: float, shape: tuple[int, ...], size: int,
                   floor: float = 1e-12) -> np.ndarray:
    """I.i.d. ``Dirichlet(concentration * 1)`` vectors of length ``size``, array ``shape + (size,)``.

    Every probability is then raised to at least ``floor`` and the row renormalised, so that
    log-probabilities stay finite even for tiny concentrations (a Dirichlet draw can underflow to 0).
    """
    if not (np.isfinite(concentration) and concentration > 0):
        raise ValueError(f"concentration: must be a finite number > 0, got {concentration}")
    p = gen.dirichlet(np.full(size, float(concentration)), size=shape if shape else None)
    p = np.maximum(p, floor)
    return p / p.sum(axis=-1, keepdims=True)
