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

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from logitrank.validation import check_int, check_positive_int, check_prefixes

from .checkpoints import checkpoint_metadata, load_causal_lm
from .continuations import HFContinuations
from .device import resolve_device, resolve_dtype
from .hidden_states import HiddenStatePath
from .kv_runner import KVRunner, check_pairs, fuse_gelu
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
    runner : llm_bridge.kv_runner.KVRunner
        Forward passes, batch sizing and key/value caches, shared with the continuations and the hidden-state
        path.
    """

    centered_logits = True
    """Every answer is centered (:meth:`_center`) and checked finite where it is produced: the core skips its
    centering pass (:func:`logitrank.sequence_model.centered`)."""

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
        fuse_gelu(self.model)  # the same activation as one kernel (llm_bridge.kv_runner)
        cfg = self.model.config
        out_emb = self.model.get_output_embeddings()
        model_vocab = int(out_emb.weight.shape[0]) if out_emb is not None else int(cfg.vocab_size)
        n_ctx = getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)
        if n_ctx is None:
            raise ValueError("model: its config has neither n_positions nor max_position_embeddings")
        self.n_ctx = int(n_ctx)
        if bos_token_id is None:
            bos_token_id = meta.get("bos_token_id")
        if vocab_size is None:
            vocab_size = meta.get("generator_vocab_size")
        self.vocab_size = check_positive_int("vocab_size", vocab_size if vocab_size is not None
                                             else model_vocab, maximum=model_vocab)
        if bos_token_id is not None:
            bos_token_id = check_int("bos_token_id", bos_token_id, minimum=0, maximum=model_vocab - 1)
        self.bos_token_id = bos_token_id
        bos = [] if bos_token_id is None else [int(bos_token_id)]
        self.runner = KVRunner(self.model, self.vocab_size, bos, max_batch_tokens=max_batch_tokens,
                               memory_limit=memory_limit)
        self.horizon = self.n_ctx + (0 if self.runner.bos else 1)
        self.max_batch_tokens = self.runner.max_batch_tokens
        self.memory_limit = self.runner.memory_limit
        self.progress = progress
        self.fast_path = bool(fast_path)

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

        run = self.runner
        P = run.check("prefixes", prefixes, self.horizon - 1)
        seqs = [tuple(run.bos) + p for p in P]
        order = np.argsort([len(s) for s in seqs], kind="stable")
        out = np.empty((len(P), self.vocab_size))
        start = 0
        with torch.inference_mode():
            while start < len(order):
                # sorted by length: grow the batch while its longest member keeps it within budget
                end = start + 1
                while end < len(order) and end - start + 1 <= run.rows(len(seqs[order[end]])):
                    end += 1
                idx = order[start:end]
                longest = len(seqs[idx[-1]])
                ids = np.zeros((len(idx), longest), dtype=np.int64)  # right padding, no mask (causal)
                last = np.empty(len(idx), dtype=np.int64)
                for r, i in enumerate(idx):
                    ids[r, : len(seqs[i])] = seqs[i]
                    last[r] = len(seqs[i]) - 1
                uniq, inv = np.unique(last, return_inverse=True)
                res, kept = run.forward(ids, keep=uniq)
                logits = res.logits
                cols = inv if kept is not None else last
                picked = logits[torch.arange(len(idx), device=logits.device),
                                torch.as_tensor(cols, device=logits.device)]
                out[idx] = run.center(picked)
                start = end
        return out

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
        run = self.runner
        if not run.bos:
            raise ValueError("sequences: logits_along starts at the empty prefix, which needs bos_token_id; "
                             "construct HFModel with bos_token_id=... or use logits() on non-empty prefixes")
        check_prefixes("sequences", seqs, self.vocab_size, self.horizon)
        n, length = seqs.shape
        out = np.empty((n, length, self.vocab_size))
        if length == 0:
            return out
        bos = np.full((n, 1), run.bos[0], dtype=np.int64)
        ids = np.concatenate([bos, seqs[:, :-1].astype(np.int64)], axis=1)
        rows = run.rows(length, kept=length)
        with torch.inference_mode():
            for s in range(0, n, rows):
                res, _ = run.forward(ids[s : s + rows])
                out[s : s + rows] = run.center(res.logits)
        return out

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

        run = self.runner
        H = run.check("histories", histories, self.horizon - 1)
        F = check_prefixes("futures", futures, self.vocab_size, self.horizon - 1)
        check_pairs(H, F, self.horizon)
        plan = plan_futures(F)
        out = np.empty((len(H), len(F), self.vocab_size))
        blocks = history_blocks(H, run.bos, run.rows)
        show = progress if progress is not None else self.progress
        show = show if show is not None else len(blocks) * max(1, len(plan.padded)) > 200
        with torch.inference_mode(), tqdm(total=len(H), disable=not show, desc="extended logits",
                                          unit="history") as bar:
            for rows_h, block in blocks:
                res, _ = run.forward(block, keep=[block.shape[1] - 1],
                                     past=run.new_cache() if use_cache else None)
                if plan.empty.size:
                    out[np.ix_(rows_h, plan.empty)] = run.center(res.logits[:, -1])[:, None, :]
                cache = run.cache_of(res) if use_cache else None
                self._futures_block(out, rows_h, block, cache, plan)
                bar.update(len(rows_h))
        return out

    def continuations(self, histories: Sequence[Sequence[int]], n_branches: int, *,
                      max_steps: int | None = None) -> Any:
        """Key/value-cached continuations of ``histories`` (:class:`llm_bridge.continuations.HFContinuations`,
        the fast path of :func:`logitrank.continuation_logits`), the caches sized for ``max_steps`` tokens."""
        H = self.runner.check("histories", histories, self.horizon - 1)
        return HFContinuations(self.runner, H, n_branches, room=self.horizon - 1 - max(len(h) for h in H),
                               max_steps=max_steps)

    def _futures_block(self, out: np.ndarray, rows_h: np.ndarray, block: np.ndarray, cache: Any,
                       plan: FuturePlan) -> None:
        """Fill ``out[rows_h, j]`` for the non-empty futures from one block of histories."""
        import torch

        run = self.runner
        th, lg = block.shape[1], plan.padded.shape[1]
        for pb in pair_blocks(len(rows_h), plan, run.pairs(th, lg, lg, cached=cache is not None)):
            if cache is not None:
                past = run.expand_cache(cache, pb.start, pb.count, len(pb.futures), room=lg)
                logits = run.forward(pb.inputs(), past=past)[0].logits
            else:
                full = np.concatenate([block[pb.cache_rows()], pb.inputs()], axis=1)
                logits = run.forward(full, keep=np.arange(th, th + lg))[0].logits[:, -lg:]
            logits = logits.reshape(pb.count, len(pb.futures), lg, -1)
            sel = logits[:, torch.as_tensor(pb.which, device=logits.device),
                         torch.as_tensor(pb.position, device=logits.device)]
            out[np.ix_(rows_h[pb.start : pb.start + pb.count], pb.targets)] = run.center(sel)

    def __repr__(self) -> str:
        return (f"HFModel({type(self.model).__name__}, vocab_size={self.vocab_size}, horizon={self.horizon}, "
                f"device={self.device}, dtype={self.dtype}, bos_token_id={self.bos_token_id})")

