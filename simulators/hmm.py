"""Hidden Markov models: approximately, but generally not exactly, low logit rank."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import logsumexp

from logitrank import center_logits
from logitrank.validation import RngLike, as_rng, check_cut, check_positive_int, check_size, check_stochastic

from .base import SyntheticModel
from .tables import dirichlet_rows, trivial_rank_bound

__all__ = ["HMM"]


class HMM(SyntheticModel):
    """A hidden Markov model with ``S`` states: ``s_1 ~ initial``, ``x_p ~ emission[s_p]``,
    ``s_{p+1} ~ transition[s_p]``.

    **Logits** by the forward algorithm in log space, vectorised over prefixes: the predictive belief
    ``b_t(s) = Pr[s_{t+1} = s | x_1..x_t]`` starts at ``initial`` and is updated by
    ``b_{t+1}(s') ∝ sum_s b_t(s) E[s, x_{t+1}] P[s, s']``; then
    ``log Pr[z | x_1..x_t] = logsumexp_s(log b_t(s) + log E[s, z])``.

    **Rank.** The *probabilities* ``Pr[h . f]`` form a Hankel matrix of rank ``<= S``, but logits are
    logarithms of mixtures ``log sum_s b_t(s) E[s, z]``, which are not linear in the belief; so an HMM is
    generally *not* exactly low logit rank — its extended logit matrix is typically full rank, with a
    fast-decaying spectrum (approximately low rank). No better exact bound holds in general, so
    :meth:`rank_bound` returns the trivial bound ``min(V^t, (V - 1) |Sigma^{<= T-1-t}|)``.

    Parameters
    ----------
    initial : array, shape (S,), a probability vector
    transition : array, shape (S, S), row-stochastic
    emission : array, shape (S, V), row-stochastic with all entries ``> 0`` (so every prefix has
        positive probability and every logit is finite)
    horizon : int, ``>= 1``
    """

    kind = "hmm"

    def __init__(self, initial: np.ndarray, transition: np.ndarray, emission: np.ndarray, horizon: int):
        init = check_stochastic("initial", initial)
        if init.ndim != 1:
            raise ValueError(f"initial: must be 1-D (S,), got shape {init.shape}")
        S = init.shape[0]
        trans = check_stochastic("transition", transition)
        if trans.shape != (S, S):
            raise ValueError(f"transition: must have shape (S={S}, S={S}), got {trans.shape}")
        emis = check_stochastic("emission", emission, strictly_positive=True)
        if emis.ndim != 2 or emis.shape[0] != S or emis.shape[1] < 2:
            raise ValueError(f"emission: must have shape (S={S}, V) with V >= 2, got {emis.shape}")
        self.initial, self.transition, self.emission = init, trans, emis
        with np.errstate(divide="ignore"):  # zero initial/transition probabilities are allowed: log 0 = -inf
            self._log_init, self._log_trans = np.log(init), np.log(trans)
        self._log_emis = np.log(emis)
        self.n_states, self.vocab_size = S, emis.shape[1]
        self.horizon = check_positive_int("horizon", horizon)

    @classmethod
    def random(cls, vocab_size: int, n_states: int, horizon: int, *, rng: RngLike = None,
               concentration: float = 1.0) -> HMM:
        """Initial distribution, transition rows and emission rows i.i.d. ``Dirichlet(concentration)``
        (floored at ``1e-12`` and renormalised)."""
        S = check_positive_int("n_states", n_states)
        V = check_positive_int("vocab_size", vocab_size, minimum=2)
        check_size("(n_states, vocab_size)", (S, V), (S, max(S, V)),
                   what="the transition and emission tables (S, S), (S, V)")
        gen = as_rng(rng)
        init = dirichlet_rows(gen, concentration, (), S)
        trans = dirichlet_rows(gen, concentration, (S,), S)
        emis = dirichlet_rows(gen, concentration, (S,), V)
        return cls(init, trans, emis, horizon)

    def log_beliefs(self, prefixes: np.ndarray) -> np.ndarray:
        """``log Pr[s_{t+1} = s | prefix]`` for equal-length prefixes ``(n, t)`` -> ``(n, S)``."""
        n = prefixes.shape[0]
        logb = np.tile(self._log_init, (n, 1))
        for p in range(prefixes.shape[1]):
            joint = logb + self._log_emis[:, prefixes[:, p]].T  # (n, S): log Pr[s_p = s, x_p | x_<p] + c
            nxt = logsumexp(joint[:, :, None] + self._log_trans[None], axis=1)  # (n, S')
            logb = nxt - logsumexp(nxt, axis=1, keepdims=True)
        return logb

    def _logits_batch(self, prefixes: np.ndarray) -> np.ndarray:
        logb = self.log_beliefs(prefixes)
        return center_logits(logsumexp(logb[:, :, None] + self._log_emis[None], axis=1))

    def rank_bound(self, t: int) -> int:
        t = check_cut(t, self.horizon)
        return trivial_rank_bound(self.vocab_size, self.horizon, t)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"initial": self.initial, "transition": self.transition, "emission": self.emission}

    def _params(self) -> dict[str, Any]:
        return {"horizon": self.horizon}
