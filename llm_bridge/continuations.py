"""Key/value-cached continuations of an :class:`llm_bridge.HFModel` (its ``continuations`` fast path).

:func:`logitrank.continuation_logits` asks for ``l(h . c_b)`` over histories ``H`` and ``n_branches``
continuations that grow by one token per step (generation). Recomputing every ``h . c_b`` costs
``|H| n_branches (len(h) + t)`` tokens at step ``t``; here each history is read once, its cache is repeated
over the branches, and every step feeds one token per (history, branch) row: ``|H| n_branches`` tokens.
Rows of one cache share a length (histories are grouped by length), so positions need no padding or mask.

Memory. The caches are sized by need: ``len(h) + max_steps`` tokens per row (plus BOS) at the attention's
key/value width (:mod:`llm_bridge.kv_cache`), never the model's context length; without ``max_steps`` every
row may grow to the context, and the size check says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from logitrank.continuations import check_branch_tokens
from logitrank.validation import check_int, check_positive_int

from .kv_cache import check_cache_size
from .kv_runner import KVRunner

__all__ = ["HFContinuations"]


class HFContinuations:
    """:class:`logitrank.Continuations` of an ``HFModel``: one key/value cache per block of histories.

    Row ``i * n_branches + b`` of a block's cache is history ``i`` of the block followed by branch ``b``.
    A block holds as many histories as one forward over them and one decoding step over their rows fit the
    model's ``max_batch_tokens`` and ``memory_limit``; all blocks' caches stay alive together, so their
    total size (``|H| n_branches`` rows of ``len(BOS) + max len(h) + max_steps`` tokens at the key/value
    width) is checked up front (:func:`llm_bridge.kv_cache.check_cache_size`), and each is allocated once
    with room for every step (:meth:`llm_bridge.kv_runner.KVRunner.expand_cache`). After an exception in
    :meth:`append` some blocks may have advanced and others not: open a new one.

    Parameters
    ----------
    runner : KVRunner (``HFModel.runner``)
    histories : validated token tuples (``runner.check``), each of length ``<= room`` less than the horizon
    n_branches : int, ``>= 1``
    room : int, tokens the longest history leaves before the horizon
    max_steps : int, optional
        How many tokens :meth:`append` will add at most (``<= room``, the default); appending more raises.
    """

    def __init__(self, runner: KVRunner, histories: list[tuple[int, ...]], n_branches: int, *, room: int,
                 max_steps: int | None = None):
        import torch

        self.runner = runner
        H = histories
        self.n_branches = check_positive_int("n_branches", n_branches)
        self.room = room if max_steps is None else check_int("max_steps", max_steps, minimum=0, maximum=room)
        self.length = 0
        self._current = np.empty((len(H), self.n_branches, runner.vocab_size))
        self._blocks: list[tuple[np.ndarray, Any]] = []
        groups: dict[int, list[int]] = {}
        for i, h in enumerate(H):
            groups.setdefault(len(h), []).append(i)
        # the longest row once every token is appended: BOS, the longest history, max_steps tokens
        kv_len = len(runner.bos) + max(len(h) for h in H) + self.room
        check_cache_size("n_branches", self.n_branches, runner.model.config, rows=len(H) * self.n_branches,
                         tokens=kv_len, itemsize=runner.itemsize,
                         what="the key/value caches of every history x branch")
        decode_rows = max(1, runner.rows(1, kv_len=kv_len) // self.n_branches)
        with torch.inference_mode():
            for length, idx_list in groups.items():
                per_block = min(decode_rows, runner.rows(length + len(runner.bos)))
                for s in range(0, len(idx_list), per_block):
                    rows = np.asarray(idx_list[s : s + per_block])
                    self._blocks.append((rows, self._open(np.array([runner.bos + list(H[i]) for i in rows]),
                                                          rows)))

    def _open(self, ids: np.ndarray, rows: np.ndarray) -> Any:
        """Run one block of equal-length histories; return its cache repeated over the branches, with room for
        every step."""
        run = self.runner
        res, _ = run.forward(ids, keep=[ids.shape[1] - 1], past=run.new_cache())
        self._current[rows] = run.center(res.logits[:, -1])[:, None, :]
        return run.expand_cache(run.cache_of(res), 0, len(rows), self.n_branches, room=self.room)

    def logits(self) -> np.ndarray:
        """``out[i, b] = l(h_i . c_b)``, shape ``(|H|, n_branches, V)``, float64, centered."""
        return self._current.copy()

    def append(self, tokens: np.ndarray) -> None:
        """Append ``tokens[b]`` to every history's branch ``b`` (one forward pass per block)."""
        import torch

        run = self.runner
        tok = check_branch_tokens(tokens, self.n_branches, run.vocab_size, self.length, self.room)
        with torch.inference_mode():
            for rows, cache in self._blocks:
                ids = np.tile(tok, len(rows))[:, None]
                res, _ = run.forward(ids, past=cache)
                centered = run.center(res.logits[:, -1])
                self._current[rows] = centered.reshape(len(rows), self.n_branches, -1)
        self.length += 1
