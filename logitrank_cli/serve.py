"""``logitrank serve``: the HTTP oracle server of :mod:`simulators.bench.serve` (options declared there)."""

from __future__ import annotations

import argparse

NAME = "serve"
HELP = ("an HTTP oracle server: budgeted queries of hidden bench targets, submissions scored into the "
        "leaderboard (needs the [serve] extra)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from simulators.bench.serve import add_arguments as add_server_arguments

    add_server_arguments(p)


def run(args: argparse.Namespace) -> int:
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()  # the transformer task runs torch
    import llm_bridge.bench_task  # noqa: F401  (registers the transformer task of the hard suite)
    from simulators.bench.serve import run as serve

    return serve(suite=args.suite, tasks=args.tasks, seeds=args.seeds, host=args.host, port=args.port,
                 out=args.out, max_request_mb=args.max_request_mb)
