"""Tracking steps per second of the provable learner's generation (the tracking LP of SpannerLPLearner).

A fitted :class:`simulators.learners.SpannerLPLearner` generates by tracking a coefficient vector ``|c| <=
beta`` over its stored basis rows, one tracking problem per sequence and position (SPEC §1). Fitted on an
exact random ISAN (``--eps`` > 0: a ``PerturbedModel`` of it, where some steps need HiGHS):

* **ours**: ``model_.track`` as fitted (certified least squares where it decides, HiGHS for the rest);
* **naive**: the same model solving every step with HiGHS (``certify = 0``, ``minimise = True``: the LP as
  SPEC writes it, ``lp="always", lp_shortcut=0``);
* **floor**: the unconstrained least squares of every step, one pseudo-inverse product per position for all
  sequences (what the tracking costs when no step needs the LP).

Run: ``python benchmarks/lp_steps.py [--vocab 8 --dim 4 --horizon 12 --eps 1e-2 --sequences 400]``
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
from _harness import Row, parser, row, timed


def measure(vocab: int, dim: int, horizon: int, eps: float, n_seq: int, seed: int = 0,
            naive_seq: int = 50) -> dict[str, Any]:
    """Seconds to track ``n_seq`` sampled sequences each way (the naive way timed on ``naive_seq`` of them and
    extrapolated linearly: its cost is per step), the steps, and the LP count of ours."""
    from simulators import PerturbedModel, TimeVaryingISAN
    from simulators.learners import QueryAccess, SpannerLPLearner

    base = TimeVaryingISAN.random(vocab, dim, horizon, rng=seed)
    target = PerturbedModel(base, eps, rng=seed) if eps > 0 else base
    learner = SpannerLPLearner(rng=seed).fit(QueryAccess(target, rng=seed))
    model = learner.model_
    seqs = target.sample(n_seq, rng=seed + 1)
    ours, tracked = timed(lambda: model.track(seqs))
    always = copy.copy(model)
    always.certify, always.minimise = 0.0, True
    sub = min(naive_seq, n_seq)
    naive = timed(lambda: always.track(seqs[:sub]))[0] * n_seq / sub
    return {"ours": ours, "naive": naive, "floor": lstsq_floor(model, seqs), "steps": n_seq * (horizon - 1),
            "n_lp": tracked[3]}


def lstsq_floor(model: Any, seqs: np.ndarray) -> float:
    """Seconds of the unconstrained tracking: ``c_{s+1} = pinv(A_{s+1})``-product of the shifted targets."""
    pinvs = [np.linalg.pinv(A) for A in model.basis_rows]  # part of the fit, not of generation
    n, L = seqs.shape
    t0 = time.perf_counter()
    c = np.ones((n, 1))
    for s in range(L - 1):
        b = np.einsum("nm,nmd->nd", c, model.shifted[s][seqs[:, s]])
        c = b @ pinvs[s + 1]
    return time.perf_counter() - t0


def lp_row(quick: bool) -> Row:
    """The benchmark table's row (:mod:`benchmarks.table`)."""
    V, d, T, n = (8, 4, 12, 500) if quick else (8, 4, 12, 4000)
    r = measure(V, d, T, 0.0, n, naive_seq=25 if quick else 100)
    return row("provable learner: tracking steps (SpannerLP generation)",
               f"exact ISAN V={V} d={d} T={T}, {n} sequences", ours=r["ours"], naive=r["naive"],
               floor=r["floor"],
               floor_def="unconstrained least squares of every step (one pinv product per position)",
               note=f"{r['steps'] / r['ours']:,.0f} steps/s ({r['n_lp']} of {r['steps']} by HiGHS); "
                    f"naive: HiGHS at every step (timed on a subset, extrapolated)")


def main() -> None:
    p = parser(__doc__, vocab=8, dim=4, horizon=12, seed=0)
    p.add_argument("--eps", type=float, default=0.0)
    p.add_argument("--sequences", type=int, default=200)
    a = p.parse_args()
    r = measure(a.vocab, a.dim, a.horizon, a.eps, a.sequences, a.seed)
    print(f"{r['steps']} tracking steps: ours {r['ours']:.3f} s ({r['steps'] / r['ours']:,.0f} steps/s, "
          f"{r['n_lp']} by HiGHS), HiGHS at every step {r['naive']:.3f} s ({r['naive'] / r['ours']:.1f}x), "
          f"least-squares floor {r['floor']:.4f} s (ours / floor {r['ours'] / r['floor']:.1f}x)")


if __name__ == "__main__":
    main()
