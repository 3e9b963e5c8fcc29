"""Key/value cache facts of a ``transformers`` causal LM: how many bytes a token costs, and repeating rows.

Size. Attention layer ``l`` caches, for every token of every row, a key and a value of width
``w_l = num_key_value_heads_l * head_dim_l`` (grouped-query attention: SmolLM2-135M has 3 key/value heads
of 64, ``w = 192``, a third of its width 576; GPT-2 has full heads, ``w = n_embd``). ``head_dim`` is the
config's own field where it has one (it need not be ``hidden_size / num_attention_heads``), and layers may
differ (heterogeneous configs, ``per_layer_config``). A cache of ``n`` rows and ``T`` tokens therefore holds

.. math:: n \\, T \\, \\sum_l 2 w_l \\cdot \\text{itemsize} \\quad \\text{bytes},

which :func:`kv_bytes_per_token` returns per ``n T``. Sliding-window layers hold at most their window, and
layers that share another's cache or have none hold nothing: counting every layer as full attention over all
``T`` tokens is an upper bound, never an underestimate, and exact for the common all-full-attention model.

Repetition. :func:`repeat_cache` selects (with repetition) rows of a cache through the cache's own
``reorder_cache`` (what beam search uses), on a copy: every layer keeps its type and state (a sliding-window
layer its window and the count of tokens it has seen, a linear-attention layer its recurrent states), which a
cache rebuilt from bare key/value tensors would lose.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from logitrank.validation import check_size

__all__ = ["check_cache_size", "kv_bytes_per_token", "kv_width", "new_cache", "repeat_cache"]


def _layer_configs(config: Any) -> list[Any]:
    """The decoder's per-layer configs (the config itself once per layer for a homogeneous model)."""
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    if getattr(text, "is_heterogeneous", False):
        return list(text.per_layer_config)
    n_layer = getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer", None)
    if n_layer is None:
        raise ValueError("config: needs num_hidden_layers (or n_layer) to size a key/value cache, "
                         "got neither")
    return [text] * int(n_layer)


def _layer_kv_width(cfg: Any) -> int:
    """``num_key_value_heads * head_dim`` of one layer (GPT-2 names: ``n_head``, ``n_embd``; no grouping)."""
    heads = getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head", None)
    hidden = getattr(cfg, "hidden_size", None) or getattr(cfg, "n_embd", None)
    head_dim = getattr(cfg, "head_dim", None)
    if head_dim is None and hidden is not None and heads is not None:
        head_dim = int(hidden) // int(heads)
    if heads is None or head_dim is None:
        raise ValueError(f"config: needs num_attention_heads and head_dim or hidden_size to size a key/value "
                         f"cache, got num_attention_heads = {heads}, hidden_size = {hidden}")
    kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
    return int(kv_heads) * int(head_dim)


def kv_width(config: Any) -> int:
    """``num_key_value_heads * head_dim`` of the widest attention layer (the width of one cached key).

    Parameters
    ----------
    config : a ``transformers`` config (a multimodal one is read through its text decoder)

    Returns
    -------
    int
    """
    return max(_layer_kv_width(c) for c in _layer_configs(config))


def kv_bytes_per_token(config: Any, itemsize: int) -> int:
    """Bytes one token of one row costs in a key/value cache: ``sum_l 2 w_l itemsize`` over all layers
    (keys and values; an upper bound for sliding-window or cache-sharing layers, see the module docstring).

    Parameters
    ----------
    config : a ``transformers`` config
    itemsize : int, bytes per cached number (4 for float32, 2 for bfloat16)

    Returns
    -------
    int
    """
    return sum(2 * _layer_kv_width(c) * int(itemsize) for c in _layer_configs(config))


def check_cache_size(name: str, value: Any, config: Any, *, rows: int, tokens: int, itemsize: int,
                     what: str) -> None:
    """Refuse, before they are built, key/value caches of ``rows`` rows of ``tokens`` tokens above
    ``logitrank.validation.MAX_ARRAY_BYTES``: a ``ValueError`` naming ``name = value`` (the parameter that
    made them large) and the shape ``(rows, tokens, 2 x layers, kv_width)`` (``(rows, tokens, sum_l 2 w_l)``
    when the layers' widths differ: exactly :func:`kv_bytes_per_token` per row and token, never the widest
    layer's width counted for every layer).

    Parameters
    ----------
    name, value : the parameter to blame, and its value
    config : a ``transformers`` config
    rows, tokens : int, the caches' rows and the tokens each row will hold at most
    itemsize : int, bytes per cached number
    what : str, what the caches are for ("the key/value caches of ...")
    """
    widths = [_layer_kv_width(c) for c in _layer_configs(config)]
    per_token = (2 * len(widths), widths[0]) if len(set(widths)) == 1 else (2 * sum(widths),)
    shape = (int(rows), int(tokens), *per_token)
    check_size(name, value, shape, what=what, itemsize=itemsize)


def new_cache(config: Any) -> Any:
    """An empty ``DynamicCache`` laid out for ``config``: sliding-window layers keep only their window, as
    in the model's own generation (a cache built without the config keeps every token in every layer)."""
    from transformers import DynamicCache

    try:
        return DynamicCache(config=config)
    except TypeError:  # transformers before the config argument: every layer a full one (still exact)
        return DynamicCache()


def repeat_cache(cache: Any, index: Any) -> Any:
    """A new cache whose row ``r`` is row ``index[r]`` of ``cache``; ``cache`` itself is left as it was.

    Parameters
    ----------
    cache : a ``transformers`` ``Cache`` (its layers of any type: full, sliding-window, hybrid)
    index : int sequence or 1-D tensor, shape (n,), rows of ``cache`` (repeats allowed)

    Returns
    -------
    Cache of the same class and layer types, ``n`` rows
    """
    import torch

    if not hasattr(cache, "reorder_cache") or not hasattr(cache, "layers"):
        raise TypeError(f"cache: expected a transformers Cache with layers, got {type(cache).__name__}")
    out = copy.copy(cache)
    out.layers = [_layer_copy(layer) for layer in cache.layers]
    idx = torch.as_tensor(np.asarray(index) if not torch.is_tensor(index) else index, dtype=torch.long)
    # reorder_cache replaces each layer's tensors by an index_select of them: the copy gets new tensors and
    # the original's stay untouched, whatever the layer type
    out.reorder_cache(idx)
    return out


def _layer_copy(layer: Any) -> Any:
    """A copy of a cache layer sharing its tensors but not its containers (some layers reorder the tensors
    held in a dict in place: ``conv_states[i] = ...``)."""
    new = copy.copy(layer)
    for name, value in vars(layer).items():
        if isinstance(value, dict | list):
            setattr(new, name, copy.copy(value))
    return new
