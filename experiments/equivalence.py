"""Experiment: the ISAN equivalence theorem, measured by exhaustive enumeration.

For a random time-varying ISAN of dimension ``d`` (rank <= d), a 3-gram whose logit rank exceeds that ``d``
and an HMM with ``d`` states (not exactly low rank): the exact rank of ``L_M(Σ^t, Σ^{≤T-1-t})`` at every
position t (:func:`theory.enumeration.cut_ranks`), and the ISAN rebuilt from the logits alone
(:func:`theory.equivalence.isan_from_logits`) — its dimension per step and its largest next-token logit
error, at the full measured rank and capped at ``d``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from logitrank.validation import RngLike, spawn_seeds

from .base import ExperimentConfig, NoInputs, Presets, ResultBase

__all__ = ["MODELS", "Config", "Result", "run", "equivalence_point"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("theory.equivalence", "theory.enumeration", "simulators.families")

#: the model families measured, in this order (each gets its own spawned seed)
MODELS = ("isan", "ngram", "hmm")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Vocabulary ``V``, horizon ``T`` and ISAN dimension ``d`` (also the HMM's number of states)."""

    vocab: int = 3
    horizon: int = 6
    dim: int = 3
    PRESETS: ClassVar[Presets] = {"tiny": {"vocab": 2, "horizon": 4, "dim": 2},
                                  "full": {"vocab": 4, "horizon": 6, "dim": 4}}


@dataclass
class Result(ResultBase):
    """Per family (:data:`MODELS`), the dict of :func:`equivalence_point`; and the sizes.

    Attributes
    ----------
    models : dict family -> {"family", "label", "ranks" (T,), "rebuilt_dims" (T,), "rebuilt_error",
        "capped_error", "queries"}
    dim, vocab, horizon : int
    """

    models: dict[str, dict[str, Any]]
    dim: int
    vocab: int
    horizon: int


def equivalence_point(family: str, vocab: int, horizon: int, dim: int, seed: int) -> dict[str, Any]:
    """Exact cut ranks ``rank L(Σ^t, Σ^{≤T-1-t})`` of one model (``theory.enumeration.cut_ranks``) and the
    ISAN rebuilt from its logits alone (``theory.equivalence.isan_from_logits``): its dimension per step and
    its largest centered-logit error over every prefix, at full measured rank and capped at ``dim``.

    ``family``: ``"isan"`` (random, dimension ``dim``), ``"ngram"`` (order 3, logit rank up to ``V^2``,
    more than ``dim`` when ``V^2 > dim``) or ``"hmm"`` (``dim`` states; not exactly low rank)."""
    from simulators.families import build_model
    from theory.enumeration import cut_ranks
    from theory.equivalence import isan_from_logits

    kw: dict[str, Any] = {"order": 3} if family == "ngram" else {}
    model = build_model(family, vocab_size=vocab, dim=dim, horizon=horizon, rng=seed, **kw)
    label = {"isan": f"random ISAN, d={dim}", "ngram": f"3-gram (rank ≤ V²={vocab ** 2})",
             "hmm": f"HMM, {dim} states"}.get(family, family)
    ranks = [int(r) for r in cut_ranks(model, horizon)]
    full = isan_from_logits(model, horizon, progress=False)
    capped = isan_from_logits(model, horizon, max_dim=dim, progress=False)
    return {"family": family, "label": label, "ranks": ranks, "rebuilt_dims": [int(r) for r in full.ranks],
            "rebuilt_error": float(full.max_error), "capped_error": float(capped.max_error),
            "queries": int(full.queries)}


def run(inputs: NoInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`equivalence_point` of every family of :data:`MODELS`, each built from its own seed spawned
    from ``rng`` (``inputs`` is unused: the experiment builds its own models)."""
    seeds = spawn_seeds(rng, len(MODELS))
    models = {fam: equivalence_point(fam, config.vocab, config.horizon, config.dim, seed)
              for fam, seed in zip(MODELS, seeds, strict=True)}
    return Result(models=models, dim=config.dim, vocab=config.vocab, horizon=config.horizon)
