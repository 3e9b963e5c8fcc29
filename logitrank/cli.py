"""Command-line interface: ``logitrank <subcommand>``.

The CLI is thin: it parses arguments and calls library functions that are tested on their own.
Upper layers (simulators, theory, llm_bridge, paper_figures, torch) are imported only inside each
subcommand so that ``import logitrank`` stays light.  Each subcommand has an ``_add_<name>`` that
declares its arguments and a ``_run_<name>`` that does the work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

SUBCOMMANDS: dict[str, tuple[Callable[[argparse._SubParsersAction], argparse.ArgumentParser],
                             Callable[[argparse.Namespace], int]]] = {}


def subcommand(name: str) -> Callable:
    """Register ``_add_<name>`` / ``_run_<name>`` pairs in the order they are defined."""

    def register(add: Callable) -> Callable:
        run = globals()[f"_run_{name}"]
        SUBCOMMANDS[name] = (add, run)
        return add

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logitrank", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in SUBCOMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(SUBCOMMANDS[args.command][1](args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError) as exc:
        print(f"logitrank {args.command}: error: {exc}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------------------------
# subcommands are added below this line, one _run_/_add_ pair each
