"""How the logit-query learner's query count scales with d, V and T (log-log slopes).

For random exact ISANs, sweeps one of the hidden dimension ``d``, the vocabulary ``V`` and the horizon
``T`` with the other two fixed, learns each target (KL per sequence checked to be < 1e-6), and fits the
exponent of queries in ``x`` with :func:`logitrank.power_law.fit_scaling` (every seed a point; a bootstrap
interval and the power-vs-affine verdict).  Theory (SPEC §1) says
queries ~ ``T (n_samples + E)(1 + V |F*|)`` with ``E`` the one-token extensions (``V d`` without a cap)
and ``|F*| ~ d``: polynomial, each exponent <= 2 with uncapped extensions (and <= 3 is the acceptance bar).
Both the default learner (``max_extensions=64``) and the uncapped one (``max_extensions=None``, the
exact-coverage guarantee) are measured.

Run: ``python benchmarks/learner_scaling.py [--seeds 2]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from logitrank.power_law import fit_scaling
from logitrank.validation import spawn_seeds
from simulators import TimeVaryingISAN
from simulators.learners import LogitQueryLearner, QueryAccess, evaluate

SWEEPS = {
    "d": ("dim", [2, 4, 8, 16], {"vocab": 8, "horizon": 8}),
    "V": ("vocab", [4, 8, 16, 32], {"dim": 4, "horizon": 8}),
    "T": ("horizon", [8, 16, 32, 64], {"vocab": 8, "dim": 4}),
}


def slope(x: list[float], y: list[float]) -> str:
    """The log-log exponent with its 95% interval and the power-vs-affine verdict (``fit_scaling``)."""
    f = fit_scaling(x, y, rng=0)
    return f"{f.exponent:.2f} [{f.exponent_ci[0]:.2f}, {f.exponent_ci[1]:.2f}] {f.verdict}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2)
    args = p.parse_args()
    table = []
    for cap in (64, None):
        for name, (key, values, fixed) in SWEEPS.items():
            queries, xs, per_seed, worst_kl, seconds = [], [], [], 0.0, 0.0
            for v in values:
                cfg = dict(fixed, **{key: v})
                qs = []
                for seed in range(args.seeds):
                    target_seed, learner_seed, access_seed, eval_seed = spawn_seeds(seed, 4)
                    target = TimeVaryingISAN.random(cfg["vocab"], cfg["dim"], cfg["horizon"], rng=target_seed)
                    t0 = time.perf_counter()
                    learner = LogitQueryLearner(max_extensions=cap, rng=learner_seed)
                    learner.fit(QueryAccess(target, rng=access_seed))
                    seconds += time.perf_counter() - t0
                    ev = evaluate(target, learner.model_, n_sequences=200, rng=eval_seed)
                    worst_kl = max(worst_kl, ev.kl)
                    qs.append(learner.queries_used_)
                    xs.append(v)
                queries.append(float(np.mean(qs)))
                per_seed += qs
            table.append((name, cap, values, queries, slope(xs, per_seed), worst_kl, seconds))
    print(f"queries of LogitQueryLearner vs d, V, T (random exact ISANs, {args.seeds} seeds per point)")
    print("| sweep | max_extensions | values | mean queries | exponent [95% CI], power vs affine "
          "| worst KL/seq | fit s |")
    print("|---|---|---|---|---|---|---|")
    for name, cap, values, queries, s, kl, sec in table:
        print(f"| {name} (others {SWEEPS[name][2]}) | {cap} | {values} | {[int(q) for q in queries]} | "
              f"{s} | {kl:.1e} | {sec:.1f} |")


if __name__ == "__main__":
    main()
