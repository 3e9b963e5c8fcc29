"""Experiment: the spectra of the synthetic families' extended logit matrices and their power-law fits.

For each family of :data:`FAMILIES` (exact ISAN, a planted power-law spectrum, an HMM, an n-gram) a model
of vocabulary ``V``, base dimension ``d`` (times the family's multiplier) and horizon ``T`` is built
(:func:`simulators.families.build_model`, its own spawned seed), ``L_M(H, F)`` is formed on the index sets of
:func:`simulators.index_sets.synthetic_index_sets` (histories of length ``T // 2``, futures up to the
horizon), and :func:`logitrank.fit_power_law` fits ``sigma_i ~ C i^(-alpha)``. The planted family's true
``alpha`` is reported beside its fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from logitrank import extended_logit_matrix, fit_power_law, singular_values
from logitrank.validation import RngLike, spawn_seeds

from .base import ExperimentConfig, NoInputs, Presets, ResultBase

__all__ = ["FAMILIES", "Config", "Result", "run", "family_spectrum"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("simulators.families", "simulators.index_sets")

#: synthetic families shown, in legend order: (family, dim multiplier, family options)
FAMILIES: tuple[tuple[str, int, dict[str, Any]], ...] = (
    ("isan", 1, {}), ("planted", 4, {"alpha": 0.7}), ("hmm", 1, {}), ("ngram", 4, {}))


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """``V``, base dimension ``d``, horizon ``T`` and the index-set sizes ``|H|``, ``|F|``."""

    vocab: int = 8
    dim: int = 16
    horizon: int = 8
    n_histories: int = 256
    n_futures: int = 256
    PRESETS: ClassVar[Presets] = {
        "tiny": {"vocab": 3, "dim": 3, "horizon": 5, "n_histories": 27, "n_futures": 13},
        "full": {"vocab": 16, "dim": 32, "n_histories": 1024, "n_futures": 1024},
    }


@dataclass
class Result(ResultBase):
    """``families``: family name -> its spectrum entry (``s``, ``alpha``, ``ci``, ``C``, ``fit_range``,
    ``r_squared``, ``label``, ``shape``, ``alpha_true``), in :data:`FAMILIES` order."""

    families: dict[str, dict[str, Any]]


def family_spectrum(family: str, dim: int, config: Config, seed: int, **options: Any) -> dict[str, Any]:
    """Spectrum and power-law fit of ``L_M(H, F)`` for one family's model (seeded by ``seed``)."""
    from simulators.families import build_model
    from simulators.index_sets import synthetic_index_sets

    V, T = config.vocab, config.horizon
    model = build_model(family, vocab_size=V, dim=dim, horizon=T, rng=seed, **options)
    _, H, F = synthetic_index_sets(V, T, config.n_histories, config.n_futures, rng=seed)
    L = extended_logit_matrix(model, H, F, progress=False)
    s = singular_values(L)
    fit = fit_power_law(s, rng=seed)
    alpha_true = getattr(model, "alpha", None)
    label = {"isan": f"ISAN d={dim}", "planted": f"planted α={alpha_true}, d={dim}",
             "hmm": f"HMM, {dim} states", "ngram": f"{getattr(model, 'order', '')}-gram"}.get(family, family)
    return {"s": np.asarray(s, dtype=np.float64), "alpha": fit.alpha, "ci": list(fit.alpha_ci), "C": fit.c,
            "fit_range": list(fit.index_range), "r_squared": fit.r_squared, "family": family, "label": label,
            "shape": list(L.shape), "alpha_true": None if alpha_true is None else float(alpha_true)}


def run(inputs: NoInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`family_spectrum` of every family of :data:`FAMILIES`, each from its own spawned seed."""
    seeds = spawn_seeds(rng, len(FAMILIES))
    return Result(families={fam: family_spectrum(fam, mult * config.dim, config, seed, **opts)
                            for (fam, mult, opts), seed in zip(FAMILIES, seeds, strict=True)})
