"""How the logit-query learner's query count scales with d, V and T (log-log slopes).

For random exact ISANs, sweeps one of the hidden dimension ``d``, the vocabulary ``V`` and the horizon
``T`` with the other two fixed, learns each target (KL per sequence checked to be < 1e-6), and fits the
slope of ``log queries`` against ``log x`` by least squares over the sweep.  Theory (SPEC §1) says
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

from simulators import TimeVaryingISAN
from simulators.learners import LogitQueryLearner, QueryAccess, evaluate

SWEEPS = {
    "d": ("dim", [2, 4, 8, 16], {"vocab": 8, "horizon": 8}),
    "V": ("vocab", [4, 8, 16, 32], {"dim": 4, "horizon": 8}),
    "T": ("horizon", [8, 16, 32, 64], {"vocab": 8, "dim": 4}),
}


def slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of ``log y`` on ``log x``."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=2)
    args = p.parse_args()
    table = []
    for cap in (64, None):
        for name, (key, values, fixed) in SWEEPS.items():
            queries, worst_kl, seconds = [], 0.0, 0.0
            for v in values:
                cfg = dict(fixed, **{key: v})
                qs = []
                for seed in range(args.seeds):
                    target = TimeVaryingISAN.random(cfg["vocab"], cfg["dim"], cfg["horizon"], rng=seed)
                    t0 = time.perf_counter()
                    learner = LogitQueryLearner(max_extensions=cap, rng=seed)
                    learner.fit(QueryAccess(target, rng=seed))
                    seconds += time.perf_counter() - t0
                    worst_kl = max(worst_kl, evaluate(target, learner.model_, n_sequences=200, rng=seed).kl)
                    qs.append(learner.queries_used_)
                queries.append(float(np.mean(qs)))
            table.append((name, cap, values, queries, slope(values, queries), worst_kl, seconds))
    print(f"queries of LogitQueryLearner vs d, V, T (random exact ISANs, mean over {args.seeds} seeds)")
    print("| sweep | max_extensions | values | mean queries | log-log slope | worst KL/seq | fit s |")
    print("|---|---|---|---|---|---|---|")
    for name, cap, values, queries, s, kl, sec in table:
        print(f"| {name} (others {SWEEPS[name][2]}) | {cap} | {values} | {[int(q) for q in queries]} | "
              f"{s:.2f} | {kl:.1e} | {sec:.1f} |")


if __name__ == "__main__":
    main()
