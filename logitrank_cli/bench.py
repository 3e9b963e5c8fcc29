"""``logitrank bench``: run learners on the benchmark suite and print a leaderboard; or ``--list`` the
tasks, or ``--export`` what a participant may see of them (``--with-answers``: the targets)."""

from __future__ import annotations

import argparse

from .options import progress

NAME = "bench"
HELP = "run learners on the benchmark suite and print a leaderboard"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--learner", default="query",
                   help="comma-separated aliases (query, query-r16, query-r32, query-r64, spectral, ngram, "
                        "mle, spanner) or import paths 'package.module:Class'")
    p.add_argument("--suite", default=None, help="suite name: core (default), hard, quick, transformer")
    p.add_argument("--tasks", default=None, help="comma-separated task names (instead of --suite)")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..n-1")
    p.add_argument("--budgets", default=None, metavar="B1,B2,...",
                   help="one strictly increasing budget ladder for every task, e.g. 1e3,1e4 (default: each "
                        "task's own ladder)")
    p.add_argument("--out", default="logitrank-results/bench",
                   help="output directory (resumable; the leaderboard covers every learner run there)")
    p.add_argument("--export", default=None, metavar="DIR",
                   help="instead of running: write what a participant may see of each task and seed (JSON: "
                        "description, alphabet, horizon, access, budgets; see README) to DIR")
    p.add_argument("--with-answers", action="store_true",
                   help="with --export: write the targets themselves (npz or checkpoint + JSON with the "
                        "streams)")
    p.add_argument("--list", action="store_true",
                   help="describe the tasks (of --suite/--tasks, else all): access, oracle, ladder, what "
                        "makes each hard")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()  # the transformer task runs torch
    import llm_bridge.bench_task  # noqa: F401  (registers the frozen-transformer task)
    from simulators import bench

    if args.list:
        names = args.tasks.split(",") if args.tasks else (bench.suite(args.suite) if args.suite else
                                                          list(bench.TASKS))
        print(bench.describe_tasks(names))
        return 0
    tasks = args.tasks.split(",") if args.tasks else bench.suite(args.suite or "core")
    if args.export is not None:
        exports = bench.export_tasks(tasks, range(args.seeds), args.export, with_answers=args.with_answers)
        for files in exports:
            print(f"wrote {' and '.join(str(f) for f in files)}")
        return 0
    outcome = bench.run_learners(args.learner.split(","), tasks, args.seeds,
                                 budgets=bench.parse_budgets(args.budgets), out=args.out,
                                 progress=progress(args))
    out = Path(args.out)
    print((out / "leaderboard.md").read_text(), end="")
    print(f"wrote {out / 'results.json'} and {out / 'leaderboard.md'}")
    return 1 if outcome.all_failed else 0
