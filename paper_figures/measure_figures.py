"""Figures, ``results.json`` and ``report.md`` of ``logitrank measure`` (plots only; the numbers come
from :func:`experiments.measure.run_measure`), in the report format of ``logitrank reproduce``
(:mod:`paper_figures.report`).

:func:`write` takes the measure ``Result`` (or its ``to_dict()``) and writes ``<out>/<name>.png|pdf`` per
measurement, ``<out>/results.json`` (``model``, ``config``, ``timing_s`` and one ``figures`` entry per
measurement with ``numbers``, ``paper`` and a ``verdict`` computed from the numbers) and ``<out>/report.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from experiments.angles import COS_THRESHOLD
from logitrank.paper import LINGEN_METHODS, LINGEN_SETTINGS, PAPER
from logitrank.results_io import atomic_write_text, to_jsonable

from .plotting import COLORS, legend_below, save, subplots
from .report import fmt, write_report, write_results

__all__ = ["TITLES", "write", "summarize", "headline", "hidden_dim_panel", "angles_panel"]

TITLES = {
    "spectrum": "Singular values of the top-k logit matrix and their power law",
    "kl_scales": "KL of rank-r truncations vs r at several matrix sizes",
    "hidden_dim": "Hidden dimension from the single-token logit matrix L(H, {∅})",
    "angles": "Principal angles: real vs nonsense futures (and vs the earlier checkpoint)",
    "lingen": "LINGEN and its baselines (cumulative KL)",
}


def _plot_spectrum(m: Mapping[str, Any], out: Path) -> list[Path]:
    s = np.asarray(m["singular_values"], dtype=float)
    fit = m["fit"]
    i = np.arange(1, s.size + 1)
    fig, axes = subplots(1)
    ax = axes[0, 0]
    shown = s > 1e-10 * s[0]  # the round-off null space would squash the decay into a line
    ax.loglog(i[shown], s[shown], ".", ms=3, color=COLORS[0],
              label="σ_i" + ("" if shown.all() else f" ({(~shown).sum()} below 1e-10 σ_1 not shown)"))
    lo, hi = fit["index_range"]
    j = np.arange(lo, hi + 1)
    ax.loglog(j, np.exp(fit["log_c"]) * j ** -fit["alpha"], "-", color=COLORS[1],
              label=f"fit α = {m['alpha']:.3f} [{m['alpha_ci'][0]:.3f}, {m['alpha_ci'][1]:.3f}]")
    ax.set_xlabel("index i")
    ax.set_ylabel("σ_i")
    ax.set_title(f"L(H, F), {m['shape'][0]} x {m['shape'][1]}")
    legend_below(ax, markerscale=1)
    return save(fig, out, "measure_spectrum")


def _plot_kl(m: Mapping[str, Any], out: Path) -> list[Path]:
    ranks = np.asarray(m["ranks"], dtype=float)
    fig, axes = subplots(1)
    ax = axes[0, 0]
    for c, size, row in zip(COLORS, m["sizes"], m["kl"], strict=False):
        kl = np.asarray(row, dtype=float)
        ok = np.isfinite(kl) & (kl > 0)
        ax.loglog(ranks[ok], kl[ok], "o-", ms=3, color=c, label=f"|H| = {size}")
    ax.set_xlabel("rank r")
    ax.set_ylabel("D_avg(L, L_r) (nats)")
    ax.set_title("scale consistency of the KL curve")
    legend_below(ax, ncols=2, markerscale=1)
    return save(fig, out, "measure_kl_scales")


def hidden_dim_panel(ax: Any, m: Mapping[str, Any]) -> None:
    """The normalised spectrum of ``L(H, {∅})`` with the largest-gap estimate and SPEC's expected rank."""
    s = np.asarray(m["singular_values"], dtype=float)
    ax.semilogy(np.arange(1, s.size + 1), s / s[0], "-", color=COLORS[0], lw=1.2)
    ax.axvline(m["estimate"] + 0.5, color=COLORS[1], ls=":", label=f"largest gap: {m['estimate']}")
    ax.axvline(m["expected"] + 0.5, color=COLORS[2], ls="--", lw=0.8, label=f"theory: {m['expected']}")
    ax.set_xlabel("index i")
    ax.set_ylabel("σ_i / σ_1")
    ax.set_title(f"L(H, {{∅}}), |H| = {m['n_histories']}, d = {m['true_dim']}")
    legend_below(ax, markerscale=1)


def angles_panel(ax: Any, m: Mapping[str, Any]) -> None:
    """Principal-angle cosines real vs nonsense futures (and vs the earlier checkpoint) beside random ones."""
    i = np.arange(1, m["rank"] + 1)
    ax.plot(i, m["real_vs_nonsense"], "o-", ms=3, color=COLORS[0], label="real vs nonsense futures")
    if m.get("model_vs_model") is not None:
        ax.plot(i, m["model_vs_model"], "s-", ms=3, color=COLORS[2], label="model vs earlier checkpoint")
    ax.plot(i, m["random_baseline"], "k--", lw=1, label="random subspaces")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("principal angle index")
    ax.set_ylabel("cosine")
    ax.set_title(f"column spaces of rank-{m['rank']} truncations")
    legend_below(ax, markerscale=1)


def _plot_hidden_dim(m: Mapping[str, Any], out: Path) -> list[Path]:
    fig, axes = subplots(1)
    hidden_dim_panel(axes[0, 0], m)
    return save(fig, out, "measure_hidden_dim")


def _plot_angles(m: Mapping[str, Any], out: Path) -> list[Path]:
    fig, axes = subplots(1)
    angles_panel(axes[0, 0], m)
    return save(fig, out, "measure_angles")


def _sum_spectrum(m: Mapping[str, Any]) -> dict[str, Any]:
    a, (lo, hi) = m["alpha"], m["alpha_ci"]
    side = "above" if lo > 0.5 else "below" if hi < 0.5 else "compatible with"
    ranges = {f"alpha, fit range {k} ({v['range'][0]}..{v['range'][1]})": v["alpha"]
              for k, v in m.get("by_fit_range", {}).items()}
    return {"numbers": {"alpha": a, "alpha interval": [lo, hi], "R^2": m["fit"]["r_squared"], **ranges,
                        "matrix": f"{m['shape'][0]} x {m['shape'][1]} ({m['n_shards']} shards)"},
            "paper": {"alpha": PAPER["alpha_olmo7b"]},
            "verdict": f"α = {fmt(a)} with interval {fmt(lo)}–{fmt(hi)}: {side} 1/2 (the paper's trained "
                       f"OLMo-7b: {PAPER['alpha_olmo7b']}, above 1/2; its step-0 model "
                       f"{PAPER['alpha_olmo1b_step0']}, below)."}


def _sum_kl(m: Mapping[str, Any]) -> dict[str, Any]:
    kl = np.asarray(m["kl"], dtype=float)
    ranks = list(m["ranks"])
    numbers = {f"D_avg at r = {r}": [fmt(v) for v in kl[:, j]] for j, r in enumerate(ranks)}
    # ranks up to half the smallest matrix: beyond, its truncation is (nearly) exact and D_avg is round-off
    both = np.isfinite(kl[0]) & np.isfinite(kl[-1]) & (np.asarray(ranks) <= min(m["sizes"]) // 2)
    both &= (kl[0] > 0) & (kl[-1] > 0)
    ratio = float(np.max(np.abs(np.log(kl[-1, both] / kl[0, both])))) if both.any() else float("nan")
    fit = m["slope_fit"]
    target = m["one_minus_2alpha"]
    inside = fit["ci"][0] <= target <= fit["ci"][1]
    if m.get("l1_error") is not None:  # GLS2's average L1 error of the truncations (runs before it: none)
        l1 = np.asarray(m["l1_error"], dtype=float)
        numbers |= {f"L1 error at r = {r}": [fmt(v) for v in l1[:, j]] for j, r in enumerate(ranks)}
        if m.get("l1_slope_fit"):
            numbers["L1 error slope (largest size)"] = m["l1_slope_fit"]["slope"]
    return {"numbers": {"histories per matrix": list(m["sizes"]), **numbers,
                        "KL slope (largest size)": fit["slope"],
                        "slope interval": fit["ci"], "slope ranks": fit["range"], "1 - 2 alpha": target},
            "paper": {"scale factors": PAPER["kl_scale_factors"], "rank range": PAPER["kl_rank_range"]},
            "verdict": f"Largest |log ratio| of D_avg between the largest and smallest size over ranks up to "
                       f"half the smallest size: {fmt(ratio)} (0 = identical curves; the paper finds them "
                       f"nearly the same). KL slope {fmt(fit['slope'])} (interval {fmt(fit['ci'][0])}–"
                       f"{fmt(fit['ci'][1])}) against 1 - 2α = {fmt(target)}: "
                       f"{'inside' if inside else 'outside'} the interval."}


def _sum_hidden_dim(m: Mapping[str, Any]) -> dict[str, Any]:
    est, exp, d = m["estimate"], m["expected"], m["true_dim"]
    if not m["identifiable"]:
        verdict = (f"Not identifiable here: the rank of L(H, {{∅}}) is at most min(|H|, V - 1), which does "
                   f"not exceed the expected {exp}; the estimate {est} is a lower bound.")
    else:
        verdict = (f"Estimate {est} vs {exp} expected ({m['rule']}; config width d = {d}): "
                   + ("agrees." if est == exp else f"differs by {est - exp}."))
    return {"numbers": {"estimate (largest log-gap)": est, "expected by SPEC's rule": exp,
                        "config hidden size d": d, "log-gap": m["gap"], "histories": m["n_histories"]},
            "paper": {"rule": PAPER["hidden_dim"]}, "verdict": verdict}


def _sum_angles(m: Mapping[str, Any]) -> dict[str, Any]:
    real, base = float(np.mean(m["real_vs_nonsense"])), float(np.mean(m["random_baseline"]))
    numbers: dict[str, Any] = {"mean cosine real vs nonsense": real, "mean cosine random": base}
    if m.get("model_vs_model") is not None:
        numbers["mean cosine model vs earlier"] = float(np.mean(m["model_vs_model"]))
    if m.get("random_fraction_above") is not None:
        numbers["fraction of cosines > 0.9, real vs nonsense"] = float(np.mean(
            np.asarray(m["real_vs_nonsense"]) > COS_THRESHOLD))
        numbers["the same, random pairs (mean)"] = float(np.mean(m["random_fraction_above"]))
    return {"numbers": numbers, "paper": {"claim": PAPER["angles"]},
            "verdict": f"Mean cosine {fmt(real)} against {fmt(base)} for random subspaces of the same "
                       f"dimension: {'far above' if real > base + 0.2 else 'not far above'} the baseline."}


def _sum_lingen(m: Mapping[str, Any]) -> dict[str, Any]:
    table, se = m["table"], m["se"]
    rows = ["| method | " + " | ".join(f"{s} (ours ± se)" for s in LINGEN_SETTINGS) + " | paper |",
            "|---|" + "---|" * (len(LINGEN_SETTINGS) + 1)]
    for method in LINGEN_METHODS:
        if method not in table:
            continue
        ours = " | ".join(f"{fmt(table[method][s])} ± {fmt(se[method][s])}" for s in LINGEN_SETTINGS)
        paper = ", ".join(str(PAPER["lingen"][method][s]) for s in LINGEN_SETTINGS)
        rows.append(f"| {method} | {ours} | {paper} |")
    paired = m.get("paired") or {}
    # each baseline minus LINGEN, paired by target: beaten when the difference exceeds 2 SE
    calls = [p["diff"] > 2 * p["se"] for by in paired.values() for p in by.values()]
    diffs = "; ".join(f"{meth} - lingen ({st}) = {fmt(p['diff'])} ± {fmt(p['se'])}"
                      for meth, by in paired.items() for st, p in by.items())
    cfg = m["config"]
    return {"numbers": {k: v for k, v in table.items()}, "paper": PAPER["lingen"],
            "markdown": "\n".join(rows) + f"\n\n{cfg['n_targets']} targets x {cfg['n_samples']} samples, "
                        f"{cfg['steps']} steps (paper: {PAPER['lingen_setup']}).",
            "verdict": (f"Paired differences (SE over targets): {diffs}. "
                        + ("LINGEN beats every baseline by more than 2 SE, as in the paper." if all(calls)
                           else f"LINGEN beats {sum(calls)} of {len(calls)} baseline comparisons by more "
                                f"than 2 SE (the paper: all).")) if paired else "No paired differences."}


PLOTS: dict[str, Callable[[Mapping[str, Any], Path], list[Path]]] = {
    "spectrum": _plot_spectrum, "kl_scales": _plot_kl, "hidden_dim": _plot_hidden_dim, "angles": _plot_angles}
SUMMARIES: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "spectrum": _sum_spectrum, "kl_scales": _sum_kl, "hidden_dim": _sum_hidden_dim, "angles": _sum_angles,
    "lingen": _sum_lingen}


def summarize(name: str, measurement: Mapping[str, Any]) -> dict[str, Any]:
    """The report entry (``numbers``, ``paper``, ``verdict``, optional ``markdown``) of one measurement."""
    return SUMMARIES[name](measurement)


def write(result: Any, out: str | Path) -> Path:
    """Write the figures, ``results.json`` and ``report.md`` of a measure result; returns the report path."""
    res = to_jsonable(result)
    out_dir = Path(out)
    figures: dict[str, Any] = {}
    for name, m in res["measurements"].items():
        files = [str(p.relative_to(out_dir)) for p in PLOTS[name](m, out_dir)] if name in PLOTS else []
        figures[name] = {"title": TITLES[name], "status": "ok", "files": files, **summarize(name, m)}
    results = {"model": res["model"], "config": res["config"], "timing_s": res["timing_s"],
               "figures": figures}
    write_results(out_dir, results)
    path = write_report(out_dir, {"figures": figures}, list(figures))
    info = res["model"]
    head = [f"# logit-rank: measurements of `{info['source']}`", "",
            f"{info['architecture']}, width d = {info['hidden_size']}, vocabulary V = {info['vocab_size']} "
            f"(model rows {info['model_vocab_size']}), context {info['context']}; tokenizer "
            f"{info['tokenizer']}; text: {info['text']} ({info['n_tokens']} tokens); seed "
            f"{res['config']['seed']}, device `{res['config']['device']}`, dtype {res['config']['dtype']}.",
            "", *_model_lines(info, res.get("loss") or {}), "",
            "Compute time per measurement (s, when it was computed, also by a run this one resumed): "
            + ", ".join(f"{k} {v:.1f}" for k, v in res["timing_s"].items()) + "."]
    body = path.read_text().split("\n")[1:]  # drop write_report's reproduction title
    return atomic_write_text(path, "\n".join(head + body))


def _model_lines(info: Mapping[str, Any], loss: Mapping[str, Any]) -> list[str]:
    """The report's lines on what the model is, its BOS and its own loss on the windows."""
    bos = info.get("bos") or {}
    lines = [f"Model: {info.get('description', info['source'])}. BOS: "
             + (f"token {bos['token_id']} prepended" if bos.get("token_id") is not None else "none")
             + f" (--bos {bos.get('mode', 'auto')}: {bos.get('reason', 'not recorded')})."]
    if "mean" in loss:
        lines.append(f"Mean next-token loss of the model on {loss['windows']} ({loss['window_length']} "
                     f"tokens each, the last {loss['n_scored']} scored): **{loss['mean']:.3f} ± "
                     f"{loss['se']:.3f} nats/token** (± one standard error over windows).")
    elif loss:
        lines.append(f"Mean next-token loss: not measured ({loss.get('skipped', 'no windows')}).")
    return lines


def headline(result: Any) -> str:
    """One line per measurement of a measure result (what the CLI prints)."""
    res = to_jsonable(result)
    lines = [f"{res['model']['source']}: {res['model']['architecture']}, d = {res['model']['hidden_size']}, "
             f"V = {res['model']['vocab_size']}"]
    loss = res.get("loss") or {}
    if "mean" in loss:
        lines.append(f"  loss: {loss['mean']:.3f} ± {loss['se']:.3f} nats/token (BOS "
                     f"{loss['bos_token_id']}, {loss['n_windows']} windows)")
    for name, m in res["measurements"].items():
        lines.append(f"  {name}: {summarize(name, m)['verdict']}")
    return "\n".join(lines)
