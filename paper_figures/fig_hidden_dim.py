"""Figure 9: hidden dimension recovered from logits vs the true ``n_embd``.

For small GPT-2 models of several widths (briefly trained so LayerNorm's shift is non-zero), the rank of
the centered single-token matrix ``L(H, {∅})`` is estimated from the largest gap in its log singular values
(``logitrank.hidden_dim``). Left: estimate vs truth with the ``y = x`` line. Right: the normalised log
spectra with each estimate marked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from experiments.base import ModelInputs
from logitrank.paper import PAPER

from .pipeline import FigureCache, FigureConfig, Presets
from .plotting import COLORS, legend_below, save, subplots
from .report import fmt

NAME = "hidden_dim"
TITLE = "Hidden dimension recovered from the logits vs the true n_embd"


@dataclass(frozen=True)
class Config(FigureConfig):
    """Widths ``n_embd`` of the ``model`` preset trained for ``steps`` steps on Shakespeare characters, and
    the ``|H|`` corpus histories of ``L(H, {∅})``."""

    model: str = "shakespeare-char"
    dims: tuple[int, ...] = (32, 48, 64)  # < 80: L(H, {empty}) has V = 81 char columns
    steps: int = 60
    n_histories: int = 256
    history_length: int = 32
    PRESETS: ClassVar[Presets] = {
        "tiny": {"model": "tiny", "dims": (8, 12), "steps": 2, "n_histories": 40, "history_length": 8},
        "full": {"dims": (16, 32, 48, 64), "steps": 300, "n_histories": 512},
    }


def width_point(n_embd: int, preset: str, steps: int, n_histories: int, history_length: int, device: str,
                seed: int, run_root: str) -> dict[str, Any]:
    """Train a model of width ``n_embd`` for ``steps`` steps (so LayerNorm's shift is no longer 0), then
    ``experiments.hidden_dim`` on ``L(H, {∅})`` of validation windows."""
    from experiments import hidden_dim
    from llm_bridge import train_shakespeare

    from .transformer import corpus_of, hf_model

    run = Path(run_root) / f"n_embd{n_embd}-seed{seed}-steps{steps}"
    res = train_shakespeare(run, preset=preset, steps=max(steps, 1), checkpoint_every=max(steps, 1),
                            seed=seed, progress=False, device=device, n_embd=n_embd,
                            n_head=2 if n_embd % 4 else 4)
    cfg = hidden_dim.Config(n_histories=n_histories, history_length=history_length)
    inputs = ModelInputs.of(hf_model(str(res.checkpoints[-1][1]), device), corpus_of(None).validation)
    r = hidden_dim.run(inputs, cfg, rng=seed)
    return {"n_embd": n_embd, "estimate": int(r.estimate), "gap": float(r.gap), "s": r.singular_values,
            "n_histories": n_histories, "steps": steps}


def compute(config: Config, cache: FigureCache) -> dict[str, Any]:
    fn = functools.partial(width_point, run_root=str(cache.directory / "runs"))
    models = [cache.step(f"n_embd_{d}", fn, n_embd=d, preset=config.model, steps=config.steps,
                         n_histories=config.n_histories, history_length=config.history_length,
                         device=config.device, seed=config.seed)
              for d in config.dims]
    return {"models": models}


def make(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    models = res["models"]
    fig, axes = subplots(2, width=4.3, height=3.5)
    ax = axes[0, 0]
    true = np.array([m["n_embd"] for m in models], dtype=float)
    est = np.array([m["estimate"] for m in models], dtype=float)
    lim = [0, max(true.max(), est.max()) * 1.15]
    ax.plot(lim, lim, "k--", lw=1, label="y = x (exact recovery)")
    ax.plot(true, est, "o", ms=6, color=COLORS[0], label="largest-gap estimate")
    for t, e in zip(true, est, strict=True):
        ax.annotate(f"{int(e)}", (t, e), textcoords="offset points", xytext=(6, -10), fontsize=8)
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel("true hidden size n_embd")
    ax.set_ylabel("estimated rank of L(H, {∅})")
    ax.set_title("recovery from logits alone")
    ax.legend(loc="upper left")
    ax = axes[0, 1]
    for c, m in zip(COLORS, models, strict=False):
        s = np.asarray(m["s"], dtype=float)
        i = np.arange(1, s.size + 1)
        ax.semilogy(i, s / s[0], "-", lw=1.2, color=c, label=f"n_embd={m['n_embd']} (est. {m['estimate']})")
        ax.axvline(m["estimate"] + 0.5, color=c, ls=":", lw=1)
    ax.set_xlabel("index i (singular value rank)")
    ax.set_ylabel("σ_i / σ_1 (log scale)")
    ax.set_title(f"spectra of L(H, {{∅}}), |H|={models[0]['n_histories']}")
    legend_below(ax, markerscale=1)
    return save(fig, out_dir, NAME)


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    models = res["models"]
    numbers = {f"n_embd={m['n_embd']}": m["estimate"] for m in models}
    numbers["largest log-gap (nats)"] = [m.get("gap") for m in models]
    paper = {"rule": PAPER["hidden_dim"]}
    errs = [m["estimate"] - m["n_embd"] for m in models]
    exact = sum(abs(e) <= 1 for e in errs)
    verdict = (f"Recovered {exact}/{len(models)} widths within ±1 (errors "
               f"{', '.join(f'{e:+d}' for e in errs)}), "
               + ("matching the rank ≤ d_model(+1) rule." if exact == len(models)
                  else "so the gap rule misses some widths here.")
               + f" Largest gaps: {', '.join(fmt(m.get('gap'), 2) for m in models)} nats.")
    return {"numbers": numbers, "paper": paper, "verdict": verdict}
