"""Experiment: the hidden dimension recovered from the logits of GPT-2 models of several widths.

For each width ``n_embd`` a small GPT-2 is trained briefly on Shakespeare characters (so LayerNorm's shift is
no longer 0 and SPEC's rule expects ``d``, not ``d - 1``), then :mod:`experiments.hidden_dim` estimates the
rank of its centered single-token matrix ``L(H, {empty})`` from the largest gap in its log singular values
(``|H|`` windows of the validation plays). The training runs live in ``inputs.directory`` and resume.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from logitrank.validation import RngLike, spawn_seeds

from . import hidden_dim
from .base import ExperimentConfig, ModelInputs, Presets, ResultBase, TrainingInputs
from .checkpoints import corpus_of, hf_model

__all__ = ["Config", "Result", "run", "width_point"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("experiments.hidden_dim", "experiments.checkpoints")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Widths ``n_embd`` of the ``model`` preset trained for ``steps`` steps on Shakespeare characters, and
    the ``|H|`` corpus histories (``history_length`` characters) of ``L(H, {empty})``."""

    model: str = "shakespeare-char"
    dims: tuple[int, ...] = (32, 48, 64)  # < 80: L(H, {empty}) has V = 81 char columns
    steps: int = 60
    n_histories: int = 256
    history_length: int = 32
    PRESETS: ClassVar[Presets] = {
        "tiny": {"model": "tiny", "dims": (8, 12), "steps": 2, "n_histories": 40, "history_length": 8},
        "full": {"dims": (16, 32, 48, 64), "steps": 300, "n_histories": 512},
    }


@dataclass
class Result(ResultBase):
    """Per width (in the order of ``Config.dims``): the estimate, the largest log-gap (nats) and the
    singular values of ``L(H, {empty})``.

    Attributes
    ----------
    n_embd, estimate : int arrays, shape (n_widths,)
    gap : array, shape (n_widths,)
    singular_values : list of arrays, each shape (min(|H|, V),)
    n_histories, steps : int
    """

    n_embd: np.ndarray
    estimate: np.ndarray
    gap: np.ndarray
    singular_values: list[Any]
    n_histories: int
    steps: int


def width_point(n_embd: int, config: Config, inputs: TrainingInputs, seed: int) -> hidden_dim.Result:
    """Train the model of width ``n_embd`` (resuming a run in ``inputs.directory``), then
    :func:`experiments.hidden_dim.run` on its ``L(H, {empty})``."""
    from llm_bridge import train_shakespeare

    run_dir = Path(inputs.directory) / f"n_embd{n_embd}-seed{seed}-steps{config.steps}"
    steps = max(config.steps, 1)
    res = train_shakespeare(run_dir, preset=config.model, steps=steps, checkpoint_every=steps, seed=seed,
                            progress=False, device=inputs.device, n_embd=n_embd,
                            n_head=2 if n_embd % 4 else 4)
    model = ModelInputs.of(hf_model(str(res.checkpoints[-1][1]), inputs.device), corpus_of(None).validation)
    cfg = hidden_dim.Config(n_histories=config.n_histories, history_length=config.history_length)
    return hidden_dim.run(model, cfg, rng=seed)


def run(inputs: TrainingInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`width_point` for every width of ``config.dims``; an integer ``rng`` is the seed of every
    training run and window draw (one seed spawned from a Generator)."""
    seed = rng if isinstance(rng, int) else spawn_seeds(rng, 1)[0]
    points = [width_point(d, config, inputs, seed) for d in config.dims]
    return Result(n_embd=np.asarray(config.dims), estimate=np.array([int(p.estimate) for p in points]),
                  gap=np.array([float(p.gap) for p in points]),
                  singular_values=[p.singular_values for p in points], n_histories=config.n_histories,
                  steps=config.steps)
