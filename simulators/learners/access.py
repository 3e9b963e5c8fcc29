"""What a learner may see of a target: logit queries, sampled logits or i.i.d. samples, counted and budgeted.

A learner receives exactly one access object and nothing else.  Each exposes ``vocab_size`` and
``horizon`` (the target's ``V`` and ``T``), a running count ``used`` and an optional budget.  A request is
validated first, then charged: asking for more than the budget raises :class:`BudgetExceeded` *before*
anything is answered (no partial answers), and a malformed request costs nothing.

Oracle error (:class:`QueryAccess`, ``noise = xi > 0``; SPEC §1 "Misspecification, oracle error"): each
answered logit vector is ``l_M(x) + e(x)`` with entries of ``e`` in ``Uniform[-xi, xi]``
(``noise_kind="uniform"``: ``||e||_inf <= xi``, the paper's setting) or ``N(0, xi^2)`` (``"gaussian"``).

- ``noise_mode="fixed"`` (default; the theorem's setting): ``e(x)`` is a deterministic function of the
  prefix ``x`` (hash-seeded, :func:`simulators.perturbed.prefix_states`), so asking again returns the same
  answer, like an API serving a fixed slightly-wrong model.
- ``noise_mode="iid"``: fresh noise per query (a weaker adversary); asking twice gives two answers.

The noisy vector is *not* re-centered.  A learner must not read ``xi`` from the access: a tolerance is the
learner's own hyperparameter.

Isolation (in-process): the target, the random stream and the counts live outside the access object (in a
module-private table keyed by it), so no public or single-underscore attribute leads to the target, and
``used``, ``budget`` and ``remaining`` are read-only properties.  Python cannot make in-process isolation
complete (a determined learner can walk the interpreter's objects); this only rules out touching the target
or the count by accident.  The benchmark marks in-process results as such.

Sampled logits (:class:`SampledLogitAccess`, GLS2 Remark 5.8): a logit query at ``x`` draws ``m`` next
tokens from ``Pr[. | x]`` and answers the centered smoothed log-frequencies
``log((c_z + a) / (m + a V))`` (``a = 1/2``, add-half smoothing), charged as ``m`` samples.  With centered
logits bounded by ``lambda``, entrywise error ``eps`` needs about ``m ~ e^{2 lambda} V log(V/delta) / eps^2``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from logitrank import SequenceModel, extended_logits, log_softmax, model_logits, sample_sequences
from logitrank.validation import (
    RngLike,
    as_rng,
    check_choice,
    check_float,
    check_positive_int,
    check_prefixes,
    short,
    spawn_seeds,
)

from ..perturbed import extend_states, hash_uniforms, pair_states, prefix_states

__all__ = ["BudgetExceeded", "QueryAccess", "SampleAccess", "SampledLogitAccess", "check_access"]

NOISE_KINDS = ("uniform", "gaussian")
NOISE_MODES = ("fixed", "iid")
MAX_NOISE = 1e6  # a per-entry error beyond this swamps every logit (and 2 xi overflows near 1e308)


class BudgetExceeded(RuntimeError):
    """A learner asked for more queries or samples than its access object allows."""


def check_access(access: Any, needs: Sequence[str], what: str) -> None:
    """Raise TypeError unless ``access`` is an access object with the methods ``needs``.

    A sequence model handed over directly (it has ``logits`` but no ``used`` count) is named as such:
    a learner sees a target only through an access object.  ``what`` says what kind is needed."""
    if hasattr(access, "logits") and not hasattr(access, "used"):
        raise TypeError(
            f"access: must be an access object wrapping the target ({what}, e.g. QueryAccess(model)), "
            f"got the sequence model {type(access).__name__} itself"
        )
    for attr in needs:
        if not hasattr(access, attr):
            raise TypeError(f"access: needs {what}; {type(access).__name__} has no {attr!r}")


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


def _check_noise(noise: Any) -> float:
    if isinstance(noise, bool) or not isinstance(noise, int | float | np.integer | np.floating):
        raise TypeError(f"noise: must be a real number >= 0 (the error size xi), got {short(noise)} "
                        f"({type(noise).__name__})")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise: must be a finite number >= 0, got {noise!r}")
    if noise > MAX_NOISE:
        raise ValueError(f"noise: must be <= {MAX_NOISE:g} (a larger per-entry error swamps every logit), "
                         f"got {noise!r}")
    return float(noise)


@dataclass
class _Hidden:
    """What a learner must not reach: the target, the random stream and the counts."""

    model: SequenceModel
    rng: np.random.Generator
    budget: int | None
    used: int = 0
    queries: int = 0
    noise_seed: int = 0


_HIDDEN: weakref.WeakKeyDictionary[Any, _Hidden] = weakref.WeakKeyDictionary()


class _Counted:
    """Shared bookkeeping: ``used``, ``budget``, ``remaining``, request checks and the charge."""

    unit = "items"

    def __init__(self, model: SequenceModel, budget: int | float | None, rng: RngLike):
        for attr in ("vocab_size", "horizon", "logits"):
            if not hasattr(model, attr):
                raise TypeError(
                    f"model: must follow the SequenceModel protocol (no {attr!r}), got {type(model).__name__}"
                )
        self.vocab_size = int(model.vocab_size)
        self.horizon = int(model.horizon)
        _HIDDEN[self] = _Hidden(model, as_rng(rng), _check_budget(budget))

    @property
    def used(self) -> int:
        """How many have been charged so far (read-only)."""
        return _HIDDEN[self].used

    @property
    def budget(self) -> int | None:
        """The most that may be charged (``None``: unlimited; read-only)."""
        return _HIDDEN[self].budget

    @property
    def remaining(self) -> int | None:
        """How many more may be asked (``None``: unlimited)."""
        h = _HIDDEN[self]
        return None if h.budget is None else h.budget - h.used

    def _charge(self, n: int) -> None:
        h = _HIDDEN[self]
        if h.budget is not None and h.used + n > h.budget:
            raise BudgetExceeded(
                f"{type(self).__name__}: asked for {n} {self.unit} with {h.used} of the budget "
                f"{h.budget} already used ({h.budget - h.used} left)"
            )
        h.used += n

    def _prefixes(self, prefixes: Sequence[Sequence[int]]) -> list[tuple[int, ...]]:
        return check_prefixes("prefixes", prefixes, self.vocab_size, self.horizon - 1)

    def _pairs(self, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]]
               ) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
        H = check_prefixes("histories", histories, self.vocab_size, self.horizon - 1)
        F = check_prefixes("futures", futures, self.vocab_size, self.horizon - 1)
        longest = max(len(h) for h in H) + max(len(f) for f in F)
        if longest > self.horizon - 1:
            raise ValueError(f"histories/futures: len(h) + len(f) must be <= horizon - 1 = "
                             f"{self.horizon - 1}, got a longest concatenation of length {longest}")
        return H, F


class QueryAccess(_Counted):
    """Answer logit queries about ``model`` (optionally with oracle error) and count them.

    Parameters
    ----------
    model : SequenceModel
        The target; never handed to the learner.
    noise : float
        ``xi`` in ``[0, 1e6]``, the size of the additive per-entry error (see the module docstring).
    noise_kind : {"uniform", "gaussian"}
    noise_mode : {"fixed", "iid"}
        ``"fixed"``: ``e(x)`` a deterministic function of the prefix; ``"iid"``: fresh per query.
    budget : int, optional
        Maximum number of logit vectors answered (one per prefix); ``None`` = unlimited.
    rng : Generator or int
        Drives the noise (its seed, in fixed mode) and :meth:`sample`.

    Attributes
    ----------
    queries_used : int
        Logit vectors answered so far (also ``used``).
    """

    unit = "logit queries"

    def __init__(self, model: SequenceModel, *, noise: float = 0.0, noise_kind: str = "uniform",
                 noise_mode: str = "fixed", budget: int | float | None = None, rng: RngLike = None):
        super().__init__(model, budget, rng)
        self.noise = _check_noise(noise)
        self.noise_kind = check_choice("noise_kind", noise_kind, NOISE_KINDS)
        self.noise_mode = check_choice("noise_mode", noise_mode, NOISE_MODES)
        _HIDDEN[self].noise_seed = spawn_seeds(_HIDDEN[self].rng, 1)[0] if noise_mode == "fixed" else 0

    @property
    def queries_used(self) -> int:
        return self.used

    def _fixed_error(self, states: np.ndarray) -> np.ndarray:
        u = hash_uniforms(states, self.vocab_size, stream=1)
        if self.noise_kind == "uniform":
            return self.noise * (2.0 * u - 1.0)
        v = hash_uniforms(states, self.vocab_size, stream=2)  # Box-Muller from two independent streams
        return self.noise * np.sqrt(-2.0 * np.log1p(-u)) * np.cos(2.0 * np.pi * v)

    def _iid_error(self, shape: tuple[int, ...]) -> np.ndarray:
        if self.noise_kind == "uniform":
            return _HIDDEN[self].rng.uniform(-self.noise, self.noise, size=shape)
        return self.noise * _HIDDEN[self].rng.standard_normal(shape)

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Centered logits (+ error) of each prefix, shape ``(len(prefixes), V)``; costs ``len(prefixes)``."""
        P = self._prefixes(prefixes)
        self._charge(len(P))
        values = model_logits(_HIDDEN[self].model, P)
        if self.noise == 0.0:
            return values
        if self.noise_mode == "fixed":
            return values + self._fixed_error(prefix_states(P, _HIDDEN[self].noise_seed))
        return values + self._iid_error(values.shape)

    def extended_logits(
        self, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """``out[i, j] = l_M(h_i . f_j)`` (+ error), shape ``(|H|, |F|, V)``; costs ``|H| * |F|`` queries.

        Uses the target's fast path when it has one (the answer is the same as ``|H| |F|`` single queries,
        fixed errors included)."""
        H, F = self._pairs(histories, futures)
        self._charge(len(H) * len(F))
        values = extended_logits(_HIDDEN[self].model, H, F)
        if self.noise == 0.0:
            return values
        if self.noise_mode == "fixed":
            return values + self._fixed_error(pair_states(H, F, _HIDDEN[self].noise_seed))
        return values + self._iid_error(values.shape)

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
        states = prefix_states(seqs[:, :0], _HIDDEN[self].noise_seed)
        for t in range(T):
            ell = model_logits(_HIDDEN[self].model, [tuple(r) for r in seqs[:, :t].tolist()])
            if self.noise > 0:
                ell = ell + (self._fixed_error(states) if self.noise_mode == "fixed"
                             else self._iid_error(ell.shape))
            answers[:, t] = ell
            p = np.exp(ell - ell.max(axis=1, keepdims=True))
            cdf = np.cumsum(p, axis=1)
            u = _HIDDEN[self].rng.random(n) * cdf[:, -1]
            seqs[:, t] = np.minimum((cdf < u[:, None]).sum(axis=1), V - 1)
            states = extend_states(states, seqs[:, t])
        return seqs, answers


class SampledLogitAccess(_Counted):
    """Logit queries answered from ``m`` conditional samples each (GLS2 Remark 5.8), charged as samples.

    Parameters
    ----------
    model : SequenceModel
    samples_per_query : int
        ``m``, next tokens drawn from ``Pr[. | x]`` per answered prefix.
    budget : int, optional
        Maximum number of conditional samples (``m`` per logit vector); ``None`` = unlimited.
    rng : Generator or int
    smoothing : float, ``> 0``
        Pseudo-count ``a`` added to every token's count (default 1/2).

    Attributes
    ----------
    samples_used : int
        Conditional next-token samples drawn so far (also ``used``).
    queries_used : int
        Logit vectors answered so far.
    """

    unit = "conditional samples"

    def __init__(self, model: SequenceModel, samples_per_query: int, *, budget: int | float | None = None,
                 rng: RngLike = None, smoothing: float = 0.5):
        super().__init__(model, budget, rng)
        self.samples_per_query = check_positive_int("samples_per_query", samples_per_query)
        self.smoothing = check_float("smoothing", smoothing, low=0.0, low_inclusive=False)

    @property
    def queries_used(self) -> int:
        """Logit vectors answered so far (read-only)."""
        return _HIDDEN[self].queries

    @property
    def samples_used(self) -> int:
        return self.used

    def _estimate(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Counts ``(n, V)`` of ``m`` draws from ``softmax(logits)``, centered smoothed log-frequencies."""
        p = np.exp(log_softmax(logits.reshape(-1, self.vocab_size)))
        p /= p.sum(axis=1, keepdims=True)
        counts = _HIDDEN[self].rng.multinomial(self.samples_per_query, p)
        est = np.log(counts + self.smoothing)
        est -= est.mean(axis=1, keepdims=True)
        return counts, est.reshape(logits.shape)

    def _charge_queries(self, k: int) -> None:
        self._charge(k * self.samples_per_query)
        _HIDDEN[self].queries += k

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Estimated centered logits of each prefix, ``(len(prefixes), V)``; costs ``m`` samples each."""
        P = self._prefixes(prefixes)
        self._charge_queries(len(P))
        return self._estimate(model_logits(_HIDDEN[self].model, P))[1]

    def extended_logits(
        self, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """Estimated ``l_M(h_i . f_j)``, shape ``(|H|, |F|, V)``; costs ``m |H| |F|`` samples."""
        H, F = self._pairs(histories, futures)
        self._charge_queries(len(H) * len(F))
        return self._estimate(extended_logits(_HIDDEN[self].model, H, F))[1]

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` sequences drawn token by token, with the estimated logits that predicted each token.

        At each step the ``m`` draws that answer the logit query also give the token (one of them, chosen
        uniformly: a draw from ``Pr[. | x]``), so a sequence costs ``m T`` samples.

        Returns
        -------
        sequences : int64 array, shape (n, T)
        logits : array, shape (n, T, V)
        """
        n = check_positive_int("n", n)
        self._charge_queries(n * self.horizon)
        T, V = self.horizon, self.vocab_size
        seqs = np.zeros((n, T), dtype=np.int64)
        answers = np.empty((n, T, V))
        for t in range(T):
            ell = model_logits(_HIDDEN[self].model, [tuple(r) for r in seqs[:, :t]])
            counts, answers[:, t] = self._estimate(ell)
            cdf = np.cumsum(counts, axis=1)
            u = _HIDDEN[self].rng.integers(0, self.samples_per_query, size=n)
            seqs[:, t] = np.minimum((cdf <= u[:, None]).sum(axis=1), V - 1)
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
        own = getattr(_HIDDEN[self].model, "sample", None)  # a synthetic model's own (faster) sampler
        raw = np.asarray(own(n, rng=_HIDDEN[self].rng) if callable(own)
                         else sample_sequences(_HIDDEN[self].model, n, rng=_HIDDEN[self].rng))
        if raw.shape != (n, self.horizon):
            raise ValueError(f"model.sample: must return shape ({n}, {self.horizon}), got {raw.shape}")
        if raw.dtype.kind not in "iu":
            raise ValueError(f"model.sample: must return integer tokens, got dtype {raw.dtype}")
        if raw.size and (raw.min() < 0 or raw.max() >= self.vocab_size):
            raise ValueError(f"model.sample: tokens must lie in [0, {self.vocab_size}), "
                             f"got range [{raw.min()}, {raw.max()}]")
        return raw.astype(np.int64)
