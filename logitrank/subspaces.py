"""Principal angles between the column spaces of rank-r truncations, and a random-subspace baseline.

Two logit matrices over the same histories ``H`` (rows) — e.g. ``L(H, F)`` and ``L(H, F_nonsense)``, or
the same windows under two models — share *linear relations between histories* when the column spaces
of their rank-r approximations (subspaces of ``R^|H|``) nearly coincide. With orthonormal bases
``U_A, U_B`` (``|H| x r``, the top-r left singular vectors) the cosines of the principal angles are
the singular values of ``U_A^T U_B``.

Baseline: for independent uniformly random r-dimensional subspaces of ``R^n``,
``E[sum_i cos^2 theta_i] = E||P_A P_B||_F^2 = tr(E[P_A] P_B) = r^2 / n``, so the mean squared cosine
is ``r / n`` (:func:`random_subspace_mean_cos2`).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.linalg import svd, svdvals

from .logit_matrix import LogitMatrix
from .spectra import as_matrix, numerical_rank
from .validation import RngLike, as_rng, check_positive_int, check_size

__all__ = ["principal_angles", "random_subspace_cosines", "random_subspace_mean_cos2", "top_left_basis"]


RANK_RTOL = 1e-10
""":func:`principal_angles` warns when ``rank`` exceeds the number of singular values ``> RANK_RTOL sigma_1``
of either matrix (:func:`logitrank.numerical_rank`'s default for an exact float64 SVD)."""


def top_left_basis(matrix: LogitMatrix | np.ndarray, rank: int, name: str = "matrix") -> np.ndarray:
    """Orthonormal basis of the column space of the rank-``rank`` truncation: ``U[:, :rank]``, (m, rank)."""
    return _top_left(matrix, rank, name)[0]


def _top_left(matrix: LogitMatrix | np.ndarray, rank: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    M = as_matrix(matrix, name)
    rank = check_positive_int("rank", rank, maximum=min(M.shape))
    U, s, _ = svd(M, full_matrices=False, check_finite=False)
    return U[:, :rank], s


def principal_angles(A: LogitMatrix | np.ndarray, B: LogitMatrix | np.ndarray, rank: int) -> np.ndarray:
    """Cosines of the principal angles between the column spaces of the rank-r truncations of A and B.

    Parameters
    ----------
    A : LogitMatrix or array, shape (m, n_A)
    B : LogitMatrix or array, shape (m, n_B) — same number of rows (the same histories)
    rank : int, ``1 <= rank <= min(m, n_A, n_B)``

    Returns
    -------
    array, shape (rank,), descending, in ``[0, 1]``: ``cos theta_i = sigma_i(U_A^T U_B)`` with
    ``U_A, U_B`` the top-``rank`` left singular vectors. 1 means a shared direction, 0 an orthogonal one.
    (If ``sigma_rank = sigma_{rank+1}`` the truncation is not unique and neither are the angles.)
    A ``RuntimeWarning`` says when ``rank`` exceeds the numerical rank of A or B (singular values
    ``> RANK_RTOL sigma_1``): the basis vectors beyond it span round-off, so the trailing cosines are
    arbitrary.
    """
    MA, MB = as_matrix(A, "A"), as_matrix(B, "B")
    if MA.shape[0] != MB.shape[0]:
        raise ValueError(f"B: must have the same number of rows as A ({MA.shape[0]}), got shape {MB.shape}")
    rank = check_positive_int("rank", rank, maximum=min(MA.shape[1], MB.shape[1], MA.shape[0]))
    (UA, sA), (UB, sB) = _top_left(MA, rank, "A"), _top_left(MB, rank, "B")
    for name, s in (("A", sA), ("B", sB)):
        r = numerical_rank(s, rtol=RANK_RTOL)
        if rank > r:
            warnings.warn(f"rank: {rank} exceeds the numerical rank {r} of {name} (singular values > "
                          f"{RANK_RTOL:g} sigma_1); the trailing {rank - r} cosines compare round-off "
                          "directions and are arbitrary", RuntimeWarning, stacklevel=2)
    cos = svdvals(UA.T @ UB)
    return np.clip(cos, 0.0, 1.0)


def random_subspace_cosines(n: int, rank: int, *, rng: RngLike = None, n_draws: int = 100) -> np.ndarray:
    """Principal-angle cosines between pairs of independent uniformly random rank-dim subspaces of R^n.

    Each subspace is the span of an ``n x rank`` Gaussian matrix (Haar-distributed on the Grassmannian).

    Returns
    -------
    array, shape (n_draws, rank), each row descending.
    """
    n = check_positive_int("n", n)
    rank = check_positive_int("rank", rank, maximum=n)
    n_draws = check_positive_int("n_draws", n_draws)
    check_size("(n, rank, n_draws)", (n, rank, n_draws), (n_draws, n, rank), what="the random bases")
    gen = as_rng(rng)
    QA = np.linalg.qr(gen.standard_normal((n_draws, n, rank)))[0]
    QB = np.linalg.qr(gen.standard_normal((n_draws, n, rank)))[0]
    cos = np.linalg.svd(np.swapaxes(QA, 1, 2) @ QB, compute_uv=False)
    return np.clip(cos, 0.0, 1.0)


def random_subspace_mean_cos2(n: int, rank: int) -> float:
    """``E[mean_i cos^2 theta_i] = rank / n`` for independent uniform rank-dim subspaces of ``R^n``."""
    n = check_positive_int("n", n)
    rank = check_positive_int("rank", rank, maximum=n)
    return rank / n
