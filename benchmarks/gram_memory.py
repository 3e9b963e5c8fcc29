"""Peak memory and time of the Gram-streamed spectrum against materialising the matrix and a full SVD.

For a fixed ``|H|`` and a growing number of futures ``|F|``, compare

* **streamed**: :func:`logitrank.streamed_singular_values` — the extended matrix is built one block of
  futures at a time and only ``G = L L^T`` (``|H| x |H|``) is kept: peak memory ``O(|H|^2 + |H| c)``
  with ``c`` columns per block, *independent of* ``|F|``;
* **materialised**: :func:`logitrank.extended_logit_matrix` then ``scipy.linalg.svdvals`` — memory
  ``O(|H| |F| V)``, growing linearly with ``|F|``.

Peak memory is measured with ``tracemalloc`` (numpy and scipy report their array buffers to it, LAPACK
workspaces included), one computation at a time.

Run: ``python benchmarks/gram_memory.py [--histories 256 --vocab 32 --dim 16 --futures 256 512 1024 2048]``
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
from _harness import parser, timed

from logitrank import extended_logit_matrix, random_futures, random_histories, streamed_singular_values
from logitrank import singular_values as svals
from simulators import TimeVaryingISAN


def measure(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float, float]:
    """Result, seconds and peak traced MiB of ``fn()``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    seconds, out = timed(fn)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, seconds, peak


def main() -> None:
    p = parser(__doc__, histories=256, vocab=32, dim=16, horizon=12, history_length=5, seed=0)
    p.add_argument("--futures", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--futures-per-block", type=int, default=32)
    p.add_argument("--history-sweep", type=int, nargs="+", default=[256, 512, 1024, 2048])
    a = p.parse_args()
    model = TimeVaryingISAN.random(a.vocab, a.dim, a.horizon, rng=a.seed)
    H = random_histories(a.vocab, a.histories, a.history_length, rng=a.seed + 1)
    nh, V = len(H), a.vocab
    print(f"ISAN V={V} d={a.dim}; |H| = {nh}: the Gram matrix holds {nh * nh * 8 / 2**20:.2f} MiB, one block "
          f"of {a.futures_per_block} futures {nh * a.futures_per_block * V * 8 / 2**20:.2f} MiB")
    print(f"{'|F|':>6} {'columns':>8} {'L size':>9} | {'streamed peak':>13} {'time':>7} | "
          f"{'materialised peak':>17} {'time':>7} | top-half max rel. err")
    for nf in a.futures:
        F = random_futures(V, nf, a.horizon - 1 - a.history_length, rng=a.seed + 2)
        s_gram, t_gram, m_gram = measure(lambda F=F: streamed_singular_values(
            model, H, F, futures_per_block=a.futures_per_block, progress=False))
        s_full, t_full, m_full = measure(
            lambda F=F: svals(extended_logit_matrix(model, H, F, progress=False)))
        r = min(a.dim, s_full.size) // 2  # the top half of the non-zero spectrum (rank d)
        err = float(np.max(np.abs(s_gram[:r] - s_full[:r]) / s_full[:r]))
        print(f"{nf:>6} {nf * V:>8} {nh * nf * V * 8 / 2**20:>7.1f}Mi | {m_gram:>11.1f}Mi {t_gram:>6.2f}s | "
              f"{m_full:>15.1f}Mi {t_full:>6.2f}s | {err:.1e}")
    print("(streamed peak stays flat in |F|; measured on a shared 2-core machine)")
    F = random_futures(V, a.futures[0], a.horizon - 1 - a.history_length, rng=a.seed + 2)
    print(f"\nstreamed peak against |H| (|F| = {len(F)}): G = 8|H|^2 bytes plus a block term linear in |H|")
    print(f"{'|H|':>6} {'G size':>9} {'peak':>9} {'time':>7}")
    for nh in a.history_sweep:
        Hs = random_histories(V, nh, a.history_length, rng=a.seed + 1)
        _, t_gram, m_gram = measure(lambda Hs=Hs: streamed_singular_values(
            model, Hs, F, futures_per_block=a.futures_per_block, progress=False))
        print(f"{nh:>6} {nh * nh * 8 / 2**20:>7.1f}Mi {m_gram:>7.1f}Mi {t_gram:>6.2f}s")


if __name__ == "__main__":
    main()
