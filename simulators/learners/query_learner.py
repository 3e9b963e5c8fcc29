"""A practical logit-query learner: a time-varying ISAN recovered from (noisy) logit queries.

Notation (SPEC §1 "A practical logit-query learner"): ``row_t(h)`` is the row of a length-``t`` history
``h`` over the futures ``F_t`` of position ``t``, ``row_t(h) = [l(h . f)]_{f in F_t}`` (``|F_t| V`` entries,
future-major, the empty future first).

1. *Futures, backwards.* ``F_{T-1} = {()}``; for ``t < T-1``, ``F_t = {()} u {z . f : z in Sigma,
   f in F*_{t+1}}`` where ``F*_{t+1}`` are the futures of the first ``r_{t+1}`` pivots of a column-pivoted
   QR (``scipy.linalg.qr(pivoting=True)``) of the rank-``r`` projection ``S_r Q_r^T`` of the candidates'
   rows at ``t+1`` (plus forced witness futures).  Then ``row_{t+1}(h . z)`` restricted to ``F*_{t+1}`` is
   the sub-vector ``P_z row_t(h)`` (columns ``z . f``) — the transitions are linear.
2. *Histories, forwards.* Candidates ``H_t``: distinct prefixes of sequences sampled through queries,
   one-token extensions ``h . z`` of the previous position's basis histories (chosen by pivoted QR on
   the projected rows), and validation witnesses.  Truncated SVD ``R_t = P S Q^T`` of their rows gives
   ``U_t = Q_r^T`` (``r_t`` rows); the state is ``x_t(h) = U_t row_t(h)``.  The rank ``r_t`` is ``rank``
   when given, else the number of singular values above ``max(rel_tol * s_1, noise floor)``, where the
   noise floor ``2 * sigma_xi * (sqrt(n) + sqrt(m))`` is the spectral norm of an ``n x m`` matrix of
   query noise of standard deviation ``sigma_xi = noise_std`` (a hyperparameter: the learner never reads
   the oracle error from the access; ``xi / sqrt 3`` for errors uniform in ``[-xi, xi]``).
3. *Parameters.* ``B_t = (empty-future block of U_t)^T`` (``V x r_t``).  ``G_{t+1}`` maps the restricted
   row to the state, ``x_{t+1}(g) ~= G_{t+1} row_{t+1}(g)|_{F*_{t+1}}`` (rank-``r`` truncated least squares
   over the candidates at ``t+1``), and ``A_{t+1,z}`` is the least-squares solution of
   ``A x_t(h) ~= G_{t+1} P_z row_t(h)`` over all candidates ``h`` at ``t`` (exact for exact targets, robust
   under noise and approximate rank).
4. *Validation.* Fresh sequences sampled through queries; their per-step KL between the answered and
   the learned logits is summed over positions.  If the mean exceeds ``error_target`` (plus the KL that
   query noise alone contributes, ``T sigma_xi^2 (1 - 1/V) / 2``), every prefix whose
   step KL exceeds ``error_target / T`` (at most ``max_witnesses`` per round, worst first) becomes a
   history candidate, and the worst sequences' suffixes ``x_{s:t}`` become forced witness futures of
   positions ``s < t``; then rebuild.  Stops at the error target, after ``max_rounds`` rounds, when a round
   improves the validation KL by less than 10% ("plateau"), or when the budget cannot pay for another round
   (the last complete model is kept).

The time-varying ISAN needs one ``d`` for all positions: ``d = max_t r_t`` and each position's basis is
padded with zero rows (states padded with zeros, ``A`` and ``B`` with zero blocks), which leaves every
logit unchanged.

Queries: ``~ sum_t |H_t| |F_t| ~ T (n_samples + d V)(1 + V |F*|)`` plus ``T`` per sampled sequence.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg

from logitrank.validation import RngLike, as_rng, check_float, check_int, check_positive_int

from ..isan import TimeVaryingISAN
from .access import BudgetExceeded, check_access
from .anytime import affordable, position_unigram_isan
from .evaluation import step_kl

__all__ = ["AnswerTable", "LogitQueryLearner"]

Seq = tuple[int, ...]


class AnswerTable:
    """Answers ``l(h . f)`` of one position, keyed by history and future; each pair is queried once.

    Answers are kept as the rectangular blocks they were queried in (memory = what was queried);
    ``owner[h, f]`` names the block holding a pair (-1: not yet asked).
    """

    def __init__(self, vocab_size: int):
        self.V = vocab_size
        self.hidx: dict[Seq, int] = {}
        self.fidx: dict[Seq, int] = {}
        self.owner = np.full((16, 4), -1, dtype=np.int32)
        self.blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # sorted rows, sorted cols, values

    def _index(self, keys: list[Seq], index: dict[Seq, int]) -> np.ndarray:
        for k in keys:
            if k not in index:
                index[k] = len(index)
        nh, nf = len(self.hidx), len(self.fidx)
        ch, cf = self.owner.shape
        if nh > ch or nf > cf:
            grown = np.full((max(ch, 2 * nh), max(cf, 2 * nf)), -1, dtype=np.int32)
            grown[:ch, :cf] = self.owner
            self.owner = grown
        return np.array([index[k] for k in keys], dtype=np.int64)

    def _store(self, hi: np.ndarray, fi: np.ndarray, values: np.ndarray) -> None:
        oh, of = np.argsort(hi), np.argsort(fi)
        self.owner[np.ix_(hi, fi)] = len(self.blocks)
        self.blocks.append((hi[oh], fi[of], values[oh][:, of]))

    def put(self, histories: list[Seq], future: Seq, logits: np.ndarray) -> None:
        """Record already-answered logits ``l(h . future)`` (e.g. from sampling), shape ``(|H|, V)``."""
        hi = self._index(histories, self.hidx)
        fi = self._index([future], self.fidx)
        new = self.owner[hi, fi[0]] < 0
        if new.any():
            keep = np.flatnonzero(new)
            hi_new, first = np.unique(hi[keep], return_index=True)
            self._store(hi_new, fi, logits[keep[first]][:, None, :])

    def answered(self, future: Seq = ()) -> np.ndarray:
        """Every answer already held for ``future`` (any history), shape ``(n, V)``; queries nothing."""
        if future not in self.fidx:
            return np.zeros((0, self.V))
        f = self.fidx[future]
        rows = np.flatnonzero(self.owner[: len(self.hidx), f] >= 0)
        out = np.empty((rows.size, self.V))
        for k, h in enumerate(rows):
            bh, bf, vals = self.blocks[int(self.owner[h, f])]
            out[k] = vals[np.searchsorted(bh, h), np.searchsorted(bf, f)]
        return out

    def get(self, access: Any, histories: list[Seq], futures: list[Seq]) -> np.ndarray:
        """Rows ``(|H|, |F| V)`` over ``futures``, querying (in rectangular blocks) only what is missing."""
        hi = self._index(histories, self.hidx)
        fi = self._index(futures, self.fidx)
        missing = self.owner[np.ix_(hi, fi)] < 0
        rows = np.flatnonzero(missing.any(axis=1))
        if rows.size:
            patterns: dict[bytes, list[int]] = {}
            for row in rows:
                patterns.setdefault(missing[row].tobytes(), []).append(int(row))
            for rs in patterns.values():
                cols = np.flatnonzero(missing[rs[0]])
                ans = access.extended_logits([histories[r] for r in rs], [futures[c] for c in cols])
                self._store(hi[rs], fi[cols], np.asarray(ans, dtype=np.float64))
        own = self.owner[np.ix_(hi, fi)]
        out = np.empty((len(hi), len(fi), self.V))
        for b in np.unique(own):
            bh, bf, vals = self.blocks[int(b)]
            ri, ci = np.nonzero(own == b)
            out[ri, ci] = vals[np.searchsorted(bh, hi[ri]), np.searchsorted(bf, fi[ci])]
        return out.reshape(len(hi), len(fi) * self.V)


class LogitQueryLearner:
    """Learn a time-varying ISAN from logit queries (see the module docstring for the algorithm).

    Parameters
    ----------
    rank : int, optional
        Cap on the rank kept at every position; ``None``: chosen from the spectrum (``rel_tol``, noise floor).
    rel_tol : float
        Relative singular-value tolerance when ``rank`` is None.
    n_samples : int
        Sequences sampled through queries for the initial history candidates.
    n_validation : int
        Fresh sequences sampled per validation round.
    max_rounds : int
        Build/validate rounds at most after the rank cap stopped growing.
    grow : bool
        Anytime rank growth (budgeted access only): start with the largest rank cap whose build the budget
        is expected to pay for twice over and double it (up to ``rank``) while the cap binds, keeping the
        model with the best validation KL, so a small budget still buys a (low-rank) model and a large one
        is not spent on small caps; ``False``: build at ``rank`` (or the spectrum's choice) from the start.
    error_target : float
        Target mean validation KL per sequence (nats).
    max_witnesses : int
        History witnesses added per round at most (the worst two sequences also give witness futures).
    noise_std : float
        Standard deviation of the oracle error the user expects (``>= 0``; ``xi / sqrt(3)`` for errors
        uniform in ``[-xi, xi]``); sets the rank's noise floor and the validation allowance.  A tolerance
        of the learner, never read from the access.
    max_extensions : int, optional
        One-token extensions ``h . z`` of the basis added per position; ``None``: all ``V r`` (the exact
        guarantee: they span every reachable state); fewer (a seeded random subset) saves queries and
        memory and relies on the sampled prefixes and on validation for the rest.
    rng : Generator or int

    Attributes
    ----------
    model_ : TimeVaryingISAN
    queries_used_ : int
    ranks_ : int array, shape (T,)
    validation_kl_ : list of float — mean validation KL per sequence after each round.
    stop_reason_ : str — "error_target", "plateau", "max_rounds" or "budget".
    stopped_early_ : bool — the budget could not pay for the next step; ``model_`` is the best model
        validated before that (see :mod:`simulators.learners.anytime`).
    caps_ : list — the rank cap of each build.
    """

    access_kind = "query"

    def __init__(
        self,
        rank: int | None = None,
        rel_tol: float = 1e-7,
        n_samples: int = 64,
        n_validation: int = 64,
        max_rounds: int = 4,
        grow: bool = True,
        error_target: float = 1e-7,
        max_witnesses: int = 32,
        max_extensions: int | None = 64,
        noise_std: float = 0.0,
        rng: RngLike = None,
    ):
        self.rank = rank
        self.rel_tol = rel_tol
        self.n_samples = n_samples
        self.n_validation = n_validation
        self.max_rounds = max_rounds
        self.grow = grow
        self.error_target = error_target
        self.max_witnesses = max_witnesses
        self.max_extensions = max_extensions
        self.noise_std = noise_std
        self.rng = rng

    # ------------------------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.rank is not None:
            check_positive_int("rank", self.rank)
        check_float("rel_tol", self.rel_tol, low=0.0, high=1.0, high_inclusive=False)
        check_positive_int("n_samples", self.n_samples)
        check_positive_int("n_validation", self.n_validation)
        check_positive_int("max_rounds", self.max_rounds)
        if not isinstance(self.grow, bool):
            raise TypeError(f"grow: must be a bool, got {self.grow!r}")
        check_int("max_witnesses", self.max_witnesses, minimum=0)
        if self.max_extensions is not None:
            check_int("max_extensions", self.max_extensions, minimum=0)
        check_float("noise_std", self.noise_std, low=0.0)
        check_float("error_target", self.error_target, low=0.0)

    def fit(self, access: Any) -> LogitQueryLearner:
        """Learn from ``access`` (a :class:`QueryAccess` or anything with ``vocab_size``, ``horizon``,
        ``extended_logits`` and ``sample``); returns ``self``.  Never raises :class:`BudgetExceeded`: when
        the budget cannot pay for the next step, the best model so far is kept (``stopped_early_``)."""
        self._check_params()
        check_access(access, ("vocab_size", "horizon", "extended_logits", "sample"),
                     "logit queries (a QueryAccess)")
        self._rng = as_rng(self.rng)
        V, T = int(access.vocab_size), int(access.horizon)
        self.V_, self.T_ = V, T
        start = int(getattr(access, "used", 0))
        self._noise_std = float(self.noise_std)
        self._tables = [AnswerTable(V) for _ in range(T)]
        self._cands: list[dict[Seq, None]] = [{} for _ in range(T)]
        self._forced: list[dict[Seq, None]] = [{} for _ in range(T)]
        self.validation_kl_: list[float] = []
        self.caps_: list[int | None] = []
        self.stop_reason_ = "budget"
        n0 = affordable(access, self.n_samples, T)
        if n0:
            self._add_samples(*access.sample(n0))
        answers = [table.answered(()) for table in self._tables]
        self.model_, self.ranks_ = position_unigram_isan(answers, V), np.ones(T, dtype=np.int64)
        if n0:
            self._rounds(access)
        self.stopped_early_ = self.stop_reason_ == "budget"
        del self._tables  # the answers are not needed after the fit (they can be large)
        self.queries_used_ = int(getattr(access, "used", 0)) - start
        return self

    def _rounds(self, access: Any) -> None:
        """Build / validate rounds; ``model_`` holds the best validated model (the position unigram of the
        sampled answers until a model is validated, or a built one if none can be).

        While ``grow``, the rank cap doubles from 1 (up to ``rank``) as long as the cap binds (a truncated
        model can be worse than uniform, so growth does not wait for validation to improve); then up to
        ``max_rounds`` rounds add witnesses at the final cap."""
        T, V = self.T_, self.V_
        # validation compares learned logits with *noisy* answers: E KL(softmax(l + e) || softmax(l)) per
        # step is ~ (1/2) sigma^2 (1 - sum p^2) <= (1/2) sigma^2 (1 - 1/V); that much is not the learner's
        noise_kl = 0.5 * self._noise_std**2 * (1.0 - 1.0 / V) * T
        growing = self.grow and getattr(access, "remaining", None) is not None
        self._cap = self._start_cap(int(access.remaining)) if growing else self.rank
        self._best_ranks, best_cap = self.ranks_, self._cap
        best, rounds = np.inf, 0
        while True:
            try:
                model = self._build(access)
            except BudgetExceeded:
                break
            self.caps_.append(self._cap)
            n_val = affordable(access, self.n_validation, T)
            if n_val < 2:
                if not self.validation_kl_:  # nothing validated: the built model beats the unigram
                    self.model_, self._best_ranks = model, self.ranks_.copy()
                break
            seqs, answers = access.sample(n_val)
            if not self.validation_kl_:  # the position unigram of the sampled answers competes too
                best = float(step_kl(answers, self.model_.logits_along(seqs)).sum(axis=1).mean())
            kl = step_kl(answers, model.logits_along(seqs))  # (n, T)
            self.validation_kl_.append(float(kl.sum(axis=1).mean()))
            improved = self.validation_kl_[-1] <= 0.9 * best
            if self.validation_kl_[-1] < best:
                best, self.model_, self._best_ranks = self.validation_kl_[-1], model, self.ranks_.copy()
                best_cap = self._cap
            if best <= self.error_target + noise_kl:
                self.stop_reason_ = "error_target"
                break
            cap = self._cap
            binds = cap is not None and int(self.ranks_.max()) >= cap and \
                (self.rank is None or cap < self.rank)
            if growing and binds and cap is not None:
                self._cap = 2 * cap if self.rank is None else min(2 * cap, int(self.rank))
            else:
                if growing and best_cap != self._cap:
                    self._cap = best_cap  # a larger rank fit noise or misspecification: go back
                growing, rounds = False, rounds + 1
                if rounds >= self.max_rounds:
                    self.stop_reason_ = "max_rounds"
                    break
                if rounds > 1 and not improved:
                    self.stop_reason_ = "plateau"
                    break
            self._add_witnesses(seqs, answers, kl)
        self.ranks_ = self._best_ranks

    def _start_cap(self, remaining: int) -> int:
        """The largest power-of-two rank cap (at most ``rank``) whose build is expected to cost at most half
        of ``remaining``: about ``sum_t (|H_t| + V r) (1 + V r)`` queries (candidates plus extensions, times
        the futures), so that a large budget does not pay for the small caps first."""
        V, cap = self.V_, 1
        top = int(self.rank) if self.rank is not None else V * max(len(c) for c in self._cands)

        def cost(r: int) -> int:
            ext = V * r if self.max_extensions is None else min(V * r, int(self.max_extensions))
            return sum((len(c) + ext) * (1 + V * r) for c in self._cands)

        while 2 * cap <= top and cost(2 * cap) <= remaining // 2:
            cap *= 2
        return cap

    # ------------------------------------------------------------------------------------------
    def _add_samples(self, seqs: np.ndarray, answers: np.ndarray) -> None:
        rows = [tuple(r) for r in seqs.tolist()]
        for t in range(self.T_):
            prefixes = [r[:t] for r in rows]
            self._tables[t].put(prefixes, (), answers[:, t])
            self._cands[t].update(dict.fromkeys(prefixes))

    def _add_witnesses(self, seqs: np.ndarray, answers: np.ndarray, kl: np.ndarray) -> None:
        T = self.T_
        rows = [tuple(r) for r in seqs.tolist()]
        for t in range(T):
            self._tables[t].put([r[:t] for r in rows], (), answers[:, t])
        miss = np.argwhere(kl > self.error_target / T)
        order = np.argsort(-kl[miss[:, 0], miss[:, 1]], kind="stable")
        for i, t in miss[order][: self.max_witnesses]:
            for s in range(1, t + 1):  # the prefix and its own prefixes become history candidates
                self._cands[s][rows[i][:s]] = None
        worst = np.argsort(-kl.sum(axis=1), kind="stable")[:2]
        for i in worst:
            t = int(np.argmax(kl[i]))
            for s in range(1, t + 1):  # suffix x_{s:t} of the worst miss: a witness future at s
                self._forced[s][rows[i][s:t]] = None

    def _choose_rank(self, s: np.ndarray, shape: tuple[int, int], resolution: float = 1e-11) -> int:
        """Rank kept: ``rank`` (capped at the numerical rank), else the count above tolerance/noise floor.
        ``resolution``: relative size below which singular values are numerically zero."""
        if s.size == 0 or s[0] <= 1e-300:
            return 0
        tiny = int(np.sum(s > resolution * s[0]))
        if self._cap is not None:
            return min(int(self._cap), tiny)
        floor = 2.0 * self._noise_std * (np.sqrt(shape[0]) + np.sqrt(shape[1]))
        return min(tiny, int(np.sum(s > max(self.rel_tol * s[0], floor))))

    def _svd(self, R: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Truncated SVD ``R ~= P diag(s) Qt`` at the chosen rank.  Wide matrices (``m > 2n``) go through
        the ``n x n`` Gram matrix ``R R^T = P s^2 P^T`` (``Qt = s^-1 P^T R``): ``O(n^2 m)`` instead of a
        full SVD; singular values below ``~1e-8 s_1`` are then inaccurate, far below any tolerance used."""
        n, m = R.shape
        if m > 2 * n:
            w, P = scipy.linalg.eigh(R @ R.T)
            w, P = w[::-1], P[:, ::-1]
            s = np.sqrt(np.maximum(w, 0.0))
            r = self._choose_rank(s, R.shape, resolution=1e-7)
            return P[:, :r], s[:r], (P[:, :r].T @ R) / s[:r, None], r
        P, s, Qt = scipy.linalg.svd(R, full_matrices=False, lapack_driver="gesdd")
        r = self._choose_rank(s, R.shape)
        return P[:, :r], s[:r], Qt[:r], r

    def _futures(self, access: Any) -> tuple[list[list[Seq]], list[list[Seq]]]:
        """Step 1: the futures ``F_t`` and the pivots ``F*_t`` of every position, backwards."""
        V, T = self.V_, self.T_
        empty: Seq = ()
        F: list[list[Seq]] = [[] for _ in range(T)]
        Fstar: list[list[Seq]] = [[] for _ in range(T)]
        F[T - 1] = [empty]
        for t in range(T - 1, 0, -1):
            if t < T - 1:
                F[t] = [empty] + [(z,) + f for z in range(V) for f in Fstar[t + 1]]
            R = self._tables[t].get(access, list(self._cands[t]), F[t])
            _, s, Qt, r = self._svd(R)
            chosen: dict[Seq, None] = dict(self._forced[t])
            if r:
                piv = scipy.linalg.qr(s[:, None] * Qt, mode="r", pivoting=True)[1][:r]
                chosen.update(dict.fromkeys(F[t][j // V] for j in piv))
            Fstar[t] = list(chosen) if chosen else [empty]
        if T > 1:
            F[0] = [empty] + [(z,) + f for z in range(V) for f in Fstar[1]]
        return F, Fstar

    def _build(self, access: Any) -> TimeVaryingISAN:
        V, T = self.V_, self.T_
        F, Fstar = self._futures(access)
        # 2.-3. histories forwards, parameters
        ranks = np.zeros(T, dtype=np.int64)
        Bs: list[np.ndarray] = []
        As: list[np.ndarray] = []
        x0 = np.zeros(0)
        prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (R_{t-1}, P, s) at t-1
        for t in range(T):
            H = list(self._cands[t])
            R = self._tables[t].get(access, H, F[t])
            P, s, Qt, r = self._svd(R)
            ranks[t] = r
            Bs.append(Qt[:, :V].T)  # V x r
            if t == 0:
                x0 = (R @ Qt.T)[0]
            else:
                assert prev is not None
                Rp, Pp, sp = prev
                # G_t: state from the restricted row (truncated least squares over candidates at t)
                idx = {f: j for j, f in enumerate(F[t])}
                cols = np.concatenate([np.arange(idx[f] * V, idx[f] * V + V) for f in Fstar[t]])
                X = P * s  # states of the candidates, n x r
                Rs = R[:, cols]
                Pr, sr, Qr = scipy.linalg.svd(Rs, full_matrices=False, lapack_driver="gesdd")
                k = min(r, int(np.sum(sr > 1e-11 * sr[0]))) if sr.size and sr[0] > 0 else 0
                Gt = (Qr[:k].T / sr[:k]) @ (Pr[:, :k].T @ X)  # |F*| V x r  (G^T)
                nfs = len(Fstar[t])
                A_t = np.zeros((V, r, Pp.shape[1]))
                inv = np.divide(1.0, sp, out=np.zeros_like(sp), where=sp > 0)
                for z in range(V):
                    blk = Rp[:, 1 * V + z * nfs * V : 1 * V + (z + 1) * nfs * V]  # columns z . F*_t
                    Y = blk @ Gt  # n' x r
                    A_t[z] = ((Pp.T @ Y) * inv[:, None]).T  # lstsq of X_{t-1} = Pp diag(sp)
                As.append(A_t)
            if t + 1 < T and r:
                basis = scipy.linalg.qr((P * s).T, mode="r", pivoting=True)[1][:r]
                pairs = [(int(i), z) for i in basis for z in range(V)]
                if self.max_extensions is not None and len(pairs) > self.max_extensions:
                    keep = self._rng.choice(len(pairs), size=self.max_extensions, replace=False)
                    pairs = [pairs[j] for j in np.sort(keep)]
                for i, z in pairs:
                    self._cands[t + 1][H[i] + (z,)] = None
            prev = (R, P, s)
        self.ranks_ = ranks
        d = max(1, int(ranks.max()))
        X0 = np.zeros(d)
        X0[: x0.size] = x0
        A = np.zeros((T - 1, V, d, d))
        for t, A_t in enumerate(As, start=1):
            A[t - 1, :, : A_t.shape[1], : A_t.shape[2]] = A_t
        B = np.zeros((T, V, d))
        for t, B_t in enumerate(Bs):
            B[t, :, : B_t.shape[1]] = B_t
        return TimeVaryingISAN(X0, A, B)
