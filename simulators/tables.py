"""Helpers the synthetic models share: the trivial rank bound and Dirichlet probability tables."""

from __future__ import annotations

import numpy as np

from logitrank.validation import check_float, check_size

__all__ = ["trivial_rank_bound", "dirichlet_rows"]


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
    concentration = check_float("concentration", concentration, allow_inf=True)
    if not (np.isfinite(concentration) and concentration > 0):
        raise ValueError(f"concentration: must be a finite number > 0, got {concentration}")
    check_size("size", size, tuple(shape) + (size,), what="the Dirichlet table")
    p = gen.dirichlet(np.full(size, float(concentration)), size=shape if shape else None)
    p = np.maximum(p, floor)
    return p / p.sum(axis=-1, keepdims=True)
