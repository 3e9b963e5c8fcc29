"""Experiment: the paper's Figure 1 — spectra of extended logit matrices, synthetic and trained, with their
power-law fits and the uncertainties of the trained transformer's ``alpha``.

It composes two parts:

- the synthetic families (:mod:`experiments.synthetic_spectra`, sized by ``Config.synthetic``);
- a training run's checkpoints (:class:`experiments.base.CheckpointInputs`, which must hold step 0): the
  top-k ``L_k(H, F)`` of the final checkpoint and of step 0 on the same ``H, F``
  (:func:`experiments.spectrum.logit_spectrum`, each refit over the ranges of
  :func:`experiments.spectrum.fit_range_sensitivity`); ``alpha`` of the final checkpoint over ``n_draws``
  independent ``(H, F)`` draws of ``draw_histories`` windows (:func:`experiments.spectrum.alpha_over_draws`);
  and the paper's two ablations (:func:`experiments.spectrum.ablation_spectrum`: ``k`` uniformly random
  tokens per future on the main matrix's ``H, F``; top-``ablation_top_k`` tokens with ``F = H``).

Every part starts from the same seed on purpose: step 0, the final checkpoint and the random-token ablation
are measured on the same windows, so their differences are the weights' and the token rule's alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from logitrank import PowerLawFit
from logitrank.validation import RngLike, spawn_seeds

from . import spectrum, synthetic_spectra
from .base import CheckpointInputs, ExperimentConfig, ModelInputs, NoInputs, Presets, ResultBase
from .runner import part

__all__ = ["Config", "Result", "run", "spectrum_entry", "checkpoint_spectrum", "draws", "ablations"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("experiments.spectrum", "experiments.synthetic_spectra")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """The synthetic families' experiment (``synthetic``, its own presets), the transformer's ``L_k(H, F)``
    (``|H| = |F| = n_histories``, window lengths, ``k``), its draws and its ablations' sizes."""

    synthetic: synthetic_spectra.Config = synthetic_spectra.Config.quick()
    n_histories: int = 160
    history_length: int = 32
    future_length: int = 8
    top_k: int = 50
    n_draws: int = 5
    draw_histories: int = 64
    ablation_histories: int = 96
    ablation_top_k: int = 200
    PRESETS: ClassVar[Presets] = {
        "tiny": {"synthetic": synthetic_spectra.Config.tiny(), "n_histories": 24, "history_length": 8,
                 "future_length": 3, "top_k": 8, "n_draws": 3, "draw_histories": 12, "ablation_histories": 12,
                 "ablation_top_k": 16},
        "full": {"synthetic": synthetic_spectra.Config.full(), "n_histories": 1024, "draw_histories": 256,
                 "ablation_histories": 512},
    }


@dataclass
class Result(ResultBase):
    """The spectra, each an entry of :func:`spectrum_entry` (``s``, ``alpha``, ``ci``, ``C``, ``fit_range``,
    ``r_squared`` and more).

    Attributes
    ----------
    families : dict — family name -> :mod:`experiments.synthetic_spectra` entry
    transformer, transformer_step0 : dict — the final checkpoint's and step 0's, with ``steps``,
        ``val_loss``, ``k``, ``shape`` and ``fit_ranges`` (:func:`experiments.spectrum.fit_range_sensitivity`)
    draws : dict — :func:`experiments.spectrum.alpha_over_draws` of the final checkpoint
    ablations : dict — ``"random_tokens"`` and ``"futures_eq_histories"`` entries (with ``k``, ``shape``,
        ``kind``)
    """

    families: dict[str, dict[str, Any]]
    transformer: dict[str, Any]
    transformer_step0: dict[str, Any]
    draws: dict[str, Any]
    ablations: dict[str, dict[str, Any]]


def spectrum_entry(s: np.ndarray, fit: PowerLawFit, **extra: Any) -> dict[str, Any]:
    """Singular values with their power-law fit (and ``extra``), as one entry of the Result."""
    return {"s": np.asarray(s, dtype=np.float64), "alpha": fit.alpha, "ci": list(fit.alpha_ci), "C": fit.c,
            "fit_range": list(fit.index_range), "r_squared": fit.r_squared, **extra}


def checkpoint_spectrum(inputs: ModelInputs, config: Config, seed: int, step: int,
                        val_loss: float | None) -> dict[str, Any]:
    """:func:`experiments.spectrum.logit_spectrum` of one checkpoint (``step``, its ``val_loss`` recorded)
    with its fit-range sensitivity."""
    cfg = spectrum.Config(config.n_histories, config.history_length, config.n_histories, config.future_length,
                          config.top_k)
    r = spectrum.run(inputs, cfg, rng=seed)
    return spectrum_entry(r.singular_values, r.fit, steps=step, val_loss=val_loss, k=config.top_k,
                          shape=list(r.shape),
                          fit_ranges=spectrum.fit_range_sensitivity(r.singular_values, rng=seed))


def draws(inputs: ModelInputs, config: Config, seed: int) -> dict[str, Any]:
    """``alpha`` on ``config.n_draws`` independent ``(H, F)`` draws of ``config.draw_histories`` windows."""
    spec = spectrum.Config(config.draw_histories, config.history_length, config.draw_histories,
                           config.future_length, config.top_k)
    return spectrum.alpha_over_draws(inputs.model, inputs.tokens, spec, config.n_draws, rng=seed)


def ablations(inputs: ModelInputs, config: Config, seed: int) -> dict[str, dict[str, Any]]:
    """The paper's two ablations of the top-k matrix (see :func:`experiments.spectrum.ablation_spectrum`):
    random tokens at the main matrix's sizes, ``F = H`` at ``ablation_histories`` and ``ablation_top_k``."""
    sizes = {"random_tokens": (config.n_histories, config.top_k),
             "futures_eq_histories": (config.ablation_histories, config.ablation_top_k)}
    out = {}
    for kind, (n, k) in sizes.items():
        r = spectrum.ablation_spectrum(inputs.model, inputs.tokens, kind, n, config.history_length,
                                       config.future_length, k, rng=seed)
        out[kind] = spectrum_entry(r.singular_values, r.fit, k=k, shape=list(r.shape), kind=kind)
    return out


def run(inputs: CheckpointInputs, config: Config, *, rng: RngLike = None) -> Result:
    """The synthetic families and the spectra of ``inputs``' final checkpoint and step 0, its draws and
    ablations; an integer ``rng`` is the seed of every part (one seed spawned from a Generator).  Each of
    the five is a resumable :func:`~experiments.runner.part` (a model is loaded only for a part not yet
    stored)."""
    seed = rng if isinstance(rng, int) else spawn_seeds(rng, 1)[0]
    if 0 not in inputs.steps:
        raise ValueError(f"inputs: spectra needs the step-0 checkpoint (put 0 in the transformer config's "
                         f"`checkpoints`), got steps {list(inputs.steps)}")
    last, val = inputs.final_step, inputs.val_loss
    final = inputs.at(last)  # one model for the final checkpoint's parts, loaded on first use
    step0 = inputs.at(0)
    return Result(
        families=part("families", lambda: synthetic_spectra.run(NoInputs(), config.synthetic,
                                                                 rng=seed).families),
        transformer=part("final", lambda: checkpoint_spectrum(final, config, seed, last, val.get(last))),
        transformer_step0=part("step0", lambda: checkpoint_spectrum(step0, config, seed, 0, val.get(0))),
        draws=part("draws", lambda: draws(final, config, seed)),
        ablations=part("ablations", lambda: ablations(final, config, seed)))
