"""Speed of HFModel's cached continuations (LINGEN's generation loop) against recomputing each step.

LINGEN at step ``t`` needs ``l(h . z_<t)`` for every basis history ``h`` and every sampled branch. The
naive way (``logitrank.continuations.RecomputedContinuations``) runs ``extended_logits(H, {z_<t})`` afresh
each step: every history is re-read ``steps`` times. The cached way (``HFModel.continuations``) reads each
history once, repeats its key/value cache over the branches and feeds one token per row per step. Printed:
seconds for ``steps`` steps each way, their ratio, the largest difference between the two answers, and the
cached path's achieved FLOP rate against this machine's fp32 matmul rate.

Run: ``python benchmarks/hf_continuations.py [--histories 128 --history-length 32 --branches 2 --steps 15
--checkpoint DIR]`` (defaults: the quick preset's LINGEN sizes on a freshly initialised quick-preset GPT-2).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from _harness import Row, parser, row, token_tuples
from hf_extended import forward_flops, matmul_gflops


def run(stream, n_branches: int, steps: int, vocab: int,  # type: ignore[no-untyped-def]
        seed: int) -> tuple[float, list[np.ndarray]]:
    """Seconds to read ``steps`` logit tensors off ``stream``, appending seeded tokens; the tensors."""
    rng = np.random.default_rng(seed)
    out = []
    t0 = time.perf_counter()
    for t in range(steps):
        if t:
            stream.append(rng.integers(0, vocab, size=n_branches))
        out.append(stream.logits())
    return time.perf_counter() - t0, out


def measure(model: Any, histories: int, history_length: int, branches: int, steps: int,
            seed: int = 0) -> dict[str, Any]:
    """Seconds of ``steps`` steps cached and recomputed, their largest difference, the cached path's useful
    FLOPs and the float32 GEMM rate now."""
    import torch

    from logitrank import continuation_logits
    from logitrank.continuations import RecomputedContinuations

    rng = np.random.default_rng(seed)
    H = token_tuples(rng, model.vocab_size, histories, history_length)
    continuation_logits(model, H[:2], 1).logits()  # warm-up
    grow = steps - 1  # tokens appended: the caches are sized for them, not for the context
    t_cached, cached = run(continuation_logits(model, H, branches, max_steps=grow), branches, steps,
                           model.vocab_size, seed)
    t_naive, naive = run(RecomputedContinuations(model, H, branches, max_steps=grow), branches, steps,
                         model.vocab_size, seed)
    lh = history_length + len(model.runner.bos)
    rows = histories * branches
    flops = forward_flops(model, histories * lh, lh / 2, histories) + sum(
        forward_flops(model, rows, lh + t, rows) for t in range(1, steps))
    return {"cached": t_cached, "naive": t_naive, "flops": flops, "gemm": matmul_gflops(torch) * 1e9,
            "diff": max(float(np.abs(x - y).max()) for x, y in zip(cached, naive, strict=True))}


def quick_preset_model(seed: int = 0) -> Any:
    """A freshly initialised GPT-2 of the Shakespeare preset over 1024 tokens (BOS 0), as LINGEN runs it."""
    from llm_bridge import HFModel
    from llm_bridge.lm_config import init_transformer, resolve_config

    return HFModel(init_transformer(resolve_config("shakespeare-char"), 1024, seed=seed), bos_token_id=0,
                   progress=False)


def continuations_row(quick: bool) -> Row:
    """The benchmark table's row (``benchmarks/table.py``)."""
    nh, lh, nb, steps = (32, 32, 2, 8) if quick else (128, 32, 2, 15)
    r = measure(quick_preset_model(), nh, lh, nb, steps)
    floor = r["flops"] / r["gemm"]
    return row("continuations (LINGEN generation), KV cache",
               f"|H|={nh}×{lh} tok, {nb} branches, {steps} steps, V=1024", ours=r["cached"], naive=r["naive"],
               floor=floor,
               floor_def="its forward FLOPs (body + head per step) at the float32 GEMM rate measured now",
               note=f"{floor / r['cached']:.0%} of GEMM; naive: extended_logits afresh each step; "
                    f"max |diff| {r['diff']:.0e}")


def main() -> None:
    p = parser(__doc__, histories=128, history_length=32, checkpoint=None, seed=0)
    p.add_argument("--branches", type=int, default=2)
    p.add_argument("--steps", type=int, default=15)
    a = p.parse_args()
    from llm_bridge import HFModel

    model = HFModel(a.checkpoint, progress=False) if a.checkpoint else quick_preset_model(a.seed)
    r = measure(model, a.histories, a.history_length, a.branches, a.steps, a.seed)
    print(f"|H| = {a.histories} histories of {a.history_length} tokens x {a.branches} branches, "
          f"{a.steps} steps, V = {model.vocab_size}, d = {model.runner.width}, {model.runner.n_layer} layers")
    print(f"recomputed each step: {r['naive']:.2f} s")
    print(f"cached:               {r['cached']:.2f} s   ratio naive / cached = "
          f"{r['naive'] / r['cached']:.1f}x")
    print(f"largest |difference| of the logits: {r['diff']:.2e}")
    rate, peak = r["flops"] / r["cached"] / 1e9, r["gemm"] / 1e9
    print(f"cached path: {rate:.1f} GFLOP/s of forward work against a {peak:.0f} GFLOP/s fp32 matmul "
          f"({rate / peak:.1%}; one-token rows of d = {model.runner.width} are small GEMMs)")


if __name__ == "__main__":
    main()
