"""Figure 3: emergence of low rank during training — alpha and low-rank KL across checkpoints.

For each saved checkpoint of the shared transformer (step 0 included) the same top-k extended matrix
``L_k(H, F)`` is measured: its power-law exponent alpha (with the bootstrap interval) and the average KL of
its rank-r truncation (with its standard error over histories). The paper reports alpha ~ 0.374 at step 0
of OLMo-1b and ~ 0.536 for OLMo-7b, and a low-rank KL that drops sharply early, then drifts up slowly;
the verdict tests that shape (``experiments.emergence.emergence_shape``) from the checkpoints. A view of
:mod:`experiments.emergence` (``plot`` and ``summarize`` of its ``Result.to_dict()``; the KL shown is the one
at the result's first rank).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.ticker as mticker
import numpy as np

from experiments.emergence import emergence_shape
from logitrank.paper import PAPER

from .plotting import COLORS, legend_below, save, subplots
from .report import fmt

NAME = "emergence"
TITLE = "Emergence of low logit rank across training checkpoints"
EXPERIMENT = "emergence"  # experiments.emergence over the shared transformer's checkpoint series
INPUTS = "checkpoints"


def checkpoints(res: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per checkpoint of the experiment's result (``step``, ``alpha``, its interval ``ci``, the KL
    of the truncation at the result's first rank ``kl`` with its standard error ``kl_se``, ``val_loss``)."""
    n = len(res["steps"])
    se = res.get("kl_se")
    val = res.get("val_loss") or [None] * n
    return [{"step": int(res["steps"][i]), "alpha": float(res["alpha"][i]),
             "ci": [float(res["alpha_lo"][i]), float(res["alpha_hi"][i])], "kl": float(res["kl"][i][0]),
             "kl_se": None if se is None else float(se[i][0]), "val_loss": val[i]} for i in range(n)]


def _xsteps(steps: np.ndarray) -> np.ndarray:
    """Plot positions: step 0 drawn at 1/3 of the first non-zero step so a log axis can show it."""
    pos = steps.astype(float).copy()
    nz = pos[pos > 0]
    pos[pos == 0] = (nz.min() / 3) if nz.size else 1.0
    return pos


def _mark_step0(ax: Any, x: np.ndarray, steps: np.ndarray) -> None:
    ax.set_xscale("log")
    ax.set_xticks(x, [str(int(s)) for s in steps], fontsize=7)
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    if (steps == 0).any():
        ax.axvline(x[steps == 0][0] * 1.4, color="0.6", lw=0.8, ls="-")
    ax.set_xlabel("training step (log scale; step 0 drawn left of the grey line)")


def plot(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    cps = checkpoints(res)
    steps = np.array([c["step"] for c in cps])
    x = _xsteps(steps)
    alpha = np.array([c["alpha"] for c in cps])
    lo = np.array([c["ci"][0] for c in cps])
    hi = np.array([c["ci"][1] for c in cps])
    fig, axes = subplots(2, width=4.4, height=4.2)
    ax = axes[0, 0]
    ax.errorbar(x, alpha, yerr=[alpha - lo, hi - alpha], fmt="o-", ms=4, capsize=2, color=COLORS[0],
                label="our transformer (95% bootstrap)")
    ax.axhline(0.5, color="k", ls="--", lw=1, label="α = 1/2")
    ax.axhline(PAPER["alpha_olmo7b"], color=COLORS[1], ls=":", lw=1.2,
               label=f"paper, OLMo-7b ({PAPER['alpha_olmo7b']})")
    ax.axhline(PAPER["alpha_olmo1b_step0"], color=COLORS[3], ls=":", lw=1.2,
               label=f"paper, OLMo-1b step 0 ({PAPER['alpha_olmo1b_step0']})")
    _mark_step0(ax, x, steps)
    ax.set_ylabel("power-law exponent α")
    ax.set_title("α of L_k(H,F) during training")
    legend_below(ax, markerscale=1)
    ax = axes[0, 1]
    kl = np.array([c["kl"] for c in cps])
    kse = np.array([c.get("kl_se") or 0.0 for c in cps])
    ax.errorbar(x, kl, yerr=2 * kse, fmt="s-", ms=4, capsize=2, color=COLORS[2],
                label=f"rank-{int(res['ranks'][0])} truncation (± 2 SE over histories)")
    ax.set_yscale("log")
    if any(c.get("val_loss") is not None for c in cps):
        ax2 = ax.twinx()
        has = [i for i, c in enumerate(cps) if c["val_loss"] is not None]
        ax2.plot(x[has], [cps[i]["val_loss"] for i in has], "^:", ms=3.5, color=COLORS[4],
                 label="validation loss")
        ax2.set_ylabel("validation loss (nats/token)")
        ax2.grid(False)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    else:
        legend_below(ax, markerscale=1)
    _mark_step0(ax, x, steps)
    ax.set_ylabel("average KL(true ‖ rank-r) (nats per block)")
    ax.set_title("low-rank KL during training")
    return save(fig, out_dir, NAME)


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    cps = checkpoints(res)
    first, last = cps[0], cps[-1]
    r = int(res["ranks"][0])
    numbers: dict[str, Any] = {
        "alpha by step [95% bootstrap]": "; ".join(f"{c['step']}: {fmt(c['alpha'])} [{fmt(c['ci'][0])}, "
                                                   f"{fmt(c['ci'][1])}]" for c in cps),
        f"KL rank {r} by step (± SE over histories)": "; ".join(
            f"{c['step']}: {fmt(c['kl'])} ± {fmt(c.get('kl_se') or float('nan'))}" for c in cps)}
    paper = {"alpha by step [95% bootstrap]": f"{PAPER['alpha_olmo1b_step0']} at step 0 (OLMo-1b) → "
                                              f"{PAPER['alpha_olmo7b']} (OLMo-7b, fully trained)",
             f"KL rank {r} by step (± SE over histories)": "drops sharply early, then drifts up slowly"}
    steps = np.array([c["step"] for c in cps])
    kl = np.array([c["kl"] for c in cps])
    se = np.array([c.get("kl_se") or 0.0 for c in cps])
    verdict = ""
    if len(cps) >= 3:
        sh = emergence_shape(steps, kl, se)
        numbers[f"KL rank {r}: drop to the minimum (step {sh['min_step']}), then rise to the last"] = (
            f"drop {fmt(sh['drop'])} ± {fmt(sh['drop_se'])}, rise {fmt(sh['rise'])} ± {fmt(sh['rise_se'])}")
        paper[f"KL rank {r}: drop to the minimum (step {sh['min_step']}), then rise to the last"] = \
            "sharp early drop, slow rise"
        parts = [("a drop beyond 2 SE" if sh["drops"] else "no drop beyond 2 SE"),
                 ("reached in the first half of training" if sh["early"] else "not reached early"),
                 ("a later rise beyond 2 SE" if sh["rises"] else "no later rise beyond 2 SE"),
                 ("smaller than the drop" if sh["slower"] else "not smaller than the drop")]
        verdict = (f"The rank-{r} KL goes from {fmt(kl[0])} at step 0 to its minimum {fmt(kl.min())} at step "
                   f"{sh['min_step']} and ends at {fmt(kl[-1])} (step {last['step']}): {', '.join(parts)}; "
                   "so "
                   f"the paper's shape (sharp early drop, slow upward drift) "
                   f"{'holds' if sh['shape_holds'] else 'does not hold'} here. ")
    above = [c["step"] for c in cps if c["ci"][0] > 0.5]
    below = [c["step"] for c in cps if c["ci"][1] < 0.5]
    cross = ("above 1/2 (interval) at every checkpoint" if len(above) == len(cps) else
             (f"above 1/2 (interval) from step {above[0]}" if above else "never above 1/2 by its interval")
             + (f", below 1/2 (interval) at steps {', '.join(map(str, below))}" if below else ""))
    rise = ("a rise beyond the intervals" if first["ci"][1] < last["ci"][0] else
            "a fall beyond the intervals" if first["ci"][0] > last["ci"][1]
            else "no change beyond the intervals")
    verdict += (f"α is {fmt(first['alpha'])} [{fmt(first['ci'][0])}, {fmt(first['ci'][1])}] at step 0 and "
                f"{fmt(last['alpha'])} [{fmt(last['ci'][0])}, {fmt(last['ci'][1])}] at step {last['step']} "
                f"({rise}; paper: {PAPER['alpha_olmo1b_step0']} → {PAPER['alpha_olmo7b']}); it is {cross}.")
    return {"numbers": numbers, "paper": paper, "verdict": verdict}
