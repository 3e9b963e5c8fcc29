"""HFModel's hidden-state fast path: top-k matrices and shards from final hidden states equal the full path"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from conftest import smollm2_gguf, tiny_lm, tol  # noqa: E402

from llm_bridge import HFModel  # noqa: E402
from logitrank import extended_logit_matrix, extract, singular_values  # noqa: E402
from logitrank.linear_readout import readout_factor, readout_singular_values  # noqa: E402

V, CTX, BOS = 29, 48, 3
EXACT = tol(np.float64, scale=1e-2)  # float64 both ways, only the summation order differs: 1e-12


def tiny_llama(**extra: Any) -> torch.nn.Module:
    return tiny_lm("llama", vocab=V, context=CTX, **extra)


def tiny_gpt2_with_bias() -> torch.nn.Module:
    """GPT-2's own head has no bias: give it one (tied weight kept) so that ``b`` is exercised."""
    net = tiny_lm("gpt2", vocab=V, context=CTX, seed=1)
    assert net.lm_head.bias is None
    head = torch.nn.Linear(32, V, bias=True)
    head.weight = net.transformer.wte.weight
    torch.nn.init.normal_(head.bias, std=0.5)
    net.lm_head = head
    return net


def tiny_gemma2(softcap: float | None) -> torch.nn.Module:
    return tiny_lm("gemma2", vocab=V, context=CTX, seed=2, head_dim=8, sliding_window=4,
                   final_logit_softcapping=softcap)


def sets(seed: int = 0) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Histories of mixed lengths (the empty one included) and futures with prefixes of each other."""
    rng = np.random.default_rng(seed)
    H = [()] + [tuple(int(t) for t in rng.integers(0, V, size=rng.integers(1, 9))) for _ in range(10)]
    F = [(), (4,), (4, 7), (4, 7, 1)] + [tuple(int(t) for t in rng.integers(0, V, size=3)) for _ in range(5)]
    return H, F


def pair(net: Any) -> tuple[HFModel, HFModel]:
    return (HFModel(net, dtype="fp64", bos_token_id=BOS, max_batch_tokens=64),
            HFModel(net, dtype="fp64", bos_token_id=BOS, max_batch_tokens=64, fast_path=False))


@pytest.mark.parametrize("build", [tiny_llama, tiny_gpt2_with_bias], ids=["llama-rmsnorm", "gpt2-bias"])
@pytest.mark.parametrize("rule", ["mean", "random"])
def test_top_k_matrix_from_hidden_states_equals_full_path_in_float64(build, rule: str) -> None:
    fast, full = pair(build())
    assert fast.hidden_fast_path and fast.fast_path_reason == ""
    assert not full.hidden_fast_path and full.readout() is None
    assert (fast.readout()[1] is None) == (build is tiny_llama)  # type: ignore[index]
    H, F = sets()
    a = extended_logit_matrix(fast, H, F, top_k=6, token_rule=rule, rng=5)
    b = extended_logit_matrix(full, H, F, top_k=6, token_rule=rule, rng=5)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_allclose(a.values, b.values, **EXACT)


def test_full_vocabulary_spectrum_from_hidden_states_equals_svd_of_full_matrix() -> None:
    fast, _ = pair(tiny_gpt2_with_bias())
    H, F = sets(1)
    G = fast.final_hidden(H, F)
    assert G.shape == (len(H), len(F), 32) and G.dtype == np.float64
    L = extended_logit_matrix(fast, H, F).values  # top_k None: the full path
    s = readout_singular_values(G, readout_factor(*fast.readout()), V)  # type: ignore[misc]
    want = singular_values(L)
    np.testing.assert_allclose(s, want, rtol=EXACT["rtol"], atol=EXACT["atol"] * want[0])


@pytest.mark.parametrize("rule", ["mean", "random"])
def test_shards_from_hidden_states_equal_shards_of_the_full_path(tmp_path: Path, rule: str) -> None:
    fast, full = pair(tiny_llama())
    H, F = sets(2)
    kw = {"shard_rows": 4, "top_k": 5, "token_rule": rule, "dtype": "float64", "model_id": "tiny", "rng": 3}
    a = extract(fast, H, F, tmp_path / "fast", **kw)  # type: ignore[arg-type]
    b = extract(full, H, F, tmp_path / "full", **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_allclose(a.to_logit_matrix().values, b.to_logit_matrix().values, **EXACT)
    assert not list((tmp_path / "fast").glob("hidden-*"))  # pass 1's hidden states are gone once used
    orphan = tmp_path / "fast" / "hidden-00002.npy.sum.json"  # killed between removing a file and its sum
    orphan.write_text("{}")
    extract(fast, H, F, tmp_path / "fast", **kw)  # type: ignore[arg-type]
    assert not orphan.exists()


def test_shards_from_hidden_states_in_future_blocks_equal_the_full_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from logitrank import hidden_path

    monkeypatch.setattr(hidden_path, "HIDDEN_ENTRIES", 4 * 32 * 2)  # 4 rows x 2 futures of width 32 at once
    fast, full = pair(tiny_llama())
    H, F = sets(6)
    kw = {"shard_rows": 4, "top_k": 5, "dtype": "float64", "model_id": "tiny"}
    a = extract(fast, H, F, tmp_path / "fast", **kw)  # type: ignore[arg-type]
    b = extract(full, H, F, tmp_path / "full", **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_allclose(a.to_logit_matrix().values, b.to_logit_matrix().values, **EXACT)


class Flaky(HFModel):
    """Counts ``final_hidden`` calls and fails on call number ``fail_at`` (a kill in the middle of a pass)."""

    calls = 0
    fail_at = -1

    def final_hidden(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        Flaky.calls += 1
        if Flaky.calls == Flaky.fail_at:
            raise KeyboardInterrupt("killed")
        return super().final_hidden(*args, **kwargs)


def test_mean_rule_keeps_hidden_states_between_passes_and_resumes_bit_for_bit(tmp_path: Path) -> None:
    H, F = sets(3)
    net = tiny_llama()
    kw = {"shard_rows": 4, "top_k": 5, "dtype": "float32", "model_id": "tiny"}
    ref = extract(Flaky(net, dtype="fp64", bos_token_id=BOS), H, F, tmp_path / "ref", **kw)  # type: ignore[arg-type]
    assert Flaky.calls == 3  # 3 shards, the body once per shard: pass 2 reads what pass 1 kept
    Flaky.calls, Flaky.fail_at = 0, 3
    with pytest.raises(KeyboardInterrupt):
        extract(Flaky(net, dtype="fp64", bos_token_id=BOS), H, F, tmp_path / "run", **kw)  # type: ignore[arg-type]
    kept = sorted(p.name for p in (tmp_path / "run").glob("hidden-*.npy"))
    assert kept == ["hidden-00000.npy", "hidden-00001.npy"]
    damaged = tmp_path / "run" / "hidden-00001.npy"
    damaged.write_bytes(damaged.read_bytes()[:-8] + b"\0" * 8)  # same size, other content
    Flaky.calls, Flaky.fail_at = 0, -1
    with pytest.warns(RuntimeWarning, match="hidden-00001.npy: SHA-256 differs"):
        got = extract(Flaky(net, dtype="fp64", bos_token_id=BOS), H, F, tmp_path / "run", **kw)  # type: ignore[arg-type]
    assert Flaky.calls == 2  # shard 2 of pass 1, and the damaged shard 1 again
    np.testing.assert_array_equal(got.tokens, ref.tokens)
    for i in range(3):
        np.testing.assert_array_equal(got.shard(i), ref.shard(i))
    assert not list((tmp_path / "run").glob("hidden-*"))
    assert json.loads((tmp_path / "run" / "manifest.json").read_text())["tokens"] == ref.tokens.tolist()


def test_soft_capped_logits_fall_back_to_the_full_path() -> None:
    net = tiny_gemma2(softcap=0.5)  # tiny cap: tanh bends even the tiny logits of a random model
    fast, full = pair(net)
    assert not fast.hidden_fast_path and "soft-capped" in fast.fast_path_reason
    H, F = sets(4)
    with pytest.raises(ValueError, match="^final_hidden: needs the hidden-state fast path"):
        fast.final_hidden(H, F)
    a = extended_logit_matrix(fast, H, F, top_k=6)
    b = extended_logit_matrix(full, H, F, top_k=6)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.values, b.values)


def test_gemma2_without_soft_capping_uses_the_fast_path_with_its_sliding_window_cache() -> None:
    fast, full = pair(tiny_gemma2(softcap=None))
    assert fast.hidden_fast_path
    H, F = sets(5)
    a = extended_logit_matrix(fast, H, F, top_k=6)
    b = extended_logit_matrix(full, H, F, top_k=6)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_allclose(a.values, b.values, **EXACT)


def test_probe_rejects_a_logit_scale_the_model_does_not_apply() -> None:
    # Llama ignores logit_scale; folding it into W would be wrong, and the numerical probe says so
    fast = HFModel(tiny_llama(logit_scale=2.0), dtype="fp64", bos_token_id=BOS)
    assert not fast.hidden_fast_path and "probe" in fast.fast_path_reason


# ------------------------------------------------------------------ the real model
@pytest.mark.slow
def test_smollm2_fast_top_k_matrix_and_spectra_match_the_full_path() -> None:
    pytest.importorskip("gguf")
    folder, name = smollm2_gguf()
    net = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).eval()
    fast, full = HFModel(net), HFModel(net, fast_path=False)
    assert fast.hidden_fast_path, fast.fast_path_reason
    assert fast.readout()[0].shape == (49152, 576) and fast.readout()[1] is None  # type: ignore[index]
    rng = np.random.default_rng(7)
    H = [tuple(int(t) for t in rng.integers(0, fast.vocab_size, size=12)) for _ in range(8)]
    F = [tuple(int(t) for t in rng.integers(0, fast.vocab_size, size=4)) for _ in range(8)]
    a, b = extended_logit_matrix(fast, H, F, top_k=50), extended_logit_matrix(full, H, F, top_k=50)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    scale = np.abs(b.values).max()
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=tol(np.float32)["atol"] * scale)
    sa, sb = singular_values(a.values), singular_values(b.values)
    np.testing.assert_allclose(sa, sb, rtol=0, atol=tol(np.float32)["atol"] * sb[0])
    L = full.extended_logits(H, F).reshape(len(H), -1)  # the full-vocabulary matrix, 8 x 393,216
    s = readout_singular_values(fast.final_hidden(H, F), readout_factor(*fast.readout()), fast.vocab_size)  # type: ignore[misc]
    want = singular_values(L)
    np.testing.assert_allclose(s, want, rtol=0, atol=tol(np.float32)["atol"] * want[0])


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (the CPU twin: the test above)")
def test_smollm2_on_cuda_matches_the_cpu_in_float32_and_bfloat16() -> None:
    pytest.importorskip("gguf")
    folder, name = smollm2_gguf()
    net = transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).eval()
    cpu = HFModel(net, device="cpu")
    rng = np.random.default_rng(11)
    H = [tuple(int(t) for t in rng.integers(0, cpu.vocab_size, size=12)) for _ in range(8)]
    F = [tuple(int(t) for t in rng.integers(0, cpu.vocab_size, size=4)) for _ in range(8)]
    ref = cpu.extended_logits(H, F)
    ref_k = extended_logit_matrix(cpu, H, F, top_k=50)
    scale = np.abs(ref).max()
    for dtype in ("fp32", "bf16"):
        gpu = HFModel(transformers.AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).eval(),
                      device="cuda", dtype=dtype)
        got = extended_logit_matrix(gpu, H, F, top_k=50)  # the hidden-state fast path on the GPU
        same = np.take_along_axis(ref, got.tokens[None], axis=2).reshape(len(H), -1)
        for a, b in ((gpu.extended_logits(H, F), ref), (got.values, same)):
            err = np.abs(a - b) / scale  # relative to the largest centered logit
            if dtype == "fp32":  # CUDA kernels against the CPU's: summation order only
                assert err.max() <= tol(np.float32, scale=10)["atol"], err.max()
            else:  # loosened: 8-bit mantissas through 30 layers; typical entries stay at bf16 round-off
                median = float(np.median(err))
                assert median <= tol("bfloat16")["atol"] and err.max() <= 0.1, (median, err.max())
        if dtype == "fp32":
            np.testing.assert_array_equal(got.tokens, ref_k.tokens)
