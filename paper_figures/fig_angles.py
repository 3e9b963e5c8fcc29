"""Figure 4: principal-angle cosines between column spaces of rank-r approximations.

Pairs compared (each matrix ``L(H, ·)`` shares its histories, so the column spaces live in ``R^|H|``):
real futures vs nonsense (permuted) futures of the trained transformer; the trained transformer vs a
second model trained from another seed; and the cosines between random r-dimensional subspaces of the
same ambient dimension (the baseline). The paper finds the first two mostly near 1. The matrices are
centered over histories (a mean direction shared by all histories would give one cosine near 1 for any
pair); the uncentered cosines are reported beside them. The verdict compares each pair's fraction of
cosines above 0.9 and its mean cosine with the spread of 200 random pairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.ticker as mticker
import numpy as np

from experiments.angles import COS_THRESHOLD
from logitrank.paper import PAPER

from .plotting import COLORS, legend_below, save, subplots
from .report import fmt

NAME = "angles"
TITLE = "Principal-angle cosines: real vs nonsense futures, model vs model, random baseline"
EXPERIMENT = "angles"  # experiments.angles on the shared transformer (its second seed: model vs model)
INPUTS = "transformer"

PAIRS = {"real_vs_nonsense": "real vs nonsense futures", "model_vs_model": "model vs model (two seeds)",
         "random_baseline": "random subspaces (baseline)"}


def plot(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    fig, axes = subplots(1, width=5.0, height=4.4)
    ax = axes[0, 0]
    styles = {"real_vs_nonsense": ("o-", COLORS[0]), "model_vs_model": ("s-", COLORS[1]),
              "random_baseline": ("x--", "0.4")}
    for key, label in PAIRS.items():
        cos = np.asarray(res[key], dtype=float)
        mk, c = styles[key]
        ax.plot(np.arange(1, cos.size + 1), cos, mk, ms=3.5, color=c,
                label=f"{label}: mean {cos.mean():.2f}")
    ax.set_ylim(-0.02, 1.05)
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.set_xlabel("principal angle index j (sorted, largest cosine first)")
    ax.set_ylabel("cos θ_j (dimensionless)")
    for key in ("real_vs_nonsense", "model_vs_model"):
        if res.get(f"{key}_uncentered") is not None:
            cos = np.asarray(res[f"{key}_uncentered"], dtype=float)
            mk, c = styles[key]
            ax.plot(np.arange(1, cos.size + 1), cos, mk[0] + ":", ms=2.5, color=c, alpha=0.45,
                    label=f"{PAIRS[key]}, uncentered: mean {cos.mean():.2f}")
    ax.axhline(COS_THRESHOLD, color="0.7", lw=0.8, ls="-")
    ax.set_title(f"column spaces of rank-{res['rank']} approximations, |H|={res['n_histories']}"
                 + ("\ncentered over histories (dotted: uncentered)" if res.get("centered") else ""),
                 fontsize=9)
    legend_below(ax, markerscale=1)
    return save(fig, out_dir, NAME)


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    thr = COS_THRESHOLD
    pairs = [k for k in ("real_vs_nonsense", "model_vs_model") if res.get(k) is not None]
    means = {k: float(np.mean(res[k])) for k in [*pairs, "random_baseline"]}
    frac = {k: float(np.mean(np.asarray(res[k]) > thr)) for k in [*pairs, "random_baseline"]}
    rnd_frac = np.asarray(res.get("random_fraction_above", [frac["random_baseline"]]), dtype=float)
    rnd_mean = np.asarray(res.get("random_mean_cosine", [means["random_baseline"]]), dtype=float)
    tag = " (centered)" if res.get("centered") else ""
    numbers: dict[str, Any] = {}
    for k in pairs:
        numbers[f"mean cosine, {PAIRS[k]}{tag}"] = means[k]
        numbers[f"fraction of cosines > {thr:g}, {PAIRS[k]}{tag}"] = frac[k]
        if res.get(f"{k}_uncentered") is not None:
            numbers[f"mean cosine, {PAIRS[k]} (uncentered)"] = float(np.mean(res[f"{k}_uncentered"]))
    q_frac, q_mean = float(np.quantile(rnd_frac, 0.99)), float(np.quantile(rnd_mean, 0.99))
    rnd = PAIRS["random_baseline"]
    numbers[f"mean cosine, {rnd}"] = (f"{fmt(means['random_baseline'])} (99th percentile over "
                                      f"{rnd_mean.size} pairs {fmt(q_mean)})")
    numbers[f"fraction of cosines > {thr:g}, {rnd}"] = (
        f"{fmt(frac['random_baseline'])} (99th percentile over {rnd_frac.size} pairs {fmt(q_frac)})")
    paper = {f"mean cosine, {PAIRS[k]}{tag}": "mostly near 1" for k in pairs}
    paper[f"mean cosine, {PAIRS['random_baseline']}"] = "far below the others"
    parts, beyond = [], []
    for k in pairs:
        above = frac[k] > q_frac and means[k] > q_mean
        beyond.append(above)
        parts.append(f"{PAIRS[k]}: mean {fmt(means[k])}, {100 * frac[k]:.0f}% of cosines above {thr:g}")
    near_one = [PAIRS[k] for k in pairs if frac[k] >= 0.5]
    rnd_m, rnd_f = means["random_baseline"], frac["random_baseline"]
    verdict = (f"Centered over histories, {'; '.join(parts)}; random subspaces: mean {fmt(rnd_m)}, "
               f"{100 * rnd_f:.0f}% above {thr:g} (99th percentiles over {rnd_mean.size} random "
               "pairs: "
               f"mean {fmt(q_mean)}, fraction {fmt(q_frac)}). "
               + (f"{' and '.join(PAIRS[k] for k, b in zip(pairs, beyond, strict=True) if b)} lie beyond the "
                  "random baseline's 99th percentile in both" if any(beyond) else
                  "no pair lies beyond the random baseline's 99th percentile in both")
               + ("" if all(beyond) or not any(beyond) else
                  f" ({' and '.join(PAIRS[k] for k, b in zip(pairs, beyond, strict=True) if not b)} "
                  "does not)")
               + "; " + (f"most cosines exceed {thr:g} for {' and '.join(near_one)}" if near_one else
                         f"for no pair do most cosines exceed {thr:g}")
               + f" (paper: {PAPER['angles']}).")
    return {"numbers": numbers, "paper": paper, "verdict": verdict}
