"""Speed of the ISAN fast path for the extended logit matrix against the generic path.

The generic path asks the model for the logits of every concatenation ``h . f`` (``|H| |F|`` prefixes,
each re-run from the start); the fast path computes the states of the histories once, one centered operator
``C B A_f`` per future (sharing common prefixes), and one GEMM; its floor is that GEMM alone, writing the
matrix. The generic path is timed on a subset of
the histories and extrapolated linearly (its cost is exactly proportional to ``|H|``); the two are
checked to agree on that subset.

Run: ``python benchmarks/extended_matrix.py [--histories 512 --futures 512 --vocab 32 --dim 16]``
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _harness import Row, best_of, parser, row

from logitrank import extended_logit_matrix, random_futures, random_histories
from simulators import TimeVaryingISAN


class Generic:
    """Hides the model's fast paths so that ``extended_logit_matrix`` takes the generic path."""

    def __init__(self, model):
        self.model, self.vocab_size, self.horizon = model, model.vocab_size, model.horizon

    def logits(self, prefixes):
        return self.model.logits(prefixes)


def gemm_floor(model: TimeVaryingISAN, H: list, F: list, repeats: int) -> float:
    """Seconds of the floor: the history states (``|H| x d``) times the stacked, centered future operators
    (``d x |F| V``) into a fresh output — the GEMM that writes the matrix, with its inputs precomputed."""
    t = len(H[0])
    X = model.states(np.array(H, dtype=np.int64).reshape(len(H), t))
    ops = model._stacked_future_operators(t, [tuple(f) for f in F])
    return best_of(lambda: np.matmul(X, ops.T, out=np.empty((len(H), ops.shape[0]))), repeats)[0]


def measure(vocab: int = 32, dim: int = 16, horizon: int = 12, histories: int = 512, futures: int = 512,
            history_length: int = 5, generic_subset: int = 32, repeats: int = 3,
            seed: int = 0) -> dict[str, Any]:
    """Seconds of the fast path (best warm run, and the cold first call), of its GEMM floor and of the
    generic path (timed on ``generic_subset`` histories, extrapolated linearly), and their largest
    difference on the subset."""
    model = TimeVaryingISAN.random(vocab, dim, horizon, rng=seed)
    H = random_histories(vocab, histories, history_length, rng=seed + 1)
    F = random_futures(vocab, futures, horizon - 1 - history_length, rng=seed + 2)
    # warm up both paths (BLAS start-up, first-touch page faults of the large output), then take the best
    # of a few runs; the cold first call is reported too
    t_cold, _ = best_of(lambda: extended_logit_matrix(model, H, F, progress=False), 1)
    extended_logit_matrix(Generic(model), H[:2], F, progress=False)
    t_fast, fast = best_of(lambda: extended_logit_matrix(model, H, F, progress=False), repeats)
    sub = min(generic_subset, len(H))
    t_sub, slow = best_of(lambda: extended_logit_matrix(Generic(model), H[:sub], F, progress=False), repeats)
    return {"fast": t_fast, "cold": t_cold, "floor": gemm_floor(model, H, F, repeats),
            "generic": t_sub * len(H) / sub, "generic_subset": sub, "generic_subset_s": t_sub,
            "err": float(np.max(np.abs(slow.values - fast.values[:sub]))), "shape": fast.shape,
            "H": len(H), "F": len(F)}


def isan_row(quick: bool) -> Row:
    """The benchmark table's row (``benchmarks/table.py``)."""
    r = measure(generic_subset=8 if quick else 32, repeats=2 if quick else 3)
    return row("ISAN extended matrix, fast path", f"V=32 d=16 T=12, |H|=|F|=512 → {r['shape']}",
               ours=r["fast"], naive=r["generic"], floor=r["floor"],
               floor_def="GEMM of the history states by the stacked future operators into a fresh matrix",
               note=f"naive: generic path, every h·f from the start ({r['generic_subset']} histories timed, "
                    f"extrapolated); max |diff| {r['err']:.0e}")


def main() -> None:
    p = parser(__doc__, histories=512, futures=512, vocab=32, dim=16, horizon=12, history_length=5, repeats=3,
               seed=0)
    p.add_argument("--generic-subset", type=int, default=32, help="histories timed on the generic path")
    a = p.parse_args()
    r = measure(a.vocab, a.dim, a.horizon, a.histories, a.futures, a.history_length, a.generic_subset,
                a.repeats, a.seed)
    print(f"ISAN V={a.vocab} d={a.dim} T={a.horizon}: |H|={r['H']} (length {a.history_length}), "
          f"|F|={r['F']} (lengths 0..{a.horizon - 1 - a.history_length}) -> matrix {r['shape']}")
    print(f"fast path     : {r['fast']:8.3f} s  (best of {a.repeats} warm runs; cold first call "
          f"{r['cold']:.3f} s)")
    print(f"GEMM floor    : {r['floor']:8.3f} s  (states x stacked operators into a fresh matrix; "
          f"fast / floor {r['fast'] / r['floor']:.2f}x)")
    print(f"generic path  : {r['generic']:8.3f} s  (timed on {r['generic_subset']} of {r['H']} histories: "
          f"{r['generic_subset_s']:.3f} s, extrapolated linearly)")
    print(f"speed ratio   : {r['generic'] / r['fast']:8.1f}x   (max |fast - generic| on the subset = "
          f"{r['err']:.2e}; {r['generic'] / r['cold']:.1f}x against the cold call)")
    print("(measured on a shared machine; absolute times vary with load, the ratio less so)")


if __name__ == "__main__":
    main()
