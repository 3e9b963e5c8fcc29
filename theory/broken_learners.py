"""Broken versions of GLS2's provable learner: the negative controls of the learning claims.

A claim about a learner has teeth only if a learner lacking what the claim credits fails it, for that
reason.  Each variant here removes one idea of :class:`~simulators.learners.SpannerLPLearner` (SPEC §1 "The
provable learner") and says which part of which claim it must break:

==================  ===========================================  ====================================
name                what is broken                               must fail
==================  ===========================================  ====================================
``random_model``    ``model_`` replaced by a random ISAN         TV, in every claim
``brute_force``     every prefix queried (exact, exponential)    the query bound (exact, witnesses,
                                                                 graceful: bound < brute force there)
``no_witnesses``    ``max_witnesses = 0``                        TV where witnesses are needed
                                                                 (``learning.witnesses``)
``unbounded``       ``beta = 1e6``: no bound (spanner and LP)    TV on the Kahan family
                                                                 (``learning.bounded_coefficients``)
``lstsq``           tracking by least squares, not the LP        nothing found: see below
==================  ===========================================  ====================================

``unbounded`` and ``lstsq`` are *correct* learners on exact, well-conditioned targets and rightly pass
``learning.exact``.  The Kahan family (:mod:`theory.separating`) separates ``unbounded`` through its spanner
(greedy pivoting picks a basis in which one token needs ``|c| ~ 25``).  No family tried separates
least-squares tracking (which keeps the bounded spanner's basis) from the LP: the learner's rank floor keeps
the basis's smallest singular value above the noise, which bounds the least-squares coefficients' error, and
validation repairs the rest (``benchmarks/provable_separation.py`` prints the measurements).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank import center_logits
from logitrank.validation import RngLike, check_choice, spawn_seeds
from simulators import TimeVaryingISAN
from simulators.learners import BudgetExceeded, SpannerLPLearner, SpannerLPModel

__all__ = ["BROKEN", "BruteForceLearner", "LeastSquaresTrackingLearner", "PrefixTable", "RandomModelLearner",
           "make_learner"]

BROKEN = ("random_model", "unbounded", "lstsq", "no_witnesses", "brute_force")
"""The negative-control learners, in table order."""


class LeastSquaresTrackingModel(SpannerLPModel):
    """:class:`SpannerLPModel` whose tracking step is unconstrained least squares ``c = b A^+`` (no box)."""

    def step(self, s: int, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        A = self.basis_rows[s]
        if A.shape[0] == 0:
            return np.zeros((b.shape[0], 0)), np.abs(b).max(axis=1, initial=0.0), 0
        c = b @ np.linalg.pinv(A)
        return c, np.abs(c @ A - b).max(axis=1, initial=0.0), 0


class LeastSquaresTrackingLearner(SpannerLPLearner):
    """The provable learner with least-squares tracking (validation and generation both use it)."""

    model_class = LeastSquaresTrackingModel


class RandomModelLearner(SpannerLPLearner):
    """Fits as the provable learner (same costs), then hands back a random ISAN of the same shape."""

    def fit(self, access: Any) -> RandomModelLearner:
        super().fit(access)
        dim = max(int(self.basis_sizes_.max()), 1)
        seed = spawn_seeds(self.rng, 1)[0]  # its own stream: never the target's seed
        self.model_ = TimeVaryingISAN.random(self.V_, dim, self.T_, rng=seed)  # type: ignore[assignment]
        return self


class PrefixTable:
    """A sequence model given by a table of centered logits, one row per prefix (what brute force learns)."""

    def __init__(self, table: dict[tuple[int, ...], np.ndarray], vocab_size: int, horizon: int):
        self.table, self.vocab_size, self.horizon = table, int(vocab_size), int(horizon)

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Centered logits of each prefix, ``(len(prefixes), V)``."""
        return np.array([self.table[tuple(int(z) for z in p)] for p in prefixes]).reshape(-1, self.vocab_size)


class BruteForceLearner:
    """Queries every prefix of length ``< T`` (``(V^T - 1) / (V - 1)`` queries) and stores the answers.

    Exact on any target; exponential in ``T``.  Under a budget too small for every prefix it raises the
    access's :class:`~simulators.learners.BudgetExceeded` before querying anything."""

    access_kind = "query"

    def __init__(self, rng: RngLike = None):
        self.rng = rng

    def fit(self, access: Any) -> BruteForceLearner:
        V, T = int(access.vocab_size), int(access.horizon)
        start = int(access.used)
        table: dict[tuple[int, ...], np.ndarray] = {}
        need = (V**T - 1) // (V - 1)
        if access.remaining is not None and access.remaining < need:  # refuse before the work, not after
            raise BudgetExceeded(f"BruteForceLearner: the {need} prefixes of length < {T} exceed the "
                                 f"{access.remaining} queries left of the budget {access.budget}")
        for t in range(T):
            prefixes = list(itertools.product(range(V), repeat=t))
            for p, row in zip(prefixes, center_logits(access.logits(prefixes))):
                table[p] = row
        self.model_ = PrefixTable(table, V, T)
        self.queries_used_ = int(access.used) - start
        self.coef_max_, self.witnesses_ = 0.0, np.zeros(T, dtype=np.int64)
        self.stop_reason_ = "validated"
        return self


def make_learner(name: str, **params: Any) -> Any:
    """The provable learner (``name="provable"``) or one of :data:`BROKEN`, with ``params`` passed to
    :class:`SpannerLPLearner` (``brute_force`` takes only ``rng``)."""
    check_choice("learner", name, ("provable", *BROKEN))
    if name == "brute_force":
        return BruteForceLearner(rng=params.get("rng"))
    if name == "unbounded":
        params = {**params, "beta": 1e6}
    if name == "no_witnesses":
        params = {**params, "max_witnesses": 0}
    variants = {"lstsq": LeastSquaresTrackingLearner, "random_model": RandomModelLearner}
    cls = variants.get(name, SpannerLPLearner)
    return cls(**params)
