"""The model GLS2's provable learner returns (:class:`SpannerLPModel`): stored basis rows of answered logits
and the tracking LP of :mod:`simulators.learners.tracking_lp`, a sequence model that never calls the target.
The learner that builds it is :class:`simulators.learners.SpannerLPLearner` (:mod:`.spanner_lp`, whose
module docstring states the algorithm)."""

from __future__ import annotations

from typing import Any

import numpy as np

from logitrank import center_logits, log_softmax
from logitrank.validation import RngLike, as_rng, check_positive_int

from .tracking_lp import track

__all__ = ["SpannerLPModel"]


class SpannerLPModel:
    """The learned sequence model: stored basis rows and the tracking LP (never calls the target).

    Parameters
    ----------
    readout : list of arrays ``(m_s, V)`` — ``R_{s,i}(())``, ``s = 0..T-1``.
    basis_rows : list of arrays ``(m_s, D_s)`` — ``R_{s,i}`` on ``F^_s`` (``D_s = |F^_s| V``).
    shifted : list of arrays ``(V, m_s, D_{s+1})`` — ``R_{s,i}(z . F^_{s+1})``, ``s = 0..T-2``.
    beta : float — the coefficient bound of the tracking LP.
    certify : float — residual below which an in-box least-squares point is taken as the LP's solution.
    minimise : bool — HiGHS minimises every uncertified step (True) or only decides feasibility (False);
        see :func:`~simulators.learners.tracking_lp.track`.
    """

    def __init__(self, readout: list[np.ndarray], basis_rows: list[np.ndarray], shifted: list[np.ndarray],
                 beta: float, certify: float, minimise: bool = True):
        self.readout, self.basis_rows, self.shifted = readout, basis_rows, shifted
        self.beta, self.certify, self.minimise = float(beta), float(certify), bool(minimise)
        self.horizon = len(readout)
        self.vocab_size = int(readout[0].shape[1])
        self.dims = np.array([r.shape[0] for r in readout])

    def track(self, sequences: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], int]:
        """Track ``(n, L)`` sequences.

        Returns
        -------
        logits : array (n, L, V), centered
        residual : array (n, L) — tracking-LP residual of the step into each position (0 at ``s = 0``)
        coefficients : list of arrays ``(n, m_s)`` — ``c_s``, every ``|c| <= beta``
        n_lp : int — tracking problems solved by HiGHS (the others by certified least squares)
        """
        seqs = np.asarray(sequences, dtype=np.int64)
        n, L = seqs.shape
        out = np.empty((n, L, self.vocab_size))
        resid = np.zeros((n, L))
        c = np.ones((n, 1))
        coeffs, n_lp = [], 0
        for s in range(L):
            coeffs.append(c)
            out[:, s] = c @ self.readout[s]
            if s + 1 < L:
                b = np.einsum("nm,nmd->nd", c, self.shifted[s][seqs[:, s]])
                c, resid[:, s + 1], k = self.step(s + 1, b)
                n_lp += k
        return center_logits(out), resid, coeffs, n_lp

    def logits_along(self, sequences: np.ndarray) -> np.ndarray:
        """Centered logits at every position of ``(n, L)`` sequences, ``(n, L, V)``."""
        return self.track(sequences)[0]

    def logits(self, prefixes: Any) -> np.ndarray:
        """Centered logits of each prefix, ``(len(prefixes), V)``."""
        P = [tuple(int(z) for z in p) for p in prefixes]
        out = np.empty((len(P), self.vocab_size))
        lengths = np.array([len(p) for p in P], dtype=np.int64)
        for t in np.unique(lengths):
            idx = np.flatnonzero(lengths == t)
            padded = np.zeros((idx.size, int(t) + 1), dtype=np.int64)
            padded[:, : int(t)] = [P[i] for i in idx] if t else np.zeros((idx.size, 0))
            out[idx] = self.logits_along(padded)[:, int(t)]
        return out

    def sample(self, n: int, *, rng: RngLike = None) -> np.ndarray:
        """``n`` sequences of length ``T`` drawn from the learned model, int64 ``(n, T)``."""
        n = check_positive_int("n", n)
        gen = as_rng(rng)
        seqs = np.zeros((n, self.horizon), dtype=np.int64)
        c = np.ones((n, 1))
        for s in range(self.horizon):
            cdf = np.cumsum(np.exp(log_softmax(c @ self.readout[s])), axis=1)
            seqs[:, s] = np.minimum((cdf < gen.random(n)[:, None] * cdf[:, -1:]).sum(axis=1),
                                    self.vocab_size - 1)
            if s + 1 < self.horizon:
                b = np.einsum("nm,nmd->nd", c, self.shifted[s][seqs[:, s]])
                c = self.step(s + 1, b)[0]
        return seqs

    def step(self, s: int, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """One tracking step into position ``s``: targets ``b`` ``(n, D_s)`` -> ``(c (n, m_s), residual (n,),
        n_lp)`` by the tracking LP (the one place a variant, e.g. a negative control, changes the rule)."""
        return track(self.basis_rows[s], b, self.beta, certify=self.certify, minimise=self.minimise)
