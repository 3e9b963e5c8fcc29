"""Witness futures per position of the provable learner vs d, against d log(...) and GLS2's 64 d J_b.

Binary random ISANs (V = 2, T = 12): the initial futures (empty and one token) separate at most 3 states,
so every d > 3 needs witness futures; the elliptical-potential bound is O(d log(T d alpha / (eps delta))).

    python benchmarks/provable_witnesses.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only contend

import argparse  # noqa: E402

from experiments.provable_learning import witness_sweep  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    dims = [2, 4, 8] if args.quick else [2, 3, 4, 6, 8, 12, 16]
    out = witness_sweep(dims)
    print(f"{'d':>3s} {'max/pos':>8s} {'total':>6s} {'4d':>4s} {'d log2(.)':>10s} {'64 d J_b':>9s} "
          f"{'TV':>9s} {'epochs':>6s}")
    for r in out["rows"]:
        print(f"{r['d']:3d} {r['max_per_position']:8d} {r['total']:6d} {4 * r['d']:4d} {r['d_log']:10.1f} "
              f"{r['explicit']:9.0f} {r['tv']:9.1e} {r['epochs']:6d}  {r['stop']}")
    print(f"log-log slope of max witnesses per position vs d: {out['slope']:.2f}")


if __name__ == "__main__":
    main()
