"""Single-pass randomized SVD from row blocks (Tropp, Yurtsever, Udell, Cevher 2017).

For ``A`` (``m x n``) seen once, one row block ``A_i = A[a_i:b_i]`` at a time, keep two linear sketches

    Y = A Omega      (m x k),  Omega ~ N(0, 1)^{n x k}:   Y[a_i:b_i] = A_i Omega
    W = Psi A        (l x n),  Psi   ~ N(0, 1)^{l x m}:   W += Psi[:, a_i:b_i] A_i

with ``k = rank + oversample`` and ``l = 2k + 1`` (the paper's recommended split of a fixed storage
budget). Recovery (their Algorithm 7 with the fixed-rank truncation of section 5): ``Q = orth(Y)``,
``X = (Psi Q)^+ W`` (least squares, ``l x k`` system), so ``A ~ Q X``; with ``X = U_x S V^T``,
``A ~ (Q U_x) S V^T``, truncated to ``rank``. The expected error satisfies
``E ||A - QX||_F^2 <= (1 + k/(l-k-1)) (1 + r/(k-r-1)) tau_{r+1}^2`` for any ``r < k - 1``, where
``tau_{r+1}^2 = sum_{i>r} sigma_i^2``: exact (to round-off) when ``rank A <= k``, and singular values
accurate to about the tail energy otherwise. Memory ``O((m + n) k + l n)``; the matrix is never revisited,
so this is the method for a matrix too large to read twice or arriving from a stream.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.linalg import lstsq, qr, svd

from .validation import RngLike, as_rng, check_finite, check_int, check_positive_int, check_size

__all__ = ["single_pass_svd"]


def single_pass_svd(
    row_blocks: Iterable[np.ndarray],
    n_cols: int,
    rank: int,
    *,
    rng: RngLike = None,
    oversample: int = 10,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``rank`` SVD ``A ~ U diag(s) V^T`` from one pass over the row blocks of ``A``.

    Parameters
    ----------
    row_blocks : iterable of arrays, each ``(m_i, n_cols)``
        Consecutive row blocks of ``A`` in order (a generator is consumed once); ``m = sum m_i``.
    n_cols : int
        ``n``, the number of columns.
    rank : int, ``1 <= rank <= min(m, n)`` (checked once ``m`` is known)
    rng : Generator or seed, for the Gaussian test matrices ``Omega`` and ``Psi``
    oversample : int, ``>= 0``; sketch sizes ``k = rank + oversample`` and ``l = 2k + 1``

    Returns
    -------
    U : array, shape (m, rank), orthonormal columns
    s : array, shape (rank,), descending
    Vt : array, shape (rank, n)
    """
    n = check_positive_int("n_cols", n_cols)
    rank = check_positive_int("rank", rank, maximum=n)
    oversample = check_int("oversample", oversample, minimum=0)
    gen = as_rng(rng)
    k = min(rank + oversample, n)
    ell = 2 * k + 1
    check_size("(n_cols, rank, oversample)", (n, rank, oversample), (ell + k, n), what="the sketches")
    omega = gen.standard_normal((n, k))
    W = np.zeros((ell, n))
    y_parts: list[np.ndarray] = []
    psi_parts: list[np.ndarray] = []
    for b, block in enumerate(row_blocks):
        A = np.asarray(block, dtype=np.float64)
        if A.ndim != 2 or A.shape[1] != n:
            raise ValueError(f"row_blocks[{b}]: must have shape (rows, n_cols={n}), got {A.shape}")
        check_finite(f"row_blocks[{b}]", A)
        psi = gen.standard_normal((ell, A.shape[0]))
        y_parts.append(A @ omega)
        W += psi @ A
        psi_parts.append(psi)
    if not y_parts:
        raise ValueError("row_blocks: must yield at least one block, got none")
    Y = np.concatenate(y_parts, axis=0)
    Psi = np.concatenate(psi_parts, axis=1)
    m = Y.shape[0]
    if rank > min(m, n):
        raise ValueError(f"rank: must be <= min(m, n) = {min(m, n)}, got {rank}")
    Q = qr(Y, mode="economic")[0][:, : min(k, m)]
    X = lstsq(Psi @ Q, W, check_finite=False)[0]  # (k, n): A ~ Q X
    Ux, s, Vt = svd(X, full_matrices=False, check_finite=False)
    return Q @ Ux[:, :rank], s[:rank], Vt[:rank]
