"""What a learner may see of a target: logit queries or i.i.d. samples, counted and budgeted.

A learner receives exactly one access object and nothing else.  Both expose ``vocab_size`` and
``horizon`` (the target's ``V`` and ``T``), a running count and an optional budget; asking for more
than the budget raises :class:`BudgetExceeded` *before* anything is answered (no partial answers).

Query noise (:class:`QueryAccess`, ``noise = xi > 0``): each answered logit vector is
``l_M(x) + e`` with ``e`` drawn fresh per query, entries i.i.d. ``Uniform[-xi, xi]``
(``noise_kind="uniform"``, the default: the paper's "additive error <= xi per entry") or
``N(0, xi^2)`` (``noise_kind="gaussian"``).  The noisy vector is *not* re-centered; asking the same
prefix twice gives two independent noisy answers and costs two queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from logitrank import SequenceModel, extended_logits, model_logits, sample_sequences
from logitrank.validation import RngLike, as_rng, check_positive_int

__all__ = ["BudgetExceeded", "QueryAccess", "SampleAccess"]

NOISE_KINDS = ("uniform", "gaussian")


class BudgetExceeded(RuntimeError):
    """A learner asked for more queries or samples than its access object allows."""


def _check_budget(budget: int | float | None) -> int | None:
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, int | float | np.integer | np.floating):
        raise TypeError(
            f"budget: must be a positive integer or None, got {budget!r} ({type(budget).__name__})"
        )
    if not np.isfinite(budget) or budget <= 0 or float(budget) != int(budget):
        raise ValueError(f"budget: must be a positive integer (or None for unlimited), got {budget!r}")
    return int(budget)


class _Counted:
    """Shared bookkeeping: ``used``, ``budget``, ``remaining`` and the check before each answer."""

    unit = "items"

    def __init__(self, model: SequenceModel, budget: int | float | None, rng: RngLike):
        for attr in ("vocab_size", "horizon", "logits"):
            if not hasattr(model, attr):
                raise TypeError(
                    f"model: must follow the SequenceModel protocol (no {attr!r}), got {type(model).__name__}"
                )
        self._model = model
        self.vocab_size = int(model.vocab_size)
        self.horizon = int(model.horizon)
        self.budget = _check_budget(budget)
        self._rng = as_rng(rng)
        self.used = 0

    @property
    def remaining(self) -> int | None:
        """How many more may be asked (``None``: unlimited)."""
        return None if self.budget is None else self.budget - self.used

    def _charge(self, n: int) -> None:
        if self.budget is not None and self.used + n > self.budget:
            raise BudgetExceeded(
                f"{type(self).__name__}: asked for {n} {self.unit} with {self.used} of the budget "
                f"{self.budget} already used ({self.budget - self.used} left)"
            )
        self.used += n


class QueryAccess(_Counted):
    """Answer logit queries about ``model`` (optionally noisy) and count them.

    Parameters
    ----------
    model : SequenceModel
        The target; never handed to the learner.
    noise : float
        ``xi >= 0``, the size of the additive per-entry error (see the module docstring).
    noise_kind : {"uniform", "gaussian"}
    budget : int, optional
        Maximum number of logit vectors answered (one per prefix); ``None`` = unlimited.
    rng : Generator or int
        Drives the noise and :meth:`sample`.

    Attributes
    ----------
    queries_used : int
        Logit vectors answered so far (also ``used``).
    """

    unit = "logit queries"

    def __init__(
        self,
        model: SequenceModel,
        *,
        noise: float = 0.0,
        noise_kind: str = "uniform",
        budget: int | float | None = None,
        rng: RngLike = None,
    ):
        super().__init__(model, budget, rng)
        if not np.isfinite(noise) or noise < 0:
            raise ValueError(f"noise: must be a finite number >= 0, got {noise!r}")
        if noise_kind not in NOISE_KINDS:
            raise ValueError(f"noise_kind: must be one of {NOISE_KINDS}, got {noise_kind!r}")
        self.noise = float(noise)
        self.noise_kind = noise_kind

    @property
    def queries_used(self) -> int:
        return self.used

    def _noisy(self, values: np.ndarray) -> np.ndarray:
        if self.noise == 0.0:
            return values
        if self.noise_kind == "uniform":
            return values + self._rng.uniform(-self.noise, self.noise, size=values.shape)
        return values + self.noise * self._rng.standard_normal(values.shape)

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Centered logits (+ noise) of each prefix, shape ``(len(prefixes), V)``; costs ``len(prefixes)``."""
        self._charge(len(prefixes))
        return self._noisy(model_logits(self._model, prefixes))

    def extended_logits(
        self, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """``out[i, j] = l_M(h_i . f_j)`` (+ noise), shape ``(|H|, |F|, V)``; costs ``|H| * |F|`` queries.

        Uses the target's fast path when it has one (the answer is the same as ``|H| |F|`` single queries).
        """
        self._charge(len(histories) * len(futures))
        return self._noisy(extended_logits(self._model, histories, futures))

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` sequences of length ``T`` token by token through queries.

        Each step queries the current prefixes (``n * T`` queries in all) and samples from the softmax of
        the (noisy) answers, which are returned too so that the caller can reuse them.

        Returns
        -------
        sequences : int64 array, shape (n, T)
        logits : array, shape (n, T, V) — the answers that predicted each token.
        """
        n = check_positive_int("n", n)
        self._charge(n * self.horizon)
        T, V = self.horizon, self.vocab_size
        seqs = np.zeros((n, T), dtype=np.int64)
        answers = np.empty((n, T, V))
        for t in range(T):
            ell = self._noisy(model_logits(self._model, [tuple(r) for r in seqs[:, :t].tolist()]))
            answers[:, t] = ell
            p = np.exp(ell - ell.max(axis=1, keepdims=True))
            cdf = np.cumsum(p, axis=1)
            u = self._rng.random(n) * cdf[:, -1]
            seqs[:, t] = np.minimum((cdf < u[:, None]).sum(axis=1), V - 1)
        return seqs, answers


class SampleAccess(_Counted):
    """Hand out i.i.d. length-``T`` sequences from ``model`` and count them.

    Parameters
    ----------
    model : SequenceModel
    budget : int, optional
        Maximum number of sequences; ``None`` = unlimited.
    rng : Generator or int

    Attributes
    ----------
    samples_used : int
        Sequences handed out so far (also ``used``).
    """

    unit = "sample sequences"

    def __init__(self, model: SequenceModel, *, budget: int | float | None = None, rng: RngLike = None):
        super().__init__(model, budget, rng)

    @property
    def samples_used(self) -> int:
        return self.used

    def sample(self, n: int) -> np.ndarray:
        """``n`` i.i.d. sequences, int64 array ``(n, T)``; costs ``n``."""
        n = check_positive_int("n", n)
        self._charge(n)
        own = getattr(self._model, "sample", None)  # a synthetic model's own (possibly faster) sampler
        if callable(own):
            out = np.asarray(own(n, rng=self._rng), dtype=np.int64)
        else:
            out = sample_sequences(self._model, n, rng=self._rng)
        if out.shape != (n, self.horizon):
            raise ValueError(f"model.sample: must return shape ({n}, {self.horizon}), got {out.shape}")
        return out
