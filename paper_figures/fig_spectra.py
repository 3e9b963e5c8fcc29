"""Figure 1: singular values of extended logit matrices with the fitted power law ``sigma_i ~ C i^-alpha``.

Left panel: synthetic families (a random time-varying ISAN, a planted power-law spectrum, an HMM and an
n-gram), each normalised by its top singular value. Right panel: the trained transformer's top-k extended
logit matrix ``L_k(H, F)`` with its fit, the same model at initialisation (step 0), and a dashed
``alpha = 1/2`` reference through the same first singular value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from . import steps as ex
from .pipeline import ReproduceConfig, figure_cache
from .plotting import COLORS, legend_below, save, subplots
from .report import PAPER, fmt
from .store import StepCache

NAME = "spectra"
TITLE = "Singular values of extended logit matrices and their power-law fits"

#: synthetic families shown, in legend order: (family, dim multiplier, family options)
FAMILIES: tuple[tuple[str, int, dict[str, Any]], ...] = (
    ("isan", 1, {}), ("planted", 4, {"alpha": 0.7}), ("hmm", 1, {}), ("ngram", 4, {}))


def compute(config: ReproduceConfig, cache: StepCache) -> dict[str, Any]:
    """Spectra and fits of each synthetic family and of the transformer (final checkpoint and step 0)."""
    fams = {}
    for i, (fam, mult, kw) in enumerate(FAMILIES):
        fams[fam] = cache.step(f"synthetic_{fam}", ex.synthetic_spectrum, family=fam,
                               vocab=config.syn_vocab, dim=mult * config.syn_dim, horizon=config.syn_horizon,
                               n_histories=config.syn_histories, n_futures=config.syn_futures,
                               seed=config.seed + i, **kw)
    lm = ex.transformer_spectrum(config, cache, checkpoint="final", name="transformer")
    lm0 = ex.transformer_spectrum(config, cache, checkpoint=0, name="transformer_step0")
    return {"families": fams, "transformer": lm, "transformer_step0": lm0}


def _fit_line(entry: dict[str, Any], s1: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = entry["fit_range"]
    idx = np.arange(lo, hi + 1, dtype=float)
    return idx, entry["C"] * idx ** (-entry["alpha"]) / s1


def _label(prefix: str, e: dict[str, Any]) -> str:
    return f"{prefix}: α={e['alpha']:.3f} [{e['ci'][0]:.3f}, {e['ci'][1]:.3f}]"


def make(results_or_config: dict[str, Any] | ReproduceConfig, out_dir: str | Path) -> list[Path]:
    """Plot to ``<out_dir>/spectra.png|pdf`` (computing first when given a config)."""
    res = results_or_config
    if isinstance(res, ReproduceConfig):
        res = compute(res, figure_cache(out_dir, NAME, res))
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


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    lm, lm0 = res["transformer"], res["transformer_step0"]
    numbers: dict[str, Any] = {"alpha transformer (trained)": lm["alpha"],
                               "alpha interval (trained)": lm["ci"],
                               "alpha transformer (step 0)": lm0["alpha"],
                               "transformer training steps": lm["steps"],
                               "validation loss at the final step (nats/token)": lm.get("val_loss")}
    for fam, e in res["families"].items():
        numbers[f"alpha {fam}"] = e["alpha"]
        if e.get("alpha_true") is not None:
            numbers[f"alpha {fam} (planted truth)"] = e["alpha_true"]
    paper = {"alpha transformer (trained)": PAPER["alpha_olmo7b"],
             "alpha transformer (step 0)": PAPER["alpha_olmo1b_step0"]}
    a, a0 = lm["alpha"], lm0["alpha"]
    side = "above" if a > 0.5 else "below"
    paper_side = "above" if PAPER["alpha_olmo7b"] > 0.5 else "below"
    verdict = (f"Our trained transformer has α = {fmt(a)} (interval {fmt(lm['ci'][0])}–{fmt(lm['ci'][1])}), "
               f"{side} 1/2{', as is' if side == paper_side else ', whereas'} the paper's OLMo-7b "
               f"(α = {PAPER['alpha_olmo7b']}{'' if side == paper_side else ' is ' + paper_side}); "
               f"at step 0 α = {fmt(a0)} "
               f"(paper: {PAPER['alpha_olmo1b_step0']}), so training "
               f"{'raised' if a > a0 else 'did not raise'} α as in the paper"
               f"{'' if a > a0 else ' — a difference'}.")
    planted = res["families"].get("planted")
    if planted and planted.get("alpha_true") is not None:
        err = abs(planted["alpha"] - planted["alpha_true"])
        verdict += (f" The planted spectrum's fit recovers α = {fmt(planted['alpha'])} against the planted "
                    f"{fmt(planted['alpha_true'])} (error {fmt(err)}).")
    return {"numbers": numbers, "paper": paper, "verdict": verdict}
