"""``logitrank verify``: check every claim of the theory on random instances (exit 1 if one fails)."""

from __future__ import annotations

import argparse

from .options import SEED, count

NAME = "verify"
HELP = "check every claim of the theory on random instances (exit 1 if one fails)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--claim", action="append", default=None, metavar="ID",
                   help="claim id (repeatable; default: all; see --list)")
    p.add_argument("--instances", type=count(1), default=None,
                   help="instances per claim (default: each claim's own)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output (evidence and details)")
    p.add_argument("--list", action="store_true", help="list the claim ids and statements")
    p.add_argument("--no-controls", action="store_true", help="skip the negative controls")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from logitrank.results_io import dumps_json
    from theory import claims, format_table, run_claims

    if args.list:
        for c in claims():
            print(f"{c.id:34s} {c.statement}")
        return 0
    results = run_claims(args.claim, instances=args.instances, seed=args.seed, controls=not args.no_controls,
                         progress=not args.json and not args.no_progress)
    ok = all(r.ok for r in results)
    if args.json:
        print(dumps_json({"seed": args.seed, "ok": ok, "claims": [r.to_dict() for r in results]}, indent=1))
    else:
        print(format_table(results))
    return 0 if ok else 1
