"""Sample-only baseline: spectral learning of a weighted automaton from an empirical Hankel matrix.

Hsu–Kakade–Zhang (2009) / Balle, Carreras, Luque, Quattoni (2014), for the *prefix* function
``f(w) = Pr[x starts with w]`` of the target.  From ``N`` sampled sequences:

- basis ``P`` (prefixes) = ``S`` (suffixes): the empty word and the most frequent sequence prefixes of
  length ``<= basis_length`` (at most ``max_basis`` of them);
- Hankel blocks ``H[u, v] = f^(u v)``, ``H_z[u, v] = f^(u z v)``, ``h_P[u] = f^(u)``, ``h_S[v] = f^(v)``
  with ``f^`` the empirical prefix frequencies;
- truncated SVD ``H ~= U_r D_r V_r^T`` and the weighted automaton (rank ``r``: at most ``rank``, and with
  ``noise_floor=True`` only singular values above the sampling-noise level ``sqrt(sum_uv H[u, v] / N)``,
  an estimate of ``||H^ - H||_F`` (entry variances ``f (1 - f) / N``); by Weyl's inequality smaller singular
  values cannot be told apart from sampling noise, and keeping them makes the long products
  ``A_{x_1} ... A_{x_t}`` amplify that noise)

      alpha_0^T = h_S^T V_r,  A_z = (H V_r)^+ H_z V_r,  alpha_inf = (H V_r)^+ h_P,
      f(w) ~= alpha_0^T A_{w_1} ... A_{w_m} alpha_inf.

Next-token probabilities: ``p(z | x) ~ f(x z)``, i.e. scores ``s_z = a_x^T A_z alpha_inf`` with
``a_x^T = alpha_0^T A_{x_1} ... A_{x_t}`` (rescaled to unit norm at every step, which ``p`` ignores).
Scores are not guaranteed positive: every score below ``floor * max(|s|)`` (including negatives) is
raised to that floor before normalising.  Each clipped entry is counted in ``n_clipped`` (out of
``n_scored``) and the first clipping emits one ``RuntimeWarning`` per model, so that a user sees how often
the automaton had to be repaired.

Model selection on held-out samples (``validation_fraction > 0``, the default): a truncated automaton can
predict far worse than uniform (its long products amplify the Hankel's sampling noise), so the learner
holds out a fraction of the samples, fits the automaton of each rank ``1, 2, 4, ..., rank`` on the rest,
and mixes its next-token distribution with the (add-1/2) position unigram ``u_t`` of the training samples,

    q(z | x_<t) = (1 - lam) p_WFA(z | x_<t) + lam u_t(z),    lam in {0, 0.01, 0.03, 0.1, 0.3, 1},

choosing ``(r, lam)`` by held-out log-likelihood; the final automaton and unigram are refitted on all
samples with that choice.  ``lam = 1`` is the position unigram itself, so the learner is never much worse
than it on held-out data.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np

from logitrank import center_logits, log_softmax
from logitrank.validation import RngLike, check_float, check_positive_int, check_prefixes

from .access import check_access
from .ngram_baseline import sample_count

__all__ = ["SpectralWFALearner", "WFAModel", "MIX_GRID", "position_unigram"]


class WFAModel:
    """A weighted automaton ``(alpha_0, A, alpha_inf)`` read as a sequence model (see module docstring).

    Parameters
    ----------
    alpha0 : (r,) ; A : (V, r, r) ; alpha_inf : (r,) ; horizon : int
    floor : float
        Relative floor for scores (clipping counted in ``n_clipped``).
    unigram : (horizon, V) array, optional
        Position-wise next-token distributions ``u_t`` mixed in with weight ``mix``.
    mix : float in [0, 1]
        ``q = (1 - mix) p_WFA + mix u_t`` (0: the automaton alone).
    """

    def __init__(
        self, alpha0: np.ndarray, A: np.ndarray, alpha_inf: np.ndarray, horizon: int, floor: float = 1e-4,
        unigram: np.ndarray | None = None, mix: float = 0.0,
    ):
        self.alpha0 = np.asarray(alpha0, dtype=np.float64)
        self.A = np.asarray(A, dtype=np.float64)
        self.alpha_inf = np.asarray(alpha_inf, dtype=np.float64)
        r = self.alpha0.shape[0]
        if self.A.ndim != 3 or self.A.shape[1:] != (r, r) or self.alpha_inf.shape != (r,):
            raise ValueError(
                f"A, alpha_inf: must have shapes (V, {r}, {r}) and ({r},), got {self.A.shape} and "
                f"{self.alpha_inf.shape}"
            )
        if not 0 < floor < 1:
            raise ValueError(f"floor: must lie in (0, 1), got {floor!r}")
        self.vocab_size = int(self.A.shape[0])
        self.horizon = check_positive_int("horizon", horizon)
        self.floor = float(floor)
        self.mix = check_float("mix", mix, low=0.0, high=1.0)
        if self.mix > 0 and (unigram is None or np.shape(unigram) != (self.horizon, self.vocab_size)):
            got = None if unigram is None else np.shape(unigram)
            raise ValueError(f"unigram: must have shape ({self.horizon}, {self.vocab_size}) when mix > 0, "
                             f"got {got}")
        self.unigram = None if unigram is None else np.asarray(unigram, dtype=np.float64)
        self._out = np.einsum("zij,j->zi", self.A, self.alpha_inf)  # (V, r): s_z = a^T out[z]
        self.n_clipped = 0
        self.n_scored = 0
        self._warned = False

    def _next_logits(self, states: np.ndarray, t: int) -> np.ndarray:
        if self.mix == 1 and self.unigram is not None:  # the automaton has no weight: nothing to score
            return center_logits(np.tile(np.log(self.unigram[t]), (states.shape[0], 1)))
        logits = self._wfa_logits(states)
        if self.mix == 0 or self.unigram is None:
            return logits
        q = (1.0 - self.mix) * np.exp(log_softmax(logits)) + self.mix * self.unigram[t]
        return center_logits(np.log(q))

    def _wfa_logits(self, states: np.ndarray) -> np.ndarray:
        scores = states @ self._out.T  # (n, V)
        scale = np.abs(scores).max(axis=1, keepdims=True)
        lo = self.floor * np.where(scale > 0, scale, 1.0)
        low = scores < lo
        n_low = int(low.sum())
        self.n_clipped += n_low
        self.n_scored += scores.size
        if n_low and not self._warned:
            self._warned = True
            warnings.warn(
                f"WFAModel: {n_low} of {scores.size} next-token scores were below the floor "
                f"({self.floor} x max) and were raised to it; totals are kept in n_clipped / n_scored",
                RuntimeWarning,
                stacklevel=3,
            )
        return center_logits(np.log(np.maximum(scores, lo)))

    def _advance(self, states: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        nxt = np.einsum("ni,nij->nj", states, self.A[tokens])
        norm = np.linalg.norm(nxt, axis=1, keepdims=True)
        return nxt / np.where(norm > 0, norm, 1.0)

    def logits(self, prefixes: Any) -> np.ndarray:
        """Centered next-token logits after each prefix (of length at most ``horizon - 1``), ``(n, V)``."""
        P = check_prefixes("prefixes", prefixes, self.vocab_size, self.horizon - 1)
        out = np.empty((len(P), self.vocab_size))
        for i, p in enumerate(P):
            a = self.alpha0[None, :]
            for z in p:
                a = self._advance(a, np.array([z]))
            out[i] = self._next_logits(a, len(p))[0]
        return out

    def logits_along(self, sequences: np.ndarray) -> np.ndarray:
        """``(n, L)`` sequences -> ``(n, L, V)`` centered logits in one sweep."""
        seqs = np.asarray(sequences, dtype=np.int64)
        n, L = seqs.shape
        if self.mix > 0 and L > self.horizon:
            raise ValueError(f"sequences: length must be <= horizon {self.horizon} (the mixed-in unigram has "
                             f"one row per position), got {L}")
        out = np.empty((n, L, self.vocab_size))
        a = np.tile(self.alpha0, (n, 1))
        for t in range(L):
            out[:, t] = self._next_logits(a, t)
            if t + 1 < L:
                a = self._advance(a, seqs[:, t])
        return out


#: mixing weights of the position unigram tried on held-out samples (1: the unigram alone)
MIX_GRID = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)


class _Hankel:
    """Empirical prefix frequencies of ``(n, T)`` samples and the Hankel blocks over the most frequent
    prefixes of length ``<= basis_length`` (at most ``max_basis``, the empty word first)."""

    def __init__(self, seqs: np.ndarray, basis_length: int, max_basis: int):
        n, T = seqs.shape
        rows = [tuple(r) for r in seqs[:, : min(T, 2 * basis_length + 1)].tolist()]
        freq: Counter[tuple[int, ...]] = Counter()
        for row in rows:
            for m in range(len(row) + 1):
                freq[row[:m]] += 1
        self.f = {w: c / n for w, c in freq.items()}
        counts = sorted(((c, w) for w, c in freq.items() if 0 < len(w) <= min(basis_length, T)),
                        key=lambda cw: (-cw[0], len(cw[1]), cw[1]))
        self.basis = [()] + [w for _, w in counts[: max_basis - 1]]
        self._blocks: dict[tuple[int, ...], np.ndarray] = {}
        self.H = self.block(())
        _, self.s, self.Vt = np.linalg.svd(self.H, full_matrices=False)

    def block(self, mid: tuple[int, ...]) -> np.ndarray:
        """``[f^(u mid v)]`` over the basis (built once per ``mid``: every candidate rank reuses it)."""
        if mid not in self._blocks:
            self._blocks[mid] = np.array([[self.f.get(u + mid + v, 0.0) for v in self.basis]
                                          for u in self.basis])
        return self._blocks[mid]

    def automaton(self, r: int, V: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(alpha_0, A, alpha_inf)`` of rank ``r`` (see the module docstring)."""
        Vr = self.Vt[:r].T
        pinv = np.linalg.pinv(self.H @ Vr)
        hP = np.array([self.f.get(u, 0.0) for u in self.basis])
        A = np.stack([pinv @ self.block((z,)) @ Vr for z in range(V)])
        return self.H[0] @ Vr, A, pinv @ hP


def position_unigram(seqs: np.ndarray, vocab_size: int) -> np.ndarray:
    """Add-1/2 position-wise token frequencies of ``(n, T)`` samples, ``(T, V)`` (each row sums to 1)."""
    n, T = seqs.shape
    counts = np.stack([np.bincount(seqs[:, t], minlength=vocab_size) for t in range(T)]).astype(float)
    return (counts + 0.5) / (n + 0.5 * vocab_size)


class SpectralWFALearner:
    """Spectral (Hankel SVD) learning of a weighted automaton from samples.

    Parameters
    ----------
    rank : int
        The largest number of singular vectors kept.
    noise_floor : bool
        Also drop singular values below the estimated sampling noise (see the module docstring).  Off by
        default: the estimate is conservative and cuts real directions of high-rank targets (a trigram at
        ``N = 2e4``), but on targets whose Hankel is nearly rank one (noisy parity) a fixed rank above the
        signal fits sampling noise and the long operator products blow up (KL far above the trivial one).
    basis_length : int
        Longest prefix/suffix in the basis.
    max_basis : int
        Most frequent basis words kept.
    floor : float
        Relative score floor of the :class:`WFAModel`.
    n_samples : int, optional
        Default: all of the access's budget (10 000 when unlimited).
    validation_fraction : float in [0, 1)
        Samples held out to choose the rank among ``1, 2, 4, ..., rank`` and the unigram mixing weight
        among :data:`MIX_GRID` (module docstring); 0: rank ``rank`` (and the noise floor), no mixing.
        Selection needs at least 2 held-out samples, else it is skipped.
    rng : unused (deterministic given the samples: the held-out ones are the last drawn).

    Attributes
    ----------
    model_ : WFAModel ; rank_ : int (kept) ; mix_ : float (unigram weight kept) ;
    singular_values_ : array ; samples_used_ : int
    held_out_nll_ : dict or None — ``(rank, mix) -> `` mean held-out negative log-likelihood per sequence.
    stopped_early_ : bool — always False (the samples are drawn in one request, the budget's worth).
    """

    access_kind = "sample"

    def __init__(
        self,
        rank: int = 8,
        noise_floor: bool = False,
        basis_length: int = 3,
        max_basis: int = 256,
        floor: float = 1e-4,
        n_samples: int | None = None,
        validation_fraction: float = 0.2,
        rng: RngLike = None,
    ):
        self.rank = rank
        self.noise_floor = noise_floor
        self.basis_length = basis_length
        self.max_basis = max_basis
        self.floor = floor
        self.n_samples = n_samples
        self.validation_fraction = validation_fraction
        self.rng = rng

    def fit(self, access: Any) -> SpectralWFALearner:
        """Draw the budget's samples from ``access`` (a :class:`SampleAccess`), choose rank and mixing weight
        on the held-out fraction, refit on all samples; returns ``self``."""
        check_access(access, ("vocab_size", "horizon", "sample"), "i.i.d. samples (a SampleAccess)")
        if hasattr(access, "logits"):  # a query access: its sample() returns (sequences, logits)
            raise TypeError(f"access: needs i.i.d. samples (a SampleAccess), got {type(access).__name__}")
        r = check_positive_int("rank", self.rank)
        check_positive_int("basis_length", self.basis_length)
        check_positive_int("max_basis", self.max_basis)
        frac = check_float("validation_fraction", self.validation_fraction, low=0.0, high=1.0,
                           high_inclusive=False)
        V, T = int(access.vocab_size), int(access.horizon)
        n = sample_count(self.n_samples, access)
        seqs = np.asarray(access.sample(n), dtype=np.int64)
        n_val = int(round(frac * n))
        self.held_out_nll_: dict[tuple[int, float], float] | None = None
        mix = 0.0
        if n_val >= 2 and n - n_val >= 1:
            r, mix = self._select(seqs[: n - n_val], seqs[n - n_val:], V, T)
        hankel = _Hankel(seqs, self.basis_length, self.max_basis)
        self.rank_ = r = self._cap_rank(hankel, r, n)
        self.mix_ = mix
        self.model_ = WFAModel(*hankel.automaton(r, V), T, floor=self.floor,
                               unigram=position_unigram(seqs, V), mix=mix)
        self.singular_values_ = hankel.s
        self.samples_used_ = n
        self.stopped_early_ = False  # one request for the samples, the budget's worth
        return self

    def _cap_rank(self, hankel: _Hankel, r: int, n: int) -> int:
        s = hankel.s
        r = max(1, min(r, int(np.sum(s > 1e-12 * s[0]))))
        if self.noise_floor:
            r = max(1, min(r, int(np.sum(s > np.sqrt(hankel.H.sum() / n)))))
        return r

    def _select(self, train: np.ndarray, held: np.ndarray, V: int, T: int) -> tuple[int, float]:
        """``(rank, mix)`` of the lowest held-out negative log-likelihood (module docstring)."""
        hankel = _Hankel(train, self.basis_length, self.max_basis)
        top = self._cap_rank(hankel, int(self.rank), train.shape[0])
        ranks = sorted({min(2**k, top) for k in range(top.bit_length() + 1)})
        unigram = position_unigram(train, V)
        u_held = unigram[np.arange(T)[None, :], held]  # (n_val, T): u_t(x_t)
        nll: dict[tuple[int, float], float] = {}
        for r in ranks:
            wfa = WFAModel(*hankel.automaton(r, V), T, floor=self.floor)
            with warnings.catch_warnings():  # clipping of a candidate is expected; the kept model warns
                warnings.simplefilter("ignore", RuntimeWarning)
                logp = log_softmax(wfa.logits_along(held))
            p_held = np.exp(np.take_along_axis(logp, held[..., None], axis=2)[..., 0])  # (n_val, T)
            for lam in MIX_GRID:
                q = (1.0 - lam) * p_held + lam * u_held
                nll[r, lam] = float(-np.log(q).sum(axis=1).mean())
        self.held_out_nll_ = nll
        return min(nll, key=lambda k: (nll[k], k[0], -k[1]))
