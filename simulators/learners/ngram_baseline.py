"""Sample-only baseline: a smoothed n-gram model estimated from i.i.d. sequences.

The context of the token at position ``t`` is the previous ``k - 1`` tokens, the sequence start padded with
a beginning-of-sequence symbol ``BOS = V`` (so the first ``k - 1`` positions have contexts of their own).
Counts ``c(u, z)`` of context ``u`` followed by ``z`` are pooled over positions ``t >= k - 1``.  The result
is a :class:`simulators.NGram` (its start tables are the BOS-padded contexts).

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

from logitrank.validation import RngLike, check_positive_int

from ..ngram import NGram
from .access import check_access

__all__ = ["NGramLearner", "sample_count"]

SMOOTHINGS = ("add", "kneser-ney")
MAX_TABLE = 50_000_000


def _context_codes(padded: np.ndarray, start: int, length: int, base: int) -> np.ndarray:
    """Codes of the ``length`` tokens ending before column ``start + k - 1`` (most recent = lowest digit)."""
    code = np.zeros(padded.shape[0], dtype=np.int64)
    for i in range(length):
        code = code * base + padded[:, start + i]
    return code


class NGramLearner:
    """Estimate a smoothed :class:`simulators.NGram` from sampled sequences.

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
    model_ : NGram
    samples_used_ : int
    stopped_early_ : bool — always False (the samples are drawn in one request, the budget's worth).
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
        check_access(access, ("vocab_size", "horizon", "sample"), "i.i.d. samples (a SampleAccess)")
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
        n = sample_count(self.n_samples, access)
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
        # NGram tables: tables[j][c_1..c_j, z] = p(z | BOS^(k-1-j) c_1..c_j) for j < k-1, full contexts at k-1
        tables = []
        for j in range(k):
            digits = np.indices((V,) * j).reshape(j, -1) if j else np.zeros((0, 1), dtype=np.int64)
            code = np.zeros(digits.shape[1], dtype=np.int64)
            for _ in range(k - 1 - j):
                code = code * (V + 1) + V
            for row in digits:
                code = code * (V + 1) + row
            tab = probs[code] / probs[code].sum(axis=1, keepdims=True)
            tables.append(tab.reshape((V,) * (j + 1)))
        self.model_ = NGram(tables, T)
        self.samples_used_ = n
        self.stopped_early_ = False  # it asks for what it uses up front: the budget never cuts it short
        return self


def sample_count(n_samples: int | None, access: Any) -> int:
    """``n_samples`` if given (checked), else the access's remaining budget (10 000 when unlimited)."""
    if n_samples is not None:
        return check_positive_int("n_samples", n_samples)
    remaining = getattr(access, "remaining", None)
    if remaining is None:
        return 10_000
    if remaining <= 0:
        raise ValueError(f"access: no samples left in the budget (remaining {remaining})")
    return int(remaining)
