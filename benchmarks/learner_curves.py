"""The learning curves the learners issue asks for (acceptance numbers).

1. KL per sequence of the logit-query learner against query noise ``xi`` (uniform in ``[-xi, xi]``) on the
   ``isan-v16-d8-t16`` target.
2. KL against the rank budget (``rank=r``) on the approximately-low-rank targets ``planted-alpha0.7`` and
   ``hmm-s8-v8``.
3. Noisy parity (n = 20, |S| = 10, eta = 0.1): the query learner, and each sample-only baseline's KL on
   the label step at the given sample sizes, beside the trivial predictor's ``log 2 - H(eta)``.

Run: ``python benchmarks/learner_curves.py [--parts noise,rank,parity] [--parity-samples 10000,100000]``
(sampling 1e5 parity sequences through the generic sampler takes about two minutes).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from simulators import bench
from simulators.learners import (
    LogitQueryLearner,
    MLELearner,
    NGramLearner,
    QueryAccess,
    SpectralWFALearner,
    evaluate,
)


class Replay:
    """Hands the same sampled sequences to every baseline (an access with ``remaining = len(data)``)."""

    def __init__(self, data: np.ndarray):
        self.data, self.vocab_size, self.horizon, self.remaining = data, 2, data.shape[1], len(data)

    def sample(self, k: int) -> np.ndarray:
        return self.data[:k]


def noise_curve(seed: int) -> None:
    target = bench.build_target("isan-v16-d8-t16", seed)
    print(f"\n## KL vs query noise xi (isan-v16-d8-t16, seed {seed})")
    print("| xi | KL/seq | ± se | queries | ranks (max) |")
    print("|---|---|---|---|---|")
    for xi in [0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1]:
        learner = LogitQueryLearner(rng=seed).fit(QueryAccess(target, noise=xi, rng=seed))
        ev = evaluate(target, learner.model_, n_sequences=1000, rng=seed)
        print(f"| {xi:g} | {ev.kl:.3e} | {ev.kl_se:.1e} | {learner.queries_used_} | {learner.ranks_.max()} |")


def rank_curves(seed: int) -> None:
    for task in ("planted-alpha0.7", "hmm-s8-v8"):
        target = bench.build_target(task, seed)
        print(f"\n## KL vs rank budget ({task}, seed {seed})")
        print("| rank | KL/seq | ± se | queries |")
        print("|---|---|---|---|")
        for r in [1, 2, 4, 8, 16, 32, 64]:
            learner = LogitQueryLearner(rank=r, rng=seed).fit(QueryAccess(target, rng=seed))
            ev = evaluate(target, learner.model_, n_sequences=1000, rng=seed)
            print(f"| {r} | {ev.kl:.3e} | {ev.kl_se:.1e} | {learner.queries_used_} |")


def parity(seed: int, sizes: list[int]) -> None:
    target = bench.build_target("noisy-parity-n20", seed)
    eta = target.noise
    trivial = np.log(2) + eta * np.log(eta) + (1 - eta) * np.log(1 - eta)
    print(f"\n## noisy parity n=20, |S|=10, eta={eta} (seed {seed}); trivial predictor's label-step KL "
          f"log 2 - H(eta) = {trivial:.4f}")
    learner = LogitQueryLearner(rng=seed).fit(QueryAccess(target, budget=100_000, rng=seed))
    ev = evaluate(target, learner.model_, n_sequences=2000, rng=seed)
    print(f"query learner: KL/seq {ev.kl:.3e}, label step {ev.kl_per_position[-1]:.3e}, "
          f"queries {learner.queries_used_}")
    print("| learner | samples | KL label step | KL bits 0..19 (sum) | fit s |")
    print("|---|---|---|---|---|")
    for n in sizes:
        t0 = time.perf_counter()
        data = target.sample(n, rng=seed + 1)
        sample_s = time.perf_counter() - t0

        replay = Replay(data)

        for name, est in [("ngram (order 3, KN)", NGramLearner(order=3)),
                          ("ngram (order 8, KN)", NGramLearner(order=8)),
                          ("spectral WFA (rank 8)", SpectralWFALearner(rank=8)),
                          ("spectral WFA (noise floor)", SpectralWFALearner(rank=8, noise_floor=True)),
                          ("MLE ISAN (d 4)", MLELearner(dim=4, rng=seed))]:
            t0 = time.perf_counter()
            est.fit(replay)
            fit_s = time.perf_counter() - t0
            ev = evaluate(target, est.model_, n_sequences=2000, rng=seed)
            print(f"| {name} | {n} | {ev.kl_per_position[-1]:.4f} | {sum(ev.kl_per_position[:-1]):.2e} | "
                  f"{fit_s:.1f} |")
        print(f"(sampling {n} sequences took {sample_s:.0f} s)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", default="noise,rank,parity")
    p.add_argument("--parity-samples", default="10000,100000")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    parts = args.parts.split(",")
    warnings.filterwarnings("ignore", message="WFAModel")  # clipping is counted, not needed here
    if "noise" in parts:
        noise_curve(args.seed)
    if "rank" in parts:
        rank_curves(args.seed)
    if "parity" in parts:
        parity(args.seed, [int(s) for s in args.parity_samples.split(",")])


if __name__ == "__main__":
    main()
