"""Figure 1: singular values of extended logit matrices with the fitted power law ``sigma_i ~ C i^-alpha``.

Left panel: synthetic families (a random time-varying ISAN, a planted power-law spectrum, an HMM and an
n-gram), each normalised by its top singular value. Right panel: the trained transformer's top-k extended
logit matrix ``L_k(H, F)`` with its fit, the same model at initialisation (step 0), and a dashed
``alpha = 1/2`` reference through the same first singular value. ``k = 50``, the paper's.

Beside the bootstrap interval of the fit, the report carries the other uncertainties of alpha: its
spread over independent draws of ``(H, F)`` (at a smaller ``|H|``, stated), its dependence on the fit
range (one spectrum refit over four ranges), and the paper's two ablations (``k`` uniformly random tokens
per future on the same ``H, F``; top-200 tokens with ``F = H``). A view of :mod:`experiments.spectra`
(``plot`` and ``summarize`` of its ``Result.to_dict()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from logitrank.paper import PAPER

from .plotting import COLORS, legend_below, save, subplots
from .report import fmt

NAME = "spectra"
TITLE = "Singular values of extended logit matrices and their power-law fits"
EXPERIMENT = "spectra"  # experiments.spectra: synthetic families + the shared transformer's checkpoints
INPUTS = "checkpoints"


def _fit_line(entry: dict[str, Any], s1: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = entry["fit_range"]
    idx = np.arange(lo, hi + 1, dtype=float)
    return idx, entry["C"] * idx ** (-entry["alpha"]) / s1


def _label(prefix: str, e: dict[str, Any]) -> str:
    return f"{prefix}: α={e['alpha']:.3f} [{e['ci'][0]:.3f}, {e['ci'][1]:.3f}]"


def plot(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Plot to ``<out_dir>/spectra.png|pdf``."""
    fig, axes = subplots(2, width=4.6, height=4.6)
    ax = axes[0, 0]
    for c, e in zip(COLORS, res["families"].values(), strict=False):
        s = np.asarray(e["s"], dtype=float)
        s1 = s[0]
        i = np.arange(1, len(s) + 1)
        keep = s > 1e-12 * s1
        ax.loglog(i[keep], s[keep] / s1, ".", ms=3, color=c, label=_label(e["label"], e))
        xi, yi = _fit_line(e, s1)
        ax.loglog(xi, yi, "-", lw=1, color=c, alpha=0.8)
    ax.set_xlabel("index i (singular value rank)")
    ax.set_ylabel("σ_i / σ_1 (dimensionless)")
    ax.set_title(f"synthetic models, L(H, F)\n|H| ≤ {max(e['shape'][0] for e in res['families'].values())}")
    legend_below(ax)
    ax = axes[0, 1]
    lm, lm0 = res["transformer"], res["transformer_step0"]
    for c, (e, pre) in zip((COLORS[0], COLORS[3]), ((lm, "trained"), (lm0, "step 0")), strict=True):
        s = np.asarray(e["s"], dtype=float)
        s1 = float(s[0])
        i = np.arange(1, len(s) + 1)
        ax.loglog(i, s / s1, ".", ms=3, color=c, label=_label(f"{pre} ({e['steps']} steps)", e))
        xi, yi = _fit_line(e, s1)
        ax.loglog(xi, yi, "-", lw=1.2, color=c)
    abl = res.get("ablations", {})
    kinds = (("random_tokens", "ablation: random tokens"), ("futures_eq_histories", "ablation: F = H"))
    for c, (kind, pre) in zip((COLORS[1], COLORS[2]), kinds, strict=True):
        if kind in abl:
            e = abl[kind]
            s = np.asarray(e["s"], dtype=float)
            ax.loglog(np.arange(1, len(s) + 1), s / s[0], "x", ms=2.5, color=c, alpha=0.7,
                      label=_label(f"{pre}, k={e['k']}, {e['shape'][0]}×{e['shape'][1]}", e))
    lo = lm["fit_range"][0]
    ref = np.arange(lo, len(lm["s"]) + 1, dtype=float)
    start = lm["C"] * lo ** (-lm["alpha"]) / float(np.asarray(lm["s"])[0])
    ax.loglog(ref, start * (ref / lo) ** -0.5, "k--", lw=1, label="α = 1/2 reference (from the fit's start)")
    ax.set_xlabel("index i (singular value rank)")
    ax.set_ylabel("σ_i / σ_1 (dimensionless)")
    ax.set_title("Shakespeare transformer, top-k matrix L_k(H, F)\n"
                 f"|H| = {lm['shape'][0]}, |F|·k = {lm['shape'][1]}, "
                 f"k = {lm['k']}")
    legend_below(ax)
    return save(fig, out_dir, NAME)


def interval_verdict(a: float, ci_a: Any, b: float, ci_b: Any) -> str:
    """``"higher"``/``"lower"`` when the intervals of ``a`` and ``b`` are disjoint, else ``"overlap"``."""
    if float(ci_a[0]) > float(ci_b[1]):
        return "higher"
    if float(ci_a[1]) < float(ci_b[0]):
        return "lower"
    return "overlap"


def _ci(e: dict[str, Any]) -> str:
    return f"{fmt(e['alpha'])} [{fmt(e['ci'][0])}, {fmt(e['ci'][1])}]"


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    lm, lm0 = res["transformer"], res["transformer_step0"]
    numbers: dict[str, Any] = {f"alpha transformer (trained, k = {lm['k']})": lm["alpha"],
                               "alpha interval (trained, 95% bootstrap)": lm["ci"],
                               "alpha transformer (step 0)": lm0["alpha"],
                               "alpha interval (step 0, 95% bootstrap)": lm0["ci"],
                               "transformer training steps": lm["steps"],
                               "validation loss at the final step (nats/token)": lm.get("val_loss")}
    paper: dict[str, Any] = {f"alpha transformer (trained, k = {lm['k']})":
                             f"{PAPER['alpha_olmo7b']} (OLMo-7b, k = {PAPER['alpha_top_k']})",
                             "alpha transformer (step 0)": f"{PAPER['alpha_olmo1b_step0']} (OLMo-1b)"}
    draws = res.get("draws")
    if draws:
        key = f"alpha over {len(draws['alpha'])} independent (H, F) draws, |H| = |F| = {draws['n_histories']}"
        numbers[key] = (f"mean {fmt(draws['mean'])}, sd {fmt(draws['sd'])} (range {fmt(min(draws['alpha']))}–"
                        f"{fmt(max(draws['alpha']))}); mean bootstrap half-width "
                        f"{fmt(draws['bootstrap_half_width'])}")
    for name, e in lm.get("fit_ranges", {}).items():
        numbers[f"alpha, fit range i = {name} ({e['range'][0]}..{e['range'][1]})"] = (
            f"{_ci(e)}, R² {fmt(e['r_squared'])}")
    abl = res.get("ablations", {})
    for kind, label in (("random_tokens", "random tokens"), ("futures_eq_histories", "futures = histories")):
        if kind in abl:
            e = abl[kind]
            key = f"alpha ablation: {label}, k = {e['k']}, shape {e['shape'][0]}×{e['shape'][1]}"
            numbers[key] = _ci(e)
            paper[key] = f"{PAPER['alpha_ablation_' + kind]} (k = {PAPER['alpha_ablation_' + kind + '_k']})"
    for fam, e in res["families"].items():
        numbers[f"alpha {fam}"] = e["alpha"]
        if e.get("alpha_true") is not None:
            numbers[f"alpha {fam} (planted truth)"] = e["alpha_true"]
    return {"numbers": numbers, "paper": paper, "verdict": _verdict(res)}


def _verdict(res: dict[str, Any]) -> str:
    lm, lm0 = res["transformer"], res["transformer_step0"]
    a, a0 = lm["alpha"], lm0["alpha"]
    half = "above" if lm["ci"][0] > 0.5 else "below" if lm["ci"][1] < 0.5 else "not distinguishable from"
    paper_side = "above" if PAPER["alpha_olmo7b"] > 0.5 else "below"
    change = {"higher": "raised α, as in the paper", "lower": "lowered α, unlike the paper",
              "overlap": "left α within the intervals (no change can be claimed; the paper's rose)"}[
        interval_verdict(a, lm["ci"], a0, lm0["ci"])]
    step0_side = ("above" if lm0["ci"][0] > 0.5 else "below" if lm0["ci"][1] < 0.5
                  else "not distinguishable from")
    verdict = (f"Our trained transformer (k = {lm['k']}) has α = {_ci(lm)}, {half} 1/2 (the paper's OLMo-7b: "
               f"{PAPER['alpha_olmo7b']}, {paper_side}); at step 0 α = {_ci(lm0)}, {step0_side} 1/2 "
               f"(paper: {PAPER['alpha_olmo1b_step0']}, below), so training {change}.")
    draws = res.get("draws")
    if draws:
        ratio = draws["sd"] / draws["bootstrap_half_width"] if draws["bootstrap_half_width"] > 0 else np.inf
        verdict += (f" Over {len(draws['alpha'])} independent (H, F) draws at |H| = {draws['n_histories']} "
                    "α has "
                    f"sd {fmt(draws['sd'])}, {fmt(ratio, 2)}× the mean bootstrap half-width"
                    + (" (the bootstrap understates the window-sampling spread)" if ratio > 1 else
                       " (the bootstrap interval covers the window-sampling spread)") + ".")
    ranges = lm.get("fit_ranges", {})
    if ranges:
        vals = [e["alpha"] for e in ranges.values()]
        verdict += (f" Over the {len(ranges)} fit ranges α spans {fmt(min(vals))}–{fmt(max(vals))} "
                    f"(a spread of {fmt(max(vals) - min(vals))} against the default interval's width "
                    f"{fmt(lm['ci'][1] - lm['ci'][0])}).")
    for kind, label in (("random_tokens", "random tokens"), ("futures_eq_histories", "F = H, top-200")):
        e = res.get("ablations", {}).get(kind)
        if e:
            rel = {"higher": "above", "lower": "below", "overlap": "within the intervals of"}[
                interval_verdict(e["alpha"], e["ci"], a, lm["ci"])]
            pap = PAPER["alpha_ablation_" + kind]
            prel = "above" if pap > PAPER["alpha_olmo7b"] else "below"
            verdict += (f" Ablation {label}: α = {_ci(e)}, {rel} the main matrix's (paper: {pap}, "
                        f"{prel} its {PAPER['alpha_olmo7b']}).")
    planted = res["families"].get("planted")
    if planted and planted.get("alpha_true") is not None:
        covered = planted["ci"][0] <= planted["alpha_true"] <= planted["ci"][1]
        verdict += (f" The planted spectrum's fit recovers α = {_ci(planted)} against the planted "
                    f"{fmt(planted['alpha_true'])} ({'inside' if covered else 'outside'} the interval).")
    return verdict
