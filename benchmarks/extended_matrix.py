"""Speed of the ISAN fast path for the extended logit matrix against the generic path.

The generic path asks the model for the logits of every concatenation ``h . f`` (``|H| |F|`` prefixes,
each re-run from the start); the fast path computes the states of the histories once, one operator
``B A_f`` per future (sharing common prefixes), and one GEMM. The generic path is timed on a subset of
the histories and extrapolated linearly (its cost is exactly proportional to ``|H|``); the two are
checked to agree on that subset.

Run: ``python benchmarks/extended_matrix.py [--histories 512 --futures 512 --vocab 32 --dim 16]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from logitrank import extended_logit_matrix, random_futures, random_histories
from simulators import TimeVaryingISAN


class Generic:
    """Hides the model's fast paths so that ``extended_logit_matrix`` takes the generic path."""

    def __init__(self, model):
        self.model, self.vocab_size, self.horizon = model, model.vocab_size, model.horizon

    def logits(self, prefixes):
        return self.model.logits(prefixes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--histories", type=int, default=512)
    p.add_argument("--futures", type=int, default=512)
    p.add_argument("--vocab", type=int, default=32)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--horizon", type=int, default=12)
    p.add_argument("--history-length", type=int, default=5)
    p.add_argument("--generic-subset", type=int, default=32, help="histories timed on the generic path")
    p.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    model = TimeVaryingISAN.random(a.vocab, a.dim, a.horizon, rng=a.seed)
    H = random_histories(a.vocab, a.histories, a.history_length, rng=a.seed + 1)
    F = random_futures(a.vocab, a.futures, a.horizon - 1 - a.history_length, rng=a.seed + 2)

    # warm up both paths (BLAS start-up, first-touch page faults of the large output), then take the best
    # of a few runs; the cold first call is reported too
    t0 = time.perf_counter()
    extended_logit_matrix(model, H, F, progress=False)
    t_cold = time.perf_counter() - t0
    extended_logit_matrix(Generic(model), H[:2], F, progress=False)
    t_fast = np.inf
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        fast = extended_logit_matrix(model, H, F, progress=False)
        t_fast = min(t_fast, time.perf_counter() - t0)

    sub = min(a.generic_subset, len(H))
    t_sub = np.inf
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        slow = extended_logit_matrix(Generic(model), H[:sub], F, progress=False)
        t_sub = min(t_sub, time.perf_counter() - t0)
    t_generic = t_sub * len(H) / sub
    err = float(np.max(np.abs(slow.values - fast.values[:sub])))

    print(f"ISAN V={a.vocab} d={a.dim} T={a.horizon}: |H|={len(H)} (length {a.history_length}), "
          f"|F|={len(F)} (lengths 0..{a.horizon - 1 - a.history_length}) -> matrix {fast.shape}")
    print(f"fast path     : {t_fast:8.3f} s  (best of {a.repeats} warm runs; cold first call {t_cold:.3f} s)")
    print(f"generic path  : {t_generic:8.3f} s  (timed on {sub} of {len(H)} histories: {t_sub:.3f} s, "
          f"extrapolated linearly)" if sub < len(H) else f"generic path  : {t_generic:8.3f} s")
    print(f"speed ratio   : {t_generic / t_fast:8.1f}x   (max |fast - generic| on the subset = {err:.2e}; "
          f"{t_generic / t_cold:.1f}x against the cold call)")
    print("(measured on a shared machine; absolute times vary with load, the ratio less so)")


if __name__ == "__main__":
    main()
