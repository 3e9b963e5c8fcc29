"""Experiment: the paper's scale consistency (Figure 2) — KL of rank-r truncations vs r at nested matrix
sizes, each curve with its power-law slope.

:func:`experiments.kl_scales.kl_across_scales` builds one top-k ``L_k(H, F)`` with ``|H| = |F| = n`` (the
largest of ``Config.sizes``) and its nested sub-matrices of the other sizes; each curve ``r -> D_avg(L, L_r)``
is kept below full rank (where the truncation KL is > 0) and fitted, as its Frobenius bound is, by
:func:`logitrank.power_law.loglog_fit` over ``SLOPE_RANKS[0] <= r <= min(SLOPE_RANKS[1], n / 2)`` (slope,
t interval, ``R^2``). ``Result.alpha`` is the largest matrix's spectral exponent: the spectrum predicts the
slope ``1 - 2 alpha`` (the Frobenius tail's decay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from logitrank.power_law import loglog_fit
from logitrank.validation import RngLike, check_positive_int

from . import kl_scales
from .base import ExperimentConfig, ModelInputs, Presets, ResultBase

__all__ = ["Config", "Result", "run", "scale_fits"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("experiments.kl_scales",)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Matrix sizes ``|H| = |F| = n`` (nested; each must divide the largest), truncation ranks, window
    lengths and ``k``."""

    sizes: tuple[int, ...] = (256, 128, 64, 32, 16)
    ranks: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 50, 64, 80, 100, 128)
    history_length: int = 32
    future_length: int = 8
    top_k: int = 16
    PRESETS: ClassVar[Presets] = {
        "tiny": {"sizes": (32, 16, 8), "ranks": (1, 2, 3, 4, 5, 6, 8, 10, 12, 16), "history_length": 8,
                 "future_length": 3, "top_k": 8},
        "full": {"sizes": (1024, 512, 256, 128, 64),
                 "ranks": (1, 2, 3, 5, 8, 12, 16, 24, 32, 50, 64, 100, 128, 200, 256, 350, 500),
                 "top_k": 32},
    }


@dataclass
class Result(ResultBase):
    """One entry per size, largest first.

    Attributes
    ----------
    scales : list of dict — ``n``; ``ranks``, ``kl``, ``bound`` (arrays over the ranks below ``n`` where the
        KL is finite: ``D_avg`` and its Frobenius bound); ``fit`` and ``tail_fit``
        (:func:`logitrank.power_law.loglog_fit` of ``kl`` and ``bound``)
    k, history_len : int — tokens per future, history window length
    alpha, alpha_ci : the largest matrix's spectral exponent and its bootstrap interval
    """

    scales: list[dict[str, Any]]
    k: int
    history_len: int
    alpha: float
    alpha_ci: list[float]


def scale_fits(res: kl_scales.Result) -> list[dict[str, Any]]:
    """Each size's curve of ``res`` below full rank, with the log-log fits of its KL and Frobenius bound."""
    out = []
    lo, hi = kl_scales.SLOPE_RANKS
    for i, m in enumerate(res.sizes):
        ok = np.isfinite(res.kl[i]) & (res.ranks < m)  # below full rank, where the truncation KL is > 0
        ranks, kl, bound = res.ranks[ok], res.kl[i][ok], res.frobenius_bound[i][ok]
        out.append({"n": int(m), "ranks": ranks, "kl": kl, "bound": bound,
                    "fit": loglog_fit(ranks, kl, r_min=lo, r_max=min(hi, m / 2)),
                    "tail_fit": loglog_fit(ranks, bound, r_min=lo, r_max=min(hi, m / 2))})
    return out


def run(inputs: ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`experiments.kl_scales.kl_across_scales` of ``inputs.model`` on ``inputs.tokens`` at
    ``config.sizes``, then :func:`scale_fits`."""
    n = max(config.sizes)
    for m in config.sizes:
        check_positive_int("sizes", m)
        if n % m:
            raise ValueError(f"sizes: each must divide the largest ({n}), got {m}")
    divisors = tuple(n // m for m in sorted(config.sizes, reverse=True))
    res = kl_scales.kl_across_scales(inputs.model, inputs.tokens, n, config.ranks, scales=divisors,
                                     history_length=config.history_length,
                                     future_length=config.future_length, top_k=config.top_k, rng=rng)
    return Result(scales=scale_fits(res), k=config.top_k, history_len=config.history_length,
                  alpha=res.alpha, alpha_ci=list(res.alpha_ci))
