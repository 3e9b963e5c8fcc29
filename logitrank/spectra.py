"""Singular values of (extended) logit matrices: exact, Gram-streamed and randomized.

Three ways to get the spectrum ``sigma_1 >= sigma_2 >= ...`` of ``L`` (shape ``(|H|, n)``, usually
very wide, ``n = |F| k``):

``exact``
    ``scipy.linalg.svdvals`` of the dense matrix: ``O(|H|^2 n)`` time, the matrix in memory.
``gram``
    ``G = L L^T = sum_b L_b L_b^T`` accumulated in float64 over column blocks ``L_b`` (``|H| x c``);
    ``sigma_i = sqrt(lambda_i(G))``. Memory ``O(|H|^2 + |H| c)`` however wide ``L`` is, so ``L`` never
    has to exist (:func:`streamed_singular_values` builds it one block of futures at a time). Squaring
    the matrix squares its condition number: singular values far below ``sqrt(eps) sigma_1 ~ 1.5e-8
    sigma_1`` are round-off, and tiny negative eigenvalues of ``G`` are clipped to 0.
``randomized``
    Halko–Martinsson–Tropp range finder with QR-stabilised power iterations: top ``rank`` values only.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from scipy.linalg import eigh, svdvals
from tqdm.auto import tqdm

from .logit_matrix import TOKEN_RULES, LogitMatrix, extended_logits, select_tokens
from .sequence_model import SequenceModel
from .validation import (
    RngLike,
    as_rng,
    check_choice,
    check_finite,
    check_float,
    check_int,
    check_model,
    check_positive_int,
    check_prefixes,
    check_real_array,
    check_spectrum,
)

__all__ = [
    "METHODS",
    "accumulate_gram",
    "as_matrix",
    "column_blocks",
    "gram_singular_values",
    "numerical_rank",
    "randomized_singular_values",
    "singular_values",
    "singular_values_from_gram",
    "streamed_singular_values",
]

METHODS = ("exact", "gram", "randomized")
GRAM_SAFE = (2.0**-100, 2.0**100)
"""Largest ``|entry|`` range in which :func:`singular_values`'s Gram path squares a matrix as it is; outside
it the matrix is first scaled by an exact power of two (``1e-200`` or ``1e200`` matrices stay exact)."""


def as_matrix(matrix: LogitMatrix | np.ndarray, name: str = "matrix") -> np.ndarray:
    """The float64 2-D array behind ``matrix`` (a :class:`LogitMatrix` or an array), checked finite."""
    values = matrix.values if isinstance(matrix, LogitMatrix) else matrix
    arr = check_real_array(name, values)
    if arr.ndim != 2:
        raise ValueError(f"{name}: must be a 2-D array, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name}: must be non-empty, got shape {arr.shape}")
    return check_finite(name, arr)


def column_blocks(matrix: np.ndarray, block_columns: int) -> Iterator[np.ndarray]:
    """Yield consecutive column blocks ``matrix[:, j:j+block_columns]`` (views, no copies)."""
    block_columns = check_positive_int("block_columns", block_columns)
    for start in range(0, matrix.shape[1], block_columns):
        yield matrix[:, start : start + block_columns]


def accumulate_gram(
    column_blocks: Iterable[np.ndarray],
    n_rows: int | None = None,
    *,
    out: np.ndarray | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """``G = sum_b L_b L_b^T`` in float64 over column blocks ``L_b`` of shape ``(|H|, c_b)``.

    Parameters
    ----------
    column_blocks : iterable of arrays, each shape (|H|, c_b)
    n_rows : int, optional
        ``|H|``; inferred from the first block (or from ``out``) when omitted.
    out : array, shape (|H|, |H|), float64, optional
        A partial sum to add to in place (e.g. a checkpoint of a resumed job); returned.
    progress : bool, optional
        tqdm bar over blocks (default: off).

    Returns
    -------
    array, shape (|H|, |H|), float64, symmetric positive semi-definite.
    """
    G: np.ndarray | None = None
    if out is not None:
        if out.dtype != np.float64 or out.ndim != 2 or out.shape[0] != out.shape[1]:
            raise ValueError(
                f"out: must be a square float64 array, got a {out.dtype} array of shape {out.shape}"
            )
        if n_rows is not None and out.shape[0] != n_rows:
            raise ValueError(f"out: must have shape ({n_rows}, {n_rows}) (n_rows), got {out.shape}")
        G = out
    elif n_rows is not None:
        n_rows = check_positive_int("n_rows", n_rows)
        G = np.zeros((n_rows, n_rows))
    n_blocks = 0
    for b, block in enumerate(tqdm(column_blocks, disable=not progress, desc="gram", unit="block")):
        B = np.asarray(block, dtype=np.float64)
        if B.ndim != 2:
            raise ValueError(f"column_blocks[{b}]: must be 2-D (|H|, c), got shape {B.shape}")
        if G is None:
            if B.shape[0] == 0:
                raise ValueError(f"column_blocks[{b}]: must have at least one row, got shape {B.shape}")
            G = np.zeros((B.shape[0], B.shape[0]))
        if B.shape[0] != G.shape[0]:
            raise ValueError(f"column_blocks[{b}]: must have {G.shape[0]} rows (n_rows), got shape {B.shape}")
        check_finite(f"column_blocks[{b}]", B)
        with np.errstate(over="ignore", invalid="ignore"):  # reported just below, naming the block
            G += B @ B.T
        if not np.isfinite(G).all():
            raise ValueError(
                f"column_blocks[{b}]: entries must stay below ~1e154 in magnitude so that the Gram matrix "
                f"L L^T does not overflow float64, got a largest |entry| of {np.abs(B).max():.3g} "
                "(rescale the matrix first, or use singular_values(..., method='gram'), which does)"
            )
        n_blocks += 1
    if G is None or (n_blocks == 0 and out is None):
        raise ValueError("column_blocks: must yield at least one block, got none")
    return G


def singular_values_from_gram(G: np.ndarray) -> np.ndarray:
    """``sigma_i = sqrt(max(lambda_i(G), 0))``, descending, for a Gram matrix ``G = L L^T`` (|H|, |H|).

    Negative eigenvalues of a positive semi-definite ``G`` are round-off and are set to 0.
    """
    G = np.asarray(G, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != G.shape[1] or G.shape[0] == 0:
        raise ValueError(f"G: must be a non-empty square matrix, got shape {G.shape}")
    check_finite("G", G)
    lam = eigh(G, eigvals_only=True, check_finite=False)[::-1]
    return np.sqrt(np.clip(lam, 0.0, None))


def gram_singular_values(
    column_blocks: Iterable[np.ndarray],
    n_rows: int | None = None,
    *,
    progress: bool | None = None,
) -> np.ndarray:
    """Singular values of ``L = [L_1 | L_2 | ...]`` from its Gram matrix, streamed over column blocks.

    ``G = L L^T = sum_b L_b L_b^T`` is accumulated in float64; the result is
    ``sigma_i = sqrt(max(lambda_i(G), 0))`` with the eigenvalues of ``G`` (``scipy.linalg.eigh``) in
    descending order. Negative eigenvalues can only be round-off (``G`` is positive semi-definite) and
    are set to 0; values below ``~sqrt(eps) sigma_1`` carry no information.

    Parameters
    ----------
    column_blocks : iterable of arrays, each shape (|H|, c_b)
        The column blocks of ``L`` in any order (column order does not change ``L L^T``); a generator
        is consumed once, so blocks can be computed or read from disk on the fly.
    n_rows : int, optional
        ``|H|``; inferred from the first block when omitted, and every block is checked against it.
    progress : bool, optional
        Show a tqdm bar over blocks (default: off).

    Returns
    -------
    array, shape (|H|,), float64, descending. If ``L`` has fewer than ``|H|`` columns the trailing
    ``|H| - n`` values are (numerically) zero; :func:`singular_values` trims them.

    Memory is ``O(|H|^2)`` plus one block; time ``O(|H|^2 n + |H|^3)``. The two steps are public as
    :func:`accumulate_gram` (resumable: it adds to a partial sum) and :func:`singular_values_from_gram`.

    Squaring under- or overflows outside ``|entries| ~ [1e-154, 1e154]``: when the first block's largest
    ``|entry|`` lies outside :data:`GRAM_SAFE`, every block is scaled by the same exact power of two (and
    the values scaled back), so a ``1e-200`` matrix is not returned as zeros.
    """
    blocks = iter(column_blocks)
    first = next(blocks, None)
    if first is None:
        return singular_values_from_gram(accumulate_gram([], n_rows, progress=progress))  # raises: no blocks
    first = np.asarray(first, dtype=np.float64)
    shift = gram_shift(first)
    chained: Iterable[np.ndarray] = itertools.chain([first], blocks)
    if shift:
        chained = (np.ldexp(np.asarray(b, dtype=np.float64), -shift) for b in chained)
    s = singular_values_from_gram(accumulate_gram(chained, n_rows, progress=progress))
    return np.ldexp(s, shift) if shift else s


def gram_shift(A: np.ndarray) -> int:
    """Binary exponent that brings ``max|A|`` near 1 when it lies outside :data:`GRAM_SAFE`, else 0."""
    # max and min instead of abs(A).max(): no temporary the size of A (a Gram block can be 268 MB)
    hi, lo = (float(A.max()), float(A.min())) if A.size else (0.0, 0.0)
    top = max(abs(hi), abs(lo)) if np.isfinite(hi) and np.isfinite(lo) else 0.0
    return int(np.frexp(top)[1]) if top > 0 and not GRAM_SAFE[0] <= top <= GRAM_SAFE[1] else 0


def randomized_singular_values(
    matrix: LogitMatrix | np.ndarray,
    rank: int,
    *,
    oversample: int = 10,
    n_iter: int = 4,
    rng: RngLike = None,
) -> np.ndarray:
    """Top-``rank`` singular values by a randomized range finder (Halko, Martinsson, Tropp 2011).

    With ``l = min(rank + oversample, min(m, n))`` and Gaussian ``Omega`` (n, l):
    ``Q = orth(L Omega)``, then ``n_iter`` power iterations ``Q = orth(L orth(L^T Q))`` (re-orthonormalised
    by QR every half step, so small singular values are not lost to round-off), and finally
    ``sigma(Q^T L)[:rank]``. The error decays like ``(sigma_{l+1}/sigma_rank)^(2 n_iter + 1)``.

    Parameters
    ----------
    matrix : LogitMatrix or array, shape (m, n)
    rank : int, ``1 <= rank <= min(m, n)``
    oversample, n_iter : int, ``>= 0``
    rng : Generator or seed

    Returns
    -------
    array, shape (rank,), float64, descending.
    """
    A = as_matrix(matrix)
    m, n = A.shape
    rank = check_positive_int("rank", rank, maximum=min(m, n))
    oversample = check_int("oversample", oversample, minimum=0)
    n_iter = check_int("n_iter", n_iter, minimum=0)
    gen = as_rng(rng)
    ell = min(rank + oversample, min(m, n))
    Q, _ = np.linalg.qr(A @ gen.standard_normal((n, ell)))
    for _ in range(n_iter):
        W, _ = np.linalg.qr(A.T @ Q)
        Q, _ = np.linalg.qr(A @ W)
    return svdvals(Q.T @ A, check_finite=False)[:rank]


def singular_values(
    matrix: LogitMatrix | np.ndarray,
    *,
    method: str = "exact",
    rank: int | None = None,
    block_columns: int = 4096,
    rng: RngLike = None,
) -> np.ndarray:
    """Singular values ``sigma_1 >= sigma_2 >= ...`` of a logit matrix.

    Parameters
    ----------
    matrix : LogitMatrix or array, shape (m, n)
    method : ``"exact"`` (dense SVD), ``"gram"`` (``sqrt eig(L L^T)`` accumulated over blocks of
        ``block_columns`` columns) or ``"randomized"`` (top ``rank`` only); see the module docstring.
    rank : int, optional
        Required for ``"randomized"``; for the other methods, keep only the top ``rank`` values.
    block_columns : int
        Columns per block for ``"gram"``.
    rng : Generator or seed, used by ``"randomized"``.

    Returns
    -------
    array, shape (min(m, n),) or (rank,), float64, descending.
    """
    check_choice("method", method, METHODS)
    A = as_matrix(matrix)
    m, n = A.shape
    block_columns = check_positive_int("block_columns", block_columns)
    if rank is not None:
        rank = check_positive_int("rank", rank, maximum=min(m, n))
    if method == "randomized":
        if rank is None:
            raise ValueError("rank: must be given (an int >= 1) for method='randomized', got None")
        return randomized_singular_values(A, rank, rng=rng)
    if method == "exact":
        s = svdvals(A, check_finite=False)
    else:
        # G = A A^T squares the entries: outside ~[1e-154, 1e154] it under- or overflows. Scaling by a
        # power of two is exact, so it is applied only when needed (results elsewhere are unchanged).
        shift = gram_shift(A)  # the largest entry of the whole matrix, not just of the first block
        scaled = np.ldexp(A, -shift) if shift else A
        s = gram_singular_values(column_blocks(scaled, block_columns), m)[: min(m, n)]
        s = np.ldexp(s, shift) if shift else s
    return s if rank is None else s[:rank]


def streamed_singular_values(
    model: SequenceModel,
    histories: Sequence[Sequence[int]],
    futures: Sequence[Sequence[int]],
    *,
    top_k: int | None = None,
    token_rule: str = "mean",
    futures_per_block: int | None = None,
    rng: RngLike = None,
    progress: bool | None = None,
) -> np.ndarray:
    """Singular values of ``L_M(H, F)`` (or ``L_{M,k}(H, F)``) without ever materialising the matrix.

    Futures are processed ``futures_per_block`` at a time: the block ``L_M(H, F_b)`` (shape
    ``(|H|, |F_b| k)``) is computed, its top-k columns selected, and ``L_b L_b^T`` added to the Gram
    matrix (:func:`gram_singular_values`). Both token rules act per future (``"mean"`` ranks tokens by
    the mean over ``H`` of each future's logits; ``"random"`` draws per future from one generator in
    order), so the blocks are exactly the column blocks of :func:`logitrank.extended_logit_matrix`
    with the same ``rng``.

    Parameters
    ----------
    model : SequenceModel
    histories, futures : sequences of token sequences (validated as in ``extended_logit_matrix``)
    top_k : int, optional, ``1 <= top_k <= V``
    token_rule : ``"mean"`` or ``"random"``
    futures_per_block : int, optional
        Default ``max(1, 4096 // V)``; peak memory is ``O(|H|^2 + |H| futures_per_block V)``.
    rng : Generator or seed, for ``token_rule="random"``
    progress : bool, optional
        tqdm bar over blocks (default: on when more than 20 blocks).

    Returns
    -------
    array, shape (min(|H|, |F| k),), float64, descending.
    """
    V, T = check_model(model)
    if token_rule not in TOKEN_RULES:
        raise ValueError(f"token_rule: must be one of {TOKEN_RULES}, got {token_rule!r}")
    if top_k is not None:
        top_k = check_positive_int("top_k", top_k, maximum=V)
    H = check_prefixes("histories", histories, V, T - 1)
    F = check_prefixes("futures", futures, V, T - 1)
    per = max(1, 4096 // V) if futures_per_block is None else check_positive_int("futures_per_block",
                                                                                 futures_per_block)
    starts = range(0, len(F), per)
    show = progress if progress is not None else len(starts) > 20
    blocks = _logit_column_blocks(model, H, F, per, top_k, token_rule, as_rng(rng))
    s = gram_singular_values(tqdm(blocks, total=len(starts), disable=not show, desc="streamed spectrum",
                                  unit="block"), len(H))
    k = V if top_k is None else top_k
    return s[: min(len(H), len(F) * k)]


def _logit_column_blocks(
    model: SequenceModel, H: list[tuple[int, ...]], F: list[tuple[int, ...]], per: int, top_k: int | None,
    token_rule: str, gen: np.random.Generator,
) -> Iterator[np.ndarray]:
    """The column blocks ``L_M(H, F_b)`` (top-``top_k`` tokens per future when given) of
    :func:`streamed_singular_values`, ``per`` futures at a time, each of shape ``(|H|, |F_b| k)``.
    Tokens are drawn from ``gen`` block by block, in order, as :func:`extended_logit_matrix` does."""
    for start in range(0, len(F), per):
        full = extended_logits(model, H, F[start : start + per], progress=False)  # (|H|, c, V)
        if top_k is not None:
            tokens = select_tokens(full, top_k, token_rule, gen)
            full = np.take_along_axis(full, tokens[None, :, :], axis=2)
        yield full.reshape(len(H), -1)


def numerical_rank(s: np.ndarray, *, rtol: float = 1e-10) -> int:
    """Number of singular values above ``rtol * sigma_1``.

    Parameters
    ----------
    s : array, shape (n,), non-negative (any order)
    rtol : float, ``0 <= rtol < 1``. The default suits exact float64 SVDs (round-off ``~1e-15 sigma_1``);
        use ``~1e-6`` for Gram-path spectra (round-off ``~1e-8 sigma_1``) and larger for float32 data.

    Returns
    -------
    int, ``0 <= r <= n`` (0 for an all-zero spectrum).
    """
    s = check_spectrum(s)
    rtol = check_float("rtol", rtol, low=0, high=1, high_inclusive=False)
    top = float(s.max())
    return 0 if top == 0 else int(np.count_nonzero(s > rtol * top))
