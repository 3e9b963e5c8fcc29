"""Figure 7: learning from logit queries vs learning from samples — a view of the experiment
:mod:`experiments.learning` (``plot`` and ``summarize`` of its ``Result.to_dict()``).

(a) The logit-query learner's KL(target ‖ learned) per sequence vs the number of logit queries, on a
random exact ISAN. (b) Queries needed to reach the error target vs d, V and T, with fitted log-log
exponents (polynomial, SPEC §1). (c) Noisy parity (``n`` uniform bits, then the parity of a hidden
``k``-subset flipped w.p. ``eta``): the query learner (queries) against sample-only baselines (samples) —
KL on the label step — and brute-force subset search; the trivial predictor's KL is drawn for reference.
What each sample baseline can see of a sample (so what its failure means) is in the experiment's docstring;
the legend and the verdict say it from the settings the experiment recorded (``seen``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib.ticker as mticker
import numpy as np

from .plotting import COLORS, legend_below, save, subplots
from .report import fmt

NAME = "learning"
TITLE = "Learning: the logit-query learner vs sample-only baselines"
EXPERIMENT = "learning"  # experiments.learning: its Config presets size this figure
INPUTS = "none"

_PARAM_LABEL = {"dim": "d", "vocab": "V", "horizon": "T"}


def _curves_panel(ax: Any, curves: list[dict[str, Any]]) -> None:
    for c, mk, cur in zip(COLORS, ("o-", "s-"), curves, strict=False):
        kl = np.maximum(np.asarray(cur["kl"], float), 1e-17)
        ax.loglog(cur["queries"], kl, mk, ms=4, color=c, label=cur["label"])
        # rank caps that gave (nearly) the same point share one label
        labels: dict[tuple[float, float], tuple[float, float, list[str]]] = {}
        for q, k, r in zip(cur["queries"], kl, cur["ranks"], strict=True):
            key = (round(float(np.log10(q)), 2), round(float(np.log10(k))))
            labels.setdefault(key, (float(q), float(k), []))[2].append(str(r))
        for q, k, rs in labels.values():
            ax.annotate("r=" + ",".join(rs), (q, k), textcoords="offset points", xytext=(4, 3), fontsize=6.5,
                        color=c)
    _plain_log_ticks(ax, [q for cur in curves for q in cur["queries"]])
    ax.set_xlabel("logit queries used")
    ax.set_ylabel("KL(target ‖ learned) (nats per sequence)")
    ax.set_title("(a) query learner, rank cap r")
    legend_below(ax, markerscale=1)


def _plain_log_ticks(ax: Any, x: list[float]) -> None:
    """Plain-number x ticks on a log axis spanning less than a decade (there matplotlib labels every minor
    tick as "6x10^2 7x10^2 ...", and the labels collide): the multiples 1..9 of powers of ten inside the
    data's range, or only 1, 2, 5 of them when that is more than six."""
    lo, hi = min(x), max(x)
    if hi >= 10 * lo:
        return  # a decade or more: the default decade labels are readable
    ticks = [m * 10.0**k for k in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
             for m in range(1, 10) if lo / 1.05 <= m * 10.0**k <= hi * 1.05]
    if len(ticks) > 6:
        ticks = [t for t in ticks if round(t / 10.0 ** math.floor(math.log10(t))) in (1, 2, 5)]
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])


def _scaling_panel(ax: Any, scaling: dict[str, list[dict[str, Any]]], exponents: dict[str, float]) -> None:
    for c, mk, (param, pts) in zip(COLORS, ("o-", "s-", "^-"), scaling.items(), strict=False):
        ax.loglog([p[param] for p in pts], [p["queries"] for p in pts], mk, ms=4, color=c,
                  label=f"vary {_PARAM_LABEL[param]}: exponent {exponents[param]:.2f}")
    ax.xaxis.set_major_formatter(mticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xticks(sorted({int(p[k]) for k, pts in scaling.items() for p in pts}))
    ax.set_xlabel("parameter value (d, V or T; others fixed)")
    ax.set_ylabel("queries to reach the KL target")
    ax.set_title("(b) query complexity is polynomial")
    legend_below(ax, markerscale=1)


def _parity_panel(ax: Any, res: dict[str, Any]) -> None:
    par, search = res["parity"], res["subset_search"]
    seen = visibility(res)
    for c, (name, pts) in zip(COLORS[1:], par["baselines"].items(), strict=False):
        ax.semilogx(pts["samples"], pts["kl"], "s-", ms=4, color=c, label=f"{name}: {seen.get(name, '?')}")
    ax.semilogx(search["samples"], search["kl"], "D-", ms=4, color=COLORS[len(par["baselines"]) + 1],
                label=f"subset search over C({par['n_bits']},{par['subset']}) = {search['subsets']:,} "
                      "subsets: whole sequence")
    ax.semilogx([par["query"]["queries"]], [par["query"]["kl"]], "*", ms=12, color=COLORS[0],
                label=f"query learner ({par['query']['queries']} queries)")
    ax.axhline(par["trivial_kl"], color="k", ls="--", lw=1, label="trivial predictor (uniform label)")
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xlabel("samples (baselines, subset search) or queries (learner)")
    ax.set_ylabel("KL on the label step (nats)")
    ax.set_title(f"(c) noisy parity n={par['n_bits']}, |S|={par['subset']}, η={par['noise']}")
    legend_below(ax, markerscale=1)


def plot(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """(a) KL vs queries by rank cap, (b) queries vs d, V, T, (c) noisy parity (module docstring)."""
    fig, axes = subplots(3, width=3.9, height=4.2)
    _curves_panel(axes[0, 0], res["curves"])
    _scaling_panel(axes[0, 1], res["scaling"], res["exponents"])
    _parity_panel(axes[0, 2], res)
    return save(fig, out_dir, NAME)


def visibility(res: dict[str, Any]) -> dict[str, str]:
    """What each sample baseline of the parity step can see (:mod:`experiments.learning`), from the learners'
    settings the experiment recorded (``seen``)."""
    n_bits, subset = res["parity"]["n_bits"], res["parity"]["subset"]
    window, order = res["seen"]["wfa_window"], res["seen"]["ngram_order"]
    never = " (never the label)" if window <= n_bits else ""
    return {"spectral WFA": f"first {window} tokens only{never}",
            "smoothed n-gram": f"label + {order - 1} bits before it"
                               + (f" (< {subset}: cannot represent it)" if order - 1 < subset else ""),
            "ISAN MLE (torch)": "whole sequence; class contains the target"}


def _exponent_verdict(exps: list[float]) -> str:
    if any(not np.isfinite(v) for v in exps):
        return "not fitted where a sweep has fewer than 3 points"
    return "all polynomial and ≤ 3" if all(v <= 3 for v in exps) else "some above 3"


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    cur, par = res["curves"][0], res["parity"]
    exps = {_PARAM_LABEL[p]: e for p, e in res["exponents"].items()}
    numbers: dict[str, Any] = {"KL by rank cap, exact ISAN (nats/seq)": cur["kl"],
                               "queries by rank cap, exact ISAN": cur["queries"],
                               **{f"KL by rank cap, {c['label']}": c["kl"] for c in res["curves"][1:]},
                               "query exponent in d, V, T": exps,
                               "noisy parity: query learner KL on label": par["query"]["kl"],
                               "noisy parity: queries": par["query"]["queries"]}
    for name, pts in par["baselines"].items():
        numbers[f"noisy parity: {name} KL at {pts['samples'][-1]} samples"] = pts["kl"][-1]
    numbers["noisy parity: trivial predictor KL"] = par["trivial_kl"]
    search = res["subset_search"]
    first = next((m for m, hit in zip(search["samples"], search["found"], strict=True) if hit), None)
    numbers["noisy parity: what each baseline sees"] = visibility(res)
    numbers["subset search: subsets searched"] = search["subsets"]
    numbers["subset search: label KL by samples"] = dict(zip(search["samples"], search["kl"], strict=True))
    numbers["subset search: fewest samples that found S"] = first
    numbers["C(n, n/2) subsets at n = 20, 40, 60, 80"] = [math.comb(n, n // 2) for n in (20, 40, 60, 80)]
    paper = {"query exponent in d, V, T": "polynomial (GLS1 Thm 4.4)",
             "noisy parity: query learner KL on label": "learnable from queries; believed hard from samples"}
    best_base = min(pts["kl"][-1] for pts in par["baselines"].values())
    verdict = (f"The query learner reaches KL {fmt(cur['kl'][-1])} nats/sequence on the exact ISAN with "
               f"{cur['queries'][-1]} queries once its rank cap reaches d; "
               f"queries grow with exponents {', '.join(f'{k} {fmt(v, 2)}' for k, v in exps.items())} "
               f"({_exponent_verdict(list(exps.values()))}). "
               f"On noisy parity it reaches label KL {fmt(par['query']['kl'])} while the best sample "
               f"baseline stays at {fmt(best_base)} (trivial {fmt(par['trivial_kl'])}). "
               "What the baselines see: " + "; ".join(f"{k}: {v}" for k, v in
                                                      visibility(res).items())
               + f". Brute-force search over all C({par['n_bits']},{par['subset']}) = {search['subsets']:,} "
               + (f"subsets finds the hidden subset from {first} samples (label KL "
                  f"{fmt(search['kl'][-1])} at {search['samples'][-1]} samples), so at this n the task is "
                  "easy from samples for a learner that sees the whole sequence and searches the parity "
                  "class; the hardness is "
                  "asymptotic (C(n, n/2) ~ 2^n / sqrt(n) subsets: "
                  f"{math.comb(40, 20):.1e} at n = 40, {math.comb(80, 40):.1e} at n = 80)."
                  if first is not None else
                  f"subsets did not find the hidden subset with up to {search['samples'][-1]} samples."))
    return {"numbers": numbers, "paper": paper, "verdict": verdict}
