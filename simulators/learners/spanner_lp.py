"""The provable learner (GLS2's algorithm): spanner basis histories, the tracking LP, witness futures.

SPEC §1 "The provable learner".  State, for each history length ``s = 0..T-1``:

- ``F^_s``, the futures of position ``s`` (initially ``{()}`` and the one-token futures; ``{()}`` at
  ``s = T-1``), and the extended set ``F~_s = F^_s u (Sigma . F^_{s+1})``, so that the row of ``h . z`` on
  ``F^_{s+1}`` is a sub-vector of the row of ``h`` on ``F~_s``;
- basis histories ``h_{s,1..m_s}`` with rows ``R_{s,i}(f) = l(h_{s,i} . f)``, ``f in F~_s`` (each entry is
  queried once and cached).

One epoch (at most ``max_epochs``):

1. *Spanner.* Histories of length ``s`` are drawn as prefixes of ``n_samples`` complete samples (plus the
   previous basis, history witnesses and, with ``extend_basis``, the one-token extensions ``h . z`` of the
   basis at ``s - 1``); their rows on ``F^_s`` are queried and ``m_s`` = their numerical
   rank (``rank`` cap, ``rel_tol``) of them are chosen as a ``beta``-spanner
   (:func:`~simulators.learners.tracking_lp.select_spanner`); ``s = 0``: the empty history, ``c_0 = (1)``.
2. *Tracking.* Along a sequence ``y``, ``c_{s+1} = argmin_{|c|_inf <= beta} max_{f in F^_{s+1}}
   |sum_j c_j R_{s+1,j}(f) - sum_i c_{s,i} R_{s,i}(y_s . f)|`` (the tracking LP,
   :func:`~simulators.learners.tracking_lp.track`; every ``|c| <= beta``).
3. *Validation.* On ``n_validation`` fresh samples, the learned logits ``sum_i c_{r,i} R_{r,i}(())`` are
   compared with the answers at ``y_{<r}`` (entrywise, centered).  Where they differ by more than
   ``threshold``, the predictions ``sum_i c_{s,i} l(h_{s,i} . y_{s:r})`` of the same logits from every
   earlier position ``s`` are queried; the position where the prediction error jumps most is where the
   tracking lost the information, and ``g = y_{s:r}`` becomes a witness future of ``F^_s`` — one per
   position per epoch, at most ``max_witnesses`` per position.  A tracking step whose LP residual exceeds
   ``threshold`` (no bounded combination fits) adds its history ``y_{<s+1}`` as a history witness.
4. An epoch whose validation passes everywhere stops the fit ("validated").

Generation (:class:`SpannerLPModel`, the learned ``model_``) uses the stored rows only — it never calls
the target: the logits at step ``s`` are ``sum_i c_{s,i} R_{s,i}(())`` and after token ``z`` the tracking
LP on the stored entries ``R_{s,i}(z . f)`` gives ``c_{s+1}``.  TV over length-``T`` sequences is at most
the sum over positions of the expected next-token TV, and ``TV(softmax u, softmax v) <= tanh(range(u-v)/4)``.

Cost per epoch: ``~ T n_samples |F^|`` queries for the candidates, ``sum_s m_s |F~_s|`` for the basis rows
(``~ T d V |F^|`` — cached across epochs), ``T (n_samples + n_validation)`` for the samples, and
``~ T d`` per checked validation failure.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.linalg

from logitrank import center_logits
from logitrank.validation import RngLike, check_choice, check_float, check_int, check_positive_int

from .access import BudgetExceeded, check_access
from .anytime import position_unigram_isan
from .evaluation import step_kl
from .query_learner import AnswerTable
from .spanner_model import SpannerLPModel
from .tracking_lp import select_spanner

__all__ = ["SpannerLPLearner", "SpannerLPModel"]

Seq = tuple[int, ...]
_SPANNER_MIN_BETA = 1.0 + 1e-6  # a spanner needs beta > 1 (each swap grows |det| by > beta)


class SpannerLPLearner:
    """GLS2's provable learner from logit queries (see the module docstring for the algorithm).

    Parameters
    ----------
    beta : float, ``> 0``
        Coefficient bound ``||c||_inf <= beta`` of the spanner and the tracking LP (default 2).  Values
        ``<= 1`` are accepted for the LP's box (a negative control: a basis row itself needs ``|c| = 1``);
        the spanner then uses ``1 + 1e-6``.
    rank : int, optional
        Rank bound ``d``: at most this many basis histories per position (``None``: the largest gap of
        the candidates' spectrum above ``rel_tol`` and the threshold's floor, at most ``n_samples``).
    rel_tol : float, in ``(0, 1)``
        Relative singular-value tolerance of the candidates' rows (the numerical rank).
    threshold : float, ``> 0``
        Validation threshold on entrywise logit errors (and on tracking-LP residuals).
    n_samples, n_validation : int
        Complete samples per epoch for the spanner candidates and for validation.
    max_epochs : int
    max_witnesses : int, optional
        Witness futures per position at most (``0`` disables witnesses; ``None``: no cap but epochs).
    lp_shortcut : float, in ``[0, 1]``
        An in-box (box-constrained) least-squares point whose residual is ``<= lp_shortcut * threshold``
        is accepted as a solution of the tracking LP: with the default 1 it answers the LP's feasibility
        question ``{|c| <= beta, residual <= threshold}`` and HiGHS minimises the residual wherever no such
        point exists; smaller values send more steps to HiGHS (``0``: every step above rounding level).
    lp : {"undecided", "always"}
        ``"undecided"`` (default): HiGHS runs where least squares cannot decide that feasibility question
        (a step certified infeasible by ``||r||_2 / sqrt(D) > lp_shortcut * threshold`` keeps the in-box
        least-squares point and counts as an LP residual above the threshold); ``"always"``: HiGHS
        minimises the residual of every uncertified step (the LP as written; slow on misspecified
        targets, where almost every step is uncertified).
    extend_basis : bool
        ``False`` (default): the candidates are the sampled histories alone — GLS2 as written, which misses
        histories of probability below ``~ 1 / n_samples`` (TV small but not 0 on exact targets).  ``True``
        (our improvement, measured in ``benchmarks/provable_exact.py``): also offer the one-token
        extensions ``h . z`` of the previous position's basis (GLS1's closure).  The spanner of this
        superset still bounds the sampled histories' coefficients by ``beta``, and for an exact target
        whose futures separate the states it spans every reachable history, so TV -> 0 exactly.
    rng : Generator or int

    Attributes
    ----------
    model_ : SpannerLPModel
    witnesses_ : int array (T,) — witness futures added per position.
    history_witnesses_ : int — histories added after an LP residual above ``threshold``.
    coef_max_ : float — largest ``|c|`` used (spanner coefficients and tracking).
    spanner_overflows_ : int — spanner selections that hit their swap cap with a candidate still needing
        ``|c| > beta`` (each one warns; ``coef_max_`` then exceeds ``beta`` and says by how much).
    basis_sizes_ : int array (T,) — ``m_s``.
    futures_ : list of lists — ``F^_s``.
    queries_used_, samples_used_, epochs_ : int
        Logit vectors answered, complete sequences drawn, models built.
    validation_error_ : list of float — largest validation error per epoch.
    stop_reason_ : str — "validated", "stalled", "max_epochs" or "budget".
    stopped_early_ : bool — the budget ran out (``model_`` is the last complete model or the position
        unigram of the answers, whichever has the lower KL on the last sequences drawn).
    kept_unigram_ : bool — ``model_`` is the position-unigram fallback: the budget ran out before a
        complete model existed, or the last complete model lost to the fallback on the last sequences drawn
        (not strictly held out: the fallback has seen their answers, which can only favour it; see
        :meth:`_anytime_choice`).  ``witnesses_`` and ``coef_max_`` then still describe
        the spanner's bases, not the model returned.
    held_out_kl_ : dict or None — on a budget stop with a complete model, the mean per-sequence KL
        ``sum_t KL(p_t || q_t)`` of ``"model"`` and ``"unigram"`` on the last sequences drawn.
    """

    access_kind = "query"
    model_class: type[SpannerLPModel] = SpannerLPModel  # what a fit builds (a variant may track differently)

    def __init__(self, beta: float = 2.0, rank: int | None = None, rel_tol: float = 1e-8,
                 threshold: float = 1e-4, n_samples: int = 64, n_validation: int = 64, max_epochs: int = 20,
                 max_witnesses: int | None = None, lp_shortcut: float = 1.0, lp: str = "undecided",
                 extend_basis: bool = False, rng: RngLike = None):
        self.beta, self.rank, self.rel_tol, self.threshold = beta, rank, rel_tol, threshold
        self.n_samples, self.n_validation, self.max_epochs = n_samples, n_validation, max_epochs
        self.max_witnesses, self.lp_shortcut, self.lp, self.extend_basis, self.rng = (
            max_witnesses, lp_shortcut, lp, extend_basis, rng)

    def _check_params(self) -> None:
        check_float("beta", self.beta, low=0.0, low_inclusive=False)
        if not isinstance(self.extend_basis, bool):
            raise TypeError(f"extend_basis: must be a bool, got {self.extend_basis!r}")
        if self.rank is not None:
            check_positive_int("rank", self.rank)
        check_float("rel_tol", self.rel_tol, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        check_float("threshold", self.threshold, low=0.0, low_inclusive=False)
        check_positive_int("n_samples", self.n_samples)
        check_positive_int("n_validation", self.n_validation)
        check_positive_int("max_epochs", self.max_epochs)
        if self.max_witnesses is not None:
            check_int("max_witnesses", self.max_witnesses, minimum=0)
        check_float("lp_shortcut", self.lp_shortcut, low=0.0, high=1.0)
        check_choice("lp", self.lp, ("undecided", "always"))

    def fit(self, access: Any) -> SpannerLPLearner:
        """Learn from ``access`` (a :class:`QueryAccess` or :class:`SampledLogitAccess`); returns ``self``.

        If the access's budget runs out, the fit stops with a warning and ``stopped_early_``, keeping the
        better of the last complete model and the position unigram of the logits answered so far
        (:func:`~simulators.learners.anytime.position_unigram_isan`), compared on the last sequences drawn
        (see :meth:`_anytime_choice`)."""
        self._check_params()
        check_access(access, ("vocab_size", "horizon", "extended_logits", "sample"),
                     "logit queries (a QueryAccess or SampledLogitAccess)")
        V, T = int(access.vocab_size), int(access.horizon)
        self.V_, self.T_ = V, T
        start = int(getattr(access, "queries_used", access.used))
        self._tables = [AnswerTable(V) for _ in range(T)]
        self.futures_: list[list[Seq]] = [[()] + ([(z,) for z in range(V)] if s < T - 1 else [])
                                          for s in range(T)]
        empty: Seq = ()
        self._basis: list[list[Seq]] = [[empty]] + [[] for _ in range(T - 1)]
        self._forced: list[dict[Seq, None]] = [{} for _ in range(T)]
        self.witnesses_ = np.zeros(T, dtype=np.int64)
        self.history_witnesses_ = 0
        self.coef_max_ = 1.0
        self.spanner_overflows_ = 0
        self.samples_used_ = self.epochs_ = 0
        self.validation_error_: list[float] = []
        self.stop_reason_ = "max_epochs"
        self.kept_unigram_ = False
        self.held_out_kl_: dict[str, float] | None = None
        model: Any = None  # a SpannerLPModel, or the anytime fallback (a TimeVaryingISAN)
        for _ in range(self.max_epochs):
            try:
                self._select_basis(access, self._draw(access, self.n_samples)[0])
                model = self._snapshot(access)
                self.epochs_ += 1  # a complete model exists from here on
                seqs, answers = self._draw(access, self.n_validation)
                outcome = self._validate(access, model, seqs, answers)
            except BudgetExceeded as exc:
                model = self._anytime_choice(model)
                kept = "the position unigram" if self.kept_unigram_ else "the last complete model"
                warnings.warn(f"SpannerLPLearner: budget exhausted after {self.epochs_} epochs; keeping "
                              f"{kept} ({exc})", RuntimeWarning, stacklevel=2)
                self.stop_reason_ = "budget"
                break
            if outcome != "continue":
                self.stop_reason_ = outcome
                break
        assert model is not None
        self.model_ = model
        self.basis_sizes_ = np.array(getattr(model, "dims", np.ones(T, dtype=np.int64)))
        self.stopped_early_ = self.stop_reason_ == "budget"
        del self._tables
        self.__dict__.pop("_last_draw", None)  # the answers are not needed after the fit
        self.queries_used_ = int(getattr(access, "queries_used", access.used)) - start
        return self

    # ------------------------------------------------------------------------------------------
    def _anytime_choice(self, model: Any) -> Any:
        """The model a budget stop returns: ``model`` (the last complete one) or the position unigram of
        every answer so far, whichever has the lower mean ``sum_t KL(p_t || q_t)`` on the last sequences
        drawn, whose answers cost nothing more.  Those sequences were drawn after ``model`` was built
        (for the next epoch's basis or for its validation) unless the budget ran out in the validation
        draw right after a build; the unigram has seen their answers, which can only favour the fallback.
        A truncated spanner basis can predict far worse than uniform, so the comparison is needed."""
        unigram = position_unigram_isan([tb.answered(()) for tb in self._tables], self.V_)
        if model is None:
            self.kept_unigram_ = True
            return unigram
        seqs, answers = self._last_draw
        kl = {name: float(step_kl(answers, m.logits_along(seqs)).sum(axis=1).mean())
              for name, m in (("model", model), ("unigram", unigram))}
        self.held_out_kl_ = kl
        self.kept_unigram_ = bool(kl["unigram"] < kl["model"])
        return unigram if self.kept_unigram_ else model

    def _draw(self, access: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
        seqs, answers = access.sample(n)
        self.samples_used_ += n
        self._last_draw = (seqs, answers)
        rows = [tuple(r) for r in seqs.tolist()]
        for t in range(self.T_):
            self._tables[t].put([r[:t] for r in rows], (), answers[:, t])
        return seqs, answers

    def _rank(self, X: np.ndarray) -> int:
        """Rank kept for candidate rows ``X`` (``n x D``).  Singular values count when above ``rel_tol * s_1``
        and above the tolerance floor ``threshold (sqrt(n) + sqrt(D)) / 4`` (about the spectral norm of an
        ``n x D`` matrix of errors within ``threshold / 2``: directions below it are inside the tolerance);
        of those, at most ``rank`` — or, without a rank bound, the cut at the largest gap ``s_i / s_{i+1}``
        (the cut at the tolerance included, so an exact target keeps its numerical rank; a misspecified
        one keeps its signal above the perturbation's bulk), at most ``n_samples``."""
        s = scipy.linalg.svdvals(X) if X.size else np.zeros(0)
        if s.size == 0 or s[0] <= 1e-300:
            return 0
        floor = float(self.threshold) * (np.sqrt(X.shape[0]) + np.sqrt(X.shape[1])) / 4.0
        r = int(np.sum(s > max(max(self.rel_tol, 1e-11) * s[0], floor)))
        if self.rank is not None:
            return min(r, int(self.rank))
        if 1 < r:  # the largest gap s_i / s_{i+1}, the cut at the tolerance (s_{r+1}, or 0) included
            nxt = np.append(s[1:r + 1], 0.0)[:r]
            r = int(np.argmax(s[:r] / np.maximum(nxt, 1e-300 * s[0]))) + 1
        return min(r, int(self.n_samples))

    def _select_basis(self, access: Any, seqs: np.ndarray) -> None:
        rows = [tuple(r) for r in seqs.tolist()]
        for s in range(1, self.T_):
            ext = [h + (z,) for h in self._basis[s - 1] for z in range(self.V_)] if self.extend_basis else []
            cands = list(dict.fromkeys([r[:s] for r in rows] + self._basis[s] + list(self._forced[s]) + ext))
            X = self._tables[s].get(access, cands, self.futures_[s])
            box = max(float(self.beta), _SPANNER_MIN_BETA)
            idx, coef = select_spanner(X, self._rank(X), box)
            if coef > box:  # the swap cap was hit: never exceed beta silently
                self.spanner_overflows_ += 1
                warnings.warn(f"SpannerLPLearner: the spanner at position {s} hit its swap cap with a "
                              f"candidate needing |c| = {coef:.3g} > beta = {box:g} (counted in "
                              "spanner_overflows_)",
                              RuntimeWarning, stacklevel=3)
            self.coef_max_ = max(self.coef_max_, coef)
            self._basis[s] = [cands[i] for i in idx]

    def _snapshot(self, access: Any) -> SpannerLPModel:
        V, T = self.V_, self.T_
        readout, basis_rows, shifted = [], [], []
        for s in range(T):
            nxt = [(z,) + f for z in range(V) for f in self.futures_[s + 1]] if s + 1 < T else []
            ext = list(dict.fromkeys(self.futures_[s] + nxt))
            m = len(self._basis[s])
            rows = (self._tables[s].get(access, self._basis[s], ext) if m else np.zeros((0, len(ext) * V)))
            rows = rows.reshape(m, len(ext), V)
            col = {f: j for j, f in enumerate(ext)}
            readout.append(rows[:, col[()]])
            own = [col[f] for f in self.futures_[s]]
            basis_rows.append(rows[:, own].reshape(m, len(own) * V))
            if nxt:
                sh = rows[:, [col[f] for f in nxt]].reshape(m, V, len(self.futures_[s + 1]) * V)
                shifted.append(sh.transpose(1, 0, 2).copy())
        return self.model_class(readout, basis_rows, shifted, float(self.beta),
                              certify=max(self.lp_shortcut * float(self.threshold), 1e-12),
                              minimise=self.lp == "always")

    def _validate(self, access: Any, model: SpannerLPModel, seqs: np.ndarray, answers: np.ndarray) -> str:
        T, thr = self.T_, float(self.threshold)
        pred, resid, coeffs, _ = model.track(seqs)
        self.coef_max_ = max([self.coef_max_] + [float(np.abs(c).max(initial=0.0)) for c in coeffs])
        truth = center_logits(answers)
        err = np.abs(pred - truth).max(axis=2)  # (n, T)
        self.validation_error_.append(float(max(err.max(), resid.max())))
        if err.max() <= thr and resid.max() <= thr:
            return "validated"
        added = self._add_history_witnesses(seqs, resid)
        given: set[int] = set()
        for i, r in np.argwhere(err > thr)[np.argsort(-err[err > thr], kind="stable")][: 4 * T]:
            s = self._witness_position(access, seqs[i], int(r), coeffs, i, truth[i, r], given)
            if s is not None:
                self.futures_[s].append(tuple(int(z) for z in seqs[i, s:r]))
                self.witnesses_[s] += 1
                given.add(s)
                added += 1
        return "continue" if added else "stalled"

    def _add_history_witnesses(self, seqs: np.ndarray, resid: np.ndarray) -> int:
        added = 0
        for s in range(1, self.T_):
            bad = np.flatnonzero(resid[:, s] > float(self.threshold))
            for i in bad[np.argsort(-resid[bad, s], kind="stable")][:4]:
                h = tuple(int(z) for z in seqs[i, :s])
                if h not in self._forced[s] and h not in self._basis[s]:
                    self._forced[s][h] = None
                    self.history_witnesses_ += 1
                    added += 1
        return added

    def _witness_position(self, access: Any, y: np.ndarray, r: int, coeffs: list[np.ndarray], i: int,
                          truth: np.ndarray, given: set[int]) -> int | None:
        """The position ``s`` in ``1..r-1`` where predicting ``l(y_{<r})`` from ``c_s`` breaks down most."""
        if r < 2:
            return None
        res = np.zeros(r + 1)  # res[0] = 0: c_0 = (1) on the empty history predicts exactly
        res[r] = np.abs(center_logits(coeffs[r][i] @ self._rows(access, r, ())) - truth).max()
        for s in range(1, r):
            g = tuple(int(z) for z in y[s:r])
            res[s] = np.abs(center_logits(coeffs[s][i] @ self._rows(access, s, g)) - truth).max()
        cap = np.inf if self.max_witnesses is None else self.max_witnesses
        for s in np.argsort(-np.diff(res)[:-1], kind="stable") + 1:  # jump res[s] - res[s-1], s < r
            g = tuple(int(z) for z in y[s:r])
            if res[s] - res[s - 1] <= 0 or s in given or self.witnesses_[s] >= cap:
                continue
            if g not in self.futures_[s]:
                return int(s)
        return None

    def _rows(self, access: Any, s: int, g: Seq) -> np.ndarray:
        """``l(h_{s,i} . g)`` for the basis histories of position ``s``, shape ``(m_s, V)`` (cached)."""
        if not self._basis[s]:
            return np.zeros((0, self.V_))
        return self._tables[s].get(access, self._basis[s], [g])
