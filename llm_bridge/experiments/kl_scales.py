"""Experiment: KL of rank-r truncations vs r at several matrix scales (the paper's scale consistency).

One ``L_{M,k}(H, F)`` with ``|H| = |F| = n`` is built; the smaller ones keep its first ``n/s`` histories and
futures (their top-k token columns stay those chosen on the full matrix), and
:func:`logitrank.kl_vs_rank` gives ``D_avg(L, L_r)`` with its Frobenius bound. The paper finds the curves
``r -> D_avg`` nearly independent of the scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from logitrank import KLCurve, as_rng, kl_vs_rank
from logitrank.validation import RngLike, check_positive_int

from ..windows import WindowSpec, draw_windows
from ._common import ResultBase, as_model, logit_matrix

__all__ = ["Config", "Result", "run", "kl_across_scales"]


@dataclass(frozen=True)
class Config:
    """``n = |H| = |F|`` of the largest matrix, the ranks r, the divisors ``s`` (sizes ``n // s``) and the
    window lengths and top-k."""

    n: int = 256
    ranks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    scales: tuple[int, ...] = (1, 2, 4, 8)
    history_length: int = 32
    future_length: int = 8
    top_k: int | None = 50


@dataclass
class Result(ResultBase):
    """``D_avg`` of rank-r truncations of sub-matrices of sizes ``|H| = |F| = n / s``.

    Attributes
    ----------
    sizes : int array, shape (n_scales,) — ``n, n/2, n/4, ...``
    ranks : int array, shape (n_ranks,)
    kl : array, shape (n_scales, n_ranks)
        ``kl[i, j] = D_avg(L_i, (L_i)_{r_j})``; NaN where ``r_j > min(L_i.shape)``.
    frobenius_bound : array, shape (n_scales, n_ranks)
    """

    sizes: np.ndarray
    ranks: np.ndarray
    kl: np.ndarray
    frobenius_bound: np.ndarray


def kl_across_scales(
    model: object,
    tokens: np.ndarray,
    n: int,
    ranks: Sequence[int],
    *,
    scales: Sequence[int] = (1, 2, 4, 8),
    history_length: int = 32,
    future_length: int = 8,
    top_k: int | None = 50,
    rng: RngLike = None,
) -> Result:
    """KL of rank-r truncations vs r for ``|H| = |F| = n/s``, ``s`` in ``scales`` (nested sub-matrices)."""
    gen = as_rng(rng)
    n = check_positive_int("n", n)
    model = as_model(model)
    spec = WindowSpec(n, history_length, n, future_length, top_k)
    H, F = draw_windows(tokens, spec, gen)
    L = logit_matrix(model, H, F, top_k, gen)
    r_arr = np.asarray(list(ranks), dtype=np.int64)
    sizes, kls, bounds = [], [], []
    for s in scales:
        m = n // check_positive_int("scales", s)
        if m < 1:
            raise ValueError(f"scales: n / s must be >= 1, got n={n}, s={s}")
        sub = L.values[:m, : m * L.k]
        ok = r_arr <= min(sub.shape)
        curve: KLCurve = kl_vs_rank(sub, r_arr[ok], block=L.k)
        row, brow = np.full(r_arr.size, np.nan), np.full(r_arr.size, np.nan)
        row[ok], brow[ok] = curve.kl, curve.frobenius_bound
        sizes.append(m)
        kls.append(row)
        bounds.append(brow)
    return Result(sizes=np.array(sizes), ranks=r_arr, kl=np.array(kls), frobenius_bound=np.array(bounds))


def run(model: object, tokens: np.ndarray, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`kl_across_scales` with ``config``'s sizes."""
    return kl_across_scales(model, tokens, config.n, config.ranks, scales=config.scales,
                            history_length=config.history_length, future_length=config.future_length,
                            top_k=config.top_k, rng=rng)
