"""Cost to eps: the queries GLS2's learner needs to reach a TV target, vs d, V, T and 1/eps, with intervals.

A view of the experiment :mod:`experiments.cost_to_eps` (``plot`` and ``summarize`` of its
``Result.to_dict()``). One panel per axis: each seed's cost (bisection on the query budget,
:func:`theory.cost_to_eps.cost_to_eps`), the median, the fitted power law ``C x^k`` with its 95% bootstrap
interval, and the affine law ``a + b x`` it is tested against (the verdict is the fraction of bootstrap
resamples in which the power law fits better).  The theory's exponents (GLS2's exact-rank robust bound
``O~(T^13 d^4 / eps^4)``) are worst-case upper bounds and are written beside the measured ones, not drawn
as predictions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.ticker as mticker
import numpy as np

from .plotting import COLORS, legend_below, save, subplots
from .report import fmt

NAME = "cost_to_eps"
TITLE = "Cost to eps: queries of GLS2's learner to reach a TV target vs d, V, T, 1/eps"

EXPERIMENT = "cost_to_eps"  # experiments.cost_to_eps: its Config presets size this figure
INPUTS = "none"

LABELS = {"d": "hidden dimension d", "V": "vocabulary V", "T": "horizon T", "inv_eps": "1 / eps (TV target)"}


def _panel(ax: Any, axis: str, data: dict[str, Any]) -> None:
    values = np.asarray(data["values"], dtype=float)
    for v, per in zip(values, data["rows"]):
        q = [r["queries"] for r in per]
        ax.plot(np.full(len(q), v), q, "o", ms=3, color=COLORS[0], alpha=0.45)
    med = [float(np.median([r["queries"] for r in per])) for per in data["rows"]]
    ax.plot(values, med, "s", ms=5, color=COLORS[0], label="median over seeds")
    fit, grid = data.get("fit_queries"), np.geomspace(values.min(), values.max(), 50)
    if fit:
        lo, hi = fit["exponent_ci"]
        ax.plot(grid, np.exp(fit["log_c"]) * grid ** fit["exponent"], "-", color=COLORS[1],
                label=f"power: k = {fmt(fit['exponent'])} [{fmt(lo)}, {fmt(hi)}]")
        a, b = fit["affine"]
        ax.plot(grid, a + b * grid, "--", color="0.35",
                label=f"affine a + bx; power wins {fit['power_wins']:.2f} → {fit['verdict']}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())  # the points' own values label the axis
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.set_xlabel(LABELS[axis])
    ax.set_ylabel("queries to reach TV ≤ eps")
    bound = data["theory_exponent"]
    ax.set_title(f"vs {LABELS[axis]}" + (f" (GLS2 worst-case bound: exponent {bound:g})" if np.isfinite(bound)
                                         else " (GLS2 states no V exponent)"), fontsize=9)
    legend_below(ax, markerscale=1)


def plot(result: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """One panel per axis of the result (see the module docstring)."""
    axes_data = result["axes"]
    ncols = min(2, len(axes_data))
    fig, axes = subplots(ncols, -(-len(axes_data) // ncols), width=4.4, height=3.9)
    for ax, (axis, data) in zip(np.ravel(axes), axes_data.items()):
        _panel(ax, axis, data)
    return save(fig, out_dir, NAME)


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """Exponents with intervals, the power-vs-affine verdicts and the theory's bounds; the verdict says
    which axes have enough points (>= 6 over >= 1.5 decades) for an exponent at all."""
    numbers: dict[str, Any] = {}
    verdicts = []
    for axis, data in result["axes"].items():
        fit = data.get("fit_queries")
        if not fit:
            verdicts.append(f"{axis}: no fit ({data.get('fit_queries_error', 'too few points')})")
            continue
        lo, hi = fit["exponent_ci"]
        enough = len(data["values"]) >= 6 and fit["decades"] >= 1.5
        numbers[f"queries exponent in {axis}"] = f"{fmt(fit['exponent'])} [{fmt(lo)}, {fmt(hi)}]"
        numbers[f"power vs affine in {axis}"] = f"{fit['verdict']} (power wins {fit['power_wins']:.2f})"
        val = data.get("fit_validated_queries")
        if val:
            vlo, vhi = val["exponent_ci"]
            numbers[f"validated-fit exponent in {axis}"] = f"{fmt(val['exponent'])} [{fmt(vlo)}, {fmt(vhi)}]"
        below = hi < data["theory_exponent"] if np.isfinite(data["theory_exponent"]) else True
        verdicts.append(f"{axis}: k = {fmt(fit['exponent'])} [{fmt(lo)}, {fmt(hi)}], {fit['verdict']}"
                        f"{'' if enough else ' (too few points / decades for an exponent claim)'}"
                        f"{'' if below else ', NOT below the theory bound'}")
    paper = {f"queries exponent in {a}": f"<= {fmt(data['theory_exponent'])} (GLS2 worst-case bound)"
             for a, data in result["axes"].items() if np.isfinite(data["theory_exponent"])}
    return {"numbers": numbers, "paper": paper, "verdict": "; ".join(verdicts) + "."}
