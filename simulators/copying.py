"""The copying task: a uniformly random string, then a tempered copy of it."""

from __future__ import annotations

from typing import Any

import numpy as np

from logitrank import center_logits
from logitrank.validation import check_cut, check_float, check_positive_int, check_size

from .base import SyntheticModel
from .isan import TimeVaryingISAN

__all__ = ["Copying"]


class Copying(SyntheticModel):
    """``n`` uniform tokens ``x_0 .. x_{n-1}``, then ``n`` tokens where position ``n + j`` predicts ``x_j``.

    Horizon ``T = 2n``. Raw logits at position ``n + j`` are ``sharpness * e_{x_j}`` (``Pr`` of the
    copied token ``e^s / (e^s + V - 1)``), so centered logits are ``sharpness * (e_{x_j} - 1/V)``;
    positions ``< n`` are uniform (centered logits 0). The copy half does not depend on its own tokens.

    **Exact logit rank** (:meth:`rank_bound`, tight for ``sharpness != 0``). At cut ``t`` the entry for
    column ``(f, z)`` at position ``p = t + |f|`` is 0 if ``p < n``; otherwise it is
    ``sharpness * (1[x_{p-n} = z] - 1/V)``, read from the history when ``p - n < t`` and from the future
    (a constant in ``h``) when ``p - n >= t``. History-dependent copies are the indices
    ``J = {j : max(0, t - n) <= j < min(t, n)}``; for each, the functions ``h -> 1[h_j = z] - 1/V``
    (``z in Sigma``) span ``V - 1`` dimensions, mean-zero and orthogonal across different ``j`` under
    the uniform measure on ``Sigma^t``; a constant column exists iff some ``p - n >= t``, i.e. ``t <= n - 1``.
    Hence ``rank = (V - 1) t + 1`` for ``t <= n - 1`` and ``(V - 1)(2n - t)`` for ``t >= n``; the maximum over
    cuts is ``(V - 1) n`` (at ``t = n``; ``t = n - 1`` gives ``(V - 1)(n - 1) + 1 <= (V - 1) n``).

    **ISAN of dimension n V + 1** (:meth:`to_isan`): the state stores the string one-hot (block ``j`` of
    ``V`` coordinates holds ``e_{x_j}``) plus a constant coordinate; reading ``x_{p-1}`` at position
    ``p - 1 < n`` adds the constant coordinate into coordinate ``(p - 1) V + x_{p-1}``; the readout at
    position ``n + j`` is ``sharpness`` times block ``j``.

    Parameters
    ----------
    vocab_size : int, ``>= 2``
    n : int, ``>= 1``, the string length
    sharpness : float, finite (the logit of the copied token; larger = more faithful copy)
    """

    kind = "copying"

    def __init__(self, vocab_size: int, n: int, sharpness: float = 4.0):
        self.vocab_size = check_positive_int("vocab_size", vocab_size, minimum=2)
        self.n = check_positive_int("n", n)
        sharpness = check_float("sharpness", sharpness, allow_inf=True)
        if not np.isfinite(sharpness):
            raise ValueError(f"sharpness: must be finite, got {sharpness}")
        self.sharpness = sharpness
        self.horizon = 2 * self.n

    def _logits_batch(self, prefixes: np.ndarray) -> np.ndarray:
        k, t = prefixes.shape
        raw = np.zeros((k, self.vocab_size))
        if t >= self.n:
            raw[np.arange(k), prefixes[:, t - self.n]] = self.sharpness
        return center_logits(raw)

    def rank_bound(self, t: int) -> int:
        t = check_cut(t, self.horizon)
        if self.sharpness == 0:
            return 0
        V, n = self.vocab_size, self.n
        return (V - 1) * t + 1 if t <= n - 1 else (V - 1) * (2 * n - t)

    def to_isan(self) -> TimeVaryingISAN:
        """The equivalent :class:`TimeVaryingISAN` of dimension ``n V + 1`` (see the class docstring)."""
        V, n, T = self.vocab_size, self.n, self.horizon
        d = n * V + 1
        check_size("n", n, (T - 1, V, d, d), what="the ISAN transitions (2n - 1, V, nV + 1, nV + 1)")
        x0 = np.zeros(d)
        x0[-1] = 1.0
        A = np.broadcast_to(np.eye(d), (T - 1, V, d, d)).copy()
        for p in range(n):  # token at position p is A[p] (step t = p + 1)
            for z in range(V):
                A[p, z, p * V + z, d - 1] = 1.0
        B = np.zeros((T, V, d))
        for j in range(n):
            B[n + j, :, j * V:(j + 1) * V] = self.sharpness * np.eye(V)
        return TimeVaryingISAN(x0, A, B)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _params(self) -> dict[str, Any]:
        return {"vocab_size": self.vocab_size, "n": self.n, "sharpness": self.sharpness}
