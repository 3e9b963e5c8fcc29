"""Figure 9: hidden dimension recovered from logits vs the true ``n_embd`` — a view of the experiment
:mod:`experiments.hidden_dim_width` (``plot`` and ``summarize`` of its ``Result.to_dict()``).

For small GPT-2 models of several widths (briefly trained so LayerNorm's shift is non-zero), the rank of
the centered single-token matrix ``L(H, {∅})`` is estimated from the largest gap in its log singular values
(``logitrank.hidden_dim``). Left: estimate vs truth with the ``y = x`` line. Right: the normalised log
spectra with each estimate marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from logitrank.paper import PAPER

from .plotting import COLORS, legend_below, save, subplots
from .report import fmt

NAME = "hidden_dim"
TITLE = "Hidden dimension recovered from the logits vs the true n_embd"
EXPERIMENT = "hidden_dim_width"  # experiments.hidden_dim_width: its Config presets size this figure
INPUTS = "training"


def widths(res: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per width (``n_embd``, ``estimate``, ``gap``, ``s``) of the experiment's result."""
    return [{"n_embd": int(n), "estimate": int(e), "gap": float(g), "s": s}
            for n, e, g, s in zip(res["n_embd"], res["estimate"], res["gap"], res["singular_values"],
                                  strict=True)]


def plot(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    models = widths(res)
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
    ax.set_title(f"spectra of L(H, {{∅}}), |H|={res['n_histories']}")
    legend_below(ax, markerscale=1)
    return save(fig, out_dir, NAME)


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    models = widths(res)
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
