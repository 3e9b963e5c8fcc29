"""``logitrank <subcommand>``: the parser of every subcommand, and the one place where bad input becomes
exit status 2 with a message naming the option as the user typed it."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from . import bench, extract, measure, reproduce, serve, spectrum, train, verify

DESCRIPTION = "Command-line interface: ``logitrank <subcommand>``."

MODULES = (reproduce, spectrum, bench, serve, train, extract, measure, verify)
"""The subcommand modules, in the order ``logitrank --help`` lists them."""

SUBCOMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]]
SUBCOMMANDS = {m.NAME: (m.add_arguments, m.run) for m in MODULES}
"""``name -> (add_arguments, run)``; :func:`main` looks ``run`` up here when it runs."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logitrank", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    helps = {m.NAME: m.HELP for m in MODULES}
    for name, (add, _) in SUBCOMMANDS.items():
        add(sub.add_parser(name, help=helps[name]))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with run_folder_of(args, argv):
            return int(SUBCOMMANDS[args.command][1](args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, TypeError) as exc:
        if isinstance(exc, TypeError) and not is_validation_error(exc):
            raise  # a bug, not bad input: keep the traceback
        options = _subparser(parser, args.command)._option_string_actions
        print(f"logitrank {args.command}: error: {name_the_option(str(exc), options)}", file=sys.stderr)
        return 2


OWNED_OUT = ("bench", "measure", "reproduce", "train", "extract")
"""Subcommands whose ``--out`` is a resumable run folder: claimed for the whole command
(:mod:`logitrank.run_folder`: one command's runs, one process at a time, stale ``*.tmp`` swept)."""


def run_folder_of(args: argparse.Namespace, argv: Sequence[str] | None) -> AbstractContextManager[object]:
    """The claim on ``args.out`` of a subcommand of :data:`OWNED_OUT` (``bench --list/--export`` write
    elsewhere), else a context that does nothing."""
    if args.command not in OWNED_OUT or getattr(args, "list", False) or getattr(args, "export", None):
        return nullcontext()
    from logitrank.run_folder import claim

    return claim(args.out, args.command, {"argv": list(sys.argv[1:] if argv is None else argv)})


# ---------------------------------------------------------------------------------------------
# bad input -> exit 2 with a message naming the option as the user typed it

OUR_PACKAGES = ("logitrank", "simulators", "theory", "llm_bridge", "experiments", "paper_figures",
                "logitrank_cli")
"""Packages whose ``name: rule, got value`` errors are messages about the input (SPEC: validation)."""

_MESSAGE = re.compile(r"^\(?(--)?[A-Za-z_][\w\-\[\]., ]*\)?: ")

OPTION_OF = {"scheduler_address": "scheduler", "n_histories": "histories", "n_futures": "futures",
             "rng": "seed", "from_dir": "from", "max_seconds": "minutes"}
"""Library parameter names whose CLI option is spelled differently (the rest: ``_`` becomes ``-``)."""


def is_validation_error(exc: BaseException) -> bool:
    """Whether ``exc`` (a ``TypeError``, say) is a validation message of our packages: raised in one of
    :data:`OUR_PACKAGES` and worded ``name: rule, got value`` -- not a bug deep in numpy or torch."""
    frame = None
    tb = exc.__traceback__
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
    if frame is None:
        return False
    parts = Path(frame.f_code.co_filename).parts
    return any(p in parts for p in OUR_PACKAGES) and bool(_MESSAGE.match(str(exc)))


def name_the_option(message: str, options: Mapping[str, object]) -> str:
    """``message`` with its leading parameter name (``init_std: ...``, ``(histories, futures): ...``)
    replaced by the subcommand's option (``--init-std: ...``) where there is one."""
    head, sep, rest = message.partition(": ")
    if not sep or " " in head.strip("()").replace(", ", ","):
        return message

    def option(name: str) -> str:
        flag = "--" + OPTION_OF.get(name, name).replace("_", "-")
        return flag if flag in options else name

    names = [option(n) for n in head.strip("()").split(", ")]
    joined = ", ".join(names)
    return f"{'(' + joined + ')' if head.startswith('(') else joined}: {rest}"


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices[command]
