"""The hard benchmark suite with every bundled learner, scored on one task set per access kind.

Runs (resumably, into ``--out``) the bundled learners — ``query`` (the practical query learner, anytime rank
growth), ``spanner`` (the provable learner), ``spectral``, ``ngram`` and ``mle`` — on every task of the
``hard`` suite at each task's full budget ladder, then prints the leaderboard (query-access and
sample-access tables, reference rows, the learning score) and the headroom summary.  The rank-capped
aliases ``query-r16/32/64`` are configurations of ``query`` and can be added with ``--learners``.

Run: ``nice python benchmarks/bench_hard_suite.py --out results/hard [--learners ngram,query]``; on a shared
machine, one process per learner into its own folder, then
``python benchmarks/bench_hard_suite.py --merge results/hard-query,results/hard-ngram,...`` prints the
leaderboard of all of them (records are keyed, so a reference computed twice is kept once).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import llm_bridge.bench_task  # noqa: F401  (registers the hard suite's transformer task)
from simulators import bench

LEARNERS = ("ngram", "spectral", "mle", "query", "spanner")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="logitrank-results/bench-hard")
    parser.add_argument("--learners", default=",".join(LEARNERS), help="comma-separated learners")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--merge", default=None,
                        help="comma-separated result folders: print their leaderboard")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if args.merge is None:
        for learner in args.learners.split(","):
            t0 = time.perf_counter()
            bench.run(learner, "hard", args.seeds, out=args.out, progress=None)
            print(f"{learner} on hard: {time.perf_counter() - t0:.0f} s", flush=True)
    folders = args.merge.split(",") if args.merge else [args.out]
    records = bench.merge_logs([Path(f) / "results.jsonl" for f in folders])
    print(bench.leaderboard(records, bench.TASKS))


if __name__ == "__main__":
    main()
