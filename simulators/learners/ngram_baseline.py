"""Sample-only baseline: a smoothed n-gram model estimated from i.i.d. sequences.

The context of the token at position ``t`` is the previous ``k - 1`` tokens, the sequence start padded with
a beginning-of-sequence symbol ``BOS = V`` (so the first ``k - 1`` positions have contexts of their own).
Counts ``c(u, z)`` of context ``u`` followed by ``z`` are pooled over positions (a time-invariant model).

Smoothing:

- ``"add"``: ``p(z | u) = (c(u, z) + lam) / (c(u) + lam V)``.
- ``"kneser-ney"`` (interpolated absolute discounting, "Kneser–Ney-lite": raw lower-order counts instead
  of continuation counts): ``p_j(z | u) = max(c(u, z) - D, 0) / c(u) + D N_+(u) / c(u) * p_{j-1}(z | u')``
  with ``u'`` the last ``j - 2`` tokens of ``u``, ``N_+(u)`` the number of distinct followers of ``u``,
  ``p_j = p_{j-1}`` for unseen contexts, and an add-one unigram at the bottom.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from logitrank import center_logits
from logitrank._checks import RngLike, check_positive_int, check_prefixes

__all__ = ["NGramLearner", "SmoothedNGramModel"]

SMOOTHINGS = ("add", "kneser-ney")
MAX_TABLE = 50_000_000


def _context_codes(padded: np.ndarray, start: int, length: int, base: int) -> np.ndarray:
    """Codes of the ``length`` tokens ending before column ``start + k - 1`` (most recent = lowest digit)."""
    code = np.zeros(padded.shape[0], dtype=np.int64)
    for i in range(length):
        code = code * base + padded[:, start + i]
    return code


class SmoothedNGramModel:
    """A sequence model whose next-token distribution depends on the last ``order - 1`` tokens.

    Parameters
    ----------
    log_probs : array, shape ((V + 1) ** (order - 1), V)
        ``log p(z | u)`` for every context code ``u`` (BOS = V; the most recent token is the lowest
        base-``V+1`` digit).
    horizon : int
    """

    def __init__(self, log_probs: np.ndarray, order: int, horizon: int):
        self.order = check_positive_int("order", order)
        self.horizon = check_positive_int("horizon", horizon)
        self.log_probs = np.asarray(log_probs, dtype=np.float64)
        V = self.log_probs.shape[1]
        if self.log_probs.shape != ((V + 1) ** (self.order - 1), V):
            raise ValueError(
                f"log_probs: must have shape ((V+1)^(order-1), V) = {((V + 1) ** (order - 1), V)}, "
                f"got {self.log_probs.shape}"
            )
        self.vocab_size = V

    def _pad(self, seqs: np.ndarray) -> np.ndarray:
        k, V = self.order, self.vocab_size
        return np.concatenate([np.full((seqs.shape[0], k - 1), V, dtype=np.int64), seqs], axis=1)

    def logits(self, prefixes: Any) -> np.ndarray:
        P = check_prefixes("prefixes", prefixes, self.vocab_size, self.horizon - 1)
        k, V = self.order, self.vocab_size
        ctx = np.full((len(P), k - 1), V, dtype=np.int64)
        for i, p in enumerate(P):
            tail = p[len(p) - (k - 1) :] if k > 1 else ()
            if tail:
                ctx[i, k - 1 - len(tail) :] = tail
        return center_logits(self.log_probs[_context_codes(ctx, 0, k - 1, V + 1)])

    def logits_along(self, sequences: np.ndarray) -> np.ndarray:
        """``(n, L)`` sequences -> ``(n, L, V)`` centered logits, vectorised over positions."""
        seqs = np.asarray(sequences, dtype=np.int64)
        padded = self._pad(seqs)
        k, V = self.order, self.vocab_size
        out = np.empty(seqs.shape + (V,))
        for t in range(seqs.shape[1]):
            out[:, t] = self.log_probs[_context_codes(padded, t, k - 1, V + 1)]
        return center_logits(out)


class NGramLearner:
    """Estimate a :class:`SmoothedNGramModel` from sampled sequences.

    Parameters
    ----------
    order : int
        ``k`` (context of ``k - 1`` tokens).
    smoothing : {"kneser-ney", "add"}
    lam : float
        Pseudo-count of add-``lam`` smoothing.
    discount : float
        ``D`` in ``(0, 1)`` of the Kneser–Ney-lite smoothing.
    n_samples : int, optional
        Sequences to draw; default all of the access's budget (10 000 when unlimited).
    rng : unused (the estimate is deterministic given the samples); accepted for a uniform interface.

    Attributes
    ----------
    model_ : SmoothedNGramModel
    samples_used_ : int
    """

    access_kind = "sample"

    def __init__(
        self,
        order: int = 3,
        smoothing: str = "kneser-ney",
        lam: float = 0.1,
        discount: float = 0.75,
        n_samples: int | None = None,
        rng: RngLike = None,
    ):
        self.order = order
        self.smoothing = smoothing
        self.lam = lam
        self.discount = discount
        self.n_samples = n_samples
        self.rng = rng

    def fit(self, access: Any) -> NGramLearner:
        k = check_positive_int("order", self.order)
        if self.smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing: must be one of {SMOOTHINGS}, got {self.smoothing!r}")
        if not self.lam > 0:
            raise ValueError(f"lam: must be > 0, got {self.lam!r}")
        if not 0 < self.discount < 1:
            raise ValueError(f"discount: must lie in (0, 1), got {self.discount!r}")
        V, T = int(access.vocab_size), int(access.horizon)
        if (V + 1) ** (k - 1) * V > MAX_TABLE:
            raise ValueError(
                f"order: the table (V+1)^(order-1) V must be <= {MAX_TABLE} entries, got "
                f"{(V + 1) ** (k - 1) * V} for V={V}, order={k}"
            )
        n = _sample_count(self.n_samples, access)
        seqs = access.sample(n)
        padded = np.concatenate([np.full((n, k - 1), V, dtype=np.int64), seqs], axis=1)
        counts = []  # counts[j]: context length j, shape ((V+1)^j, V)
        for j in range(k):
            c = np.zeros(((V + 1) ** j) * V)
            for t in range(T):
                code = _context_codes(padded, t + k - 1 - j, j, V + 1)
                c += np.bincount(code * V + seqs[:, t], minlength=c.size)
            counts.append(c.reshape((V + 1) ** j, V))
        if self.smoothing == "add":
            c = counts[k - 1]
            probs = (c + self.lam) / (c.sum(axis=1, keepdims=True) + self.lam * V)
        else:
            probs = (counts[0] + 1.0) / (counts[0].sum() + V)  # (1, V)
            D = self.discount
            for j in range(1, k):
                c = counts[j]
                tot = c.sum(axis=1, keepdims=True)
                lower = probs[np.arange(c.shape[0]) % ((V + 1) ** (j - 1))]
                seen = tot > 0
                safe = np.where(seen, tot, 1.0)
                mixed = np.maximum(c - D, 0.0) / safe + D * (c > 0).sum(axis=1, keepdims=True) / safe * lower
                probs = np.where(seen, mixed, lower)
        self.model_ = SmoothedNGramModel(np.log(probs), k, T)
        self.samples_used_ = n
        return self


def _sample_count(n_samples: int | None, access: Any) -> int:
    """``n_samples`` if given (checked), else the access's remaining budget (10 000 when unlimited)."""
    if n_samples is not None:
        return check_positive_int("n_samples", n_samples)
    remaining = getattr(access, "remaining", None)
    if remaining is None:
        return 10_000
    if remaining <= 0:
        raise ValueError(f"access: no samples left in the budget (remaining {remaining})")
    return int(remaining)
