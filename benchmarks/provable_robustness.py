"""TV of the provable and the practical learner vs misspecification eps_avg and vs a fixed oracle error xi.

Targets: ``PerturbedModel(TimeVaryingISAN.random(V=8, d=4, T=10), eps)`` for eps over 5 decades, and the
base ISAN behind ``QueryAccess(noise=xi, noise_mode="fixed")`` for xi over 5 decades; then a long horizon
(T = 48) at eps = xi = 1e-2, where coefficient or state-norm growth along the sequence would show.
Prints TV (with its standard error), the fitted log-log slopes and whether TV falls monotonically.

    python benchmarks/provable_robustness.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only contend

import argparse  # noqa: E402

from experiments.provable_learning import robustness_sweep  # noqa: E402
from simulators import PerturbedModel, TimeVaryingISAN  # noqa: E402
from theory.learning import LEARNERS, fit_both  # noqa: E402


def print_sweep(sweep: dict, label: str) -> None:
    print(f"\nTV vs {label}")
    print(f"{'level':>8s} {label:>10s} " + " ".join(f"{n + ' TV':>14s}" for n in LEARNERS))
    for lev, x, row in zip(sweep["levels"], sweep["x"], sweep["rows"]):
        print(f"{lev:8.0e} {x:10.2e} " + " ".join(f"{row[n]['tv']:14.2e}" for n in LEARNERS))
    for n in LEARNERS:
        print(f"  {n}: log-log slope {sweep['slope'][n]:.3f}, "
              f"monotone as {label} -> 0: {sweep['monotone'][n]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 levels, T = 24 for the long horizon")
    args = ap.parse_args()
    levels = [1e-1, 1e-2, 1e-3] if args.quick else [1e-1, 1e-2, 1e-3, 1e-4, 1e-5]
    print_sweep(robustness_sweep("eps", levels), "eps_avg")
    print_sweep(robustness_sweep("xi", levels), "xi")
    T = 24 if args.quick else 48
    base = TimeVaryingISAN.random(8, 4, T, rng=0)
    print(f"\nlong horizon T = {T} (V = 8, d = 4)")
    for kind, target, kw in (("fixed xi = 1e-2", base, {"xi": 1e-2}),
                             ("eps = 1e-2", PerturbedModel(base, 1e-2, rng=1), {"eps": 1e-2})):
        r = fit_both(target, rank=4, n_eval=500, **kw)
        p, q = r["provable"], r["practical"]
        print(f"  {kind:16s} provable TV {p['tv']:.2e} +- {p['tv_se']:.1e} (max|c| {p['coef_max']:.3f}, "
              f"queries {p['queries']:.0f}) | practical TV {q['tv']:.2e} +- {q['tv_se']:.1e} (state norm "
              f"max {q['state_norm_max']:.1f}, growth max/min {q['state_norm_growth']:.2f}, "
              f"queries {q['queries']:.0f})")


if __name__ == "__main__":
    main()
