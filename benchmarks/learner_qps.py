"""Queries per second of the logit-query learner, and where the time goes.

Fits :class:`simulators.learners.LogitQueryLearner` to a random exact ISAN through a timed
:class:`QueryAccess` and prints: wall time of the fit, queries, queries per second, the share of the time
spent answering queries (the target's fast ``extended_logits`` path) against the learner's own work
(SVDs, pivoted QRs, least squares, bookkeeping), and — the naive way — how long the same number of
queries would take answered one prefix at a time through the generic ``model.logits`` path (rate measured
on a sample of prefixes and extrapolated linearly).

Run: ``python benchmarks/learner_qps.py [--vocab 16 --dim 8 --horizon 16 --seeds 3]``
"""

from __future__ import annotations

import time

import numpy as np
from _harness import parser, timed

from simulators import TimeVaryingISAN
from simulators.learners import LogitQueryLearner, QueryAccess, evaluate


class TimedAccess(QueryAccess):
    """A QueryAccess that adds up the seconds spent answering."""

    answer_seconds = 0.0

    def extended_logits(self, histories, futures):
        t0 = time.perf_counter()
        out = super().extended_logits(histories, futures)
        self.answer_seconds += time.perf_counter() - t0
        return out

    def sample(self, n):
        t0 = time.perf_counter()
        out = super().sample(n)
        self.answer_seconds += time.perf_counter() - t0
        return out


def naive_rate(model: TimeVaryingISAN, rng: np.random.Generator, n: int = 20_000) -> float:
    """Prefixes per second through the generic one-prefix-at-a-time path (``model.logits``)."""
    T = model.horizon
    lengths = rng.integers(0, T, size=n)
    prefixes = [tuple(int(x) for x in rng.integers(0, model.vocab_size, size=k)) for k in lengths]
    t0 = time.perf_counter()
    for lo in range(0, n, 256):  # batches of 256 mixed-length prefixes, as a simple learner would ask
        model.logits(prefixes[lo:lo + 256])
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = parser(__doc__, vocab=16, dim=8, horizon=16)
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    rows = []
    for seed in range(args.seeds):
        target = TimeVaryingISAN.random(args.vocab, args.dim, args.horizon, rng=seed)
        access = TimedAccess(target, rng=seed)
        learner = LogitQueryLearner(rng=seed)
        wall, _ = timed(learner.fit, access)
        kl = evaluate(target, learner.model_, n_sequences=500, rng=seed).kl
        naive = naive_rate(target, np.random.default_rng(seed))
        rows.append((seed, wall, learner.queries_used_, access.answer_seconds, kl, naive))
    print(f"LogitQueryLearner on random ISANs V={args.vocab}, d={args.dim}, T={args.horizon} "
          "(one process; the machine may be shared)")
    print("| seed | fit s | queries | queries/s | answering share | KL/seq | naive answering s (x fit) |")
    print("|---|---|---|---|---|---|---|")
    for seed, wall, q, ans, kl, naive in rows:
        print(f"| {seed} | {wall:.2f} | {q} | {q / wall:,.0f} | {ans / wall:.0%} | {kl:.2e} | "
              f"{q / naive:.1f} ({q / naive / wall:.1f}x) |")


if __name__ == "__main__":
    main()
