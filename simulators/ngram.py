"""Order-k Markov (n-gram) models: the next token depends on the previous ``k - 1`` tokens only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank import center_logits
from logitrank.validation import RngLike, as_rng, check_cut, check_positive_int, check_size, check_stochastic

from .base import SyntheticModel
from .tables import dirichlet_rows, trivial_rank_bound

__all__ = ["NGram"]


class NGram(SyntheticModel):
    """An n-gram model of order ``k``: ``Pr[x_p = z | x_<p] = P(z | x_{p-k+1} .. x_{p-1})``.

    **Start of the sequence.** Positions ``p < k - 1`` have fewer than ``k - 1`` predecessors; they use
    their own tables (no padding token): position ``p`` uses ``tables[p]``, a table over contexts of
    length ``p``; every later position uses the stationary ``tables[k - 1]``.

    **Rank bound** (:meth:`rank_bound`). Every logit after ``h . f`` with ``|h| = t`` reads at most the
    last ``k - 1`` tokens, hence from ``h`` at most its last ``j = min(t, k - 1)`` tokens. Two histories
    with the same last ``j`` tokens have identical rows of ``L(Sigma^t, Sigma^{<= T-1-t})``, so its rank is
    at most the number of distinct such suffixes, ``V^{min(t, k-1)}`` (``<= V^{k-1}``). Finer, per future
    length ``m``: as functions of ``h``, the columns with ``|f| = m`` depend only on the last
    ``j_m = min(t, k-1-m)`` tokens (constants once ``m >= k - 1``) and number ``V^m`` blocks of ``V`` columns
    summing to zero, so they span at most ``min((V-1) V^m, V^{j_m} - 1)`` dimensions beyond the constants:

        ``rank <= 1 + sum_{m=0}^{min(k-2, T-1-t)} min((V-1) V^m, V^{j_m} - 1)``.

    The bound is the minimum of these two and the trivial row/column bound
    (:func:`simulators.tables.trivial_rank_bound`); it is attained by generic tables on small cases.

    Parameters
    ----------
    tables : sequence of ``k`` arrays
        ``tables[j]`` has shape ``(V,) * (j + 1)``; ``tables[j][c_1, .., c_j, z]`` is the probability of
        ``z`` after the context ``c_1 .. c_j`` (oldest first). Entries ``> 0``; each last-axis slice
        sums to 1.
    horizon : int, ``>= 1``
    """

    kind = "ngram"

    def __init__(self, tables: Sequence[np.ndarray], horizon: int):
        tabs = [np.asarray(t, dtype=np.float64) for t in tables]
        if not tabs:
            raise ValueError("tables: must contain at least one table (order k >= 1), got none")
        V = tabs[0].shape[-1] if tabs[0].ndim else 0
        if V < 2:
            raise ValueError(f"tables[0]: must have shape (V,) with V >= 2, got {tabs[0].shape}")
        for j, tab in enumerate(tabs):
            if tab.shape != (V,) * (j + 1):
                raise ValueError(f"tables[{j}]: must have shape {(V,) * (j + 1)} (context length {j}), "
                                 f"got {tab.shape}")
            check_stochastic(f"tables[{j}]", tab, strictly_positive=True)
        self.tables = tabs
        self.log_tables = [np.log(t) for t in tabs]
        self.order = len(tabs)
        self.vocab_size = V
        self.horizon = check_positive_int("horizon", horizon)

    @classmethod
    def random(cls, vocab_size: int, order: int, horizon: int, *, concentration: float = 1.0,
               rng: RngLike = None) -> NGram:
        """I.i.d. ``Dirichlet(concentration)`` next-token distributions for every context of every table
        (probabilities floored at ``1e-12`` and renormalised so logits stay finite)."""
        V = check_positive_int("vocab_size", vocab_size, minimum=2)
        k = check_positive_int("order", order)
        check_size("(vocab_size, order)", (V, k), sum(V ** (j + 1) for j in range(min(k, 64))),  # V^64 > 2^63
                   what="the probability tables (V + V^2 + ... + V^order entries)")
        gen = as_rng(rng)
        tables = [dirichlet_rows(gen, concentration, (V,) * j, V) for j in range(k)]
        return cls(tables, horizon)

    def _logits_batch(self, prefixes: np.ndarray) -> np.ndarray:
        t = prefixes.shape[1]
        j = min(t, self.order - 1)
        context = prefixes[:, t - j:]
        logp = self.log_tables[j][tuple(context.T)]  # (n, V); just (V,) when j == 0
        return center_logits(np.broadcast_to(logp, (prefixes.shape[0], self.vocab_size)))

    def rank_bound(self, t: int) -> int:
        t = check_cut(t, self.horizon)
        V, k = self.vocab_size, self.order
        per_length = 1 + sum(min((V - 1) * V**m, V ** min(t, k - 1 - m) - 1)
                             for m in range(min(k - 2, self.horizon - 1 - t) + 1))
        return min(V ** min(t, k - 1), per_length, trivial_rank_bound(V, self.horizon, t))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {f"table_{j}": tab for j, tab in enumerate(self.tables)}

    def _params(self) -> dict[str, Any]:
        return {"order": self.order, "horizon": self.horizon}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> NGram:
        return cls([arrays[f"table_{j}"] for j in range(params["order"])], params["horizon"])
