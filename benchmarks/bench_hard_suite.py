"""The hard benchmark suite with every bundled learner, and the numbers its acceptance asks for.

Runs (resumably, into ``--out``) ``ngram``, ``spectral``, ``query``, ``query-r16`` and ``mle`` on the ``hard``
suite at each task's full budget ladder, ``query-r32`` / ``query-r64`` on the transformer task, and
``spanner`` (the provable learner) when it is installed; then prints the leaderboard and the headroom
summary: per task the best learner's KL at its largest and smallest budget, the number of tasks where the
best stays at KL >= 1e-2, and per learner the tasks it solves below 1e-6 at its smallest budget.

Run: ``nice python benchmarks/bench_hard_suite.py --out results/hard [--learners ngram,query]``.
The full ladder takes long on 2 CPU cores (the transformer rows with rank caps 32 and 64 alone take
several minutes each); the test-suite uses reduced ladders instead.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from simulators import bench

PLAN = [("ngram", "hard"), ("spectral", "hard"), ("query", "synthetic"), ("query-r16", "hard"),
        ("query-r32", "transformer"), ("query-r64", "transformer"), ("mle", "hard"), ("spanner", "hard")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="logitrank-results/bench-hard")
    parser.add_argument("--learners", default=None, help="comma-separated subset of the plan")
    parser.add_argument("--seeds", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    hard = bench.suite("hard")
    groups = {"hard": hard, "transformer": bench.suite("transformer"),
              "synthetic": [t for t in hard if t not in bench.suite("transformer")]}
    wanted = None if args.learners is None else set(args.learners.split(","))
    for learner, group in PLAN:
        if wanted is not None and learner not in wanted:
            continue
        try:
            bench.resolve_learner(learner)
        except ValueError as exc:
            print(f"{learner}: not run ({exc})")
            continue
        t0 = time.perf_counter()
        bench.run(learner, groups[group], args.seeds, out=args.out, progress=None)
        print(f"{learner} on {group}: {time.perf_counter() - t0:.0f} s", flush=True)
    records = bench.read_log(Path(args.out) / "results.jsonl")
    print(bench.leaderboard(records, bench.TASKS))


if __name__ == "__main__":
    main()
