"""What every experiment shares: results as JSON-ready dataclasses, models from paths, top-k matrices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logitrank import LogitMatrix, extended_logit_matrix
from logitrank.results_io import to_jsonable
from logitrank.validation import RngLike

__all__ = ["ResultBase", "as_model", "logit_matrix"]


class ResultBase:
    """Mixin of the experiments' ``Result`` dataclasses: ``to_dict()`` is the JSON-ready view
    (:func:`logitrank.results_io.to_jsonable` of every field; arrays become lists)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: to_jsonable(v) for k, v in self.__dict__.items()}


def as_model(model: Any, **kwargs: Any) -> Any:
    """An :class:`llm_bridge.HFModel` from a checkpoint path or transformers model; others pass through."""
    if isinstance(model, str | Path) or (hasattr(model, "forward") and hasattr(model, "config")):
        from ..hf_model import HFModel

        return HFModel(model, **kwargs)
    return model


def logit_matrix(model: Any, H: list, F: list, top_k: int | None, rng: RngLike,
                 token_rule: str = "mean") -> LogitMatrix:
    """``L_{M,k}(H, F)`` with ``k = min(top_k, V)`` (the full matrix when ``top_k`` is None); ``token_rule``
    as :func:`logitrank.extended_logit_matrix` (``"mean"``: the top-k tokens, ``"random"``: k uniformly
    random tokens per future)."""
    k = None if top_k is None else min(top_k, model.vocab_size)
    return extended_logit_matrix(model, H, F, top_k=k, token_rule=token_rule, rng=rng, progress=False)
