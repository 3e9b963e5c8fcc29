"""The two numerical kernels of the provable learner: the tracking LP and the (eta, beta)-spanner.

**Tracking LP** (SPEC §1 "The provable learner", step 2).  Given basis rows ``A`` (``m x D``: row ``j`` is
``R_{s+1, j}`` on the futures of position ``s+1``) and targets ``b_k`` (``D``-vectors, one per tracked
sequence), find for each ``k``

.. math::

    c_k = \\arg\\min_{\\lVert c \\rVert_\\infty \\le \\beta} \\lVert c^T A - b_k \\rVert_\\infty ,

the linear program ``min t  s.t.  -t <= c^T A - b_k <= t,  -beta <= c <= beta`` (variables ``c, t``),
solved by scipy's HiGHS (``linprog(method="highs")``).  Many small LPs share ``A``: they are solved
together as one sparse block-diagonal LP (the objective is the sum of the ``t_k``, which separates).
Before that, certified shortcuts: the least-squares solution ``b_k A^+`` — or, when it leaves the box,
the box-constrained least-squares solution (``scipy.optimize.lsq_linear``, BVLS) — is taken when its
residual is at most ``certify``: it is then a point of ``{|c| <= beta, residual <= certify}`` and the LP's
optimum lies in ``[0, certify]`` (exact targets never reach the LP; noisy or misspecified ones do).

**Spanner** (step 1).  Among candidate rows ``X`` (``n x D``, numerical rank ``r``), choose ``r`` of them
such that every candidate is a combination of the chosen ones with coefficients in ``[-beta, beta]``
(a ``beta``-approximate barycentric spanner, Awerbuch & Kleinberg 2008): start from the rows picked by
column-pivoted QR (a greedy maximum-volume choice), then, while some candidate needs a coefficient
``|C_ij| > beta``, swap it in for basis row ``j``.  A swap multiplies ``|det|`` of the basis (in the rank-
``r`` coordinates) by ``|C_ij| > beta > 1``, so the loop terminates; ``beta = 2`` is the usual choice.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse
from scipy.optimize import linprog, lsq_linear

__all__ = ["select_spanner", "solve_tracking_lp", "track"]


def solve_tracking_lp(A: np.ndarray, b: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``min_{|c|_inf <= beta} ||c^T A - b_k||_inf`` for every row ``b_k`` by HiGHS, in one sparse LP.

    Parameters
    ----------
    A : array, shape (m, D)
    b : array, shape (N, D)
    beta : float, ``> 0``

    Returns
    -------
    c : array, shape (N, m)
    residual : array, shape (N,) — ``||c_k^T A - b_k||_inf`` of the returned solution.
    """
    A = np.asarray(A, dtype=np.float64)
    b = np.atleast_2d(np.asarray(b, dtype=np.float64))
    m, D = A.shape
    N = b.shape[0]
    if N == 0:
        return np.zeros((0, m)), np.zeros(0)
    # one block per problem, variables (c_1..c_m, t):  [A^T, -1] x <= b,  [-A^T, -1] x <= -b
    block = np.block([[A.T, -np.ones((D, 1))], [-A.T, -np.ones((D, 1))]])
    A_ub = scipy.sparse.kron(scipy.sparse.identity(N, format="csr"), scipy.sparse.csr_matrix(block),
                             format="csr")
    b_ub = np.concatenate([b, -b], axis=1).ravel()
    cost = np.tile(np.r_[np.zeros(m), 1.0], N)
    bounds = np.tile(np.r_[np.full((m, 2), [-beta, beta]), [[0.0, np.inf]]], (N, 1))
    res = linprog(cost, A_ub=A_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if res.status != 0 and res.x is None:  # always feasible (c = 0, t large): a failure is numerical
        raise RuntimeError(f"tracking LP: HiGHS failed ({res.status}): {res.message}")
    # HiGHS can stop with an unknown model status but a feasible primal point (ill-conditioned rows, seen with
    # condition numbers ~1e3 at T = 32): keep that point; it is in the box and its residual is reported
    c = np.clip(res.x.reshape(N, m + 1)[:, :m], -beta, beta)
    return c, np.abs(c @ A - b).max(axis=1)


def track(A: np.ndarray, b: np.ndarray, beta: float, *, certify: float = 0.0, minimise: bool = True,
          chunk: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Tracking LP for many targets: certified (box-constrained) least squares where possible, HiGHS
    for the rest.

    Parameters
    ----------
    A : array, shape (m, D); b : array, shape (N, D); beta : float
    certify : float
        Residual at or below which an in-box least-squares point is accepted (see the module docstring).
    minimise : bool
        True: HiGHS minimises the residual of every problem not certified.  False: HiGHS runs only where
        least squares cannot decide the feasibility question ``{|c| <= beta, residual <= certify}``:
        a problem whose in-box least-squares residual satisfies ``||r||_2 / sqrt(D) > certify`` is
        infeasible (the LP optimum ``t*`` obeys ``t* sqrt(D) >= ||r||_2``, since the in-box least-squares
        point minimises ``||r||_2``) and keeps that point.
    chunk : int, optional
        Problems per sparse LP solved by HiGHS (default ``max(1, 256 // (m + 1))``).

    Returns
    -------
    c : array, shape (N, m) — every ``|c| <= beta``
    residual : array, shape (N,) — ``||c^T A - b||_inf``
    n_lp : int — how many problems went to the LP solver.
    """
    m, D = A.shape
    N = b.shape[0]
    if m == 0:
        return np.zeros((N, 0)), np.abs(b).max(axis=1, initial=0.0), 0
    c = b @ np.linalg.pinv(A)
    outside = np.abs(c).max(axis=1) > beta
    for k in np.flatnonzero(outside):  # box-constrained least squares (BVLS): the in-box l2 optimum
        c[k] = lsq_linear(A.T, b[k], bounds=(-beta, beta), method="bvls").x
    r = c @ A - b
    residual = np.abs(r).max(axis=1, initial=0.0)
    undecided = residual > certify
    if not minimise:
        undecided &= np.linalg.norm(r, axis=1) / np.sqrt(D) <= certify
    todo = np.flatnonzero(undecided)
    size = chunk if chunk is not None else max(1, 256 // (m + 1))  # HiGHS slows superlinearly in block size
    for lo in range(0, todo.size, size):
        idx = todo[lo: lo + size]
        c[idx], residual[idx] = solve_tracking_lp(A, b[idx], beta)
    return c, residual, int(todo.size)


def select_spanner(X: np.ndarray, rank: int, beta: float, *, max_swaps: int | None = None
                   ) -> tuple[np.ndarray, float]:
    """Indices of ``rank`` rows of ``X`` spanning the others with coefficients in ``[-beta, beta]``.

    Parameters
    ----------
    X : array, shape (n, D) — candidate rows (``n >= rank``).
    rank : int — how many rows to choose (the numerical rank kept).
    beta : float, ``> 1``
    max_swaps : int, optional — cap on swaps (default ``50 * rank``); the loop always terminates anyway.

    Returns
    -------
    basis : int array, shape (rank,)
    coef_max : float — ``max |C_ij|`` of the candidates' coefficients in the chosen basis (rank-``r``
    coordinates); ``<= beta`` unless the swap cap was hit.
    """
    n = X.shape[0]
    if rank == 0 or n == 0:
        return np.zeros(0, dtype=np.int64), 0.0
    _, s, Qt = scipy.linalg.svd(X, full_matrices=False, lapack_driver="gesdd")
    Y = X @ Qt[:rank].T  # n x r coordinates in the top-r row space
    basis = np.sort(scipy.linalg.qr(Y.T, mode="r", pivoting=True)[1][:rank])
    cap = 50 * rank if max_swaps is None else max_swaps
    coef_max = np.inf
    for _ in range(cap + 1):
        C = np.linalg.solve(Y[basis].T, Y.T).T  # Y_i = sum_j C_ij Y_{basis_j}
        i, j = np.unravel_index(np.argmax(np.abs(C)), C.shape)
        coef_max = float(abs(C[i, j]))
        if coef_max <= beta:
            break
        basis[j] = i
    return basis, coef_max
