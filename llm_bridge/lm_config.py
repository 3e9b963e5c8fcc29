"""Small causal-LM architectures (GPT-2 or Llama) as a config dataclass, and their random initialisation.

:class:`TinyLMConfig` holds the architecture and optimisation hyperparameters, :data:`PRESETS` names a few,
:func:`resolve_config` builds one from a name, a config or a dict, and :func:`init_transformer` draws a
freshly initialised ``transformers`` model for it (what :func:`llm_bridge.train_tiny_lm` trains and the
step-0 experiments measure).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from logitrank.validation import check_float, check_int, check_positive_int

__all__ = ["ARCHS", "TinyLMConfig", "PRESETS", "resolve_config", "init_transformer"]

ARCHS = ("gpt2", "llama")
MAX_INIT_STD = 1.0
"""Largest ``init_std`` accepted: the default ``n_embd ** -0.5`` is below it for every width, and far larger
values only overflow (``1e30`` trained to NaN weights)."""


@dataclass(frozen=True)
class TinyLMConfig:
    """Architecture and optimisation hyperparameters of a small causal LM.

    Attributes
    ----------
    arch : ``"gpt2"`` or ``"llama"``
    n_layer, n_embd, n_head : int
        Depth, width (``d_model``) and attention heads.
    context : int
        Window length in tokens (``n_positions`` / ``max_position_embeddings``).
    intermediate : int or None
        MLP width (default ``4 n_embd`` for GPT-2, ``round(8/3 n_embd)`` rounded up to 8 for Llama).
    vocab_size : int or None
        Default: the tokenizer's, else ``max(token) + 1``.
    batch_size, lr, min_lr_ratio, warmup_steps, weight_decay, beta1, beta2, grad_clip
        AdamW with ``lr(t) = lr * t / warmup`` for ``t < warmup``, then cosine from ``lr`` down to
        ``min_lr_ratio * lr`` at the last step.
    eval_every, eval_batches : int
        Validation loss every ``eval_every`` steps over ``eval_batches`` fixed batches.
    init_std : float or None
        Standard deviation of the normal initialisation (``initializer_range``). ``None`` (default) means the
        fan-in scale ``1 / sqrt(n_embd)``; ``0.02`` is the ``transformers`` default, tuned for GPT-2's width
        768. The untrained model's logit spectrum depends strongly on it
        (:mod:`experiments.init_scale`); fan-in scale also trains better here (1.64 vs 1.71
        nats/char after 1200 steps).
    """

    arch: str = "gpt2"
    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    context: int = 128
    intermediate: int | None = None
    vocab_size: int | None = None
    batch_size: int = 32
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 8
    init_std: float | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch: must be one of {ARCHS}, got {self.arch!r}")
        for name in ("n_layer", "n_embd", "n_head", "context", "batch_size", "eval_every", "eval_batches"):
            check_positive_int(name, getattr(self, name))
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_head: must divide n_embd={self.n_embd}, got {self.n_head}")
        if self.init_std is not None:  # a huge std trains to NaN weights without a word (issue 24, F13)
            check_float("init_std", self.init_std, low=0.0, low_inclusive=False, high=MAX_INIT_STD)
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"lr/min_lr_ratio: need lr > 0 and 0 <= min_lr_ratio <= 1, got {self.lr}, "
                             f"{self.min_lr_ratio}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, TinyLMConfig] = {
    # 0.82M parameters; 1.64 nats/char after 1200 steps (4.6 min on 2 uncontended cores)
    "shakespeare-char": TinyLMConfig(),
    "shakespeare-char-llama": TinyLMConfig(arch="llama", intermediate=344),
    # for tests and smoke runs: a few thousand parameters
    "tiny": TinyLMConfig(n_layer=1, n_embd=16, n_head=2, context=32, batch_size=4, warmup_steps=2, lr=3e-3,
                         eval_every=2, eval_batches=1),
    "tiny-llama": TinyLMConfig(arch="llama", n_layer=1, n_embd=16, n_head=2, context=32, intermediate=32,
                               batch_size=4, warmup_steps=2, lr=3e-3, eval_every=2, eval_batches=1),
}
"""Named configurations; ``resolve_config("shakespeare-char", n_embd=64)`` overrides fields."""


def resolve_config(config: str | TinyLMConfig | dict[str, Any], **overrides: Any) -> TinyLMConfig:
    """A :class:`TinyLMConfig` from a preset name, a config or a dict of fields, with ``overrides``."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"config: unknown preset {config!r}; presets: {sorted(PRESETS)}")
        base = PRESETS[config]
    elif isinstance(config, TinyLMConfig):
        base = config
    elif isinstance(config, dict):
        known = {f.name for f in fields(TinyLMConfig)}
        bad = sorted(set(config) - known)
        if bad:
            raise ValueError(f"config: unknown fields {bad}; known: {sorted(known)}")
        base = TinyLMConfig(**config)
    else:
        raise TypeError(f"config: expected a preset name, TinyLMConfig or dict, got {type(config).__name__}")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def init_transformer(config: TinyLMConfig, vocab_size: int, *, seed: int = 0) -> Any:
    """A randomly initialised ``transformers`` causal LM for ``config`` (seeded, no dropout, tied embeddings).

    GPT-2 uses LayerNorm with bias (initialised ``beta = 0``), Llama RMSNorm and no biases.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    vocab_size = check_positive_int("vocab_size", vocab_size)
    torch.manual_seed(seed)
    hf: Any
    model: Any
    std = config.n_embd**-0.5 if config.init_std is None else float(config.init_std)
    if config.arch == "gpt2":
        hf = GPT2Config(vocab_size=vocab_size, n_positions=config.context, n_embd=config.n_embd,
                        n_layer=config.n_layer, n_head=config.n_head, n_inner=config.intermediate,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None,
                        tie_word_embeddings=True, initializer_range=std,
                        # GPT-2's tanh GELU as one fused op: the same function as "gelu_new" (to float
                        # round-off), whose five Python-level ops cost ~15% of a CPU training step here
                        activation_function="gelu_pytorch_tanh")
        model = GPT2LMHeadModel(hf)
    else:
        inter = config.intermediate or int(8 * math.ceil(8 * config.n_embd / 3 / 8))
        hf = LlamaConfig(vocab_size=vocab_size, hidden_size=config.n_embd, intermediate_size=inter,
                         num_hidden_layers=config.n_layer, num_attention_heads=config.n_head,
                         num_key_value_heads=config.n_head, max_position_embeddings=config.context,
                         tie_word_embeddings=True, bos_token_id=None, eos_token_id=None, pad_token_id=None,
                         initializer_range=std)
        model = LlamaForCausalLM(hf)
    return model
