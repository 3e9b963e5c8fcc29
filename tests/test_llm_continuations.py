"""HFModel's cached continuations vs plain forwards; LINGEN through them; fused GELU; the OpenMP policy."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import Generic, plain_logits, tiny_lm, tol  # noqa: E402

from llm_bridge import HFModel  # noqa: E402
from llm_bridge.continuations import HFContinuations  # noqa: E402
from llm_bridge.kv_cache import kv_width  # noqa: E402
from logitrank import continuation_logits, lingen_generate  # noqa: E402

V, CTX, BOS = 13, 24, 5


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def net(request: pytest.FixtureRequest) -> torch.nn.Module:
    return tiny_lm(request.param, vocab=V, context=CTX)


@pytest.mark.parametrize("budget,blocks", [(3, 7), (16384, 4)])  # 3 tokens: one history per cache block
def test_cached_continuations_match_plain_forwards(net: torch.nn.Module, budget: int, blocks: int) -> None:
    rng = np.random.default_rng(0)
    # mixed lengths, the empty history included, and three histories of one length
    H = [(), (3,), (1, 2, 3, 4), (7, 7), (0, 1, 2, 3), (5, 6, 7, 8), (2, 2)]
    model = HFModel(net, bos_token_id=BOS, max_batch_tokens=budget)
    stream = continuation_logits(model, H, 3)
    assert isinstance(stream.inner, HFContinuations)  # type: ignore[attr-defined]
    assert len(stream.inner._blocks) == blocks  # type: ignore[attr-defined]
    conts: list[tuple[int, ...]] = [()] * 3
    for step in range(6):
        ref = np.stack([[plain_logits(net, (BOS, *h, *c)) for c in conts] for h in H])
        np.testing.assert_allclose(stream.logits(), ref, **tol(np.float32))
        tok = rng.integers(0, V, size=3)
        if step == 0:
            tok[1] = tok[0]  # two branches that start alike, then part
        stream.append(tok)
        conts = [c + (int(z),) for c, z in zip(conts, tok, strict=True)]


def test_cache_size_is_checked_before_it_is_built(net: torch.nn.Module,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from logitrank import validation

    monkeypatch.setattr(validation, "MAX_ARRAY_BYTES", 20_000)
    width = kv_width(net.config)  # the key/value width: 16 for the grouped-query Llama, not its width 32
    # without max_steps every row may grow to the context: BOS + 23 tokens
    with pytest.raises(ValueError, match=rf"n_branches: the key/value caches of every history x branch "
                                         rf"must fit in .* got n_branches = 3 needing shape "
                                         rf"\(6, {CTX}, 4, {width}\)"):
        continuation_logits(HFModel(net, bos_token_id=BOS), [(1,), (2,)], 3)
    # sized by need: BOS + 1 + 4 tokens per row fit
    continuation_logits(HFModel(net, bos_token_id=BOS), [(1,), (2,)], 3, max_steps=4)


def test_cached_continuations_refuse_past_the_context(net: torch.nn.Module) -> None:
    model = HFModel(net, bos_token_id=BOS)
    stream = continuation_logits(model, [tuple(i % V for i in range(model.horizon - 2))], 1)
    stream.append(np.array([1]))
    with pytest.raises(ValueError, match=r"tokens: the longest history leaves room for 1 continuation "
                                         r"tokens"):
        stream.append(np.array([1]))


def test_lingen_generation_same_with_and_without_the_cache(net: torch.nn.Module) -> None:
    rng = np.random.default_rng(1)
    model = HFModel(net, bos_token_id=BOS)
    H = [tuple(int(t) for t in rng.integers(0, V, size=6)) for _ in range(5)]
    v = rng.normal(size=5)
    target = tuple(int(t) for t in rng.integers(0, V, size=6))
    fast = lingen_generate(model, H, v, 8, rng=3, target_history=target, n_samples=4)
    slow = lingen_generate(Generic(model), H, v, 8, rng=3, target_history=target, n_samples=4)
    np.testing.assert_array_equal(fast.tokens, slow.tokens)
    assert fast.kl is not None and slow.kl is not None
    np.testing.assert_allclose(fast.kl, slow.kl, **tol(np.float32))


def test_fused_gelu_is_gpt2_gelu() -> None:
    from transformers.activations import ACT2FN

    from llm_bridge.lm_config import init_transformer, resolve_config

    net = init_transformer(resolve_config("tiny"), 11, seed=0)
    assert net.config.activation_function == "gelu_pytorch_tanh"
    x = torch.linspace(-6, 6, 2001)
    fused, python = ACT2FN["gelu_pytorch_tanh"](x), ACT2FN["gelu_new"](x)
    np.testing.assert_allclose(fused.numpy(), python.numpy(), **tol(np.float32))
    # the exact (erf) GELU is a different function: the comparison can tell them apart
    assert not np.allclose(fused.numpy(), ACT2FN["gelu"](x).numpy(), **tol(np.float32))


def test_openmp_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_bridge import device

    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert device.choose_openmp_wait_policy() == "ACTIVE"  # the user's choice is kept
    for used, expected in [(0.1, "default"), (0.5, "PASSIVE"), (1.7, "PASSIVE"), (None, "PASSIVE")]:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
        monkeypatch.setattr(device, "busy_cores", lambda used=used: used)
        assert device.choose_openmp_wait_policy() == expected
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"interval: must be > 0, got -1"):
        device.busy_cores(-1)
    used = device.busy_cores(0.05)
    assert used is None or 0.0 <= used <= (__import__("os").cpu_count() or 1) + 1e-9
