"""Experiment: emergence of low rank in training — ``alpha`` and low-rank KL at each checkpoint.

The same ``H, F`` (and the same top-k token rule seed) serve every checkpoint, so only the weights change.
The paper: ``alpha ~ 0.374`` at step 0 (untrained OLMo-1b) vs ``> 1/2`` trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from logitrank import as_rng, fit_power_law, kl_vs_rank, singular_values
from logitrank.validation import RngLike

from ..windows import WindowSpec, draw_windows
from ._common import ResultBase, as_model, logit_matrix

__all__ = ["Config", "Result", "run", "emergence_across_checkpoints"]


DEFAULT_SPEC = WindowSpec()


@dataclass(frozen=True)
class Config(WindowSpec):
    """The window sizes (:class:`llm_bridge.WindowSpec`) and the truncation ranks of the KL."""

    ranks: tuple[int, ...] = (1, 4, 16, 64)


@dataclass
class Result(ResultBase):
    """Spectral exponent and low-rank KL along training.

    Attributes
    ----------
    steps : int array, shape (n_ckpt,)
    alpha, alpha_lo, alpha_hi : arrays, shape (n_ckpt,) — fit and bootstrap interval
    kl : array, shape (n_ckpt, n_ranks) — ``D_avg`` of rank-r truncations
    ranks : int array
    singular_values : list of arrays
    """

    steps: np.ndarray
    alpha: np.ndarray
    alpha_lo: np.ndarray
    alpha_hi: np.ndarray
    kl: np.ndarray
    ranks: np.ndarray
    singular_values: list[np.ndarray] = field(default_factory=list)


def emergence_across_checkpoints(
    checkpoints: Sequence[tuple[int, Any]],
    tokens: np.ndarray,
    spec: WindowSpec = DEFAULT_SPEC,
    *,
    ranks: Sequence[int] = (1, 4, 16, 64),
    rng: RngLike = None,
    **model_kwargs: Any,
) -> Result:
    """``alpha`` and ``D_avg`` of rank-r truncations for each ``(step, checkpoint)``, on the same ``H, F``."""
    gen = as_rng(rng)
    H, F = draw_windows(tokens, spec, gen)
    seed = int(gen.integers(2**31))
    steps, alphas, los, his, kls, spectra = [], [], [], [], [], []
    r_arr = np.asarray(list(ranks), dtype=np.int64)
    for step, ckpt in checkpoints:
        model = as_model(ckpt, **model_kwargs)
        L = logit_matrix(model, H, F, spec.top_k, seed)  # same token rule seed for every checkpoint
        s = singular_values(L)
        fit = fit_power_law(s, rng=seed)
        ok = r_arr <= min(L.shape)
        row = np.full(r_arr.size, np.nan)
        row[ok] = kl_vs_rank(L, r_arr[ok]).kl
        steps.append(int(step))
        alphas.append(fit.alpha)
        los.append(fit.alpha_ci[0])
        his.append(fit.alpha_ci[1])
        kls.append(row)
        spectra.append(s)
    return Result(steps=np.array(steps), alpha=np.array(alphas), alpha_lo=np.array(los),
                  alpha_hi=np.array(his), kl=np.array(kls), ranks=r_arr, singular_values=spectra)


def run(model: Sequence[tuple[int, Any]], tokens: np.ndarray, config: Config, *,
        rng: RngLike = None) -> Result:
    """:func:`emergence_across_checkpoints`; ``model`` is the sequence of ``(step, checkpoint)``."""
    spec = WindowSpec(config.n_histories, config.history_length, config.n_futures, config.future_length,
                      config.top_k)
    return emergence_across_checkpoints(model, tokens, spec, ranks=config.ranks, rng=rng)
