"""Experiment: KL of rank-r truncations vs r at several matrix scales (the paper's scale consistency).

One ``L_{M,k}(H, F)`` with ``|H| = |F| = n`` is built; the smaller ones keep its first ``n/s`` histories and
futures (their top-k token columns stay those chosen on the full matrix), and
:func:`logitrank.kl_vs_rank` gives ``D_avg(L, L_r)`` with its Frobenius bound. The paper finds the curves
``r -> D_avg`` nearly independent of the scale.

:func:`logitrank.power_law.loglog_fit` fits ``D_avg ~ c r^b`` by least squares in log-log coordinates over a
rank range, with
the t interval of the slope and ``R^2`` as its goodness of fit. The spectrum predicts the slope: if
``sigma_i ~ C i^(-alpha)``, the Frobenius tail ``sum_{i>r} sigma_i^2`` (which bounds ``D_avg``) decays like
``r^(1 - 2 alpha)``; ``Result.alpha`` is the largest matrix's exponent, for that comparison. Beside ``D_avg``
each curve carries GLS2's average L1 error of the truncation (SPEC §1, "Approximation error of real models").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from llm_bridge.windows import WindowSpec, draw_windows
from logitrank import KLCurve, as_rng, fit_power_law, kl_vs_rank, singular_values
from logitrank.validation import RngLike, check_positive_int

from .base import ExperimentConfig, ModelInputs, Presets, ResultBase, as_model, logit_matrix

__all__ = ["Config", "Result", "run", "kl_across_scales", "curves_at_scales", "SLOPE_RANKS"]

#: the rank range of the slope fit: ``SLOPE_RANKS[0] <= r <= min(SLOPE_RANKS[1], n / 2)`` (the paper's
#: power law starts at r = 5; a finite matrix's curve bends towards 0 as r approaches its size n)
SLOPE_RANKS = (5, 100)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """``n = |H| = |F|`` of the largest matrix, the ranks r, the divisors ``s`` (sizes ``n // s``) and the
    window lengths and top-k."""

    n: int = 256
    ranks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    scales: tuple[int, ...] = (1, 2, 4, 8)
    history_length: int = 32
    future_length: int = 8
    top_k: int | None = 50
    PRESETS: ClassVar[Presets] = {
        "tiny": dict(n=48, ranks=(1, 2, 4, 8, 16), scales=(1, 2, 4), history_length=12, future_length=4,
                     top_k=8),
        "full": dict(n=1024, ranks=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), scales=(1, 2, 4, 8, 16))}


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
    l1_error : array, shape (n_scales, n_ranks)
        GLS2's average L1 error ``||L_i - (L_i)_{r_j}||_1 / #entries`` (NaN where ``kl`` is).
    """

    sizes: np.ndarray
    ranks: np.ndarray
    kl: np.ndarray
    frobenius_bound: np.ndarray
    alpha: float = float("nan")
    alpha_ci: tuple[float, float] = (float("nan"), float("nan"))
    l1_error: np.ndarray | None = None


def curves_at_scales(sub_matrix: Callable[[int, int], np.ndarray | None], n_histories: int, n_futures: int,
                     k: int, ranks: np.ndarray, scales: Sequence[int]) -> dict[str, np.ndarray]:
    """``D_avg``, its Frobenius bound and the average L1 error of rank-r truncations of nested sub-matrices.

    Parameters
    ----------
    sub_matrix : ``(m_h, m_f) -> array (m_h, m_f k)`` — the first ``m_h`` rows and ``m_f`` future blocks,
        or None where that sub-matrix is not available (too large to hold): its row stays NaN
    n_histories, n_futures : ``|H|``, ``|F|`` of the whole matrix; scale ``s`` uses ``|H|/s`` x ``|F|/s``
    k : columns per future block ; ranks : int array, shape (n_ranks,) ; scales : the ``s``

    Returns
    -------
    dict with ``sizes`` (n_scales,) and ``kl``, ``frobenius_bound``, ``l1_error`` (n_scales, n_ranks), NaN
    where ``r > min(sub-matrix shape)`` (beyond it the truncation is exact).
    """
    out: dict[str, list] = {"sizes": [], "kl": [], "frobenius_bound": [], "l1_error": []}
    for s in scales:
        mh, mf = n_histories // check_positive_int("scales", s), n_futures // s
        if mh < 1 or mf < 1:
            raise ValueError(f"scales: |H| / s and |F| / s must be >= 1, got |H|={n_histories}, "
                             f"|F|={n_futures}, s={s}")
        rows = {key: np.full(ranks.size, np.nan) for key in ("kl", "frobenius_bound", "l1_error")}
        sub = sub_matrix(mh, mf)
        if sub is not None:
            ok = ranks <= min(sub.shape)
            curve: KLCurve = kl_vs_rank(sub, ranks[ok], block=k)
            rows["kl"][ok], rows["frobenius_bound"][ok] = curve.kl, curve.frobenius_bound
            rows["l1_error"][ok] = curve.l1_error
        out["sizes"].append(mh)
        for key, row in rows.items():
            out[key].append(row)
    return {key: np.array(v) for key, v in out.items()}


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
    fit = fit_power_law(singular_values(L), rng=gen)
    r_arr = np.asarray(list(ranks), dtype=np.int64)
    curves = curves_at_scales(lambda mh, mf: L.values[:mh, : mf * L.k], n, n, L.k, r_arr, scales)
    return Result(ranks=r_arr, **curves, alpha=float(fit.alpha),
                  alpha_ci=(float(fit.alpha_ci[0]), float(fit.alpha_ci[1])))


def run(inputs: ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`kl_across_scales` of ``inputs.model`` on ``inputs.tokens`` with ``config``'s sizes."""
    return kl_across_scales(inputs.model, inputs.tokens, config.n, config.ranks, scales=config.scales,
                            history_length=config.history_length, future_length=config.future_length,
                            top_k=config.top_k, rng=rng)
