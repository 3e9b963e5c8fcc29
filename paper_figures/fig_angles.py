"""Figure 4: principal-angle cosines between column spaces of rank-r approximations.

Pairs compared (each matrix ``L(H, ·)`` shares its histories, so the column spaces live in ``R^|H|``):
real futures vs nonsense (permuted) futures of the trained transformer; the trained transformer vs a
second model trained from another seed; and the cosines between random r-dimensional subspaces of the
same ambient dimension (the baseline). The paper finds the first two mostly near 1.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import matplotlib.ticker as mticker
import numpy as np

from logitrank.paper import PAPER

from .pipeline import FigureCache, Presets, merge_presets
from .plotting import COLORS, legend_below, save, subplots
from .report import fmt
from .transformer import Windows

NAME = "angles"
TITLE = "Principal-angle cosines: real vs nonsense futures, model vs model, random baseline"

PAIRS = {"real_vs_nonsense": "real vs nonsense futures", "model_vs_model": "model vs model (two seeds)",
         "random": "random subspaces (baseline)"}


@dataclass(frozen=True)
class Config(Windows):
    """The matrices (:class:`paper_figures.transformer.Windows`) and the rank r of the compared column
    spaces."""

    rank: int = 16
    PRESETS: ClassVar[Presets] = merge_presets(Windows.PRESETS, tiny={"rank": 4}, full={"rank": 32})


def angles(path: str, path2: str, device: str, n_histories: int, history_length: int, future_length: int,
           top_k: int, rank: int, seed: int, **_key: Any) -> dict[str, Any]:
    """``llm_bridge.experiments.angles``: the final model vs nonsense futures and vs the second model."""
    from llm_bridge.experiments import angles as experiment

    from .transformer import corpus_of, hf_model

    cfg = experiment.Config(n_histories, history_length, n_histories, future_length, top_k, rank=rank)
    r = experiment.run(hf_model(path, device), corpus_of(path).validation, cfg, rng=seed,
                       other_model=hf_model(path2, device))
    return {"rank": rank, "n_histories": n_histories, "real_vs_nonsense": r.real_vs_nonsense,
            "model_vs_model": r.model_vs_model, "random": r.random_baseline}


def compute(config: Config, cache: FigureCache) -> dict[str, Any]:
    lm, lm2 = cache.transformer(), cache.transformer(second=True)
    fn = functools.partial(angles, lm.path("final"), lm2.path("final"), config.device)
    return cache.step("angles", fn, model=lm.key, model2=lm2.key, n_histories=config.n_histories,
                      history_length=config.history_length, future_length=config.future_length,
                      top_k=config.top_k, rank=config.rank, seed=config.seed)


def make(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    fig, axes = subplots(1, width=5.0, height=4.4)
    ax = axes[0, 0]
    styles = {"real_vs_nonsense": ("o-", COLORS[0]), "model_vs_model": ("s-", COLORS[1]),
              "random": ("x--", "0.4")}
    for key, label in PAIRS.items():
        cos = np.asarray(res[key], dtype=float)
        mk, c = styles[key]
        ax.plot(np.arange(1, cos.size + 1), cos, mk, ms=3.5, color=c,
                label=f"{label}: mean {cos.mean():.2f}")
    ax.set_ylim(-0.02, 1.05)
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.set_xlabel("principal angle index j (sorted, largest cosine first)")
    ax.set_ylabel("cos θ_j (dimensionless)")
    ax.set_title(f"column spaces of rank-{res['rank']} approximations, |H|={res['n_histories']}")
    legend_below(ax, markerscale=1)
    return save(fig, out_dir, NAME)


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    means = {k: float(np.mean(res[k])) for k in PAIRS}
    frac = {k: float(np.mean(np.asarray(res[k]) > 0.9)) for k in PAIRS}
    numbers = {f"mean cosine, {PAIRS[k]}": means[k] for k in PAIRS}
    numbers.update({f"fraction of cosines > 0.9, {PAIRS[k]}": frac[k] for k in PAIRS})
    paper = {f"mean cosine, {PAIRS['real_vs_nonsense']}": "mostly near 1",
             f"mean cosine, {PAIRS['model_vs_model']}": "mostly near 1",
             f"mean cosine, {PAIRS['random']}": "far below the others"}
    above = [PAIRS[k] for k in ("real_vs_nonsense", "model_vs_model") if means[k] > means["random"]]
    verdict = (f"Mean cosines: real vs nonsense {fmt(means['real_vs_nonsense'])}, model vs model "
               f"{fmt(means['model_vs_model'])}, random baseline {fmt(means['random'])}; "
               + (f"{' and '.join(above)} lie above the random baseline as in the paper"
                  if len(above) == 2 else
                  "not every pair lies above the random baseline — a difference from the paper")
               + f" ({PAPER['angles']}).")
    return {"numbers": numbers, "paper": paper, "verdict": verdict}
