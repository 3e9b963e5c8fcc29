"""Figure 6: the alpha = 1/2 phase transition of the rank needed for a relative error eps — a view of the
experiment :mod:`experiments.phase_transition` (``plot`` and ``summarize`` of its ``Result.to_dict()``).

For the spectrum ``sigma_i = i^-alpha, i <= N`` the minimal rank ``r_eps(N)`` whose truncation has relative
squared Frobenius error ``<= eps`` is computed numerically (points, ``logitrank.approx_rank``) and from the
sympy-derived asymptotics of ``theory`` (lines): bounded in N for alpha > 1/2, linear in N for alpha < 1/2,
``N^{1-eps}``-like at alpha = 1/2. The constant for alpha > 1/2 explodes as alpha -> 1/2 (at the paper's
alpha, ``logitrank.paper.PAPER["alpha_olmo7b"]``, it exceeds any matrix we can build), which the figure
shows beside the measured points.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from logitrank.paper import PAPER

from .plotting import legend_below, save, subplots
from .report import fmt

NAME = "phase_transition"
TITLE = "The α = 1/2 phase transition: rank for relative error ε vs matrix size N"
EXPERIMENT = "phase_transition"  # experiments.phase_transition: its Config presets size this figure
INPUTS = "none"


def plot(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    import matplotlib as mpl

    sizes = np.asarray(res["sizes"], dtype=float)
    alphas = res["alphas"]
    cmap = mpl.colormaps["viridis"]
    fig, axes = subplots(1, width=5.4, height=5.0)
    ax = axes[0, 0]
    grid = np.asarray(res["theory_sizes"], dtype=float)
    constants = {float(a): c for a, c in res["constants"].items()}  # keyed by str(alpha) in the result
    for j, a in enumerate(alphas):
        c = cmap(0.9 * j / max(len(alphas) - 1, 1))
        num = np.asarray(res["numeric"][j], dtype=float)
        th = np.asarray(res["theory"][j], dtype=float)
        const = constants.get(float(a))
        extra = f" (r_ε(∞) ≈ {const:.2g})" if const is not None else ""
        ax.loglog(sizes, num, "o", ms=4.5, color=c, label=f"{a:g}{extra}")
        ok = np.isfinite(th) & (th > 0)
        ax.loglog(grid[ok], th[ok], "-", lw=1.1, color=c, alpha=0.85)
    ax.loglog(sizes, sizes, ":", color="0.5", lw=1, label="r = N")
    ax.set_ylim(0.7, sizes.max() * 2)
    ax.set_xlabel("matrix size N (number of singular values)")
    ax.set_ylabel(f"minimal rank r for relative error ε={res['eps']:g}")
    ax.set_title("points: exact $r_\\varepsilon(N)$ for $\\sigma_i = i^{-\\alpha}$\n"
                 "lines: Euler–Maclaurin formula (sympy) solved for r")
    legend_below(ax, ncols=2, markerscale=1.2, title="spectrum exponent α  (sympy constant for α > 1/2)")
    return save(fig, out_dir, NAME)


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    alphas = res["alphas"]
    sizes = res["sizes"]
    growth = {f"α={a:g}": g for a, g in zip(alphas, res["growth"], strict=True)}
    numbers = {"log-log growth exponent of r_ε in N": growth,
               "r_ε constant for α > 1/2 (theory)": {f"α={a}": c for a, c in res["constants"].items()},
               f"r_ε at N={sizes[-1]}": {f"α={a:g}": res["numeric"][j][-1] for j, a in enumerate(alphas)}}
    paper = {"log-log growth exponent of r_ε in N": "0 for α > 1/2, 1 for α < 1/2",
             "r_ε constant for α > 1/2 (theory)": f"grows without bound as α → 1/2; paper's α = "
                                                   f"{PAPER['alpha_olmo7b']}"}
    below = [g for a, g in zip(alphas, growth.values(), strict=True) if a < 0.5]
    above = [g for a, g in zip(alphas, growth.values(), strict=True) if a > 0.5]
    c536 = res.get("paper_alpha_constant")  # r_eps at the paper's alpha (computed under that name)
    verdict = (f"Below 1/2 the rank grows like N^{fmt(float(np.mean(below)) if below else float('nan'), 2)} "
               "(theory: linear); above 1/2 like "
               f"N^{fmt(float(np.mean(above)) if above else float('nan'), 2)} "
               f"over N = {sizes[0]:g}–{sizes[-1]:g}, i.e. bounded only once N passes the constant, which at "
               f"α = {PAPER['alpha_olmo7b']} is "
               f"{fmt(float(c536), 2) if c536 is not None else 'not computed here'} — "
               "so 'constant rank' at "
               f"the paper's α is a statement about matrices far larger than any measured.")
    return {"numbers": numbers, "paper": paper, "verdict": verdict}
