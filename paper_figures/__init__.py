"""paper_figures: the paper's figures and tables (``logitrank reproduce``); the only layer that plots.

One module per figure (``fig_*.py``, ``table_lingen.py``), each a *view* of one experiment of
:mod:`experiments`: ``EXPERIMENT``, ``INPUTS``, ``plot(result, out_dir)`` and ``summarize(result)`` (the
shape is documented in :mod:`paper_figures.pipeline`); :func:`reproduce` runs the experiments through the
cached, resumable :class:`experiments.Runner` and writes the figures, ``results.json`` and ``report.md``.
"""

from experiments.store import StepCache
from logitrank.paper import PAPER

from .pipeline import FIGURES, FigureCache, ReproduceConfig, figure_module, reproduce

__all__ = ["FIGURES", "PAPER", "FigureCache", "ReproduceConfig", "StepCache", "figure_module", "reproduce"]
