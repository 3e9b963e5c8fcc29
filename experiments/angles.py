"""Experiment: principal-angle cosines between column spaces of rank-r truncations.

Pairs (each matrix shares its histories, so the column spaces live in ``R^|H|``): real vs nonsense futures
(each future window's tokens permuted), the model vs a second model (e.g. another seed), and random
subspaces of the same dimension as the baseline (:func:`logitrank.random_subspace_cosines`).

By default the matrices are centered over histories (each column's mean over ``H`` subtracted): a
direction shared by every history (the columns' mean, which carries the unigram-like part of the logits)
would otherwise give one cosine near 1 for any two models. Centered columns live in the
``(|H| - 1)``-dimensional complement of the all-ones vector, so the random baseline is drawn there. The
uncentered cosines are kept beside them (``*_uncentered``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from llm_bridge.windows import WindowSpec, draw_windows, permute_windows, windows_to_tuples
from logitrank import as_rng, principal_angles, random_subspace_cosines
from logitrank.validation import RngLike, spawn_seeds

from .base import ExperimentConfig, ModelInputs, Presets, ResultBase, as_model, logit_matrix, window_spec

__all__ = ["Config", "Result", "run", "subspace_angles", "center_over_histories", "COS_THRESHOLD"]

#: a cosine above this counts as a shared direction (the fraction is reported against the random baseline)
COS_THRESHOLD = 0.9


def center_over_histories(M: Any) -> np.ndarray:
    """``M - 1 mean_h(M)``: each column's mean over the histories (rows) subtracted."""
    A = np.asarray(M.values if hasattr(M, "values") else M, dtype=np.float64)
    return A - A.mean(axis=0, keepdims=True)


DEFAULT_SPEC = WindowSpec()


@dataclass(frozen=True)
class Config(WindowSpec, ExperimentConfig):
    """The window sizes (:class:`llm_bridge.WindowSpec`) and the rank r of the compared subspaces."""

    n_histories: int = 128
    n_futures: int = 128
    rank: int = 16
    PRESETS: ClassVar[Presets] = {"tiny": dict(n_histories=32, history_length=12, n_futures=32,
                                               future_length=4, top_k=8, rank=4),
                                  "full": dict(n_histories=512, n_futures=512, rank=64)}


@dataclass
class Result(ResultBase):
    """Principal-angle cosines between column spaces of rank-r truncations, against a random baseline.

    Attributes
    ----------
    rank : int
    real_vs_nonsense : array, shape (rank,) — ``L_M(H, F)`` vs ``L_M(H, F_nonsense)``
    model_vs_model : array, shape (rank,) or None — ``L_M(H, F)`` vs ``L_M'(H, F)`` for a second model
    random_baseline : array, shape (rank,) — mean cosines of two random rank-dim subspaces of
        ``R^(|H| - 1)`` (``R^|H|`` when not centered), over ``n_draws`` pairs
    random_fraction_above : array, shape (n_draws,) — each random pair's fraction of cosines above
        :data:`COS_THRESHOLD`; ``random_mean_cosine`` (n_draws,): each pair's mean cosine
    real_vs_nonsense_uncentered, model_vs_model_uncentered : arrays or None — the same without centering
    centered : bool
    n_histories : int — ``|H|``
    """

    rank: int
    real_vs_nonsense: np.ndarray
    model_vs_model: np.ndarray | None
    random_baseline: np.ndarray
    random_fraction_above: np.ndarray | None = None
    random_mean_cosine: np.ndarray | None = None
    real_vs_nonsense_uncentered: np.ndarray | None = None
    model_vs_model_uncentered: np.ndarray | None = None
    centered: bool = True
    n_histories: int | None = None


def subspace_angles(
    model: Any,
    tokens: np.ndarray,
    rank: int,
    spec: WindowSpec = DEFAULT_SPEC,
    *,
    other_model: Any = None,
    rng: RngLike = None,
    centered: bool = True,
    n_draws: int = 200,
) -> Result:
    """Cosines of principal angles between column spaces: real vs nonsense futures, and model vs a second
    model, each next to ``n_draws`` pairs of random subspaces of the same dimension; matrices centered over
    histories when ``centered`` (see the module docstring)."""
    gen = as_rng(rng)
    model = as_model(model)
    H, F = draw_windows(tokens, spec, gen)
    F_non = windows_to_tuples(permute_windows(np.array(F), rng=gen))
    seed = spawn_seeds(gen, 1)[0]  # the top-k rule's seed, shared by the compared matrices
    L = logit_matrix(model, H, F, spec.top_k, seed)
    pairs = {"nonsense": logit_matrix(model, H, F_non, spec.top_k, seed)}
    if other_model is not None:
        pairs["models"] = logit_matrix(as_model(other_model), H, F, spec.top_k, seed)
    cos: dict[str, dict[bool, np.ndarray]] = {}
    for name, B in pairs.items():
        cos[name] = {c: principal_angles(center_over_histories(L) if c else L,
                                         center_over_histories(B) if c else B, rank) for c in (True, False)}
    draws = random_subspace_cosines(len(H) - 1 if centered else len(H), rank, rng=gen, n_draws=n_draws)
    models = cos.get("models")
    return Result(rank=int(rank), real_vs_nonsense=cos["nonsense"][centered],
                  model_vs_model=None if models is None else models[centered],
                  random_baseline=draws.mean(axis=0),
                  random_fraction_above=(draws > COS_THRESHOLD).mean(axis=1),
                  random_mean_cosine=draws.mean(axis=1),
                  real_vs_nonsense_uncentered=cos["nonsense"][False],
                  model_vs_model_uncentered=None if models is None else models[False], centered=centered,
                  n_histories=len(H))


def run(inputs: ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`subspace_angles` of ``inputs.model`` with ``config``'s sizes and rank (``inputs.earlier``, when
    given, is the other model of the model-vs-model pair)."""
    spec = window_spec(config)
    return subspace_angles(inputs.model, inputs.tokens, config.rank, spec, other_model=inputs.earlier,
                           rng=rng)
