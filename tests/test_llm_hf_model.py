"""HFModel: parity with a plain forward, the KV-reuse path, dtypes, devices, hidden dimension, bad input."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from conftest import plain_logits, tiny_lm, tol  # noqa: E402

from llm_bridge import HFModel  # noqa: E402
from llm_bridge.hf_model import reduce_futures  # noqa: E402
from logitrank import estimate_hidden_dim, extended_logit_matrix, logits_along, singular_values  # noqa: E402

V, CTX, BOS = 13, 24, 5
CUDA = torch.cuda.is_available()
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu,
                                              pytest.mark.skipif(not CUDA, reason="needs CUDA")])]


tiny_gpt2 = functools.partial(tiny_lm, "gpt2", vocab=V, context=CTX)
tiny_llama = functools.partial(tiny_lm, "llama", vocab=V, context=CTX)
BUILDERS = {"gpt2": tiny_gpt2, "llama": tiny_llama}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def net(request: pytest.FixtureRequest) -> torch.nn.Module:
    return BUILDERS[request.param]()


def random_seqs(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[tuple[int, ...]]:
    return [tuple(int(t) for t in rng.integers(0, V, size=rng.integers(lo, hi + 1))) for _ in range(n)]


@pytest.mark.parametrize("device", DEVICES)
def test_single_prefix_parity(net: torch.nn.Module, device: str) -> None:
    rng = np.random.default_rng(0)
    model = HFModel(net, bos_token_id=BOS, device=device)
    for p in random_seqs(rng, 4, 0, CTX - 1):
        want = plain_logits(net, (BOS, *p), device)
        np.testing.assert_allclose(model.logits([p])[0], want, **tol(np.float32))
    net.to("cpu")


@pytest.mark.parametrize("device", DEVICES)
def test_batched_mixed_lengths_match_unbatched(net: torch.nn.Module, device: str) -> None:
    rng = np.random.default_rng(1)
    prefixes = random_seqs(rng, 25, 0, CTX - 1)
    ref = np.stack([plain_logits(net, (BOS, *p), device) for p in prefixes])
    # a tiny token budget forces many batches with padding; a large one a single padded batch
    for budget in (30, 10_000):
        got = HFModel(net, bos_token_id=BOS, device=device, max_batch_tokens=budget).logits(prefixes)
        assert got.dtype == np.float64 and got.shape == (25, V)
        np.testing.assert_allclose(got, ref, **tol(np.float32))
    net.to("cpu")


def test_without_bos_matches_plain_forward(net: torch.nn.Module) -> None:
    rng = np.random.default_rng(2)
    model = HFModel(net)
    assert model.horizon == CTX + 1  # a prefix may fill the whole context when nothing is prepended
    prefixes = random_seqs(rng, 10, 1, CTX)
    ref = np.stack([plain_logits(net, p) for p in prefixes])
    np.testing.assert_allclose(model.logits(prefixes), ref, **tol(np.float32))
    with pytest.raises(ValueError, match="empty prefix needs a BOS"):
        model.logits([(1, 2), ()])


@pytest.mark.parametrize("device", DEVICES)
def test_extended_kv_reuse_parity(net: torch.nn.Module, device: str) -> None:
    rng = np.random.default_rng(3)
    H = random_seqs(rng, 9, 0, 8)  # mixed history lengths, the empty one included
    F = random_seqs(rng, 6, 1, 7)
    F += [(), F[0][:2], F[1][:1], F[2]]  # empty future, prefixes of others, a duplicate
    model = HFModel(net, bos_token_id=BOS, device=device, max_batch_tokens=64)
    ref = np.stack([[plain_logits(net, (BOS, *h, *f), device) for f in F] for h in H])
    fast = model.extended_logits(H, F)
    naive = model.extended_logits(H, F, use_cache=False)
    np.testing.assert_allclose(fast, ref, **tol(np.float32))
    np.testing.assert_allclose(naive, ref, **tol(np.float32))
    # the core goes through the fast path and gives the same matrix
    L = extended_logit_matrix(model, H, F)
    np.testing.assert_allclose(L.values, ref.reshape(len(H), -1), **tol(np.float32))
    net.to("cpu")


def test_logits_along_parity(net: torch.nn.Module) -> None:
    rng = np.random.default_rng(4)
    seqs = rng.integers(0, V, size=(3, CTX))
    model = HFModel(net, bos_token_id=BOS)
    got = logits_along(model, seqs)
    ref = np.stack([[plain_logits(net, (BOS, *s[:t])) for t in range(CTX)] for s in seqs])
    np.testing.assert_allclose(got, ref, **tol(np.float32))
    with pytest.raises(ValueError, match="needs bos_token_id"):
        HFModel(net).logits_along(seqs)


def test_reduce_futures_covers_every_prefix() -> None:
    F = [(1, 2, 3), (1, 2), (), (4,), (1, 2, 3), (4, 5), (2,)]
    maximal, which, pos = reduce_futures(F)
    assert sorted(maximal) == [(1, 2, 3), (2,), (4, 5)]
    for f, w, p in zip(F, which, pos):
        if f:
            assert maximal[w][: p + 1] == f
        else:
            assert w == -1


@pytest.mark.parametrize("device", DEVICES)
def test_bf16_matches_fp32(device: str) -> None:
    net = tiny_llama()
    rng = np.random.default_rng(5)
    prefixes = random_seqs(rng, 12, 0, 12)
    ref = HFModel(net, bos_token_id=BOS, device=device).logits(prefixes)
    got = HFModel(tiny_llama(), bos_token_id=BOS, device=device, dtype="bf16").logits(prefixes)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=0, atol=bf16_atol(ref))
    assert np.abs(got - ref).max() > 0  # it really ran in reduced precision


def bf16_atol(ref: np.ndarray) -> float:
    """Tolerance of bf16 logits against fp32: ``4 * 2^-8 * max|l|``, four bf16 steps at the logits' scale.

    bf16 keeps 8 significand bits (relative step 2^-8); rounding weights, activations and the two layers'
    outputs compounds to about one step of the largest centered logit. Measured on these test models
    (CPU): max|l| = 0.38 (Llama) and 0.48 (GPT-2), max error 1.9e-3 and 2.4e-3 = 1.3 steps; the bound
    (5.9e-3 and 7.6e-3) leaves a factor 3, and a wrong kernel (errors of a few percent of the scale) fails.
    """
    return float(4 * 2.0**-8 * np.abs(ref).max())


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("arch", sorted(BUILDERS))
def test_cuda_matches_cpu(arch: str) -> None:
    """CPU vs CUDA on the same weights: fp32 within float32 round-off (other kernels, other summation
    orders), bf16 on CUDA within :func:`bf16_atol` of fp32 on the CPU; next-token and KV-reuse paths."""
    rng = np.random.default_rng(7)
    prefixes = random_seqs(rng, 16, 0, 12)
    H, F = random_seqs(rng, 6, 0, 8), random_seqs(rng, 5, 0, 6)
    cpu = HFModel(BUILDERS[arch](), bos_token_id=BOS, device="cpu")
    gpu = HFModel(BUILDERS[arch](), bos_token_id=BOS, device="cuda")
    ref = cpu.logits(prefixes)
    np.testing.assert_allclose(gpu.logits(prefixes), ref, **tol(np.float32, scale=10))  # kernels differ
    ext = cpu.extended_logits(H, F)
    np.testing.assert_allclose(gpu.extended_logits(H, F), ext, **tol(np.float32, scale=10))
    half = HFModel(BUILDERS[arch](), bos_token_id=BOS, device="cuda", dtype="bf16")
    np.testing.assert_allclose(half.logits(prefixes), ref, rtol=0, atol=bf16_atol(ref))


@pytest.mark.parametrize("width", [32, 64, 96])
def test_hidden_dimension_recovered_random_init(width: int) -> None:
    """Single-token matrix rank: RMSNorm, no output bias -> d_model; LayerNorm, beta = 0 -> d_model - 1."""
    rng = np.random.default_rng(width)
    vocab = 160
    H = [tuple(int(t) for t in rng.integers(0, vocab, size=3)) for _ in range(2 * width + 40)]
    for build, expected in ((tiny_llama, width), (tiny_gpt2, width - 1)):
        model = HFModel(build(vocab=vocab, width=width), bos_token_id=0)
        s = singular_values(extended_logit_matrix(model, H, [()]))
        est = estimate_hidden_dim(s, floor_rtol=len(s) * 1e-6)  # computed in float32
        assert est.dim == expected, (build.__name__, est.dim, expected)


@pytest.mark.slow
@pytest.mark.parametrize("width", [32, 64, 96])
def test_hidden_dimension_recovered_trained(width: int) -> None:
    """A few AdamW steps move LayerNorm's beta off zero: a trained GPT-2 shows the full d_model."""
    net = tiny_gpt2(vocab=160, width=width, seed=1)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        x = torch.randint(0, 160, (4, 12), generator=gen)
        loss = net(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    rng = np.random.default_rng(width)
    H = [tuple(int(t) for t in rng.integers(0, 160, size=3)) for _ in range(2 * width + 40)]
    model = HFModel(net, bos_token_id=0)
    s = singular_values(extended_logit_matrix(model, H, [()]))
    s64, logits64 = single_token_spectrum64(net, H, bos=0)
    np.testing.assert_allclose(model.logits(H), logits64, rtol=0, atol=1e-4)  # the same matrix, float32
    # exact: in float64 the beta direction (sigma_d ~ 5e-5 sigma_1 after 5 steps) stands 11 orders of
    # magnitude above round-off, so the rank is d_model, not the untrained d_model - 1
    assert estimate_hidden_dim(s64).dim == width
    s0, _ = single_token_spectrum64(tiny_gpt2(vocab=160, width=width, seed=1), H, bos=0)
    assert estimate_hidden_dim(s0).dim == width - 1  # negative control: beta = 0, the same checker
    # in float32 that direction sits within ~100x of the logits' round-off (1e-7 relative): the largest
    # gap is then either below it (d - 1) or above it (d); the exact value is asserted in float64 above
    assert estimate_hidden_dim(s, floor_rtol=1e-7).dim in (width - 1, width)


def single_token_spectrum64(net: torch.nn.Module, H: list, bos: int) -> tuple[np.ndarray, np.ndarray]:
    """Singular values of the centered next-token logits ``L(H, {empty})`` computed in float64 (a copy of
    ``net``; histories of one length, BOS prepended), and those logits."""
    import copy

    m = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        lg = m(input_ids=torch.tensor([[bos, *h] for h in H])).logits[:, -1].numpy()
    lg = lg - lg.mean(axis=1, keepdims=True)
    return np.linalg.svd(lg, compute_uv=False), lg


def test_bad_input_errors(net: torch.nn.Module) -> None:
    model = HFModel(net, bos_token_id=BOS)
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 13\), got 13"):
        model.logits([(1, 13)])
    with pytest.raises(ValueError, match="length must be <= 23"):
        model.logits([tuple([1] * CTX)])
    with pytest.raises(ValueError, match="len\\(h\\) \\+ len\\(f\\) must be <= horizon - 1"):
        model.extended_logits([tuple([1] * 20)], [(1, 2, 3, 4)])
    with pytest.raises(ValueError, match="vocab_size: must be <= 13"):
        HFModel(net, vocab_size=14)
    with pytest.raises(ValueError, match="bos_token_id: must be <= 12"):
        HFModel(net, bos_token_id=13)
    with pytest.raises(ValueError, match="dtype: must be one of .* or a torch dtype, got 'int8'"):
        HFModel(net, dtype="int8")
    if not CUDA:
        with pytest.raises(ValueError, match=r"device: CUDA was requested \('cuda'\) but torch\.cuda\."):
            HFModel(net, device="cuda")


def test_vocab_restriction_renormalises(net: torch.nn.Module) -> None:
    model = HFModel(net, bos_token_id=BOS, vocab_size=V - 3)
    p = (1, 2, 3)
    raw = plain_logits(net, (BOS, *p))[: V - 3]
    np.testing.assert_allclose(model.logits([p])[0], raw - raw.mean(), **tol(np.float32))


def test_checkpoint_directory_round_trip_without_unpickling(tmp_path, monkeypatch, net) -> None:  # type: ignore[no-untyped-def]
    net.save_pretrained(tmp_path / "ok", safe_serialization=True)

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("pickle must not be used to load a checkpoint")

    real_load = torch.load

    def safe_torch_load(*args, **kwargs):  # type: ignore[no-untyped-def]
        assert kwargs.get("weights_only") is True
        return real_load(*args, **kwargs)

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", safe_torch_load)
    loaded = HFModel(tmp_path / "ok", bos_token_id=BOS)
    p = [(1, 2, 3), (4,)]
    np.testing.assert_allclose(loaded.logits(p), HFModel(net, bos_token_id=BOS).logits(p), **tol(np.float32))


def test_checkpoint_directory_missing_files(tmp_path, net) -> None:  # type: ignore[no-untyped-def]
    net.save_pretrained(tmp_path / "ck", safe_serialization=True)
    (tmp_path / "ck" / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"missing \['model.safetensors'\]"):
        HFModel(tmp_path / "ck")
    (tmp_path / "ck" / "pytorch_model.bin").write_bytes(b"not really")
    with pytest.raises(ValueError, match="refusing to unpickle"):
        HFModel(tmp_path / "ck")
    net.save_pretrained(tmp_path / "ck2", safe_serialization=True)
    (tmp_path / "ck2" / "config.json").unlink()
    with pytest.raises(ValueError, match=r"missing \['config.json'\]"):
        HFModel(tmp_path / "ck2")
    with pytest.raises(ValueError, match=r"model: '.*ck2/model\.safetensors' is a file; pass a checkpoint"):
        HFModel(tmp_path / "ck2" / "model.safetensors")
