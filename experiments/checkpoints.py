"""Inputs from checkpoint folders of the Shakespeare models this package trains: the model, the validation
plays tokenized like its run, both loaded on first use so that a cached result never loads a model."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .base import CheckpointInputs, ModelInputs

__all__ = ["hf_model", "corpus_of", "checkpoint_inputs", "checkpoint_series"]


def hf_model(path: str, device: str) -> Any:
    """:class:`llm_bridge.HFModel` of a checkpoint directory (no progress bars)."""
    from llm_bridge import HFModel

    return HFModel(path, device=device, progress=False)


@functools.lru_cache(maxsize=4)
def _corpus(run_dir: str | None) -> Any:
    from llm_bridge import list_checkpoints, load_shakespeare, load_tokenizer

    if run_dir is None:
        return load_shakespeare()
    return load_shakespeare(tokenizer=load_tokenizer(list_checkpoints(run_dir)[0][1]))


def corpus_of(checkpoint: str | None) -> Any:
    """The Shakespeare corpus tokenized like the run of checkpoint directory ``checkpoint`` (its saved
    tokenizer); characters when ``None``. Cached per run."""
    return _corpus(None if checkpoint is None else str(Path(checkpoint).parent))


def checkpoint_inputs(path: str, device: str, identity: dict[str, Any], *, earlier: str | None = None
                      ) -> ModelInputs:
    """:class:`experiments.base.ModelInputs` of the checkpoint ``path`` on its run's validation plays (with
    its tokenizer), ``earlier`` a second checkpoint; ``identity`` names the weights (e.g. the training
    key)."""

    def load() -> tuple[Any, ...]:
        corpus = corpus_of(path)
        early = None if earlier is None else hf_model(earlier, device)
        return hf_model(path, device), corpus.validation, early, corpus.tokenizer

    return ModelInputs(identity={**identity, "device": device}, load=load)


def checkpoint_series(paths: Mapping[int, str], val_loss: Mapping[int, float], device: str,
                      identity: dict[str, Any]) -> CheckpointInputs:
    """:class:`experiments.base.CheckpointInputs` of the checkpoint directories ``paths`` (step -> path) of
    one run, on its validation plays (with its tokenizer); ``val_loss`` by step; ``identity`` names the
    weights (e.g. the training key)."""
    steps = tuple(sorted(int(s) for s in paths))
    if not steps:
        raise ValueError("paths: must hold at least one checkpoint, got none")
    return CheckpointInputs(identity={**identity, "steps": list(steps), "device": device}, steps=steps,
                            val_loss={int(s): float(v) for s, v in val_loss.items() if int(s) in steps},
                            load=lambda step: hf_model(paths[step], device),
                            load_tokens=lambda: corpus_of(paths[steps[-1]]).validation)
