"""Experiment: the logit rank of a synthetic generator (known) vs a transformer trained on its samples.

``H``: distinct histories of length ``t`` sampled from the generator; ``F``: distinct futures of lengths
``0 .. T-1-t`` sampled from it (the empty one included). Both ``L(H, F)`` are built; their ranks are the
largest-gap estimates, compared with ``generator.rank_bound(t)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from logitrank import as_rng, estimate_hidden_dim, extended_logit_matrix, kl_vs_rank, singular_values
from logitrank.validation import RngLike, check_int

from .base import ExperimentConfig, ModelInputs, ResultBase, as_model

__all__ = ["Config", "Result", "run", "synthetic_rank_comparison"]


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """History length ``t`` and the numbers of histories and futures."""

    t: int = 2
    n_histories: int = 256
    n_futures: int = 64


@dataclass
class Result(ResultBase):
    """Logit rank of a generator vs a transformer trained on its samples, at history length ``t``.

    Attributes
    ----------
    t : int
    rank_bound : int — ``generator.rank_bound(t)``
    generator_singular_values, model_singular_values : arrays
    generator_rank, model_rank : int — largest-gap estimates
    kl_at_bound : float — ``D_avg`` of the transformer's matrix truncated to rank ``rank_bound``
    """

    t: int
    rank_bound: int
    generator_singular_values: np.ndarray
    model_singular_values: np.ndarray
    generator_rank: int
    model_rank: int
    kl_at_bound: float


def synthetic_rank_comparison(
    generator: Any, model: Any, t: int, *, n_histories: int = 256, n_futures: int = 64, rng: RngLike = None
) -> Result:
    """Compare ``L(H, F)`` of a synthetic generator and of a transformer trained on its samples."""
    gen = as_rng(rng)
    m = as_model(model)
    T = int(generator.horizon)
    t = check_int("t", t, minimum=0, maximum=T - 1)
    seqs = generator.sample(4 * n_histories, rng=gen)
    H = list(dict.fromkeys(tuple(int(x) for x in row[:t]) for row in seqs))[:n_histories]
    futs = [()] + [
        tuple(int(x) for x in row[t : t + gen.integers(1, T - t)]) for row in seqs if T - 1 - t > 0
    ]
    F = [f for f in dict.fromkeys(futs) if len(f) <= T - 1 - t][:n_futures]
    Lg = extended_logit_matrix(generator, H, F, progress=False)
    Lm = extended_logit_matrix(m, H, F, progress=False)
    sg, sm = singular_values(Lg), singular_values(Lm)
    bound = int(generator.rank_bound(t))
    r = min(bound, min(Lm.shape))
    return Result(t=t, rank_bound=bound, generator_singular_values=sg, model_singular_values=sm,
                  generator_rank=estimate_hidden_dim(sg).dim,
                  model_rank=estimate_hidden_dim(sm, floor_rtol=1e-7).dim,
                  kl_at_bound=float(kl_vs_rank(Lm, [r]).kl[0]))


def run(inputs: ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`synthetic_rank_comparison`; here ``inputs.tokens`` is the generator whose samples trained
    ``inputs.model`` (the source of ``H`` and ``F``)."""
    return synthetic_rank_comparison(inputs.tokens, inputs.model, config.t, n_histories=config.n_histories,
                                     n_futures=config.n_futures, rng=rng)
