"""``logitrank bench``: run learners on the benchmark suite and print a leaderboard; or ``--list`` the
tasks, or ``--export`` what a participant may see of them (``--with-answers``: the targets).

The options (with the score and the plug-in contract as epilog) are declared by
:func:`simulators.bench.command.add_bench_arguments`; ``run`` checks them (messages name the option as
typed) and calls :func:`simulators.bench.command.run_bench` and the bench's typed functions."""

from __future__ import annotations

import argparse

from .options import load_bench_tasks, progress

NAME = "bench"
HELP = ("run learners on the benchmark suite and print a leaderboard (--help: the score and the plug-in "
        "contract)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from simulators.bench.command import add_bench_arguments

    add_bench_arguments(p)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    load_bench_tasks()
    from simulators import bench
    from simulators.bench.command import parse_names, run_bench

    if args.seeds < 1:
        raise ValueError(f"--seeds: must be >= 1, got {args.seeds}")
    tasks = parse_names(args.tasks, "--tasks") if args.tasks is not None else None
    learners = parse_names(args.learner, "--learner")
    if args.suite is not None and not args.suite.strip():
        raise ValueError(f"--suite: must be a suite name, got {args.suite!r}")
    if args.list:
        print(bench.describe_tasks(tasks or (bench.suite(args.suite) if args.suite else list(bench.TASKS))))
        return 0
    names = tasks or bench.suite(args.suite or "core")
    if args.export is not None:
        exports = bench.export_tasks(names, range(args.seeds), args.export, with_answers=args.with_answers)
        for files in exports:
            print(f"wrote {' and '.join(str(f) for f in files)}")
        return 0
    budgets = bench.parse_budgets(args.budgets, "--budgets")
    ladder = None if budgets is None else list(bench.check_ladder("--budgets", budgets))
    return run_bench(learners, names, seeds=args.seeds, budgets=ladder, out=Path(args.out),
                     progress=progress(args))
