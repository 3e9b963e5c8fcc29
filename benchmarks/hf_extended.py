"""Speed of HFModel's KV-cache-reuse extended matrix against naive batched concatenation.

Both compute ``l(h . f)`` for every history ``h`` and every prefix ``f`` of the future windows (logits at
every future position). The naive way runs every ``h . g`` (``g`` a maximal future) from the first token;
the fast way runs each history once, keeps its key/value cache and repeats it over the futures. Also
printed: the achieved FLOP rate of each path (forward FLOPs counted as ``2 * non-embedding parameters *
tokens`` plus the attention products) against the machine's fp32 matmul rate measured here (about 300
GFLOP/s on 2 idle cores), and the largest difference between the two answers.

Run: ``OMP_WAIT_POLICY=PASSIVE python benchmarks/hf_extended.py [--histories 64 --futures 16
--history-length 64 --future-length 16 --checkpoint DIR --threads 2]``
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def matmul_gflops(torch, n: int = 2048, repeats: int = 5, dtype=None) -> float:  # type: ignore[no-untyped-def]
    """Best GEMM rate of this machine now (GFLOP/s), in ``dtype`` (default float32)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def forward_flops(n_params: int, n_layer: int, width: int, q_tokens: int, kv_len: float) -> float:
    """``2 P`` per token for the weights plus ``4 n_layer width kv_len`` per token for ``QK^T`` and ``AV``."""
    return q_tokens * (2 * n_params + 4 * n_layer * width * kv_len)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--histories", type=int, default=64)
    p.add_argument("--futures", type=int, default=16, help="future windows (all their prefixes are read)")
    p.add_argument("--history-length", type=int, default=64)
    p.add_argument("--future-length", type=int, default=16)
    p.add_argument("--checkpoint", default=None, help="checkpoint dir (default: random init)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    import torch

    from llm_bridge import HFModel, init_transformer, resolve_config

    if a.threads:
        torch.set_num_threads(a.threads)
    net = a.checkpoint or init_transformer(resolve_config("shakespeare-char"), 84, seed=a.seed)
    model = HFModel(net, progress=False)
    rng = np.random.default_rng(a.seed)
    V = model.vocab_size
    H = [tuple(int(t) for t in rng.integers(0, V, a.history_length)) for _ in range(a.histories)]
    windows = [tuple(int(t) for t in rng.integers(0, V, a.future_length)) for _ in range(a.futures)]
    F = [w[:m] for w in windows for m in range(1, a.future_length + 1)]

    model.extended_logits(H[:2], F[:2])  # warm-up
    times = {}
    results = {}
    for name, use_cache in (("kv_reuse", True), ("naive", False)):
        best = np.inf
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            results[name] = model.extended_logits(H, F, use_cache=use_cache)
            best = min(best, time.perf_counter() - t0)
        times[name] = best
    cfg = model.model.config
    n_layer, width = cfg.n_layer, cfg.n_embd
    n_params = sum(p.numel() for n, p in model.model.named_parameters() if "wte" not in n and "wpe" not in n)
    nh, nf, lh, lf = a.histories, a.futures, a.history_length, a.future_length
    flops = {
        "kv_reuse": forward_flops(n_params, n_layer, width, nh * lh, lh / 2)
        + forward_flops(n_params, n_layer, width, nh * nf * lf, lh + lf / 2),
        "naive": forward_flops(n_params, n_layer, width, nh * nf * (lh + lf), (lh + lf) / 2),
    }
    peak = matmul_gflops(torch)
    diff = float(np.abs(results["kv_reuse"] - results["naive"]).max())
    print(
        f"|H|={nh} |h|={lh}, {nf} future windows of {lf} tokens ({len(F)} futures, logits at every position),"
        f" "
        f"V={V}, {torch.get_num_threads()} threads"
    )
    for name in ("naive", "kv_reuse"):
        rate = flops[name] / times[name] / 1e9
        print(
            f"  {name:9s} {times[name]:7.2f} s   {flops[name] / 1e9:7.1f} GFLOP   {rate:6.1f} GFLOP/s "
            f"= {rate / peak:5.1%} of the measured fp32 matmul rate ({peak:.0f} GFLOP/s now)"
        )
    print(
        f"  speed-up of KV reuse: {times['naive'] / times['kv_reuse']:.2f}x "
        f"(useful work: the naive way's FLOPs / the fast way's = {flops['naive'] / flops['kv_reuse']:.2f}x)"
    )
    print(f"  max |difference| of centered logits: {diff:.3g} (bitwise identical: {diff == 0.0})")


if __name__ == "__main__":
    main()
