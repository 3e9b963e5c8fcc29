"""``logitrank bench``: its arguments (:func:`add_bench_arguments`), the names it parses and the run
(:func:`run_bench`); :mod:`logitrank_cli.bench` checks the parsed options and calls these.

Every bad value is a ValueError naming the option as the user typed it, the rule and the value (the CLI
turns it into exit status 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from .ladder import run_learners
from .score import SCORE_FLOOR, TV_TARGET

__all__ = ["EPILOG", "add_bench_arguments", "parse_names", "run_bench"]

EPILOG = f"""\
score (higher is better, 0..1; one table per access kind, every learner on every task of its table):
  per rung of the budget ladder, excess KL e = max(KL - KL_irr, 0) over the irreducible error KL_irr (the
  base rank-d model's KL for a misspecified target, else 0), and
  score = clip(log10(g / max(e, F)) / log10(g / F), 0, 1), g = KL_uniform - KL_irr, F = {SCORE_FLOOR:g} nats:
  the fraction of the decades from the uniform predictor down to the floor that the learner removed.
  A failed, over-budget, non-finite or not-run rung counts as the uniform predictor (0).  Task score: mean
  over the ladder; overall: mean over the table's tasks.  "TV at": the smallest budget with
  TV - TV_irr <= {TV_TARGET:g} (breaks ties in score, then shown as ties).

plug-in contract (your own learner, no PYTHONPATH needed):
  # my_learner.py                       logitrank bench --learner my_learner.py:Uniform --suite quick
  import numpy as np
  from simulators import TimeVaryingISAN

  class Uniform:
      access_kind = "query"             # or "sample": what the access object offers
      def __init__(self, rng=None):     # rng: an int seed of the learner's own stream (optional)
          self.rng = rng
      def fit(self, access):            # access: vocab_size, horizon, used, budget, remaining and
          V, T = access.vocab_size, access.horizon   # logits(prefixes) / extended_logits(H, F) /
          self.model_ = TimeVaryingISAN(             # sample(n) (query), or sample(n) (sample access)
              np.ones(1), np.ones((T - 1, V, 1, 1)), np.zeros((T, V, 1)))
          self.stopped_early_ = False   # True when the budget stopped you before you were done
          return self

  model_ is any SequenceModel (vocab_size, horizon, logits(prefixes) -> (n, V) centered logits) of the
  task's V and T.  Asking for more than the budget raises BudgetExceeded (the run is "over_budget");
  an exception is recorded as "failed" with its traceback in OUT/logs/, named in the leaderboard.
"""


def parse_names(text: str, option: str) -> list[str]:
    """Comma-separated names; an empty string or an empty name (``""``, ``","``, ``"a,,b"``) is refused."""
    names = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not n for n in names):
        raise ValueError(f"{option}: must be comma-separated non-empty names, got {text!r}")
    return names


def add_bench_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Declare ``logitrank bench``'s options on ``p`` (with the score and the plug-in contract as epilog)."""
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("--learner", default="query",
                   help="comma-separated aliases (query, query-r16, query-r32, query-r64, spectral, ngram, "
                        "mle, spanner), import paths 'package.module:Class' or files 'path/to/file.py:Class'")
    p.add_argument("--suite", default=None, help="suite name: core (default), hard, quick, transformer")
    p.add_argument("--tasks", default=None, help="comma-separated task names (instead of --suite)")
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..n-1")
    p.add_argument("--budgets", default=None, metavar="B1,B2,...",
                   help="one strictly increasing budget ladder for every task, e.g. 1e3,1e4 (whole numbers "
                        "up to 1e12; default: each task's own ladder)")
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
    return p


def run_bench(learners: Sequence[str], tasks: Sequence[str], *, seeds: int, budgets: list[int] | None,
              out: Path, progress: bool | None) -> int:
    """Run each learner on ``tasks`` into ``out`` and print the leaderboard of everything there; exit status
    1 when every run of this call failed, else 0."""
    outcome = run_learners(list(learners), list(tasks), seeds, budgets=budgets, out=out, progress=progress)
    print((out / "leaderboard.md").read_text(), end="")
    print(f"wrote {out / 'results.json'} and {out / 'leaderboard.md'}")
    return 1 if outcome.all_failed else 0
