"""Average block-softmax KL of rank-r truncations of a logit matrix, and its Frobenius bounds.

For ``L`` of shape ``(|H|, |F| k)`` whose columns fall into ``|F|`` blocks of ``k`` (one block per
``(h, f)`` pair and row), and an approximation ``A`` of the same shape,

    D_avg(L, A) = 1/(|H||F|) sum_{h, f} KL( softmax(L[h, f-block]) || softmax(A[h, f-block]) ).

``KL(softmax u || softmax v)`` is the Bregman divergence of log-sum-exp, whose Hessian
``diag(p) - p p^T`` has operator norm ``<= 1/2``; hence each block is at most ``1/4 ||u - v||^2`` and

    D_avg(L, L_r) <= (1/4) sum_{i>r} sigma_i^2 / (|H||F|) <= sum_{i>r} sigma_i^2 / (|H||F|)

for the truncated SVD ``L_r`` (which minimises ``||L - A||_F`` over rank-r ``A``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import svd
from scipy.special import logsumexp
from tqdm.auto import tqdm

from .logit_matrix import LogitMatrix
from .spectra import as_matrix
from .validation import check_positive_int

__all__ = ["KLCurve", "block_softmax_kl", "kl_vs_rank"]


def _resolve_block(L: LogitMatrix | np.ndarray, block: int | None, n_cols: int) -> int:
    if block is None:
        if isinstance(L, LogitMatrix):
            return L.k
        raise ValueError("block: must be given (columns per (h, f) block, V or k) for an array, got None")
    block = check_positive_int("block", block)
    if isinstance(L, LogitMatrix) and block != L.k:
        raise ValueError(f"block: must equal the matrix's k = {L.k} for a LogitMatrix, got {block}")
    if n_cols % block:
        raise ValueError(f"block: must divide the number of columns {n_cols}, got {block}")
    return block


def block_softmax_kl(L: LogitMatrix | np.ndarray, A: np.ndarray, block: int | None = None) -> np.ndarray:
    """Per-block ``KL(softmax(L[h, f-block]) || softmax(A[h, f-block]))``.

    Parameters
    ----------
    L : LogitMatrix or array, shape (|H|, |F| k)
        The true logits (softmax is taken within each block of ``k`` consecutive columns).
    A : array, shape (|H|, |F| k)
        The approximation.
    block : int, optional
        ``k``, columns per block; default ``L.k`` for a LogitMatrix.

    Returns
    -------
    array, shape (|H|, |F|), float64, ``>= 0`` (tiny negative round-off is clipped to 0).
    """
    P = as_matrix(L, "L")
    Q = as_matrix(A, "A")
    if Q.shape != P.shape:
        raise ValueError(f"A: must have the shape of L {P.shape}, got {Q.shape}")
    k = _resolve_block(L, block, P.shape[1])
    m = P.shape[0]
    lp = P.reshape(m, -1, k)
    lq = Q.reshape(m, -1, k)
    with np.errstate(over="ignore", invalid="ignore"):  # extreme logits: log-probabilities of -inf
        lp = lp - logsumexp(lp, axis=2, keepdims=True)
        lq = lq - logsumexp(lq, axis=2, keepdims=True)
        p = np.exp(lp)
        kl = np.where(p > 0, p * (lp - lq), 0.0).sum(axis=2)  # 0 log 0 = 0, never 0 * inf = nan
    return np.maximum(kl, 0.0)


@dataclass(frozen=True)
class KLCurve:
    """Result of :func:`kl_vs_rank`; all arrays have shape ``(len(ranks),)``.

    Attributes
    ----------
    ranks : int array
    kl : array
        ``D_avg(L, L_r)``.
    frobenius_bound : array
        ``sum_{i>r} sigma_i^2 / (|H||F|)``.
    quarter_bound : array
        ``frobenius_bound / 4`` (the per-block refinement from the log-sum-exp Hessian).
    singular_values : array, shape (min(|H|, |F| k),)
    l1_error : array
        GLS2's average L1 (entrywise absolute) error of the truncation, ``||L - L_r||_1 / (|H| |F| k)``
        (over the entries of ``L``: the kept top-k entries for a top-k matrix). Bounded by the RMS error
        ``sqrt(sum_{i>r} sigma_i^2 / (|H| |F| k))`` (Cauchy-Schwarz).
    """

    ranks: np.ndarray
    kl: np.ndarray
    frobenius_bound: np.ndarray
    quarter_bound: np.ndarray
    singular_values: np.ndarray
    l1_error: np.ndarray


def kl_vs_rank(
    L: LogitMatrix | np.ndarray,
    ranks: Sequence[int] | np.ndarray,
    block: int | None = None,
    *,
    progress: bool | None = None,
) -> KLCurve:
    """``D_avg(L, L_r)`` for each ``r`` in ``ranks``, next to its Frobenius bounds and the average L1 error.

    ``L_r = U_r diag(sigma_1..sigma_r) W_r^T`` is the rank-r truncated SVD of ``L``; ``D_avg`` averages
    ``KL(softmax(true block) || softmax(truncated block))`` over the ``|H||F|`` blocks (see the module
    docstring). ``D_avg(L, L_r) = 0`` for ``r >= rank L``.

    Parameters
    ----------
    L : LogitMatrix or array, shape (|H|, |F| k)
    ranks : sequence of int, each ``0 <= r <= min(|H|, |F| k)``
    block : int, optional
        ``k`` (``V`` for a full matrix); default ``L.k`` for a LogitMatrix.
    progress : bool, optional
        tqdm bar over ranks (default: on when ``len(ranks) * |H| * |F| k > 1e8``).

    Cost: one SVD, then ``O(|H| |F| k r)`` per rank ``r``.

    Returns
    -------
    KLCurve
    """
    M = as_matrix(L, "L")
    k = _resolve_block(L, block, M.shape[1])
    r_arr = np.asarray(ranks)
    if r_arr.ndim != 1 or r_arr.size == 0 or not np.issubdtype(r_arr.dtype, np.integer):
        raise ValueError(f"ranks: must be a non-empty 1-D sequence of integers, got {ranks!r}")
    top = min(M.shape)
    if (r_arr < 0).any() or (r_arr > top).any():
        raise ValueError(f"ranks: each rank must lie in [0, {top}] (min(L.shape)), got {r_arr.tolist()}")
    U, s, Wt = svd(M, full_matrices=False, check_finite=False)
    n_blocks = M.shape[0] * (M.shape[1] // k)
    tails = np.append(np.cumsum((s**2)[::-1])[::-1], 0.0)  # tails[r] = sum_{i>r} sigma_i^2
    kl = np.empty(r_arr.size)
    l1 = np.empty(r_arr.size)
    show = progress if progress is not None else r_arr.size * M.size > 1e8
    for j, r in enumerate(tqdm(r_arr.tolist(), disable=not show, desc="kl vs rank", unit="rank")):
        A = (U[:, :r] * s[:r]) @ Wt[:r]
        kl[j] = block_softmax_kl(M, A, k).mean()
        l1[j] = np.abs(M - A).mean()
    bound = tails[r_arr] / n_blocks
    return KLCurve(ranks=r_arr.astype(np.int64), kl=kl, frobenius_bound=bound, quarter_bound=bound / 4,
                   singular_values=s, l1_error=l1)
