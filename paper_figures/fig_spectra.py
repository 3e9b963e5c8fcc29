"""Figure 1: singular values of extended logit matrices with the fitted power law ``sigma_i ~ C i^-alpha``.

Left panel: synthetic families (a random time-varying ISAN, a planted power-law spectrum, an HMM and an
n-gram), each normalised by its top singular value. Right panel: the trained transformer's top-k extended
logit matrix ``L_k(H, F)`` with its fit, the same model at initialisation (step 0), and a dashed
``alpha = 1/2`` reference through the same first singular value.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from logitrank.paper import PAPER

from .pipeline import FigureCache, Presets, merge_presets
from .plotting import COLORS, legend_below, save, subplots
from .report import fmt
from .transformer import Windows

NAME = "spectra"
TITLE = "Singular values of extended logit matrices and their power-law fits"

#: synthetic families shown, in legend order: (family, dim multiplier, family options)
FAMILIES: tuple[tuple[str, int, dict[str, Any]], ...] = (
    ("isan", 1, {}), ("planted", 4, {"alpha": 0.7}), ("hmm", 1, {}), ("ngram", 4, {}))


@dataclass(frozen=True)
class Config(Windows):
    """The transformer's ``L_k(H, F)`` (:class:`paper_figures.transformer.Windows`) and the synthetic
    models' ``L(H, F)``: ``V``, base dimension ``d``, horizon ``T``, ``|H|``, ``|F|``."""

    vocab: int = 8
    dim: int = 16
    horizon: int = 8
    syn_histories: int = 256
    syn_futures: int = 256
    PRESETS: ClassVar[Presets] = merge_presets(
        Windows.PRESETS, tiny={"vocab": 3, "dim": 3, "horizon": 5, "syn_histories": 27, "syn_futures": 13},
        full={"vocab": 16, "dim": 32, "syn_histories": 1024, "syn_futures": 1024})


def spectrum_entry(s: np.ndarray, fit: Any, **extra: Any) -> dict[str, Any]:
    """Singular values with their power-law fit, as a cacheable dict."""
    return {"s": np.asarray(s, dtype=np.float64), "alpha": fit.alpha, "ci": list(fit.alpha_ci), "C": fit.c,
            "fit_range": list(fit.index_range), "r_squared": fit.r_squared, **extra}


def synthetic_spectrum(family: str, vocab: int, dim: int, horizon: int, n_histories: int, n_futures: int,
                       seed: int, **kw: Any) -> dict[str, Any]:
    """Spectrum and power-law fit of ``L_M(H, F)`` for a synthetic model (``simulators.build_model``):
    histories of length ``horizon // 2`` and futures up to the remaining horizon."""
    from logitrank import (
        as_rng,
        extended_logit_matrix,
        fit_power_law,
        random_futures,
        random_histories,
        singular_values,
    )
    from simulators.families import build_model

    gen = as_rng(seed)
    model = build_model(family, vocab_size=vocab, dim=dim, horizon=horizon, rng=seed, **kw)
    t = horizon // 2
    H = random_histories(vocab, min(n_histories, vocab**t), t, rng=gen)
    n_f = min(n_futures, sum(vocab**m for m in range(horizon - t)))
    F = random_futures(vocab, n_f, horizon - 1 - t, rng=gen)
    L = extended_logit_matrix(model, H, F, progress=False)
    s = singular_values(L)
    alpha_true = getattr(model, "alpha", None)
    label = {"isan": f"ISAN d={dim}", "planted": f"planted α={alpha_true}, d={dim}",
             "hmm": f"HMM, {dim} states",
             "ngram": f"{getattr(model, 'order', '')}-gram"}.get(family, family)
    return spectrum_entry(s, fit_power_law(s, rng=seed), family=family, label=label, shape=list(L.shape),
                          alpha_true=None if alpha_true is None else float(alpha_true))


def transformer_spectrum(path: str, device: str, n_histories: int, history_length: int, future_length: int,
                         top_k: int, seed: int, **key: Any) -> dict[str, Any]:
    """``llm_bridge.experiments.spectrum`` of the checkpoint ``path`` on the validation plays (``key``:
    the step, its validation loss and the model key, recorded with the result)."""
    from llm_bridge.experiments import spectrum

    from .transformer import corpus_of, hf_model

    cfg = spectrum.Config(n_histories, history_length, n_histories, future_length, top_k)
    r = spectrum.run(hf_model(path, device), corpus_of(path).validation, cfg, rng=seed)
    return spectrum_entry(r.singular_values, r.fit, steps=key["step"], val_loss=key["val_loss"], k=top_k,
                          shape=list(r.shape))


def compute(config: Config, cache: FigureCache) -> dict[str, Any]:
    """Spectra and fits of each synthetic family and of the transformer (final checkpoint and step 0)."""
    fams = {}
    for i, (fam, mult, kw) in enumerate(FAMILIES):
        fams[fam] = cache.step(f"synthetic_{fam}", synthetic_spectrum, family=fam, vocab=config.vocab,
                               dim=mult * config.dim, horizon=config.horizon,
                               n_histories=config.syn_histories, n_futures=config.syn_futures,
                               seed=config.seed + i, **kw)
    lm = cache.transformer()
    out = {"families": fams}
    for name, step in (("transformer", lm.final_step), ("transformer_step0", 0)):
        fn = functools.partial(transformer_spectrum, lm.path(step), config.device)
        out[name] = cache.step(name, fn, model=lm.key, step=step, val_loss=lm.val_by_step.get(step),
                               n_histories=config.n_histories, history_length=config.history_length,
                               future_length=config.future_length, top_k=config.top_k, seed=config.seed)
    return out


def _fit_line(entry: dict[str, Any], s1: float) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = entry["fit_range"]
    idx = np.arange(lo, hi + 1, dtype=float)
    return idx, entry["C"] * idx ** (-entry["alpha"]) / s1


def _label(prefix: str, e: dict[str, Any]) -> str:
    return f"{prefix}: α={e['alpha']:.3f} [{e['ci'][0]:.3f}, {e['ci'][1]:.3f}]"


def make(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
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
