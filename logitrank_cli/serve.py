"""``logitrank serve``: the HTTP oracle server of :mod:`simulators.bench.serve` (options declared there)."""

from __future__ import annotations

import argparse

from .options import load_bench_tasks

NAME = "serve"
HELP = ("an HTTP oracle server: budgeted queries of hidden bench targets, submissions scored into the "
        "leaderboard (needs the [serve] extra)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from simulators.bench.serve import add_arguments as add_server_arguments

    add_server_arguments(p)


def run(args: argparse.Namespace) -> int:
    load_bench_tasks()
    from simulators.bench.serve import run as serve

    return serve(suite=args.suite, tasks=args.tasks, seeds=args.seeds, host=args.host, port=args.port,
                 out=args.out, max_request_mb=args.max_request_mb)
