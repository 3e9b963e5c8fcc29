"""A ``logitrank.SequenceModel`` over any HuggingFace ``transformers`` causal language model.

``HFModel(model)`` answers ``logits(prefixes)`` with the centered logits
``l(x)_z = raw_z(x) - mean_z' raw_z'(x)`` (equal to the centered log-softmax) as float64 numpy, computed on
the device and in the dtype chosen once at construction, in ``torch.inference_mode``.

Padding. Prefixes of different lengths are batched with **right padding and no attention mask**: in a causal
model a pad token placed *after* the real tokens is never attended to by them, so every real position computes
exactly what an unpadded forward computes (positions start at 0 as usual), and no query row is ever fully
masked. Only the positions that are read (one per prefix) go through the output head.

Extended matrices. :meth:`HFModel.extended_logits` runs each history once, keeps its key/value cache
(``transformers.DynamicCache``), repeats it over a block of futures and reads the logits at *every* position
of each future. Futures that are prefixes of another requested future are read off the longer one, so a
prefix-closed future set (e.g. all prefixes of some windows) costs one pass over its maximal elements
(:mod:`llm_bridge.pair_blocks`, shared with the hidden-state fast path of :mod:`llm_bridge.hidden_states`).

Empty prefixes and BOS. With ``bos_token_id`` set, every input starts with that token; the horizon is then the
context length ``n_ctx`` (a prefix of ``n_ctx - 1`` tokens plus BOS fills the context). Without it the empty
prefix has no defined next-token distribution and is rejected with a ``ValueError``; prefixes up to ``n_ctx``
tokens are allowed (horizon ``n_ctx + 1``).

Loading from a directory never unpickles: only ``model.safetensors`` (or a sharded safetensors index) is read;
a directory holding only ``pytorch_model.bin`` is refused.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from logitrank.validation import check_finite, check_int, check_positive_int, check_prefixes

from .checkpoints import checkpoint_metadata, load_causal_lm
from .device import resolve_device, resolve_dtype
from .hidden_states import HiddenStatePath
from .kv_cache import kv_bytes_per_token, new_cache, repeat_cache
from .pair_blocks import FuturePlan, history_blocks, pair_blocks, plan_futures
from .windows import reduce_futures

__all__ = ["HFModel", "reduce_futures"]


class HFModel(HiddenStatePath):
    """A :class:`logitrank.SequenceModel` over a ``transformers`` causal LM.

    Parameters
    ----------
    model : a ``transformers`` causal-LM object, a local checkpoint directory, a ``.gguf`` file, a built-in
        name (``smollm2-135m``) or a hub name (:func:`llm_bridge.sources.resolve_source`)
    device : None, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (None: CUDA when available)
    dtype : None / ``"fp32"`` / ``"bf16"`` / ``"fp16"`` or a torch dtype (None: float32)
    bos_token_id : int, optional
        Token prepended to every input (needed for the empty prefix). When not given and ``model`` is a
        path or name, the source's own convention (:func:`llm_bridge.sources.choose_bos` ``"auto"``: the
        GGUF metadata, the tokenizer config, or ``train_state.json`` of this package's checkpoints).
    vocab_size : int, optional
        ``V``: use the first ``V`` output logits (e.g. a tokenizer smaller than the embedding, or a BOS id
        outside the alphabet); the distribution is renormalised over them. Default: the model's.
    max_batch_tokens : int
        Ceiling on tokens per forward pass.
    memory_limit : int
        Ceiling (bytes) on the estimated activation + cache memory of one forward; batches are sized to fit.
    progress : bool, optional
        tqdm bars in :meth:`extended_logits` (default: on for more than 200 forward passes).
    fast_path : bool
        Offer the hidden-state fast path (:meth:`readout`, :meth:`final_hidden`, :attr:`hidden_fast_path`,
        :attr:`fast_path_reason`: :class:`llm_bridge.hidden_states.HiddenStatePath`) where it applies
        (default True); False makes the core use full-vocabulary logits everywhere.

    Attributes
    ----------
    vocab_size : int
    horizon : int
        ``n_ctx`` with BOS, ``n_ctx + 1`` without (see the module docstring).
    model : the torch module (eval mode, on ``device``, in ``dtype``)
    device, dtype : torch.device, torch.dtype
    n_ctx : int
        The model's context length.
    """

    centered_logits = True
    """Every answer is centered (:meth:`_center`) and checked finite where it is produced: the core skips its
    centering pass (:func:`logitrank.sequence_model.centered`)."""

    KV_CHUNK_BYTES = 64 * 2**20
    """Ceiling on the bytes of one repeated key/value cache block in :meth:`extended_logits` (the cache of
    ``len(h) + len(f)`` tokens per pair at its key/value width, :mod:`llm_bridge.kv_cache`)."""

    def __init__(
        self,
        model: Any,
        *,
        device: Any = None,
        dtype: Any = None,
        bos_token_id: int | None = None,
        vocab_size: int | None = None,
        max_batch_tokens: int = 16384,
        memory_limit: int = 2**30,
        progress: bool | None = None,
        fast_path: bool = True,
    ):
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        meta: dict[str, Any] = {}
        if isinstance(model, str | Path):  # a folder, .gguf file, built-in or hub name: its own BOS rule
            from .sources import choose_bos, resolve_source

            source = resolve_source(model)
            meta = checkpoint_metadata(source.path)
            bos_token_id = choose_bos(source)[0] if bos_token_id is None else bos_token_id
            model = load_causal_lm(source.path, dtype=self.dtype)
        if not hasattr(model, "forward") or not hasattr(model, "config"):
            raise TypeError(f"model: expected a transformers causal LM, a directory or a hub name, "
                            f"got {type(model).__name__}")
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        cfg = self.model.config
        out_emb = self.model.get_output_embeddings()
        self._model_vocab = int(out_emb.weight.shape[0]) if out_emb is not None else int(cfg.vocab_size)
        n_ctx = getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)
        if n_ctx is None:
            raise ValueError("model: its config has neither n_positions nor max_position_embeddings")
        self.n_ctx = int(n_ctx)
        if bos_token_id is None:
            bos_token_id = meta.get("bos_token_id")
        if vocab_size is None:
            vocab_size = meta.get("generator_vocab_size")
        self.vocab_size = check_positive_int("vocab_size", vocab_size if vocab_size is not None
                                             else self._model_vocab, maximum=self._model_vocab)
        if bos_token_id is not None:
            bos_token_id = check_int("bos_token_id", bos_token_id, minimum=0,
                                              maximum=self._model_vocab - 1)
        self.bos_token_id = bos_token_id
        self._bos = [] if bos_token_id is None else [int(bos_token_id)]
        self.horizon = self.n_ctx + (0 if self._bos else 1)
        self.max_batch_tokens = check_positive_int("max_batch_tokens", max_batch_tokens)
        self.memory_limit = check_positive_int("memory_limit", memory_limit)
        self.progress = progress
        self.fast_path = bool(fast_path)
        params = inspect.signature(self.model.forward).parameters
        self._keep_ok = "logits_to_keep" in params
        # transformers >= 5.2x renamed ``past_key_values`` to ``cache`` (the old name warns, then goes away)
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        import torch

        self._itemsize = torch.tensor([], dtype=self.dtype).element_size()
        self._n_layer = _config_int(cfg, "num_hidden_layers", "n_layer")
        self._width = _config_int(cfg, "hidden_size", "n_embd")
        self._heads = _config_int(cfg, "num_attention_heads", "n_head")

    # ------------------------------------------------------------------ sizing
    @functools.cached_property
    def _kv_token_bytes(self) -> int:
        """Key/value cache bytes of one token of one row, all layers (:func:`.kv_cache.kv_bytes_per_token`)"""
        return kv_bytes_per_token(self.model.config, self._itemsize)

    def _rows(self, q_len: int, kv_len: int = 0, kept: int = 1) -> int:
        """Rows per forward of ``q_len`` new tokens after ``kv_len`` cached ones, reading logits at ``kept``
        positions: tokens <= max_batch_tokens and estimated bytes <= memory_limit.

        Per row: the new tokens' activations (16 widths each, and attention scores over every key), the
        key/value cache of all ``q_len + kv_len`` tokens at the key/value width (a third of the width for
        SmolLM2's grouped-query attention), and the kept logits over the whole output head (V = 49,152 for
        SmolLM2), in the model's dtype, as float32 and twice as float64 while they are centered.
        """
        total = q_len + kv_len
        per_row = (self._itemsize * q_len * (16 * self._width + 2 * self._heads * total)
                   + total * self._kv_token_bytes
                   + kept * self._model_vocab * (self._itemsize + 4 + 16))
        return max(1, min(self.max_batch_tokens // max(1, q_len), self.memory_limit // per_row))

    # ------------------------------------------------------------------ validation
    def _check(self, name: str, seqs: Any, max_length: int) -> list[tuple[int, ...]]:
        checked = check_prefixes(name, seqs, self.vocab_size, max_length)
        if not self._bos:
            for i, s in enumerate(checked):
                if not s:
                    raise ValueError(f"{name}[{i}]: the empty prefix needs a BOS token; construct HFModel "
                                     f"with bos_token_id=... (no input to condition on), got ()")
        return checked

    def _center(self, raw: Any) -> np.ndarray:
        """float64 centered logits from a (..., V_model) tensor, restricted to the first V tokens."""
        arr = raw[..., : self.vocab_size].double().cpu().numpy()  # exact for every dtype, float64 included
        return arr - arr.mean(axis=-1, keepdims=True)

    def _forward(self, ids: np.ndarray, *, keep: Any = None, past: Any = None) -> Any:
        import torch

        kwargs: dict[str, Any] = {"input_ids": torch.as_tensor(ids, dtype=torch.long, device=self.device),
                                  "use_cache": past is not None}
        if past is not None:
            kwargs[self._cache_arg] = past
        if keep is not None and self._keep_ok:
            kwargs["logits_to_keep"] = torch.as_tensor(keep, dtype=torch.long, device=self.device)
            out = self.model(**kwargs)
            return out, np.asarray(keep)
        out = self.model(**kwargs)
        return out, None

    # ------------------------------------------------------------------ SequenceModel
    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Centered logits ``l(x)`` of each prefix.

        Parameters
        ----------
        prefixes : sequence of token sequences, each of length ``<= horizon - 1`` (non-empty without BOS)

        Returns
        -------
        array, shape (len(prefixes), V), float64
        """
        import torch

        P = self._check("prefixes", prefixes, self.horizon - 1)
        seqs = [tuple(self._bos) + p for p in P]
        order = np.argsort([len(s) for s in seqs], kind="stable")
        out = np.empty((len(P), self.vocab_size))
        start = 0
        with torch.inference_mode():
            while start < len(order):
                # sorted by length: grow the batch while its longest member keeps it within budget
                end = start + 1
                while end < len(order) and end - start + 1 <= self._rows(len(seqs[order[end]])):
                    end += 1
                idx = order[start:end]
                longest = len(seqs[idx[-1]])
                ids = np.zeros((len(idx), longest), dtype=np.int64)  # right padding, no mask (causal)
                last = np.empty(len(idx), dtype=np.int64)
                for r, i in enumerate(idx):
                    ids[r, : len(seqs[i])] = seqs[i]
                    last[r] = len(seqs[i]) - 1
                uniq, inv = np.unique(last, return_inverse=True)
                res, kept = self._forward(ids, keep=uniq)
                logits = res.logits
                cols = inv if kept is not None else last
                picked = logits[torch.arange(len(idx), device=logits.device),
                                torch.as_tensor(cols, device=logits.device)]
                out[idx] = self._center(picked)
                start = end
        return check_finite("HFModel.logits", out)

    def logits_along(self, sequences: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        """Centered logits at every position of equal-length sequences, one forward pass each.

        ``out[i, t] = l(sequences[i][:t])`` for ``t = 0 .. L-1`` (position 0 is the empty prefix, so
        this needs ``bos_token_id``).

        Parameters
        ----------
        sequences : int array, shape (n, L), ``L <= horizon``

        Returns
        -------
        array, shape (n, L, V), float64
        """
        import torch

        seqs = np.asarray(sequences)
        if seqs.ndim != 2:
            raise ValueError(f"sequences: must be a 2-D array (n, L), got shape {seqs.shape}")
        if not self._bos:
            raise ValueError("sequences: logits_along starts at the empty prefix, which needs bos_token_id; "
                             "construct HFModel with bos_token_id=... or use logits() on non-empty prefixes")
        check_prefixes("sequences", seqs, self.vocab_size, self.horizon)
        n, length = seqs.shape
        out = np.empty((n, length, self.vocab_size))
        if length == 0:
            return out
        bos = np.full((n, 1), self._bos[0], dtype=np.int64)
        ids = np.concatenate([bos, seqs[:, :-1].astype(np.int64)], axis=1)
        rows = self._rows(length, kept=length)
        with torch.inference_mode():
            for s in range(0, n, rows):
                res, _ = self._forward(ids[s : s + rows])
                out[s : s + rows] = self._center(res.logits)
        return check_finite("HFModel.logits_along", out)

    def extended_logits(
        self,
        histories: Sequence[Sequence[int]],
        futures: Sequence[Sequence[int]],
        *,
        use_cache: bool = True,
        progress: bool | None = None,
    ) -> np.ndarray:
        """Centered logits of every concatenation ``h . f``, reusing each history's key/value cache.

        Histories are grouped by length; each block runs once, and its cache is repeated over blocks of the
        maximal futures (:mod:`llm_bridge.pair_blocks`), reading the logits at every future position.
        ``use_cache=False`` instead runs every ``h . g`` from scratch (the naive way; same answer up to
        float summation order, used by the benchmark and the parity tests). ``progress`` overrides the
        model's own ``progress`` setting for this call.

        Returns
        -------
        array, shape (|H|, |F|, V), float64 — ``out[i, j] = l(h_i . f_j)``.
        """
        import torch

        H = self._check("histories", histories, self.horizon - 1)
        F = check_prefixes("futures", futures, self.vocab_size, self.horizon - 1)
        self._check_pairs(H, F)
        plan = plan_futures(F)
        out = np.empty((len(H), len(F), self.vocab_size))
        blocks = history_blocks(H, self._bos, self._rows)
        show = progress if progress is not None else self.progress
        show = show if show is not None else len(blocks) * max(1, len(plan.padded)) > 200
        with torch.inference_mode(), tqdm(total=len(H), disable=not show, desc="extended logits",
                                          unit="history") as bar:
            for rows_h, block in blocks:
                res, _ = self._forward(block, keep=[block.shape[1] - 1],
                                       past=self._new_cache() if use_cache else None)
                if plan.empty.size:
                    out[np.ix_(rows_h, plan.empty)] = self._center(res.logits[:, -1])[:, None, :]
                cache = getattr(res, self._cache_arg) if use_cache else None
                self._futures_block(out, rows_h, block, cache, plan)
                bar.update(len(rows_h))
        return check_finite("HFModel.extended_logits", out)

    def continuations(self, histories: Sequence[Sequence[int]], n_branches: int, *,
                      max_steps: int | None = None) -> Any:
        """Key/value-cached continuations of ``histories`` (:class:`llm_bridge.continuations.HFContinuations`,
        the fast path of :func:`logitrank.continuation_logits`), the caches sized for ``max_steps`` tokens."""
        from .continuations import HFContinuations

        return HFContinuations(self, histories, n_branches, max_steps=max_steps)

    def _new_cache(self) -> Any:
        return new_cache(self.model.config)

    def _check_pairs(self, H: list[tuple[int, ...]], F: list[tuple[int, ...]]) -> None:
        longest = max(len(h) for h in H) + max(len(f) for f in F)
        if longest > self.horizon - 1:
            raise ValueError(f"histories/futures: len(h) + len(f) must be <= horizon - 1 = "
                             f"{self.horizon - 1}, got a longest concatenation of length {longest}")

    def _pairs(self, th: int, lg: int, kept: int, cached: bool = True) -> int:
        """(history, future) rows per forward after a cache of ``th`` tokens, reading ``kept`` positions of
        ``lg`` new ones (``cached`` False: the naive way, all ``th + lg`` tokens run, same block size)."""
        # the repeated cache is copied per pair: keep each copy small enough to stay cache-friendly
        # (measured: blocks of 256 pairs ran 1.5x faster than blocks of 1024)
        cap = max(1, self.KV_CHUNK_BYTES // ((th + lg) * self._kv_token_bytes))
        return min(self._rows(lg, kv_len=th, kept=kept) if cached else self._rows(th + lg, kept=kept), cap)

    def _futures_block(self, out: np.ndarray, rows_h: np.ndarray, block: np.ndarray, cache: Any,
                       plan: FuturePlan) -> None:
        """Fill ``out[rows_h, j]`` for the non-empty futures from one block of histories."""
        import torch

        th, lg = block.shape[1], plan.padded.shape[1]
        for pb in pair_blocks(len(rows_h), plan, self._pairs(th, lg, lg, cached=cache is not None)):
            if cache is not None:
                past = repeat_cache(cache, torch.as_tensor(pb.cache_rows(), device=self.device))
                logits = self._forward(pb.inputs(), past=past)[0].logits
            else:
                full = np.concatenate([block[pb.cache_rows()], pb.inputs()], axis=1)
                logits = self._forward(full, keep=np.arange(th, th + lg))[0].logits[:, -lg:]
            logits = logits.reshape(pb.count, len(pb.futures), lg, -1)
            sel = logits[:, torch.as_tensor(pb.which, device=logits.device),
                         torch.as_tensor(pb.position, device=logits.device)]
            out[np.ix_(rows_h[pb.start : pb.start + pb.count], pb.targets)] = self._center(sel)

    def __repr__(self) -> str:
        return (f"HFModel({type(self.model).__name__}, vocab_size={self.vocab_size}, horizon={self.horizon}, "
                f"device={self.device}, dtype={self.dtype}, bos_token_id={self.bos_token_id})")


def _config_int(cfg: Any, *names: str) -> int:
    """The first of ``names`` set in a transformers config, as an int (1 when none is)."""
    for name in names:
        value = getattr(cfg, name, None)
        if value is not None:
            return int(value)
    return 1
