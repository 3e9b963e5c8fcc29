"""Experiment: principal-angle cosines between column spaces of rank-r truncations.

Pairs (each matrix shares its histories, so the column spaces live in ``R^|H|``): real vs nonsense futures
(each future window's tokens permuted), the model vs a second model (e.g. another seed), and random
subspaces of the same dimension as the baseline (:func:`logitrank.random_subspace_cosines`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from logitrank import as_rng, principal_angles, random_subspace_cosines
from logitrank.validation import RngLike

from ..windows import WindowSpec, draw_windows, permute_windows, windows_to_tuples
from ._common import ResultBase, as_model, logit_matrix

__all__ = ["Config", "Result", "run", "subspace_angles"]


DEFAULT_SPEC = WindowSpec()


@dataclass(frozen=True)
class Config(WindowSpec):
    """The window sizes (:class:`llm_bridge.WindowSpec`) and the rank r of the compared subspaces."""

    rank: int = 16


@dataclass
class Result(ResultBase):
    """Principal-angle cosines between column spaces of rank-r truncations, against a random baseline.

    Attributes
    ----------
    rank : int
    real_vs_nonsense : array, shape (rank,) — ``L_M(H, F)`` vs ``L_M(H, F_nonsense)``
    model_vs_model : array, shape (rank,) or None — ``L_M(H, F)`` vs ``L_M'(H, F)`` for a second model
    random_baseline : array, shape (rank,) — mean cosines of two random rank-dim subspaces of ``R^|H|``
    """

    rank: int
    real_vs_nonsense: np.ndarray
    model_vs_model: np.ndarray | None
    random_baseline: np.ndarray


def subspace_angles(
    model: Any,
    tokens: np.ndarray,
    rank: int,
    spec: WindowSpec = DEFAULT_SPEC,
    *,
    other_model: Any = None,
    rng: RngLike = None,
) -> Result:
    """Cosines of principal angles between column spaces: real vs nonsense futures, and model vs a second
    model, each next to random subspaces of the same dimension."""
    gen = as_rng(rng)
    model = as_model(model)
    H, F = draw_windows(tokens, spec, gen)
    F_non = windows_to_tuples(permute_windows(np.array(F), rng=gen))
    seed = int(gen.integers(2**31))
    L = logit_matrix(model, H, F, spec.top_k, seed)
    cos_nonsense = principal_angles(L, logit_matrix(model, H, F_non, spec.top_k, seed), rank)
    cos_models = None
    if other_model is not None:
        cos_models = principal_angles(L, logit_matrix(as_model(other_model), H, F, spec.top_k, seed), rank)
    base = random_subspace_cosines(len(H), rank, rng=gen, n_draws=50).mean(axis=0)
    return Result(rank=int(rank), real_vs_nonsense=cos_nonsense, model_vs_model=cos_models,
                  random_baseline=base)


def run(model: Any, tokens: np.ndarray, config: Config, *, rng: RngLike = None,
        other_model: Any = None) -> Result:
    """:func:`subspace_angles` with ``config``'s sizes and rank."""
    spec = WindowSpec(config.n_histories, config.history_length, config.n_futures, config.future_length,
                      config.top_k)
    return subspace_angles(model, tokens, config.rank, spec, other_model=other_model, rng=rng)
