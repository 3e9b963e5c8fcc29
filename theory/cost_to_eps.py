"""The cost to eps of GLS2's learner on one target: the smallest query budget that reaches a TV target.

For one target and one learner seed, the **cost to eps** is the smallest query budget ``B`` such that the
learner, run on ``QueryAccess(target, budget=B)`` (an anytime learner keeps its best model so far when the
budget runs out), returns a model with ``TV <= eps``.  It is found by bisection on ``log B`` between a budget
that fails and one that succeeds, to a relative tolerance ``rel_tol`` (:func:`cost_to_eps`); the samples the
learner drew at that budget are recorded beside it.  The sweep over ``d``, ``V``, ``T`` and ``1/eps`` with
its fitted scaling laws is the experiment :mod:`experiments.cost_to_eps`.

The learner is GLS2's (:class:`~simulators.learners.SpannerLPLearner`, as written) with the sample sizes its
(eps, delta) statement prescribes: ``n_validation = ceil(ln(1/delta)/eps)`` (:func:`validation_size`), so a
``1/eps`` sweep measures how that prescription costs.  The theory's exponents (:data:`THEORY_EXPONENTS`:
GLS2's exact-rank robust bound, ``O~(T^13 d^4 / eps^4)`` requests) are upper bounds on a worst case, printed
beside the measured ones as such.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from logitrank.validation import RngLike, spawn_seeds
from simulators.learners import BudgetExceeded, QueryAccess, SpannerLPLearner, evaluate

from .learning_claims import validation_size

__all__ = ["THEORY_EXPONENTS", "cost_to_eps"]

THEORY_EXPONENTS = {"d": 4.0, "V": float("nan"), "T": 13.0, "inv_eps": 4.0}
"""GLS2's exact-rank robust theorem, ``O~(T^13 d^4 / eps^4)`` requests: upper bounds for the worst case (no
``V`` exponent is stated); not predictions of the typical cost."""


def _attempt(target: Any, eps: float, delta: float, budget: int, seed: int, n_eval: int) -> tuple[bool, int]:
    """Fit under ``budget``: ``(TV <= eps, samples drawn)``."""
    learner_seed, access_seed, eval_seed = spawn_seeds(seed, 3)
    learner = SpannerLPLearner(n_validation=validation_size(eps, delta), rng=learner_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "budget exhausted": the point of the bisection
        try:
            learner.fit(QueryAccess(target, budget=budget, rng=access_seed))
        except BudgetExceeded:
            return False, 0
    tv = evaluate(target, learner.model_, n_sequences=n_eval, rng=eval_seed).tv
    return tv <= eps, learner.samples_used_


def cost_to_eps(target: Any, eps: float, *, delta: float = 0.1, rel_tol: float = 0.1, n_eval: int = 400,
                rng: RngLike = None) -> dict[str, Any]:
    """Smallest query budget (to ``rel_tol``) with which GLS2's learner reaches ``TV <= eps`` on ``target``.

    The unbudgeted fit's query count is the first bracket's top (doubled until it succeeds, at most 4
    times); bisection on ``log B`` then halves the bracket ``[fail, success]`` until ``success / fail <= 1
    + rel_tol``.  Returns ``{"queries", "samples", "fits", "reached"}`` (``reached`` False: even 16x the
    unbudgeted cost failed; ``queries`` is then that last budget), and the unbudgeted fit's own cost
    ``validated_queries`` / ``validated_samples`` / ``stop_reason`` (a budget-cut model may already be good
    before its validation finishes: the cost to reach eps is at most the cost to certify it)."""
    seed = spawn_seeds(rng, 1)[0]
    learner_seed, access_seed, _ = spawn_seeds(seed, 3)
    full = SpannerLPLearner(n_validation=validation_size(eps, delta), rng=learner_seed)
    full.fit(QueryAccess(target, rng=access_seed))
    hi, fits = int(full.queries_used_), 1
    validated = {"validated_queries": float(full.queries_used_),
                 "validated_samples": float(full.samples_used_), "stop_reason": full.stop_reason_}
    ok, samples = _attempt(target, eps, delta, hi, seed, n_eval)
    while not ok and fits < 5:
        hi, fits = 2 * hi, fits + 1
        ok, samples = _attempt(target, eps, delta, hi, seed, n_eval)
    if not ok:
        return {"queries": float(hi), "samples": float(samples), "fits": fits, "reached": False, **validated}
    lo = 1
    while hi / lo > 1.0 + rel_tol:
        mid = int(round(math.sqrt(lo * hi)))
        if mid in (lo, hi):
            break
        good, s = _attempt(target, eps, delta, mid, seed, n_eval)
        fits += 1
        if good:
            hi, samples = mid, s
        else:
            lo = mid
    return {"queries": float(hi), "samples": float(samples), "fits": fits, "reached": True, **validated}
