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

from typing import Any

import numpy as np
from _harness import Row, best_of, best_rate, parser, row, set_threads, token_tuples


def matmul_gflops(torch, n: int = 2048, repeats: int = 5, dtype=None) -> float:  # type: ignore[no-untyped-def]
    """Best GEMM rate of this machine (GFLOP/s) in ``dtype`` (default float32): the best of ``repeats`` now
    and of every earlier call in this process (other jobs only ever slow it down)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    return best_rate(f"{a.dtype}-{n}", 2 * n**3, lambda: torch.mm(a, b), repeats) / 1e9


def forward_flops(model: Any, q_tokens: float, kv_len: float, head_tokens: float) -> float:
    """Forward FLOPs of an :class:`llm_bridge.HFModel`: ``2 P`` per token for the weights of the transformer
    body (every parameter but the token and position embeddings), ``4 n_layer width kv_len`` per token for
    ``QK^T`` and ``AV``, and ``2 V d`` for the output head at each of ``head_tokens`` positions."""
    net = model.model
    skip = {id(e.weight) for e in (net.get_input_embeddings(), net.get_output_embeddings()) if e is not None}
    body = sum(p.numel() for n, p in net.named_parameters() if id(p) not in skip and "wpe" not in n)
    return (q_tokens * (2 * body + 4 * model.runner.n_layer * model.runner.width * kv_len)
            + head_tokens * 2 * model.runner.model_vocab * model.runner.width)


def measure(model: Any, histories: int, futures: int, history_length: int, future_length: int,
            repeats: int = 2, seed: int = 0) -> dict[str, Any]:
    """Seconds of ``extended_logits`` with key/value reuse and the naive way (best of ``repeats``), the
    useful FLOPs of each, the float32 GEMM rate now, and the largest difference of their answers. Futures:
    every prefix of ``futures`` random windows (logits at every future position)."""
    import torch

    rng = np.random.default_rng(seed)
    V = model.vocab_size
    H, windows = token_tuples(rng, V, histories, history_length), token_tuples(rng, V, futures, future_length)
    F = [w[:m] for w in windows for m in range(1, future_length + 1)]
    model.extended_logits(H[:2], F[:2])  # warm-up
    times, results = {}, {}
    for name, use_cache in (("kv_reuse", True), ("naive", False)):
        times[name], results[name] = best_of(lambda c=use_cache: model.extended_logits(H, F, use_cache=c),
                                             repeats)
    nh, nf, lh, lf = histories, futures, history_length + len(model.runner.bos), future_length
    flops = {"kv_reuse": forward_flops(model, nh * lh, lh / 2, nh)
             + forward_flops(model, nh * nf * lf, lh + lf / 2, nh * nf * lf),
             "naive": forward_flops(model, nh * nf * (lh + lf), (lh + lf) / 2, nh * nf * lf)}
    return {"times": times, "flops": flops, "gemm": matmul_gflops(torch) * 1e9, "F": len(F),
            "diff": float(np.abs(results["kv_reuse"] - results["naive"]).max()),
            "threads": torch.get_num_threads()}


def shakespeare_model(seed: int = 0) -> Any:
    """The Shakespeare-size GPT-2 (preset ``shakespeare-char``, 84 symbols), freshly initialised."""
    from llm_bridge import HFModel, init_transformer, resolve_config

    return HFModel(init_transformer(resolve_config("shakespeare-char"), 84, seed=seed), progress=False)


def table_row(name: str, model: Any, sizes: tuple[int, int, int, int], repeats: int) -> Row:
    """A benchmark-table row (``benchmarks/table.py``) of :func:`measure`."""
    nh, nf, lh, lf = sizes
    r = measure(model, nh, nf, lh, lf, repeats=repeats)
    t, fl = r["times"], r["flops"]
    floor = fl["kv_reuse"] / r["gemm"]
    return row(name, f"|H|={nh}×{lh} tok, {nf} windows×{lf} (all {r['F']} prefixes), V={model.vocab_size}",
               ours=t["kv_reuse"], naive=t["naive"], floor=floor,
               floor_def="its forward FLOPs (body + head where read) at the float32 GEMM rate measured now",
               note=f"{floor / t['kv_reuse']:.0%} of GEMM ({r['gemm'] / 1e9:.0f} GFLOP/s); naive: every h·g "
                    f"from the start ({floor * fl['naive'] / fl['kv_reuse'] / t['naive']:.0%} of GEMM); "
                    f"max |diff| {r['diff']:.0e}")


def hf_row(quick: bool) -> Row:
    """The Shakespeare-size row of the benchmark table."""
    sizes = (16, 8, 64, 16) if quick else (64, 16, 64, 16)
    return table_row("HF extended matrix, KV reuse (Shakespeare-size GPT-2)", shakespeare_model(), sizes,
                     1 if quick else 2)


def main() -> None:
    a = parser(__doc__, histories=64, futures=16, history_length=64, future_length=16, checkpoint=None,
               threads=None, repeats=2, seed=0).parse_args()
    from llm_bridge import HFModel

    set_threads(a.threads)
    model = HFModel(a.checkpoint, progress=False) if a.checkpoint else shakespeare_model(a.seed)
    r = measure(model, a.histories, a.futures, a.history_length, a.future_length, a.repeats, a.seed)
    times, flops, peak = r["times"], r["flops"], r["gemm"] / 1e9
    print(f"|H|={a.histories} |h|={a.history_length}, {a.futures} future windows of {a.future_length} tokens "
          f"({r['F']} futures, logits at every position), V={model.vocab_size}, {r['threads']} threads")
    for name in ("naive", "kv_reuse"):
        rate = flops[name] / times[name] / 1e9
        print(f"  {name:9s} {times[name]:7.2f} s   {flops[name] / 1e9:7.1f} GFLOP   {rate:6.1f} GFLOP/s "
              f"= {rate / peak:5.1%} of the measured fp32 matmul rate ({peak:.0f} GFLOP/s now)")
    print(f"  speed-up of KV reuse: {times['naive'] / times['kv_reuse']:.2f}x "
          f"(useful work: the naive way's FLOPs / the fast way's = "
          f"{flops['naive'] / flops['kv_reuse']:.2f}x)")
    print(f"  max |difference| of centered logits: {r['diff']:.3g} (bitwise identical: {r['diff'] == 0.0})")


if __name__ == "__main__":
    main()
