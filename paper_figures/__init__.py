"""paper_figures: the paper's figures and tables (``logitrank reproduce``); the only layer that plots.

One module per figure (``fig_*.py``, ``table_lingen.py``), each with its ``Config`` (presets as
overrides), ``compute(config, cache)``, ``make(results, out_dir)`` and ``summarize(results)`` (the pattern
is documented in :mod:`paper_figures.pipeline`); :func:`reproduce` runs them with a per-figure step cache
and writes ``results.json`` and ``report.md``.
"""

from experiments.store import StepCache
from logitrank.paper import PAPER

from .pipeline import FIGURES, FigureCache, FigureConfig, ReproduceConfig, figure_module, reproduce

__all__ = ["FIGURES", "PAPER", "FigureCache", "FigureConfig", "ReproduceConfig", "StepCache", "figure_module",
           "reproduce"]
