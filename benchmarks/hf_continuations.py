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

import argparse
import time

import numpy as np
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--histories", type=int, default=128)
    p.add_argument("--history-length", type=int, default=32)
    p.add_argument("--branches", type=int, default=2)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--checkpoint", default=None,
                   help="a local HuggingFace checkpoint (default: a fresh model)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    import torch

    from llm_bridge import HFModel
    from llm_bridge.lm_config import init_transformer, resolve_config
    from logitrank import continuation_logits
    from logitrank.continuations import RecomputedContinuations

    net = a.checkpoint or init_transformer(resolve_config("shakespeare-char"), 1024, seed=a.seed)
    model = HFModel(net, bos_token_id=None if a.checkpoint else 0, progress=False)
    rng = np.random.default_rng(a.seed)
    H = [tuple(int(x) for x in rng.integers(0, model.vocab_size, size=a.history_length))
         for _ in range(a.histories)]
    continuation_logits(model, H[:2], 1).logits()  # warm-up
    grow = a.steps - 1  # tokens appended: the caches are sized for them, not for the context
    t_cached, cached = run(continuation_logits(model, H, a.branches, max_steps=grow), a.branches, a.steps,
                           model.vocab_size, a.seed)
    t_naive, naive = run(RecomputedContinuations(model, H, a.branches, max_steps=grow), a.branches, a.steps,
                         model.vocab_size, a.seed)
    diff = max(float(np.abs(x - y).max()) for x, y in zip(cached, naive, strict=True))
    cfg = model.model.config
    n_params = sum(q.numel() for q in model.model.parameters()) - cfg.vocab_size * model._width
    rows = a.histories * a.branches
    layers, width = model._n_layer, model._width
    flops = forward_flops(n_params, layers, width, a.histories, a.history_length) + sum(
        forward_flops(n_params, layers, width, rows, a.history_length + t) for t in range(1, a.steps))
    peak = matmul_gflops(torch)
    print(f"|H| = {a.histories} histories of {a.history_length} tokens x {a.branches} branches, "
          f"{a.steps} steps, V = {model.vocab_size}, d = {width}, {layers} layers")
    print(f"recomputed each step: {t_naive:.2f} s")
    print(f"cached:               {t_cached:.2f} s   ratio naive / cached = {t_naive / t_cached:.1f}x")
    print(f"largest |difference| of the logits: {diff:.2e}")
    rate = flops / t_cached / 1e9
    print(f"cached path: {rate:.1f} GFLOP/s of forward work against a {peak:.0f} GFLOP/s fp32 matmul "
          f"({rate / peak:.1%}; one-token rows of d = {width} are small GEMMs)")


if __name__ == "__main__":
    main()
