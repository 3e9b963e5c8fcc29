"""The configuration base of the shared trained transformer (:class:`paper_figures.transformer.Config`): the
run's ``seed`` and ``device`` and presets through :class:`experiments.base.ExperimentConfig`. Every
figure's own sizes are its experiment's ``Config`` (:mod:`experiments`); this module is kept apart so that
:mod:`paper_figures.pipeline` and :mod:`paper_figures.transformer` share ``Presets`` without either
importing the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from experiments.base import PRESET_NAMES, ExperimentConfig, Presets, merge_presets

__all__ = ["FigureConfig", "Presets", "merge_presets", "PRESET_NAMES"]


@dataclass(frozen=True)
class FigureConfig(ExperimentConfig):
    """Base of the shared transformer's configuration: the run's ``seed`` and ``device``; ``PRESETS`` (a
    class attribute) holds the ``tiny`` / ``full`` overrides of the defaults (which are the ``quick``
    preset)."""

    seed: int = 0
    device: str = "cpu"
    PRESETS: ClassVar[Presets] = {}
