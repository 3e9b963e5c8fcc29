"""The paper's measurements on real transformers, one module per experiment.

Every module ``llm_bridge.experiments.<name>`` follows one pattern:

- ``Config``: a frozen dataclass of the experiment's sizes (defaults are the library's defaults);
- ``Result``: a dataclass of numbers and numpy arrays (``to_dict()`` is JSON-ready, for
  :func:`logitrank.save_json`);
- ``run(model, tokens, config, *, rng) -> Result``: draw the inputs (seeded by ``rng``), build the matrices
  through :func:`logitrank.extended_logit_matrix` and hand them to the core estimators. ``model`` is a
  :class:`llm_bridge.HFModel`, a transformers model or a checkpoint directory (:func:`as_model`); ``tokens``
  the corpus the windows come from (usually the validation split).

Each module also keeps its function with explicit keyword arguments (``logit_spectrum``,
``kl_across_scales``, ...), which ``run`` calls. :data:`EXPERIMENTS` maps a name to its module: a new
experiment is one new module plus one line there.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..windows import WindowSpec, draw_windows
from ._common import as_model
from .angles import Result as AnglesResult
from .angles import subspace_angles
from .emergence import Result as EmergenceResult
from .emergence import emergence_across_checkpoints
from .hidden_dim import Result as HiddenDimResult
from .hidden_dim import hidden_dim_recovery
from .init_scale import Result as InitScaleResult
from .init_scale import init_scale_sweep
from .kl_scales import Result as KLScalesResult
from .kl_scales import kl_across_scales
from .lingen import LingenResult, direct_generation_kl, lingen_experiment
from .spectrum import Result as SpectrumResult
from .spectrum import logit_spectrum
from .synthetic_rank import Result as SyntheticRankResult
from .synthetic_rank import synthetic_rank_comparison

__all__ = [
    "EXPERIMENTS", "experiment", "WindowSpec", "draw_windows", "as_model",
    "SpectrumResult", "KLScalesResult", "EmergenceResult", "AnglesResult", "HiddenDimResult",
    "SyntheticRankResult", "InitScaleResult", "LingenResult",
    "logit_spectrum", "kl_across_scales", "emergence_across_checkpoints", "subspace_angles",
    "hidden_dim_recovery", "synthetic_rank_comparison", "init_scale_sweep", "lingen_experiment",
    "direct_generation_kl",
]

#: experiment name -> module (each with ``Config``, ``Result`` and ``run``)
EXPERIMENTS: dict[str, str] = {
    "spectrum": "llm_bridge.experiments.spectrum",
    "kl_scales": "llm_bridge.experiments.kl_scales",
    "emergence": "llm_bridge.experiments.emergence",
    "angles": "llm_bridge.experiments.angles",
    "hidden_dim": "llm_bridge.experiments.hidden_dim",
    "synthetic_rank": "llm_bridge.experiments.synthetic_rank",
    "lingen": "llm_bridge.experiments.lingen",
    "init_scale": "llm_bridge.experiments.init_scale",
    "loss": "llm_bridge.experiments.loss",
}


def experiment(name: str) -> ModuleType:
    """The module of experiment ``name`` (see :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"name: must be one of {list(EXPERIMENTS)}, got {name!r}")
    return importlib.import_module(EXPERIMENTS[name])
