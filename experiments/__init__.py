"""experiments: every experiment of the paper (and of this package) as one module, one registry, one runner.

Layer: above ``logitrank``, ``simulators``, ``theory`` and ``llm_bridge``; below ``paper_figures`` (figures
are views: ``plot(result)`` and ``summarize(result)``) and the CLI. Each module ``experiments.<name>`` has a
``Config`` owning its ``tiny`` / ``quick`` / ``full`` presets (:class:`experiments.base.ExperimentConfig`),
``run(inputs, config, *, rng) -> Result`` and ``Result.to_dict()`` / ``Result.from_dict()``;
:data:`EXPERIMENTS` lists them (:mod:`experiments.registry`) and :class:`experiments.runner.Runner` runs
them cached by (experiment, config, inputs identity, seed, code version). ``logitrank measure`` is
:func:`experiments.measure.run_measure`.
"""

from __future__ import annotations

from .base import BuiltinInputs, CheckpointInputs, ExperimentConfig, ModelInputs, NoInputs, ResultBase
from .registry import EXPERIMENTS, experiment
from .runner import Job, Runner, part

__all__ = ["EXPERIMENTS", "experiment", "ExperimentConfig", "ModelInputs", "NoInputs", "BuiltinInputs",
           "CheckpointInputs", "ResultBase", "Job", "Runner", "part"]
