"""The key/value-cache runner of a causal LM: forward passes, batch sizing, caches and centered logits.

One :class:`KVRunner` per :class:`llm_bridge.HFModel` serves every reader of the model —
:meth:`HFModel.extended_logits`, the growing continuations of :mod:`llm_bridge.continuations` and the
hidden-state path of :mod:`llm_bridge.hidden_states` — through public methods only (no reader reaches into
another module's private members, and :mod:`llm_bridge.continuations` needs no import of :mod:`.hf_model`).

Speed. Reading ``l(h . f)`` for many futures repeats each history's cache over the futures
(:mod:`llm_bridge.pair_blocks`). :meth:`KVRunner.expand_cache` writes each history row once per future into
a buffer with room for the future tokens, which the layers then fill in place: one copy of the history's
keys and values per pair, where repeating the cache (``reorder_cache``) and growing it (``torch.cat`` in every
layer) copy it twice. GPT-2's ``gelu_new`` (six elementwise passes in Python) is swapped for the same function
as one fused kernel (``gelu_pytorch_tanh``, equal to float32 round-off).
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank.validation import check_finite, check_positive_int, check_prefixes

from .kv_cache import kv_bytes_per_token, new_cache, repeat_cache

__all__ = ["KVRunner", "check_pairs", "fuse_gelu"]


def fuse_gelu(model: Any) -> int:
    """Replace every ``NewGELUActivation`` (GPT-2's ``gelu_new``) of ``model`` by ``GELUTanh``, the same
    tanh-approximated GELU as one fused kernel; returns how many were replaced."""
    from transformers.activations import ACT2FN, NewGELUActivation

    swapped = 0
    for module in model.modules():
        for name, child in list(module.named_children()):
            if type(child) is NewGELUActivation:
                setattr(module, name, ACT2FN["gelu_pytorch_tanh"])
                swapped += 1
    return swapped


class KVRunner:
    """Forward passes of a causal LM with key/value caches, sized to a token and a memory budget.

    Parameters
    ----------
    model : a ``transformers`` causal LM (eval mode, on its device and dtype)
    vocab_size : int, ``V``: logits are read over the first ``V`` outputs
    bos : list of int, ``[]`` or ``[bos_token_id]``, prepended to every input
    max_batch_tokens, memory_limit : int, the budgets of one forward (see :meth:`rows`)

    Attributes
    ----------
    model, device, dtype, vocab_size, bos, itemsize : as given or read from the model
    n_layer, width, heads : int, from the config
    model_vocab : int, rows of the output head
    cache_arg : str, the forward's name for the cache (``cache`` or ``past_key_values``)
    """

    KV_CHUNK_BYTES = 64 * 2**20
    """Ceiling on the bytes of one expanded key/value cache block (the cache of ``len(h) + len(f)`` tokens per
    pair at its key/value width, :mod:`llm_bridge.kv_cache`)."""

    def __init__(self, model: Any, vocab_size: int, bos: list[int], *, max_batch_tokens: int = 16384,
                 memory_limit: int = 2**30):
        import torch

        self.model = model
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self.vocab_size, self.bos = int(vocab_size), list(bos)
        self.max_batch_tokens = check_positive_int("max_batch_tokens", max_batch_tokens)
        self.memory_limit = check_positive_int("memory_limit", memory_limit)
        cfg = model.config
        out_emb = model.get_output_embeddings()
        self.model_vocab = int(out_emb.weight.shape[0]) if out_emb is not None else int(cfg.vocab_size)
        params = inspect.signature(model.forward).parameters
        self.keep_ok = "logits_to_keep" in params
        # transformers >= 5.2x renamed ``past_key_values`` to ``cache`` (the old name warns, then goes away)
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        self.itemsize = torch.tensor([], dtype=self.dtype).element_size()
        self.n_layer = _config_int(cfg, "num_hidden_layers", "n_layer")
        self.width = _config_int(cfg, "hidden_size", "n_embd")
        self.heads = _config_int(cfg, "num_attention_heads", "n_head")

    # ------------------------------------------------------------------ sizing
    @functools.cached_property
    def kv_token_bytes(self) -> int:
        """Key/value cache bytes of one token of one row, all layers (:func:`.kv_cache.kv_bytes_per_token`)"""
        return kv_bytes_per_token(self.model.config, self.itemsize)

    def rows(self, q_len: int, kv_len: int = 0, kept: int = 1) -> int:
        """Rows per forward of ``q_len`` new tokens after ``kv_len`` cached ones, reading logits at ``kept``
        positions: tokens <= max_batch_tokens and estimated bytes <= memory_limit.

        Per row: the new tokens' activations (16 widths each, and attention scores over every key), the
        key/value cache of all ``q_len + kv_len`` tokens at the key/value width (a third of the width for
        SmolLM2's grouped-query attention), and the kept logits over the whole output head (V = 49,152 for
        SmolLM2), in the model's dtype, as float32 and twice as float64 while they are centered.
        """
        total = q_len + kv_len
        per_row = (self.itemsize * q_len * (16 * self.width + 2 * self.heads * total)
                   + total * self.kv_token_bytes
                   + kept * self.model_vocab * (self.itemsize + 4 + 16))
        return max(1, min(self.max_batch_tokens // max(1, q_len), self.memory_limit // per_row))

    def pairs(self, th: int, lg: int, kept: int, cached: bool = True) -> int:
        """(history, future) rows per forward after a cache of ``th`` tokens, reading ``kept`` positions of
        ``lg`` new ones (``cached`` False: the naive way, all ``th + lg`` tokens run, same block size)."""
        # the expanded cache is copied per pair: keep each block small enough to stay cache-friendly
        # (measured: blocks of 256 pairs ran 1.5x faster than blocks of 1024)
        cap = max(1, self.KV_CHUNK_BYTES // ((th + lg) * self.kv_token_bytes))
        return min(self.rows(lg, kv_len=th, kept=kept) if cached else self.rows(th + lg, kept=kept), cap)

    # ------------------------------------------------------------------ inputs and outputs
    def check(self, name: str, seqs: Any, max_length: int) -> list[tuple[int, ...]]:
        """Validated token sequences (:func:`logitrank.validation.check_prefixes`); without BOS the empty
        prefix has no next-token distribution and is refused."""
        checked = check_prefixes(name, seqs, self.vocab_size, max_length)
        if not self.bos:
            for i, s in enumerate(checked):
                if not s:
                    raise ValueError(f"{name}[{i}]: the empty prefix needs a BOS token; construct HFModel "
                                     f"with bos_token_id=... (no input to condition on), got ()")
        return checked

    def center(self, raw: Any) -> np.ndarray:
        """float64 centered logits from a (..., V_model) tensor over its first V tokens, checked finite here,
        where they are produced (one block at a time, while it is in cache)."""
        arr = raw[..., : self.vocab_size].double().cpu().numpy()  # exact for every dtype, float64 included
        arr -= arr.mean(axis=-1, keepdims=True)
        return check_finite("HFModel logits", arr)

    def forward(self, ids: np.ndarray, *, keep: Any = None,
                past: Any = None) -> tuple[Any, np.ndarray | None]:
        """One forward of int ``ids`` ``(rows, tokens)`` continuing ``past`` (a cache, grown in place; None:
        no cache). ``keep``: positions whose logits are computed (when the model takes ``logits_to_keep``;
        then returned as an array, else None and the logits cover every position)."""
        import torch

        kwargs: dict[str, Any] = {"input_ids": torch.as_tensor(ids, dtype=torch.long, device=self.device),
                                  "use_cache": past is not None}
        if past is not None:
            kwargs[self.cache_arg] = past
        if keep is not None and self.keep_ok:
            kwargs["logits_to_keep"] = torch.as_tensor(keep, dtype=torch.long, device=self.device)
            return self.model(**kwargs), np.asarray(keep)
        return self.model(**kwargs), None

    def new_cache(self) -> Any:
        """An empty cache laid out for the model (:func:`llm_bridge.kv_cache.new_cache`)."""
        return new_cache(self.model.config)

    def cache_of(self, result: Any) -> Any:
        """The cache a forward with a cache returned."""
        return getattr(result, self.cache_arg)

    def expand_cache(self, cache: Any, start: int, count: int, repeats: int, room: int) -> Any:
        """Rows ``start .. start + count - 1`` of ``cache``, each repeated ``repeats`` times (row
        ``r`` is source row ``start + r // repeats``), with room for ``room`` more tokens per row.

        Full-attention layers (``DynamicLayer``) get buffers of ``len + room`` tokens written once and grown
        in place by the next forward; other layer types (sliding windows, recurrent states) go through
        :func:`llm_bridge.kv_cache.repeat_cache`. ``cache`` itself is left as it was.
        """
        import torch
        from transformers.cache_utils import DynamicLayer

        index = torch.arange(start, start + count, device=self.device).repeat_interleave(repeats)
        layers = getattr(cache, "layers", [None])
        if not all(type(layer) is DynamicLayer and layer.get_seq_length() > 0 for layer in layers):
            return repeat_cache(cache, index)
        out = copy.copy(cache)
        room_layer = _room_layer_class()
        out.layers = [room_layer.expanded(layer, start, count, repeats, room) for layer in cache.layers]
        return out


def _room_buffer(src: Any, start: int, count: int, repeats: int, room: int) -> Any:
    """``src[start:start+count]`` (rows, heads, t, dh) repeated ``repeats`` times per row into a buffer of
    ``t + room`` tokens: one broadcast copy, no intermediate tensor."""
    import torch

    _, heads, t, dh = src.shape
    buf = torch.empty((count * repeats, heads, t + room, dh), dtype=src.dtype, device=src.device)
    buf.view(count, repeats, heads, t + room, dh)[:, :, :, :t].copy_(src[start : start + count, None])
    return buf


@functools.cache
def _room_layer_class() -> Any:
    """The ``RoomLayer`` class, built on first use (``transformers`` is imported only when a model runs)."""
    from transformers.cache_utils import DynamicLayer

    class RoomLayer(DynamicLayer):  # type: ignore[misc]
        """A ``DynamicLayer`` whose keys and values are views of buffers with room: ``update`` writes the new
        tokens into the room (no ``torch.cat`` copy of the whole cache) while it lasts."""

        kbuf: Any
        vbuf: Any
        filled: int

        @classmethod
        def expanded(cls, layer: Any, start: int, count: int, repeats: int, room: int) -> Any:
            new = copy.copy(layer)
            new.__class__ = cls
            t = layer.keys.shape[-2]
            new.kbuf = _room_buffer(layer.keys, start, count, repeats, room)
            new.vbuf = _room_buffer(layer.values, start, count, repeats, room)
            new.keys, new.values = new.kbuf[:, :, :t], new.vbuf[:, :, :t]
            new.filled = t
            return new

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            t, m = self.filled, key_states.shape[-2]
            if t < 0 or t + m > self.kbuf.shape[-2] or key_states.shape[0] != self.kbuf.shape[0]:
                self.filled = -1  # past the room: an ordinary DynamicLayer from here on
                return super().update(key_states, value_states, *args, **kwargs)
            self.kbuf[:, :, t : t + m] = key_states
            self.vbuf[:, :, t : t + m] = value_states
            self.filled = t + m
            self.keys, self.values = self.kbuf[:, :, : t + m], self.vbuf[:, :, : t + m]
            return self.keys, self.values

    return RoomLayer


def _config_int(cfg: Any, *names: str) -> int:
    """The first of ``names`` set in a transformers config, as an int (1 when none is)."""
    for name in names:
        value = getattr(cfg, name, None)
        if value is not None:
            return int(value)
    return 1


def check_pairs(histories: Sequence[tuple[int, ...]], futures: Sequence[tuple[int, ...]],
                horizon: int) -> None:
    """Refuse a concatenation ``h . f`` longer than ``horizon - 1``."""
    longest = max(len(h) for h in histories) + max(len(f) for f in futures)
    if longest > horizon - 1:
        raise ValueError(f"histories/futures: len(h) + len(f) must be <= horizon - 1 = "
                         f"{horizon - 1}, got a longest concatenation of length {longest}")
