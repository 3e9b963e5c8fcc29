"""paper_figures: the paper's figures and tables (``logitrank reproduce``); the only layer that plots.

One module per figure (``fig_*.py``, ``table_lingen.py``), each with ``compute(config, cache)``,
``make(results_or_config, out_dir)`` and ``summarize(results)``; :func:`reproduce` runs them with a per-figure
step cache and writes ``results.json`` and ``report.md``.
"""

from .pipeline import FIGURES, ReproduceConfig, figure_module, reproduce
from .report import PAPER
from .store import StepCache

__all__ = ["FIGURES", "PAPER", "ReproduceConfig", "StepCache", "figure_module", "reproduce"]
