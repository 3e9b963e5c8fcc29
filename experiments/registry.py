"""The one registry of experiments: name -> module (each with ``Config``, ``Result`` and ``run``).

``logitrank measure``, ``logitrank reproduce`` and the tests find an experiment here and nowhere else;
adding an experiment is one module plus one line in :data:`EXPERIMENTS`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXPERIMENTS", "experiment"]

#: experiment name -> module
EXPERIMENTS: dict[str, str] = {
    "spectrum": "experiments.spectrum",
    "kl_scales": "experiments.kl_scales",
    "emergence": "experiments.emergence",
    "angles": "experiments.angles",
    "hidden_dim": "experiments.hidden_dim",
    "synthetic_rank": "experiments.synthetic_rank",
    "lingen": "experiments.lingen",
    "init_scale": "experiments.init_scale",
    "loss": "experiments.loss",
    "hidden_dim_width": "experiments.hidden_dim_width",
    "synthetic_spectra": "experiments.synthetic_spectra",
    "learning": "experiments.learning",
    "provable_learning": "experiments.provable_learning",
    "cost_to_eps": "experiments.cost_to_eps",
    "kl_scales_fit": "experiments.kl_scales_fit",
    "spectra": "experiments.spectra",
    "phase_transition": "experiments.phase_transition",
    "equivalence": "experiments.equivalence",
    "real_llm": "experiments.real_llm",
}


def experiment(name: str) -> ModuleType:
    """The module of experiment ``name`` (see :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: must be one of {list(EXPERIMENTS)}, got {name!r}")
    return importlib.import_module(EXPERIMENTS[name])
