"""The configuration base of the figures that still own sizes of their own (``seed`` and ``device`` of the
run, presets through :class:`experiments.base.ExperimentConfig`), shared by :mod:`paper_figures.pipeline`
and :mod:`paper_figures.transformer` without either importing the other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from experiments.base import PRESET_NAMES, ExperimentConfig, Presets, merge_presets

__all__ = ["FigureConfig", "Presets", "merge_presets", "PRESET_NAMES"]


@dataclass(frozen=True)
class FigureConfig(ExperimentConfig):
    """Base of a figure's ``Config``: the run's ``seed`` and ``device``; ``PRESETS`` (a class attribute)
    holds the ``tiny`` / ``full`` overrides of the defaults, which are the ``quick`` preset."""

    seed: int = 0
    device: str = "cpu"
    PRESETS: ClassVar[Presets] = {}
