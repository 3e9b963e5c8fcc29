"""Anytime fitting: what a learner can afford next, and the model it returns when it cannot afford more.

The bundled learners fit within any budget: before a step they ask :func:`affordable` how many sequences
the access's remaining budget pays for; when the next step would overrun (or a build runs into
:class:`~simulators.learners.BudgetExceeded` part-way, which charges nothing for the refused request) they
stop, keep the best model built so far and set ``stopped_early_ = True``.  Before any model exists, the
best model at hand is the *position unigram* of the logits answered so far,
``q_t = mean_i softmax(l(x^i_<t))`` over the answered prefixes of position ``t`` — a rank-one
time-varying ISAN (:func:`position_unigram_isan`) — and with nothing answered at all, the uniform predictor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank import log_softmax

from ..isan import TimeVaryingISAN

__all__ = ["affordable", "position_unigram_isan"]


def affordable(access: Any, wanted: int, cost_each: int) -> int:
    """How many of ``wanted`` items costing ``cost_each`` budget units each the access can still pay for
    (``wanted`` when its budget is unlimited)."""
    remaining = getattr(access, "remaining", None)
    if remaining is None:
        return int(wanted)
    return int(max(0, min(int(wanted), int(remaining) // max(1, int(cost_each)))))


def position_unigram_isan(answers: Sequence[np.ndarray], vocab_size: int) -> TimeVaryingISAN:
    """The rank-one ISAN predicting ``q_t = mean softmax(answers[t])`` whatever the history.

    Parameters
    ----------
    answers : sequence of T arrays, each ``(n_t, V)`` — logits answered at position ``t`` (``n_t = 0``:
        that position predicts uniform).
    vocab_size : int

    Returns
    -------
    TimeVaryingISAN with ``d = 1``, ``x0 = (1)``, ``A = 1`` and ``B_t = log q_t`` (centered).
    """
    V, T = int(vocab_size), len(answers)
    B = np.zeros((T, V, 1))
    for t, a in enumerate(answers):
        a = np.asarray(a, dtype=np.float64).reshape(-1, V)
        if a.shape[0]:
            q = np.exp(log_softmax(a)).mean(axis=0)
            logq = np.log(np.maximum(q, 1e-300))
            B[t, :, 0] = logq - logq.mean()
    return TimeVaryingISAN(np.ones(1), np.ones((max(T - 1, 0), V, 1, 1)), B)
