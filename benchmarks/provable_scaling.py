"""Queries and samples of the provable and the practical learner on exact ISANs vs d, V and T.

Each fit reaches TV <= 0.01 (checked); the fitted log-log exponents are printed beside the theory's
O~(T^13 d^4 / eps^4) requests (the robust theorem's loose bound).

    python benchmarks/provable_scaling.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only contend

import argparse  # noqa: E402

from experiments.provable_learning import LEARNERS, query_scaling  # noqa: E402

AXES = {"d": [2, 4, 8, 16], "V": [4, 8, 16, 32], "T": [6, 12, 24, 48]}
QUICK = {"d": [2, 4, 8], "V": [4, 8, 16], "T": [6, 12, 24]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    for axis, values in (QUICK if args.quick else AXES).items():
        out = query_scaling(axis, values)
        print(f"\nvary {axis} (others V=8, d=4, T=8)")
        print(f"{axis:>4s} " + " ".join(f"{n + ' queries':>18s} {n + ' TV':>14s}" for n in LEARNERS)
              + f" {'provable samples':>17s}")
        for v, r in zip(values, out["rows"]):
            print(f"{v:4d} " + " ".join(f"{r[n]['queries']:18.0f} {r[n]['tv']:14.1e}" for n in LEARNERS)
                  + f" {r['provable']['samples']:17.0f}")
        print("  exponents: " + ", ".join(f"{n} {out['exponent'][n]:.2f}" for n in LEARNERS)
              + f"; theory bound exponent {out['theory_exponent']:g}; all TV <= 0.01: {out['reached']}")


if __name__ == "__main__":
    main()
