"""The learning theorem's measurable pieces: GLS2's provable learner beside the practical one on one target.

Functions from a target (or arrays) to numbers, called by the experiment :mod:`experiments.provable_learning`
(the sweeps over misspecification, oracle error, ``d``, ``V``, ``T`` and ``lambda``), by the claims of
:mod:`theory.learning_claims` and by the benchmarks:

- :func:`fit_both` — both learners fitted on one target's (possibly noisy) oracle: TV, KL, queries, and each
  learner's size (the provable learner's largest ``|c|`` and witnesses, the practical learner's state norms);
- :func:`reference_tv` — TV of the reference generator a learner is compared with: the base model of a
  misspecified target (the best rank-``d`` model at hand), or the fixed-error oracle's own answers;
- :func:`tv_ratio` — TV(learner) / TV(reference) with a 95% interval (GLS2 proves ``TV <= poly(eps_avg,
  ...)`` with no exponent to test, so the ratio is the informative number);
- :func:`witness_bound` — ``d log2(2 T d alpha / (eps delta))`` and GLS2's explicit ``64 d J_b``;
- :class:`FixedLogits`, :func:`sampled_logit_errors` and :func:`crossing_m` — entrywise error of
  :class:`SampledLogitAccess` at ``m`` samples per query for centered logits bounded by ``lambda``, and the
  ``m`` where a curve of it crosses a target error (Remark 5.8: ``m ~ e^{2 lambda} |Sigma| / eps^2``);
- :func:`scaling_exponent` — a log-log exponent by :func:`logitrank.power_law.fit_scaling`.

Tolerances are the user's hyperparameters, never read from the access: under misspecification ``eps`` or
oracle error ``xi`` both learners get the rank bound ``d``; the provable learner's validation threshold is
``10 (eps + xi)`` and the practical learner's noise level ``noise_std = xi / sqrt(3)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank import center_logits
from logitrank.power_law import fit_scaling
from logitrank.validation import RngLike, spawn_seeds
from simulators.learners import LogitQueryLearner, QueryAccess, SampledLogitAccess, SpannerLPLearner, evaluate

__all__ = ["LEARNERS", "FixedLogits", "crossing_m", "fit_both", "reference_tv", "sampled_logit_errors",
           "scaling_exponent", "tv_ratio", "witness_bound"]

LEARNERS = ("provable", "practical")


def scaling_exponent(x: Sequence[float], y: Sequence[float]) -> float:
    """Log-log exponent of ``y`` on ``x`` by :func:`logitrank.power_law.fit_scaling` over the points with
    ``x > 0`` and finite ``y > 0`` (nan under 3 such points or a single ``x``)."""
    keep = [(a, b) for a, b in zip(x, y) if a > 0 and b > 0 and np.isfinite(b)]
    if len(keep) < 3 or len({a for a, _ in keep}) < 2:
        return float("nan")
    return fit_scaling(*zip(*keep), n_bootstrap=1, rng=0).exponent


def tv_ratio(tv: float, tv_se: float, ref: float, ref_se: float, z: float = 1.96) -> dict[str, float]:
    """``tv / ref`` with a 95% interval (delta method on the log ratio of two independent estimates)."""
    if not (tv > 0 and ref > 0):
        return {"ratio": float("nan"), "low": float("nan"), "high": float("nan")}
    r, rel = tv / ref, float(np.hypot(tv_se / tv, ref_se / ref))
    return {"ratio": r, "low": r * float(np.exp(-z * rel)), "high": r * float(np.exp(z * rel))}


def fit_both(target: Any, *, rank: int | None = None, eps: float = 0.0, xi: float = 0.0, n_eval: int = 500,
             seed: int = 0) -> dict[str, dict[str, float]]:
    """Fit both learners on ``QueryAccess(target, noise=xi, noise_mode="fixed")``; TV, KL and costs each.

    ``seed`` is spawned into the access's stream (the same for both learners: they see the same oracle), the
    learners', the evaluation's and the state-norm samples'."""
    access_seed, learner_seed, eval_seed, norm_seed = spawn_seeds(seed, 4)
    out = {}
    for name in LEARNERS:
        access = QueryAccess(target, noise=xi, noise_mode="fixed", rng=access_seed)
        learner: Any
        if name == "provable":
            thr = 10.0 * (eps + xi) if eps + xi > 0 else 1e-4
            learner = SpannerLPLearner(rank=rank, threshold=thr, rng=learner_seed)
        else:
            learner = LogitQueryLearner(rank=rank, noise_std=xi / np.sqrt(3.0), rng=learner_seed)
        learner.fit(access)
        ev = evaluate(target, learner.model_, n_sequences=n_eval, rng=eval_seed)
        row = {"tv": ev.tv, "tv_se": ev.tv_se, "kl": ev.kl, "queries": float(learner.queries_used_)}
        if name == "provable":
            row.update(coef_max=learner.coef_max_, witnesses_max=float(learner.witnesses_.max()),
                       samples=float(learner.samples_used_))
        else:  # the practical learner's size: state norms along target samples, and their growth
            seqs = target.sample(200, rng=norm_seed)
            norms = np.array([np.linalg.norm(learner.model_.states(seqs[:, :t]), axis=1).mean()
                              for t in range(target.horizon)])
            row.update(state_norm_max=float(norms.max()),
                       state_norm_growth=float(norms.max() / norms[1:].min()))
        out[name] = row
    return out


def reference_tv(target: Any, base: Any, *, xi: float = 0.0, n_eval: int = 500, seed: int = 0
                 ) -> tuple[float, float]:
    """``(TV, se)`` of the reference generator: the base model itself for a misspecified ``target``
    (``xi = 0``), or the fixed-error oracle's answers used as a model (the same oracle :func:`fit_both`'s
    learners query with this ``seed``)."""
    access_seed, _, eval_seed, _ = spawn_seeds(seed, 4)
    model = base if xi == 0 else QueryAccess(base, noise=xi, noise_mode="fixed", rng=access_seed)
    ev = evaluate(target, model, n_sequences=n_eval, rng=eval_seed)
    return ev.tv, ev.tv_se


def witness_bound(d: int, T: int, alpha: float, eps: float = 0.01, delta: float = 0.1) -> tuple[float, float]:
    """``(d log2(2 T d alpha / (eps delta)), 64 d J_b)`` with ``J_b = ceil(log2(...)) + 64`` (GLS2)."""
    lg = float(np.log2(2.0 * T * d * alpha / (eps * delta)))
    return d * lg, 64.0 * d * (np.ceil(lg) + 64)


class FixedLogits:
    """A one-step sequence model with given centered logits (the target of the sampled-logit measurements).

    Parameters
    ----------
    logits : array, shape (V,) — centered on construction
    """

    horizon = 1

    def __init__(self, logits: np.ndarray):
        self._l = center_logits(np.asarray(logits, dtype=float))
        self.vocab_size = self._l.shape[0]

    @classmethod
    def plus_minus(cls, lam: float, V: int) -> FixedLogits:
        """Centered logits ``+lam`` on the first ``V // 2`` tokens and ``-lam`` on the others."""
        return cls(np.where(np.arange(V) < V // 2, float(lam), -float(lam)))

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        return np.tile(self._l, (len(prefixes), 1))


def sampled_logit_errors(model: FixedLogits, m: int, repeats: int, rng: RngLike) -> np.ndarray:
    """``max_z |l^_z - l_z|`` of ``repeats`` queries of :class:`SampledLogitAccess` with ``m`` samples each.

    Returns
    -------
    array, shape (repeats,)
    """
    est = SampledLogitAccess(model, int(m), rng=rng).logits([()] * repeats)
    return np.abs(est - model.logits([()])).max(axis=1)  # type: ignore[no-any-return]


def crossing_m(grid: np.ndarray, errors: Sequence[float], error: float) -> float:
    """The ``m`` where the decreasing curve ``errors`` (on ``grid``) first reaches ``error``, interpolated
    linearly in ``(log m, log error)`` between the grid points around it (nan if it never does, or already
    does at the first point)."""
    e = np.asarray(errors)
    below = np.flatnonzero(e <= error)
    if below.size == 0 or below[0] == 0:
        return float("nan")
    j = below[0]  # interpolate log m between grid points j-1 and j
    f = (np.log(e[j - 1]) - np.log(error)) / (np.log(e[j - 1]) - np.log(e[j]))
    return float(np.exp(np.log(grid[j - 1]) + f * (np.log(grid[j]) - np.log(grid[j - 1]))))


# --- claims -------------------------------------------------------------------------------------------

def _check_sampled(gen: np.random.Generator, instances: int, law_factor: float = 1.0) -> Any:
    from .learning_claims import CONFIDENCE, failure_interval
    from .registry import Tally

    tally = Tally("learning.sampled_logits")
    V, eps, delta, repeats = 8, 0.5, 0.1, 300
    for _ in range(instances):
        lam = float(gen.uniform(0.5, 3.5))
        model = FixedLogits.plus_minus(lam, V)
        m = int(np.ceil(law_factor * np.exp(2 * lam) * V * np.log(V / delta) / eps**2))
        fails = int(np.sum(sampled_logit_errors(model, m, repeats, gen) > eps))
        lower = failure_interval(fails, repeats, 2 * CONFIDENCE - 1)[0]  # one-sided 95% lower bound
        tally.add((delta - lower) / delta, lam=lam, m=m, failure_rate=fails / repeats, failure_lower=lower)
    return tally.evidence()


def _register() -> None:
    from .registry import Claim, register

    register(Claim(
        id="learning.sampled_logits",
        statement="m = e^{2 lambda} V log(V/delta) / eps^2 samples per query: entrywise error <= eps "
                  "w.p. >= 1 - delta",
        latex=r"m=e^{2\lambda}|\Sigma|\log(|\Sigma|/\delta)/\varepsilon^2\Rightarrow"
              r"\Pr[\|\hat\ell-\ell\|_\infty>\varepsilon]\le\delta",
        hypotheses="centered logits +-lambda (lambda in [0.5, 3.5]), V = 8, eps = 0.5, delta = 0.1, add-1/2 "
                   "smoothing",
        bounds={}, reference="SPEC.md §1 'sampled logits' (GLS2 Remark 5.8)",
        defaults={"instances": 4}, margin="(delta - 95% lower bound of the failure rate) / delta",
        checker=_check_sampled,
        control=lambda g: _check_sampled(g, 3, law_factor=np.exp(-6.0)),
        control_description="m times e^-6 (no e^{2 lambda} factor at lambda ~ 3): rare tokens fail"))


_register()
