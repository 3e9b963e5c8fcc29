"""Figure 8: the ISAN equivalence theorem, measured — a view of the experiment :mod:`experiments.equivalence`
(``plot`` and ``summarize`` of its ``Result.to_dict()``).

Left: the exact rank of ``L_M(Σ^t, Σ^{≤T-1-t})`` at every position t (exhaustive enumeration) for a
random time-varying ISAN of dimension d (rank ≤ d), an n-gram whose logit rank exceeds that d, and an HMM
(not exactly low rank). Right: the ISAN rebuilt from logits alone (``theory.isan_from_logits``) —
its largest next-token logit error for each model, and its dimension per step beside the measured rank.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.ticker as mticker
import numpy as np

from .plotting import COLORS, legend_below, save, subplots
from .report import fmt

NAME = "equivalence"
TITLE = "Equivalence: measured rank per position, and the ISAN rebuilt from logits"
EXPERIMENT = "equivalence"  # experiments.equivalence: its Config presets size this figure
INPUTS = "none"


def plot(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    fig, axes = subplots(2, width=4.4, height=4.3)
    ax = axes[0, 0]
    mks = ("o-", "s-", "^-")
    for c, mk, m in zip(COLORS, mks, res["models"].values(), strict=False):
        t = np.arange(len(m["ranks"]))
        ax.plot(t, m["ranks"], mk, ms=5, color=c, label=m["label"])
        if m.get("rebuilt_dims") is not None:
            ax.plot(t, m["rebuilt_dims"], "x", ms=8, color=c, alpha=0.7)
    ax.axhline(res["dim"], color="k", ls="--", lw=1, label=f"ISAN dimension d = {res['dim']}")
    ax.plot([], [], "kx", label="rebuilt ISAN's dimension")
    ax.set_xlabel("position t (history length)")
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))  # positions are whole tokens
    ax.set_ylabel(r"rank of $L(\Sigma^t, \Sigma^{\leq T-1-t})$")
    ax.set_yscale("log", base=2)
    ticks: list[int] = []
    for tick in sorted({int(r) for m in res["models"].values() for r in m["ranks"]} | {int(res["dim"])}):
        if not ticks or tick >= 1.2 * ticks[-1]:  # closer labels (8 and 9) would print on top of each other
            ticks.append(tick)
    ax.set_yticks(ticks, [str(t) for t in ticks])
    ax.yaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_title(f"exact ranks, V={res['vocab']}, T={res['horizon']}")
    legend_below(ax, ncols=2, markerscale=1)
    ax = axes[0, 1]
    names = [m["label"] for m in res["models"].values()]
    x = np.arange(len(names))
    w = 0.38
    for j, (key, lab) in enumerate((("rebuilt_error", "dimension = measured rank per t"),
                                    ("capped_error", f"dimension capped at d = {res['dim']}"))):
        errs = [max(m[key], 1e-17) for m in res["models"].values()]
        bars = ax.bar(x + (j - 0.5) * w, errs, w, color=COLORS[j + 4], label=lab)
        for b, e in zip(bars, errs, strict=True):
            ax.annotate(f"{e:.0e}", (b.get_x() + b.get_width() / 2, e), ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_ylim(1e-17, 1e2)
    ax.set_xticks(x, [n.replace(" (", "\n(").replace(", ", "\n") for n in names])
    ax.set_ylabel("max |centered logit error| over all prefixes")
    ax.set_title("ISAN rebuilt from logits alone")
    legend_below(ax, markerscale=1)
    return save(fig, out_dir, NAME)


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    ms = res["models"]
    numbers: dict[str, Any] = {f"ranks per t, {m['label']}": m["ranks"] for m in ms.values()}
    numbers.update({f"rebuilt ISAN max logit error, {m['label']}": m["rebuilt_error"]
                    for m in ms.values()})
    numbers.update({f"ISAN capped at d={res['dim']}: max logit error, {m['label']}": m["capped_error"]
                    for m in ms.values()})
    d = res["dim"]
    isan_ok = max(ms["isan"]["ranks"]) <= d
    ngram_over = max(ms["ngram"]["ranks"]) > d
    hmm_grows = ms["hmm"]["ranks"][len(ms["hmm"]["ranks"]) // 2] > ms["hmm"]["ranks"][0]
    worst = max(m["rebuilt_error"] for m in ms.values())
    capped = {m["label"]: m["capped_error"] for m in ms.values()}
    dims_match = all(m.get("rebuilt_dims") is None or list(m["rebuilt_dims"]) == list(m["ranks"])
                     for m in ms.values())
    paper = {"theorem": "rank L(Σ^t, Σ^{≤T−1−t}) ≤ d for all t  ⇔  time-varying ISAN of dimension d"}
    verdict = (f"The random ISAN's ranks stay ≤ d = {d} ({'as proved' if isan_ok else 'VIOLATED'}); "
               "the n-gram "
               f"{'exceeds' if ngram_over else 'does not exceed'} d; the HMM's rank "
               f"{'grows with the history length' if hmm_grows else 'does not grow'}; "
               "and the ISAN rebuilt from "
               f"logits reproduces every model with max logit error {fmt(worst)}, with dimension "
               f"{'equal to' if dims_match else 'DIFFERENT from'} the measured rank at every step; "
               "capped at d the "
               f"errors are {', '.join(f'{k} {fmt(v)}' for k, v in capped.items())}.")
    return {"numbers": numbers, "paper": paper, "verdict": verdict}
