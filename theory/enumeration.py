"""Exhaustive cutwise logit matrices ``L_M(Sigma^t, Sigma^{<= T-1-t})`` of small models.

The logit rank of SPEC section 1 is defined through these matrices: rows are *all* ``V^t`` histories of
length ``t``, columns all ``(f, z)`` with ``|f| <= T - 1 - t`` (future-major, shortest futures first, as
:func:`logitrank.all_futures`). Their size grows like ``V^T``, so enumeration is refused beyond
:data:`MAX_ENUMERATION` with a ``ValueError`` that names the limit (instead of a hang).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import svdvals

from logitrank import SequenceModel, all_futures, all_sequences, extended_logits, numerical_rank

__all__ = ["MAX_ENUMERATION", "RANK_RTOL", "check_enumerable", "cut_matrix", "cut_ranks", "cut_spectra"]

MAX_ENUMERATION = 2**17
"""Largest ``V**T`` (number of full-length sequences) for exhaustive enumeration. Each cut matrix then
has at most about ``2 V^T`` entries (``V^t`` rows times ``V (V^{T-t} - 1)/(V - 1)`` columns)."""

RANK_RTOL = 1e-10
"""Relative tolerance of exact ranks: singular values ``> RANK_RTOL * sigma_1`` count (float64 SVD
round-off is ~1e-15 sigma_1; the exact-rank models here have gaps of many orders of magnitude)."""


def check_enumerable(vocab_size: int, horizon: int) -> None:
    """Raise ``ValueError`` unless ``vocab_size ** horizon <= MAX_ENUMERATION``."""
    size = int(vocab_size) ** int(horizon)
    if size > MAX_ENUMERATION:
        raise ValueError(
            f"vocab_size**horizon: exhaustive enumeration is limited to V**T <= {MAX_ENUMERATION} "
            f"(theory.enumeration.MAX_ENUMERATION), got {vocab_size}**{horizon} = {size}"
        )


def cut_matrix(model: SequenceModel, t: int, horizon: int | None = None) -> np.ndarray:
    """``L_M(Sigma^t, Sigma^{<= T-1-t})`` by exhaustive enumeration.

    Parameters
    ----------
    model : SequenceModel
    t : int, ``0 <= t <= T - 1``
    horizon : int, optional
        ``T`` (default ``model.horizon``; a smaller value studies the model up to that horizon).

    Returns
    -------
    array, shape (V^t, V * |Sigma^{<= T-1-t}|), float64; column ``j V + z`` is ``(f_j, z)`` with ``f_j``
    the ``j``-th entry of ``all_futures(V, T-1-t)``.
    """
    V = model.vocab_size
    T = _horizon(model, horizon)
    check_enumerable(V, T)
    if not 0 <= t <= T - 1:
        raise ValueError(f"t: must satisfy 0 <= t <= horizon - 1 = {T - 1}, got {t}")
    H = all_sequences(V, t)
    F = all_futures(V, T - 1 - t)
    return extended_logits(model, H, F, progress=False).reshape(len(H), len(F) * V)


def cut_spectra(model: SequenceModel, horizon: int | None = None) -> list[np.ndarray]:
    """Singular values of every cut matrix, ``[svdvals(cut_matrix(model, t)) for t in 0..T-1]``."""
    T = _horizon(model, horizon)
    check_enumerable(model.vocab_size, T)
    return [svdvals(cut_matrix(model, t, T), check_finite=False) for t in range(T)]


def cut_ranks(model: SequenceModel, horizon: int | None = None, *, rtol: float = RANK_RTOL) -> list[int]:
    """``rank L_M(Sigma^t, Sigma^{<= T-1-t})`` for ``t = 0..T-1`` (singular values ``> rtol * sigma_1``)."""
    return [numerical_rank(s, rtol=rtol) for s in cut_spectra(model, horizon)]


def _horizon(model: SequenceModel, horizon: int | None) -> int:
    if horizon is None:
        return int(model.horizon)
    if not 1 <= horizon <= model.horizon:
        raise ValueError(f"horizon: must satisfy 1 <= horizon <= model.horizon = {model.horizon}, "
                         f"got {horizon}")
    return int(horizon)
