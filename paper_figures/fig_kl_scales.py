"""Figure 2: average KL of rank-r truncations vs r at several matrix scales (scale consistency).

For the trained transformer's top-k matrix ``L_k(H, F)`` with ``|H| = |F| = n, n/2, n/4, ...`` (nested
subsets), ``D_avg(L, L_r)`` of the rank-r truncated SVD is plotted against r; the paper finds the curves
coincide across scales and decay as a power law in r. The Frobenius bound ``sum_{i>r} sigma_i^2/(|H||F|)``
is drawn dashed for the largest scale. Five scales (1, 2, 4, 8 and 16 times smaller), ranks up to 128;
each curve's power law is fitted over ``5 <= r <= min(100, n/2)`` with the slope's interval and ``R^2``,
and the slopes are set beside the spectrum's prediction ``1 - 2 alpha`` (the Frobenius tail's decay).
A view of :mod:`experiments.kl_scales_fit` (``plot`` and ``summarize`` of its ``Result.to_dict()``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from logitrank.paper import PAPER

from .plotting import COLORS, legend_below, save, subplots
from .report import fmt

NAME = "kl_scales"
TITLE = "Average KL of rank-r truncations vs r at several matrix scales"
EXPERIMENT = "kl_scales_fit"  # experiments.kl_scales_fit on the shared transformer's final checkpoint
INPUTS = "final"


def plot(res: dict[str, Any], out_dir: str | Path) -> list[Path]:
    fig, axes = subplots(1, width=5.6, height=4.6)
    ax = axes[0, 0]
    for c, sc in zip(COLORS, res["scales"], strict=False):
        r, kl = np.asarray(sc["ranks"], float), np.asarray(sc["kl"], float)
        keep = kl > 0
        f = sc["fit"]
        label = f"|H|=|F|={sc['n']}" + (f": slope {f['slope']:.2f} [{f['ci'][0]:.2f}, {f['ci'][1]:.2f}], "
                                        f"R²={f['r_squared']:.3f}" if np.isfinite(f["ci"]).all() else
                                        " (too few ranks in the fit range)")
        ax.loglog(r[keep], kl[keep], "o-", ms=3.5, color=c, label=label)
    big = res["scales"][0]
    r, bound = np.asarray(big["ranks"], float), np.asarray(big["bound"], float)
    keep = bound > 0
    ax.loglog(r[keep], bound[keep], "--", color=COLORS[0], lw=1, alpha=0.7,
              label=f"Frobenius bound, n={big['n']}")
    ax.set_xlabel("rank r of the truncated SVD")
    ax.set_ylabel("average KL(true ‖ rank-r) (nats per block)")
    title = f"transformer L_k(H,F), k={res['k']}, histories of {res['history_len']} tokens"
    if "alpha" in res:
        title += (f"\nslopes fitted over 5 ≤ r ≤ min(100, n/2); spectrum predicts 1−2α = "
                  f"{1 - 2 * res['alpha']:.2f}")
    ax.set_title(title, fontsize=9)
    legend_below(ax, ncols=1, markerscale=1)
    return save(fig, out_dir, NAME)


def _int(x: float) -> str:
    return "nan" if not np.isfinite(x) else str(int(x))


def _overlap(a: Any, b: Any) -> bool:
    return bool(np.isfinite(a).all() and np.isfinite(b).all() and a[0] <= b[1] and b[0] <= a[1])


def summarize(res: dict[str, Any]) -> dict[str, Any]:
    scales = res["scales"]
    # spread across scales, as a max/min ratio, at the ranks every scale has, r <= (smallest n) / 4: away
    # from the bend where a finite matrix's curve drops towards 0 at full rank
    smallest = min(int(sc["n"]) for sc in scales)
    common = sorted(set.intersection(*[{int(r) for r, k in zip(sc["ranks"], sc["kl"], strict=True)
                                        if k > 0 and 4 * r <= smallest} for sc in scales]))
    ratios = []
    for r in common:
        vals = [float(np.asarray(sc["kl"])[list(sc["ranks"]).index(r)]) for sc in scales]
        ratios.append(max(vals) / min(vals))
    spread = max(ratios) if ratios else float("nan")
    a, a_ci = res["alpha"], res["alpha_ci"]
    pred, pred_ci = 1 - 2 * a, [1 - 2 * a_ci[1], 1 - 2 * a_ci[0]]
    numbers: dict[str, Any] = {}
    for sc in scales:
        f = sc["fit"]
        if f["n_points"] < 3:
            numbers[f"KL slope, n = {sc['n']}"] = f"not fitted ({f['n_points']} ranks in 5..n/2)"
            continue
        numbers[f"KL slope, n = {sc['n']} (r = {_int(f['range'][0])}..{_int(f['range'][1])})"] = (
            f"{fmt(f['slope'])} [{fmt(f['ci'][0])}, {fmt(f['ci'][1])}], R² {fmt(f['r_squared'])}, "
            f"max |log residual| {fmt(f['max_abs_residual'])}")
    numbers["Frobenius-tail slope, largest n"] = fmt(scales[0]["tail_fit"]["slope"])
    numbers["1 − 2α from the largest matrix's spectrum"] = (f"{fmt(pred)} [{fmt(pred_ci[0])}, "
                                                           f"{fmt(pred_ci[1])}]")
    numbers["max/min KL across scales at a common rank"] = spread
    numbers["ranks compared"] = common
    paper = {f"KL slope, n = {scales[0]['n']} (r = {_int(scales[0]['fit']['range'][0])}.."
             f"{_int(scales[0]['fit']['range'][1])})": "power law for r = 5..500",
             "1 − 2α from the largest matrix's spectrum": f"{fmt(1 - 2 * PAPER['alpha_olmo7b'])} (OLMo-7b α)",
             "max/min KL across scales at a common rank": "curves coincide for 2, 4, 8, 16x smaller"}
    return {"numbers": numbers, "paper": paper, "verdict": _verdict(res, spread, common, pred, pred_ci)}


def _verdict(res: dict[str, Any], spread: float, common: list[int], pred: float, pred_ci: list[float]) -> str:
    scales = res["scales"]
    big = scales[0]["fit"]
    fitted = [sc for sc in scales if sc["fit"]["n_points"] >= 3]
    r2min = min(sc["fit"]["r_squared"] for sc in fitted) if fitted else float("nan")
    agree = [sc["n"] for sc in fitted[1:] if _overlap(sc["fit"]["ci"], big["ci"])]
    differ = [sc["n"] for sc in fitted[1:] if sc["n"] not in agree]
    match = "overlaps" if _overlap(big["ci"], pred_ci) else "does not overlap"
    v = (f"At n = {scales[0]['n']} the KL falls as r^{fmt(big['slope'])} (95% interval {fmt(big['ci'][0])}–"
         f"{fmt(big['ci'][1])}, R² {fmt(big['r_squared'])} over r = {_int(big['range'][0])}.."
         f"{_int(big['range'][1])}; the lowest R² over the {len(fitted)} fitted scales is {fmt(r2min)}); "
         f"the spectrum's 1 − 2α = {fmt(pred)} (interval {fmt(pred_ci[0])}–{fmt(pred_ci[1])}) {match} "
         f"the slope's interval")
    v += (f". The slopes of the smaller scales {', '.join(map(str, agree)) or 'none'} overlap the largest's "
          f"interval" + (f", those of {', '.join(map(str, differ))} do not" if differ else "")
          + f"; at the shared ranks r ≤ n_min/4 ({', '.join(map(str, common)) or 'none'}) the curves differ "
          f"by at most a factor {fmt(spread)} (paper: a power law over r = {PAPER['kl_rank_range'][0]}–"
          f"{PAPER['kl_rank_range'][1]}, the same curve at {len(PAPER['kl_scale_factors'])} smaller scales).")
    return v
