"""Logits along growing continuations: ``l_M(h . c_b)`` for every history ``h`` and branch ``c_b``.

Generation (LINGEN, the direct-sampling baselines) asks at step ``t`` for ``l_M(h . z_<t)`` over the same
histories, with continuations ``z_<t`` that grow by one token per step, one per sampled branch. Recomputing
``extended_logits(model, H, {z_<t})`` at every step re-reads every history ``steps`` times. A model that can
keep the work done on ``h . z_<t`` (a transformer's key/value cache) offers the optional fast path

    ``model.continuations(histories, n_branches) -> Continuations``

and :func:`continuation_logits` uses it; otherwise it falls back to :class:`RecomputedContinuations`. Either
way the logits pass through :func:`logitrank.sequence_model.centered` and cross as float64. A fast path that
also takes ``max_steps=`` (how many tokens will be appended at most) is told it, so that it can size what it
keeps by need rather than by the horizon.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .logit_matrix import extended_logits_of
from .sequence_model import SequenceModel, centered, declares_centered
from .validation import check_int, check_model, check_positive_int, check_prefixes, check_token_array

__all__ = ["Continuations", "RecomputedContinuations", "continuation_logits"]


@runtime_checkable
class Continuations(Protocol):
    """The state of ``n_branches`` continuations of each history, all starting empty.

    ``logits()`` returns ``out[i, b] = l_M(h_i . c_b)``, shape ``(|H|, n_branches, V)``; ``append(tokens)``
    appends ``tokens[b]`` to branch ``c_b`` (shape ``(n_branches,)``).
    """

    n_branches: int

    def logits(self) -> np.ndarray: ...

    def append(self, tokens: np.ndarray) -> None: ...


def check_branch_tokens(tokens: Any, n_branches: int, vocab_size: int, length: int, room: int) -> np.ndarray:
    """``tokens`` of :meth:`Continuations.append`: shape ``(n_branches,)``, ids in ``[0, V)``, and room
    left (``length`` tokens appended so far, at most ``room`` in all)."""
    if np.shape(tokens) != (n_branches,):
        raise ValueError(f"tokens: must have shape (n_branches,) = ({n_branches},), got {np.shape(tokens)}")
    arr = check_token_array("tokens", tokens, vocab_size, ndim=1)
    if length >= room:
        raise ValueError(f"tokens: the longest history leaves room for {room} continuation tokens "
                         f"(len(h) + len(c) <= horizon - 1), got a token number {length + 1}")
    return arr


class RecomputedContinuations:
    """:class:`Continuations` of any sequence model: every :meth:`logits` call computes
    ``extended_logits(model, H, {distinct c_b})`` afresh (the fallback of :func:`continuation_logits`)."""

    def __init__(self, model: SequenceModel, histories: Sequence[Sequence[int]], n_branches: int, *,
                 max_steps: int | None = None):
        V, T = check_model(model)
        self.model = model
        self.histories = check_prefixes("histories", histories, V, T - 1)
        self.n_branches = check_positive_int("n_branches", n_branches)
        self.room = T - 1 - max(len(h) for h in self.histories)
        if max_steps is not None:
            self.room = check_int("max_steps", max_steps, minimum=0, maximum=self.room)
        self.tokens = np.zeros((self.n_branches, 0), dtype=np.int64)

    def logits(self) -> np.ndarray:
        conts = [tuple(int(z) for z in row) for row in self.tokens]
        unique = list(dict.fromkeys(conts))
        where = {c: i for i, c in enumerate(unique)}
        ext = extended_logits_of(self.model, self.histories, unique, batch_size=8192, progress=False)
        return ext[:, [where[c] for c in conts]]

    def append(self, tokens: np.ndarray) -> None:
        tok = check_branch_tokens(tokens, self.n_branches, self.model.vocab_size, self.tokens.shape[1],
                                  self.room)
        self.tokens = np.hstack([self.tokens, tok[:, None]])


class _CenteredContinuations:
    """A model's own :class:`Continuations`, with the core's checks: shape, finiteness, centering."""

    def __init__(self, inner: Continuations, shape: tuple[int, int, int], vocab_size: int, room: int,
                 declared: bool = False):
        self.inner, self.shape, self.vocab_size, self.room = inner, shape, vocab_size, room
        self.declared = declared  # the model declares centered_logits: spot-check, no centering pass
        self.n_branches = shape[1]
        self.length = 0

    def logits(self) -> np.ndarray:
        out = np.asarray(self.inner.logits(), dtype=np.float64)
        if out.shape != self.shape:
            raise ValueError(f"model.continuations: logits() must return shape {self.shape}, got {out.shape}")
        return centered("model.continuations", out, declared=self.declared)

    def append(self, tokens: np.ndarray) -> None:
        tok = check_branch_tokens(tokens, self.n_branches, self.vocab_size, self.length, self.room)
        self.inner.append(tok)
        self.length += 1


def continuation_logits(model: SequenceModel, histories: Sequence[Sequence[int]], n_branches: int, *,
                        max_steps: int | None = None) -> Continuations:
    """``n_branches`` empty continuations of each of ``histories``, to be grown one token at a time.

    Parameters
    ----------
    model : SequenceModel (its ``continuations`` fast path is used when present)
    histories : sequence of token sequences, ``H``, each of length ``<= horizon - 1``
    n_branches : int, ``>= 1``
    max_steps : int, optional
        How many tokens will be appended at most, ``<= horizon - 1 - max len(h)`` (the default). A fast path
        that accepts ``max_steps`` sizes its state (a key/value cache) by it.

    Returns
    -------
    Continuations — ``logits()`` of shape ``(|H|, n_branches, V)``, float64, centered; ``append(tokens)``
    with ``tokens`` of shape ``(n_branches,)``; appending more than ``max_steps`` tokens (past
    ``len(h) + len(c) = horizon - 1`` for the longest ``h`` by default) raises.
    """
    V, T = check_model(model)
    H = check_prefixes("histories", histories, V, T - 1)
    n_branches = check_positive_int("n_branches", n_branches)
    room = T - 1 - max(len(h) for h in H)
    if max_steps is not None:
        room = check_int("max_steps", max_steps, minimum=0, maximum=room)
    fast = getattr(model, "continuations", None)
    if not callable(fast):
        return RecomputedContinuations(model, H, n_branches, max_steps=room)
    # the protocol's fast path is continuations(histories, n_branches); max_steps is an optional extra that
    # models written to the older protocol do not take
    takes_steps = "max_steps" in inspect.signature(fast).parameters
    inner = fast(H, n_branches, max_steps=room) if takes_steps else fast(H, n_branches)
    return _CenteredContinuations(inner, (len(H), n_branches, V), V, room, declares_centered(model))
