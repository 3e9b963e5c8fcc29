"""Experiment: the hidden dimension recovered from the single-token logit matrix ``L(H, {empty})``.

The centered single-token matrix has rank ``<= d`` (RMSNorm, no output bias); LayerNorm's mean removal
takes one direction away and its shift ``beta`` gives one back, so a fresh GPT-2 (``beta = 0``) shows
``d - 1`` and a trained one ``d``. The estimate is the largest gap in ``log sigma``
(:func:`logitrank.estimate_hidden_dim`, Carlini et al. 2024).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from llm_bridge.windows import WindowSpec, draw_windows
from logitrank import estimate_hidden_dim, extended_logit_matrix, singular_values
from logitrank.validation import RngLike

from .base import ExperimentConfig, ModelInputs, Presets, ResultBase, as_model

__all__ = ["Config", "Result", "run", "hidden_dim_recovery"]


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """``|H|`` corpus histories of ``history_length`` tokens; ``floor_rtol`` ~ the logits' round-off."""

    n_histories: int = 256
    history_length: int = 32
    floor_rtol: float = 1e-7
    PRESETS: ClassVar[Presets] = {"tiny": dict(n_histories=32, history_length=12),
                                  "full": dict(n_histories=1024)}


@dataclass
class Result(ResultBase):
    """Hidden dimension estimated from ``L(H, {empty})``.

    Attributes
    ----------
    estimate : int — position of the largest gap in ``log sigma``
    true_dim : int or None — ``d_model`` from the model's config
    gap : float — the log-gap at the estimate
    singular_values : array
    """

    estimate: int
    true_dim: int | None
    gap: float
    singular_values: np.ndarray


def hidden_dim_recovery(
    model: Any, histories: Sequence[Sequence[int]], *, floor_rtol: float = 1e-7, **model_kwargs: Any
) -> Result:
    """Estimate ``d_model`` from ``L_M(H, {empty})`` (needs ``|H| > d`` and ``V > d + 1``)."""
    m = as_model(model, **model_kwargs)
    V = m.vocab_size
    L = extended_logit_matrix(m, histories, [()], progress=False)
    s = singular_values(L)
    if len(s) < 2:
        raise ValueError(f"histories: need at least 2 histories (and V >= 3), got |H|={len(histories)}, "
                         f"V={V}")
    est = estimate_hidden_dim(s, floor_rtol=floor_rtol)
    cfg = getattr(getattr(m, "model", None), "config", None)
    true = getattr(cfg, "n_embd", None) or getattr(cfg, "hidden_size", None)
    return Result(estimate=est.dim, true_dim=None if true is None else int(true), gap=est.gap,
                  singular_values=s)


def run(inputs: ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`hidden_dim_recovery` of ``inputs.model`` on ``config.n_histories`` windows of ``inputs.tokens``
    (seeded by ``rng``)."""
    spec = WindowSpec(config.n_histories, config.history_length, 1, 1, 1)
    H, _ = draw_windows(inputs.tokens, spec, rng=rng)
    return hidden_dim_recovery(inputs.model, H, floor_rtol=config.floor_rtol)
