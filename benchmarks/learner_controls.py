"""The learning claims against the provable learner and every broken learner (issue 22's table, re-run).

Each cell runs the claim's own check (``theory.learning_claims``) with one learner and reports ``holds`` or
``FAILS`` with the parts that failed (``frequency``: the 95% lower bound of the TV-failure rate exceeds delta;
``queries``: over the claim's query bound; ``coefficients``: max |c| above beta; ``witnesses``: above 4d).
A broken learner is expected to fail where :mod:`theory.broken_learners` says, and the provable learner to
hold everywhere.

Run: ``python benchmarks/learner_controls.py [--instances 10] [--seed 0] [--out results/controls.json]``
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from logitrank.results_io import to_jsonable
from theory import learning_claims as lc
from theory.broken_learners import BROKEN

CLAIMS = ("learning.exact", "learning.witnesses", "learning.bounded_coefficients", "learning.graceful")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--instances", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    learners = ("provable", *BROKEN)
    table: dict[str, dict[str, dict]] = {}
    for claim in CLAIMS:
        for who in learners:
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                slow = claim == "learning.witnesses"  # T = 18..20 fits: half as many instances
                n = max(2, args.instances // 2) if slow else args.instances
                ev = lc.check_with_learner(claim, who, np.random.default_rng([args.seed, len(table)]), n)
            failed = sorted(k for k, v in ev.details["parts"].items() if v < 0)
            table.setdefault(claim, {})[who] = {"holds": ev.holds, "failed_parts": failed,
                                                "failures": ev.details["failures"], "instances": ev.instances,
                                                "failure_interval": ev.details["failure_interval"],
                                                "seconds": time.perf_counter() - t0}
            print(f"{claim:32s} {who:13s} {'holds' if ev.holds else 'FAILS ' + ','.join(failed):40s} "
                  f"TV failures {ev.details['failures']}/{ev.instances}  {time.perf_counter() - t0:.0f}s",
                  flush=True)
    print("\n| learner | " + " | ".join(c.split(".")[1] for c in CLAIMS) + " |")
    print("|---|" + "---|" * len(CLAIMS))
    for who in learners:
        cells = []
        for claim in CLAIMS:
            r = table[claim][who]
            lo, hi = r["failure_interval"]
            rate = f"{r['failures']}/{r['instances']} [{lo:.2f}, {hi:.2f}]"
            why = ", ".join(r["failed_parts"])
            cells.append(f"holds ({rate})" if r["holds"] else f"**fails**: {why} ({rate})")
        print(f"| {who} | " + " | ".join(cells) + " |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(to_jsonable(table), indent=1))


if __name__ == "__main__":
    main()
