"""The inputs of ``logitrank measure`` (and ``logitrank extract --model PATH``): a user's causal LM (a
HuggingFace folder, a hub name, a ``.gguf`` file or a built-in name: :mod:`llm_bridge.sources`), its BOS
convention, its tokenizer and the text the windows come from, each checked before any work.

Refusals (``ValueError``, "parameter: rule, got value"):

* ``model``: a directory that is not a causal-LM checkpoint (no ``config.json``, a ``model_type`` that
  ``AutoModelForCausalLM`` cannot load, no safetensors weights), a built-in model whose file is corrupt
  (``ImportError`` when its package is not installed);
* ``bos``: ``always`` for a model with no BOS token;
* ``tokenizer``: a vocabulary that does not match the model's output vocabulary (``V_tok <= V_model <=
  V_tok`` rounded up to a multiple of 128, the usual embedding padding), or ``auto`` with no tokenizer saved
  beside the model;
* ``device``: ``cuda`` on a machine where torch sees no CUDA device;
* ``text``: neither or both of a file/directory and a built-in corpus, or an empty/missing path.

The model of a worker is built by :func:`open_hf_model`, a module-level function so that
``functools.partial(open_hf_model, ...)`` pickles for dask workers (one replica per worker).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from logitrank.validation import as_rng

from .corpus import TOKENIZER_FILE, CharTokenizer, HFTokenizer, tokenizer_from_name
from .sources import ModelSource, check_causal_lm, choose_bos, resolve_source, weights_id
from .windows import WindowSpec, draw_windows

__all__ = ["CORPORA", "TEXT_SUFFIXES", "check_causal_lm", "check_device", "read_text", "load_tokenizer_for",
           "check_tokenizer", "model_vocab_size", "open_hf_model", "weights_id", "Loaded", "load_checked",
           "check_top_k", "check_windows", "model_id", "extraction_inputs"]

CORPORA = ("shakespeare",)
TEXT_SUFFIXES = (".txt", ".md")
PADDING = 128  # embeddings are commonly padded up to a multiple of 64 or 128 tokens
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def check_device(device: str) -> str:
    """``device`` itself after checking that ``cuda`` / ``cuda:N`` has a CUDA device behind it."""
    import torch

    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: 'cuda' needs a CUDA device visible to torch (torch.cuda.is_available() "
                         f"is False here), got {device!r}")
    return str(device)


def read_utf8(path: Path) -> str:
    """The UTF-8 text of one ``--text`` file; a binary or UTF-16 file is refused naming it and the option
    (UTF-16 ASCII decodes as UTF-8 with a NUL after each letter, hence the NUL check)."""
    try:
        body = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"text: {str(path)!r} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                         f"offset {exc.start}); convert it (e.g. iconv -t UTF-8) or remove it from --text"
                         ) from None
    if "\x00" in body:
        raise ValueError(f"text: {str(path)!r} holds NUL bytes (binary, or UTF-16 text); convert it to UTF-8 "
                         f"(e.g. iconv -f UTF-16 -t UTF-8) or remove it from --text")
    return body


def read_text(text: str | Path | None = None, corpus: str | None = None) -> tuple[str, str]:
    """The text to draw windows from and a description of it.

    ``text`` is a file (read as UTF-8) or a directory (its ``*.txt`` and ``*.md`` files, sorted, joined by
    blank lines); ``corpus="shakespeare"`` is the validation plays of :func:`llm_bridge.load_shakespeare`
    (held out from ``logitrank train``'s training). Exactly one of the two."""
    if (text is None) == (corpus is None):
        raise ValueError(f"text: give exactly one of a text file or directory (--text) and a built-in corpus "
                         f"(--corpus {'|'.join(CORPORA)}), got text={text!r}, corpus={corpus!r}")
    if corpus is not None:
        if corpus not in CORPORA:
            raise ValueError(f"corpus: must be one of {CORPORA}, got {corpus!r}")
        from .corpus import DEFAULT_VALIDATION_PLAYS, shakespeare_plays

        plays = shakespeare_plays()
        held = [n for n in plays if n.split("/", 1)[1] in DEFAULT_VALIDATION_PLAYS]
        return "\n\n".join(plays[n] for n in held), f"shakespeare validation plays ({', '.join(held)})"
    path = Path(text)  # type: ignore[arg-type]
    if path.is_file():
        body = read_utf8(path)
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
        body = "\n\n".join(read_utf8(p) for p in files)
    else:
        raise ValueError(f"text: must be an existing file or directory, got {str(path)!r}")
    if not body.strip():
        raise ValueError(f"text: must contain text ({'/'.join(TEXT_SUFFIXES)} files in a directory), got "
                         f"{len(files)} file(s) with no text at {str(path)!r}")
    return body, f"{str(path)} ({len(files)} file{'s' if len(files) != 1 else ''}, {len(body)} characters)"


def load_tokenizer_for(name: str, model: str, text: str) -> CharTokenizer | HFTokenizer:
    """The tokenizer ``name`` means for ``model``: ``auto`` (the one saved with the model: a
    ``char_tokenizer.json`` or a transformers tokenizer, or the hub's for a hub name), ``char`` (the
    characters of ``text``) or ``bpe-N`` (byte-level BPE trained on ``text``)."""
    if name == "auto":
        path = Path(model)
        if not path.is_dir():
            try:
                return HFTokenizer(str(model))
            except Exception as err:  # network errors, unknown names: one refusal for the caller
                raise ValueError(f"tokenizer: 'auto' must find the tokenizer of {str(model)!r} on the hub, "
                                 f"got {type(err).__name__}: {err}") from err
        if (path / TOKENIZER_FILE).is_file():
            return CharTokenizer.load(path)
        if any((path / f).is_file() for f in HF_TOKENIZER_FILES):
            return HFTokenizer(path)
        raise ValueError(f"tokenizer: 'auto' needs a tokenizer saved with the model ({TOKENIZER_FILE} or "
                         f"tokenizer.json in the checkpoint directory); pass --tokenizer char or bpe-N to "
                         f"build one from the text, got 'auto' for {str(path)!r}")
    if name == "char":
        return CharTokenizer.from_text(text)
    tok = tokenizer_from_name(name, text)
    assert tok is not None  # "char" handled above
    return tok


def model_vocab_size(model: Any) -> int:
    """Rows of the model's output embedding (its ``config.vocab_size`` when it has none)."""
    out = model.get_output_embeddings()
    return int(out.weight.shape[0]) if out is not None else int(model.config.vocab_size)


def check_tokenizer(tokenizer: Any, model_vocab: int) -> int:
    """``V = len(tokenizer)`` after checking that it matches a model with ``model_vocab`` output rows."""
    V = int(tokenizer.vocab_size)
    padded = -(-V // PADDING) * PADDING
    if not V <= model_vocab <= padded:
        raise ValueError(f"tokenizer: its vocabulary must match the model's output vocabulary "
                         f"(V_tokenizer <= V_model <= V_tokenizer rounded up to a multiple of {PADDING}), "
                         f"got V_tokenizer={V} for a model with V_model={model_vocab}")
    return V


def open_hf_model(source: str, *, device: str = "cpu", dtype: str = "float32",
                  vocab_size: int | None = None, progress: bool | None = False, bos: str = "auto") -> Any:
    """:class:`llm_bridge.HFModel` of a checked checkpoint with the BOS ``bos`` chooses
    (:func:`llm_bridge.sources.choose_bos`): the dask workers' model factory."""
    from .checkpoints import checkpoint_metadata, load_causal_lm
    from .hf_model import HFModel

    check_device(device)
    src = resolve_source(check_causal_lm(source))
    bos_id, _ = choose_bos(src, bos)
    if vocab_size is None:
        vocab_size = checkpoint_metadata(src.path).get("generator_vocab_size")
    return HFModel(load_causal_lm(src.path, dtype=dtype), device=device, dtype=dtype, vocab_size=vocab_size,
                   bos_token_id=bos_id, progress=progress)


@dataclass
class Loaded:
    """A checked model and its inputs: ``source`` (the spec as given), the transformers model ``hf``, the
    :class:`llm_bridge.HFModel` ``model`` over its first ``V = len(tokenizer)`` logits, the ``tokenizer``,
    the ``text`` and its description ``text_desc``; ``resolved`` (:class:`llm_bridge.sources.ModelSource`)
    and ``bos`` (``{"mode", "token_id", "reason"}``: the BOS the model prepends and why)."""

    source: str
    hf: Any
    model: Any
    tokenizer: Any
    text: str
    text_desc: str
    resolved: ModelSource | None = None
    bos: dict[str, Any] | None = None


def load_checked(model: str | Path, *, tokenizer: str = "auto", text: str | Path | None = None,
                 corpus: str | None = None, device: str = "cpu", dtype: str = "float32",
                 bos: str = "auto") -> Loaded:
    """Check device, checkpoint, BOS, text and tokenizer (in that order, before reading weights; a GGUF is
    dequantized into its cache folder on first use), then load."""
    from .checkpoints import load_causal_lm
    from .hf_model import HFModel

    check_device(device)
    src = resolve_source(check_causal_lm(model))
    bos_id, reason = choose_bos(src, bos)
    body, desc = read_text(text, corpus)
    tok = load_tokenizer_for(tokenizer, src.path, body)
    hf = load_causal_lm(src.path, dtype=dtype)
    V = check_tokenizer(tok, model_vocab_size(hf))
    m = HFModel(hf, device=device, dtype=dtype, vocab_size=V, bos_token_id=bos_id, progress=False)
    return Loaded(src.spec, hf, m, tok, body, desc, src, {"mode": bos, "token_id": bos_id, "reason": reason})


def model_id(ld: Loaded, dtype: str, device: str) -> str:
    """The identity of a loaded model's logits for shard manifests: weights, dtype, device and BOS."""
    assert ld.resolved is not None and ld.bos is not None
    return f"{ld.resolved.weights_id(dtype)}:{device}:bos={ld.bos['token_id']}"


def check_top_k(top_k: int | None, vocab_size: int, where: str) -> None:
    """Refuse ``top_k > V``."""
    if top_k is not None and top_k > vocab_size:
        raise ValueError(f"top-k: must be <= the vocabulary size V = {vocab_size} (k token columns per "
                         f"future, {where}), got {top_k}")


def check_windows(total: int, context: int, horizon: int, n_tokens: int, where: str, text_desc: str) -> None:
    """Refuse windows longer than the model's context, or more window tokens than the text has."""
    if context > horizon - 1:
        raise ValueError(f"history_length: history + future (or generated) tokens must be <= the model's "
                         f"context, horizon - 1 = {horizon - 1}, got {context} in {where}")
    if total > n_tokens:
        raise ValueError(f"text: must hold at least {total} tokens for the disjoint windows of {where}, got "
                         f"{n_tokens} tokens from {text_desc}")


def extraction_inputs(model: str | Path, *, text: str | Path | None = None, corpus: str | None = None,
                      tokenizer: str = "auto", device: str = "cpu", dtype: str = "float32",
                      n_histories: int = 256, history_length: int = 32, n_futures: int = 256,
                      future_length: int = 8, top_k: int | None = None, seed: int = 0, bos: str = "auto"
                      ) -> tuple[Any, list, list, str, Any, np.random.Generator]:
    """What ``logitrank extract --model PATH`` hands to :func:`logitrank.shards.extract`: the checked
    :class:`llm_bridge.HFModel` (with the BOS ``bos`` chooses), disjoint text windows ``H`` and ``F``
    (seeded), the model id for the manifest, a picklable factory for dask workers and the generator (after
    the windows were drawn)."""
    ld = load_checked(model, tokenizer=tokenizer, text=text, corpus=corpus, device=device, dtype=dtype,
                      bos=bos)
    m = ld.model
    check_top_k(top_k, m.vocab_size, "extract")
    tokens = ld.tokenizer.encode(ld.text)
    check_windows(n_histories * history_length + n_futures * future_length, history_length + future_length,
                  m.horizon, tokens.size, "extract", ld.text_desc)
    gen = as_rng(seed)
    H, F = draw_windows(tokens, WindowSpec(n_histories, history_length, n_futures, future_length, top_k), gen)
    factory = functools.partial(open_hf_model, ld.source, device=device, dtype=dtype, vocab_size=m.vocab_size,
                                bos=bos)
    return m, H, F, model_id(ld, dtype, device), factory, gen
