"""Key/value caches sized by need: cache facts from configs, row repetition that keeps layer types,
long-context and sliding-window models through every cached path, the size check, and SmolLM2 itself."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import plain_logits, smollm2_gguf, tiny_lm, tol  # noqa: E402
from transformers import GPT2Config, LlamaConfig  # noqa: E402

from experiments.lingen import lingen_experiment  # noqa: E402
from llm_bridge import HFModel  # noqa: E402
from llm_bridge.kv_cache import check_cache_size, kv_bytes_per_token, kv_width, repeat_cache  # noqa: E402
from logitrank import continuation_logits  # noqa: E402

V, LONG, BOS, WINDOW = 1000, 32768, 7, 4  # a vocabulary that is a multiple of nothing nice; a long context


def long_llama() -> torch.nn.Module:
    return tiny_lm("llama", vocab=V, context=LONG)


def long_gpt2() -> torch.nn.Module:
    return tiny_lm("gpt2", vocab=V, context=LONG)


def sliding_mistral(window: int | None = WINDOW) -> torch.nn.Module:
    """Every layer a sliding-window one."""
    return tiny_lm("mistral", vocab=V, context=LONG, sliding_window=window)


def hybrid_qwen2(window: int | None = WINDOW) -> torch.nn.Module:
    """Sliding-window and full-attention layers mixed (a hybrid cache)."""
    middle = "full_attention" if window is None else "sliding_attention"
    return tiny_lm("qwen2", vocab=V, context=LONG, n_layer=3, use_sliding_window=window is not None,
                   sliding_window=window, layer_types=["full_attention", middle, "full_attention"])


BUILDERS = {"llama": long_llama, "gpt2": long_gpt2, "mistral_sliding": sliding_mistral,
            "qwen2_hybrid": hybrid_qwen2}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def net(request: pytest.FixtureRequest) -> torch.nn.Module:
    return BUILDERS[request.param]()


def seqs(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[tuple[int, ...]]:
    return [tuple(int(t) for t in rng.integers(0, V, size=rng.integers(lo, hi + 1))) for _ in range(n)]


# ------------------------------------------------------------------ cache facts from the config
def test_kv_width_is_key_value_heads_times_head_dim() -> None:
    smol = LlamaConfig(hidden_size=576, num_attention_heads=9, num_key_value_heads=3, num_hidden_layers=30)
    assert kv_width(smol) == 3 * 64  # grouped-query attention: a third of the width
    assert kv_bytes_per_token(smol, 4) == 30 * 2 * 192 * 4
    assert kv_width(GPT2Config(n_embd=48, n_head=3, n_layer=2)) == 48  # full heads
    # a head_dim of its own, not hidden_size / num_attention_heads
    own = LlamaConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=24)
    assert kv_width(own) == 48
    assert kv_bytes_per_token(long_gpt2().config, 2) == 2 * 2 * 32 * 2


def test_repeat_cache_keeps_layer_types_and_leaves_the_original() -> None:
    model = hybrid_qwen2()
    m = HFModel(model)
    ids = np.array([[1, 2, 3, 4, 5, 6], [9, 8, 7, 6, 5, 4]])
    res, _ = m.runner.forward(ids, past=m.runner.new_cache())
    cache = m.runner.cache_of(res)
    kinds = [type(layer).__name__ for layer in cache.layers]
    assert kinds == ["DynamicLayer", "DynamicSlidingWindowLayer", "DynamicLayer"]
    before = [(layer.keys.clone(), layer.get_seq_length()) for layer in cache.layers]
    rep = repeat_cache(cache, [1, 0, 1])
    assert [type(layer).__name__ for layer in rep.layers] == kinds
    assert [layer.get_seq_length() for layer in rep.layers] == [6, 6, 6]
    for got, base in zip(rep.layers, cache.layers, strict=True):
        torch.testing.assert_close(got.keys, base.keys[[1, 0, 1]], rtol=0, atol=0)
    m.runner.forward(np.array([[3], [3], [3]]), past=rep)  # growing the copy leaves the original as it was
    for layer, (keys, length) in zip(cache.layers, before, strict=True):
        assert layer.get_seq_length() == length and torch.equal(layer.keys, keys)
    with pytest.raises(TypeError, match=r"cache: expected a transformers Cache with layers, got tuple"):
        repeat_cache((), [0])


# ------------------------------------------------------------------ long-context and sliding-window models
def test_extended_logits_with_key_value_reuse_equal_the_naive_way(net: torch.nn.Module) -> None:
    rng = np.random.default_rng(0)
    H = seqs(rng, 5, 1, 9)  # longer than the window
    F = seqs(rng, 6, 1, 7) + [()]
    model = HFModel(net, bos_token_id=BOS)
    cached = model.extended_logits(H, F)
    np.testing.assert_allclose(cached, model.extended_logits(H, F, use_cache=False), **tol(np.float32))
    ref = np.stack([[plain_logits(net, (BOS, *h, *f)) for f in F[:3]] for h in H[:2]])
    np.testing.assert_allclose(cached[:2, :3], ref, **tol(np.float32))
    # a budget of a few tokens: one history per block, one pair per cache copy
    small = HFModel(net, bos_token_id=BOS, max_batch_tokens=4).extended_logits(H, F)
    np.testing.assert_allclose(small, cached, **tol(np.float32))


def test_cached_continuations_equal_recomputation(net: torch.nn.Module) -> None:
    rng = np.random.default_rng(1)
    H = seqs(rng, 4, 1, 7) + [()]
    model = HFModel(net, bos_token_id=BOS)
    stream = continuation_logits(model, H, 2, max_steps=5)
    conts: list[tuple[int, ...]] = [(), ()]
    for _ in range(5):  # past the window: the sliding layers drop their oldest keys
        ref = np.stack([[plain_logits(net, (BOS, *h, *c)) for c in conts] for h in H])
        np.testing.assert_allclose(stream.logits(), ref, **tol(np.float32))
        tok = rng.integers(0, V, size=2)
        stream.append(tok)
        conts = [c + (int(z),) for c, z in zip(conts, tok, strict=True)]
    ref = np.stack([[plain_logits(net, (BOS, *h, *c)) for c in conts] for h in H])
    np.testing.assert_allclose(stream.logits(), ref, **tol(np.float32))
    with pytest.raises(ValueError, match=r"tokens: the longest history leaves room for 5 continuation"):
        stream.append(np.zeros(2, dtype=np.int64))


@pytest.mark.parametrize("build", [sliding_mistral, hybrid_qwen2])
def test_the_sliding_window_is_in_effect(build: Callable[..., torch.nn.Module]) -> None:
    """Negative control: the same weights with full attention answer differently past the window, so the
    sliding-window tests above test the window."""
    seq = tuple(range(1, 12))
    assert not np.allclose(plain_logits(build(), seq), plain_logits(build(None), seq), **tol(np.float32))


@pytest.mark.parametrize("build", [long_llama, long_gpt2])
def test_lingen_runs_on_a_long_context_model(build: Callable[..., torch.nn.Module]) -> None:
    stream = np.random.default_rng(2).integers(0, V, size=3000)
    res = lingen_experiment(HFModel(build(), bos_token_id=BOS), stream, n_targets=2, n_samples=2, steps=3,
                            n_basis=12, n_futures=4, history_length=6, future_length=3, short_history=2,
                            rng=0, progress=False)
    for ckl in res.cumulative_kl.values():
        assert ckl.shape == (2, 2, 3) and np.all(np.isfinite(ckl)) and np.all(ckl >= 0)


# ------------------------------------------------------------------ the size check
SMOLLM2 = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192)


def test_size_check_sizes_by_need_and_refuses_what_does_not_fit() -> None:
    what = "the key/value caches of every history x branch"
    # measure --preset tiny's LINGEN on SmolLM2: 24 histories x 1 branch, BOS + 12 tokens + 3 appended
    check_cache_size("n_branches", 1, SMOLLM2, rows=24, tokens=1 + 12 + 3, itemsize=4, what=what)
    # the same request sized by the context (what the default max_steps=None must allow) does not fit
    with pytest.raises(ValueError, match=r"n_branches: the key/value caches of every history x branch must "
                                         r"fit in 8 GiB .* got n_branches = 1 needing shape "
                                         r"\(24, 8192, 60, 192\) = 8.44 GiB"):
        check_cache_size("n_branches", 1, SMOLLM2, rows=24, tokens=8192, itemsize=4, what=what)


def test_size_check_of_layers_of_different_widths_counts_each_layer_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from logitrank import validation

    # a heterogeneous decoder: one layer with 1 key/value head of 8, one with 4 (key/value widths 8 and 32)
    layers = [SimpleNamespace(num_attention_heads=4, hidden_size=32, num_key_value_heads=kv) for kv in (1, 4)]
    cfg = SimpleNamespace(is_heterogeneous=True, per_layer_config=layers)
    assert kv_bytes_per_token(cfg, 4) == 2 * (8 + 32) * 4
    monkeypatch.setattr(validation, "MAX_ARRAY_BYTES", 3 * 5 * 2 * (8 + 32) * 4)  # exactly what 3 x 5 need
    check_cache_size("n_branches", 3, cfg, rows=3, tokens=5, itemsize=4, what="caches")  # fits: admitted
    with pytest.raises(ValueError, match=r"got n_branches = 3 needing shape \(3, 6, 80\)"):
        check_cache_size("n_branches", 3, cfg, rows=3, tokens=6, itemsize=4, what="caches")


def test_continuations_size_their_caches_by_max_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    from logitrank import validation

    model = HFModel(long_llama(), bos_token_id=BOS)
    # 2 rows x (BOS + 3 + 4 tokens) x 4 (2 layers, keys and values) x 16 (key/value width) x 4 bytes
    monkeypatch.setattr(validation, "MAX_ARRAY_BYTES", 2 * 8 * 4 * 16 * 4)
    continuation_logits(model, [(1, 2, 3), (4,)], 1, max_steps=4)
    with pytest.raises(ValueError, match=r"n_branches: .* got n_branches = 1 needing shape \(2, 9, 4, 16\)"):
        continuation_logits(model, [(1, 2, 3), (4,)], 1, max_steps=5)
    with pytest.raises(ValueError, match=r"max_steps: .*got 32765"):
        continuation_logits(model, [(1, 2, 3)], 1, max_steps=LONG - 3)


# ------------------------------------------------------------------ the real model
@pytest.mark.slow
def test_smollm2_cached_continuations_equal_recomputed_logits() -> None:
    pytest.importorskip("gguf")
    from transformers import AutoModelForCausalLM

    folder, name = smollm2_gguf()
    net = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).eval()
    model = HFModel(net)
    rng = np.random.default_rng(3)
    H = [tuple(int(t) for t in rng.integers(0, model.vocab_size, size=16)) for _ in range(4)]
    stream = continuation_logits(model, H, 2, max_steps=3)
    conts: list[tuple[int, ...]] = [(), ()]
    for step in range(4):
        ref = model.extended_logits(H, conts, use_cache=False)
        # 30 layers of float32 round-off in different batch shapes: measured up to 2.5x tol(float32)
        np.testing.assert_allclose(stream.logits(), ref, **tol(np.float32, scale=10))
        if step < 3:
            tok = rng.integers(0, model.vocab_size, size=2)
            stream.append(tok)
            conts = [c + (int(z),) for c, z in zip(conts, tok, strict=True)]


# --- the KV runner (issue 25 / 21): expanded caches with room, the fused GELU, no import circle ------------
@pytest.mark.parametrize("make", [long_llama, long_gpt2, hybrid_qwen2], ids=["llama", "gpt2", "hybrid"])
def test_expand_cache_equals_repeating_and_growing_it(make: Callable[[], torch.nn.Module]) -> None:
    run = HFModel(make()).runner
    ids = np.array([[1, 2, 3, 4, 5], [9, 8, 7, 6, 5], [4, 4, 4, 4, 4]])
    res, _ = run.forward(ids, past=run.new_cache())
    cache = run.cache_of(res)
    before = [layer.keys.clone() for layer in cache.layers]
    new = np.array([[3, 1], [2, 2], [5, 0], [1, 1]])  # rows 1, 1, 2, 2 (start 1, count 2, repeats 2)
    ref = run.forward(new, past=repeat_cache(cache, [1, 1, 2, 2]))[0].logits
    expanded = run.expand_cache(cache, 1, 2, 2, room=2)
    got = run.forward(new, past=expanded)[0].logits
    torch.testing.assert_close(got, ref, **tol(np.float32))
    # past the room the layers grow as ordinary ones, still exact
    more = np.array([[6], [7], [8], [9]])
    ref2 = run.forward(more, past=repeat_cache(run.cache_of(run.forward(
        np.concatenate([ids[[1, 1, 2, 2]], new], axis=1), past=run.new_cache())[0]), [0, 1, 2, 3]))[0].logits
    torch.testing.assert_close(run.forward(more, past=expanded)[0].logits, ref2, **tol(np.float32))
    for layer, keys in zip(cache.layers, before, strict=True):  # the source cache is left as it was
        assert torch.equal(layer.keys, keys)


def test_fused_gelu_is_the_same_function() -> None:
    from transformers.activations import NewGELUActivation

    from llm_bridge.kv_runner import fuse_gelu

    x = torch.linspace(-8, 8, 10001)
    ref = NewGELUActivation()(x)
    net = long_gpt2()
    assert fuse_gelu(net) == 2 and fuse_gelu(net) == 0
    act = net.transformer.h[0].mlp.act
    assert not isinstance(act, NewGELUActivation)
    torch.testing.assert_close(act(x), ref, rtol=1e-6, atol=1e-6)


def test_continuations_and_hidden_states_use_the_runner_not_hf_model() -> None:
    import ast
    import inspect

    import llm_bridge.continuations as cont
    import llm_bridge.hidden_states as hid

    for module in (cont, hid):
        tree = ast.parse(inspect.getsource(module))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "hf_model" not in imported and "llm_bridge.hf_model" not in imported
        private = [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr.startswith("_")
                   and not n.attr.startswith("__") and isinstance(n.value, ast.Name)
                   and n.value.id in ("model", "hf", "run", "runner", "m")]
        assert private == [], private
