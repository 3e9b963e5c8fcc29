"""The learning theorem's claims, stated as (eps, delta) guarantees and checked with teeth.

GLS2's guarantees are probabilistic: *with probability >= 1 - delta the learned model has TV <= eps*, with a
number of queries polynomial in ``(d, V, T, 1/eps)``.  A check therefore

- prescribes the sample sizes the statement needs: ``n_validation = ceil(ln(1/delta) / eps)`` complete samples
  (:func:`validation_size`: a model with TV > eps errs, along a sample, with probability > eps, so it
  passes that many validation samples with probability < delta), ``n_samples = 64`` for the spanner;
- runs it on many random instances and counts the failures ``k`` of ``n``: the claim is refuted when the
  one-sided 95% Clopper-Pearson lower bound of the failure rate exceeds ``delta`` (margin
  ``delta - lower``; :func:`failure_interval`);
- holds every instance to a query bound :func:`query_bound` that is *below brute force* (querying every
  prefix, :func:`brute_force_queries`) on the claim's whole parameter box (the check asserts it), so an
  exponential learner fails it; every instance runs under that budget;
- has negative controls that must fail, each for its stated reason (:mod:`theory.broken_learners`): a random
  model (TV), brute force (queries), witnesses disabled (TV, where witnesses are needed), and on the
  Kahan family (:mod:`theory.separating`) unbounded coefficients (TV).  Least-squares tracking fails none:
  no family separating it from the LP was found (see :mod:`theory.broken_learners`).

The margin of each claim is the smallest of its parts (frequency, queries, coefficient bound, witness bound);
``details["parts"]`` names each part's margin, so a failing control says why it fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.stats

from logitrank.validation import spawn_seeds
from simulators import PerturbedModel, TimeVaryingISAN
from simulators.learners import BudgetExceeded, QueryAccess, evaluate

from .broken_learners import make_learner
from .registry import Claim, Evidence, register

__all__ = ["DELTA", "EPS", "N_SAMPLES", "brute_force_queries", "check_with_learner", "failure_interval",
           "query_bound", "validation_size"]

EPS, DELTA, N_SAMPLES, BETA = 0.01, 0.1, 64, 2.0
CONFIDENCE = 0.95
BOUNDED_FACTOR = 2.0
"""``learning.bounded_coefficients``: TV at most this multiple of the TV of the oracle's own answers."""
GRACEFUL_FACTOR = 3.0
"""``learning.graceful``: the learner's TV is at most this multiple of reference TV (a measured claim)."""


def validation_size(eps: float = EPS, delta: float = DELTA) -> int:
    """``ceil(ln(1/delta) / eps)``: validation samples that catch a model with TV > eps w.p. >= 1 - delta."""
    return int(math.ceil(math.log(1.0 / delta) / eps))


def query_bound(V: int, d: int, T: int, eps: float = EPS, delta: float = DELTA) -> int:
    """``Q = (2d + 1) T (V + 1) (n_samples + n_validation)``: at most ``2d + 1`` epochs (the claims' cap),
    each querying at most ``n_samples + n_validation`` sequences' rows on ``V + 1`` futures per position."""
    return (2 * d + 1) * T * (V + 1) * (N_SAMPLES + validation_size(eps, delta))


def brute_force_queries(V: int, T: int) -> int:
    """Prefixes of length ``< T``: ``(V^T - 1) / (V - 1)`` — what querying every prefix costs."""
    return (V**T - 1) // (V - 1)


def failure_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Clopper-Pearson interval of a failure rate: ``k`` failures in ``n`` trials, two-sided."""
    res = scipy.stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return float(res.low), float(res.high)


def _box_below_brute_force(box: dict[str, tuple[int, int]]) -> float:
    """``min over the box of 1 - Q / brute force`` (> 0: the bound is below brute force everywhere)."""
    worst = np.inf
    for V in range(box["V"][0], box["V"][1] + 1):
        for d in range(box["d"][0], box["d"][1] + 1):
            for T in range(box["T"][0], box["T"][1] + 1):
                worst = min(worst, 1.0 - query_bound(V, d, T) / brute_force_queries(V, T))
    return float(worst)


def _fit(learner_name: str, target: Any, V: int, d: int, T: int, seed: int, *, xi: float = 0.0,
         rank: int | None = None, threshold: float = 1e-4) -> dict[str, Any]:
    """Fit one learner under the claim's budget; the parts of the claim it meets on this instance."""
    learner_seed, access_seed, eval_seed = spawn_seeds(seed, 3)
    learner = make_learner(learner_name, beta=BETA, rank=rank, threshold=threshold, n_samples=N_SAMPLES,
                           n_validation=validation_size(), max_epochs=2 * d + 1, rng=learner_seed)
    bound = query_bound(V, d, T)
    access = QueryAccess(target, noise=xi, noise_mode="fixed", budget=bound, rng=access_seed)
    try:
        learner.fit(access)
    except BudgetExceeded:
        # no model at all (brute force refuses up front): the query part fails; the TV frequency counts
        # the models that exist
        return {"queries": float("nan"), "over_budget": True, "tv": float("nan"), "tv_se": 0.0,
                "coef_max": 0.0, "witnesses_max": 0}
    ev = evaluate(target, learner.model_, n_sequences=1000, rng=eval_seed)
    over = getattr(learner, "stop_reason_", "") == "budget"
    return {"queries": int(learner.queries_used_), "over_budget": bool(over), "tv": ev.tv, "tv_se": ev.tv_se,
            "coef_max": float(learner.coef_max_), "witnesses_max": int(np.max(learner.witnesses_))}


def _evidence(claim: str, rows: list[dict[str, Any]], parts: dict[str, float], extra: dict[str, Any]
              ) -> Evidence:
    """Evidence from per-instance rows (each with a boolean ``fail``) and per-part margins."""
    k, n = sum(r["fail"] for r in rows), len(rows)
    lo, hi = failure_interval(k, n)
    lower_one_sided = failure_interval(k, n, 2 * CONFIDENCE - 1)[0]
    parts = {"frequency": DELTA - lower_one_sided, **parts}
    worst = float(min(parts.values()))
    if np.isnan(worst):
        worst = -np.inf
    bad = next((r for r in rows if r["fail"] or r.get("over_budget")), None)
    return Evidence(claim=claim, holds=bool(worst >= 0), instances=n, worst_margin=worst,
                    counterexample=None if worst >= 0 else {"part": min(parts, key=parts.__getitem__),
                                                            "instance": bad},
                    details={"parts": parts, "failures": k, "failure_rate": k / n,
                             "failure_interval": [lo, hi], "eps": EPS, "delta": DELTA,
                             "n_validation": validation_size(), "instances": rows, **extra})


def _query_parts(rows: list[dict[str, Any]], box: dict[str, tuple[int, int]]) -> dict[str, float]:
    q = min(-1.0 if r["over_budget"] else 1.0 - r["queries"] / r["bound"] for r in rows)
    return {"queries": q, "bound_below_brute_force": _box_below_brute_force(box)}


def _check_exact(gen: np.random.Generator, instances: int, max_dim: int, learner: str = "provable",
                 binary: bool = False) -> Evidence:
    box = ({"V": (2, 2), "d": (4, max_dim), "T": (18, 20)} if binary else
           {"V": (4, 5), "d": (1, max_dim), "T": (10, 11)})
    rows = []
    for seed in spawn_seeds(gen, instances):
        draw_seed, target_seed, fit_seed = spawn_seeds(seed, 3)
        draw = np.random.default_rng(draw_seed)
        V, d, T = (int(draw.integers(lo, hi + 1)) for lo, hi in box.values())
        target = TimeVaryingISAN.random(V, d, T, rng=target_seed)
        r = {"V": V, "d": d, "T": T, "seed": seed, "bound": query_bound(V, d, T),
             **_fit(learner, target, V, d, T, fit_seed)}
        r["fail"] = bool(r["tv"] > EPS)
        rows.append(r)
    parts = _query_parts(rows, box)
    if learner != "brute_force":
        parts["coefficients"] = BETA - max(r["coef_max"] for r in rows)
    if binary:
        parts["witnesses"] = min(1.0 - r["witnesses_max"] / (4.0 * r["d"]) for r in rows)
    return _evidence("learning.witnesses" if binary else "learning.exact", rows, parts,
                     {"learner": learner, "box": box})


def _check_witnesses(gen: np.random.Generator, instances: int, max_dim: int, learner: str = "provable"
                     ) -> Evidence:
    return _check_exact(gen, instances, max_dim, learner, binary=True)


def _check_graceful(gen: np.random.Generator, instances: int, learner: str = "provable") -> Evidence:
    V, d, T = 6, 3, 8
    box = {"V": (V, V), "d": (d, d), "T": (T, T)}
    rows = []
    for seed in spawn_seeds(gen, instances):
        draw_seed, base_seed, hash_seed, ref_seed, fit_seed = spawn_seeds(seed, 5)
        draw = np.random.default_rng(draw_seed)
        level = float(10.0 ** draw.uniform(-3, -1))
        eps, xi = (level, 0.0) if draw.random() < 0.5 else (0.0, level)
        base = TimeVaryingISAN.random(V, d, T, rng=base_seed)
        target: Any = PerturbedModel(base, eps, rng=hash_seed) if eps > 0 else base
        ref = evaluate(target, base, n_sequences=1000, rng=ref_seed).tv if eps > 0 else T * math.tanh(xi / 2)
        r = {"eps": eps, "xi": xi, "seed": seed, "bound": query_bound(V, d, T), "reference_tv": ref,
             **_fit(learner, target, V, d, T, fit_seed, xi=xi, rank=d, threshold=10.0 * (eps + xi))}
        r["fail"] = bool(r["tv"] - 2 * r["tv_se"] > GRACEFUL_FACTOR * ref)
        rows.append(r)
    return _evidence("learning.graceful", rows, _query_parts(rows, box), {"learner": learner, "box": box})


def _check_bounded(gen: np.random.Generator, instances: int, learner: str = "provable") -> Evidence:
    from .learning import reference_tv
    from .separating import kahan_isan

    d, T, xi = 10, 4, 3e-4
    rows = []
    for seed in spawn_seeds(gen, instances):
        target_seed, fit_seed = spawn_seeds(seed, 2)
        target = kahan_isan(d, T, rng=target_seed)
        ref, ref_se = reference_tv(target, target, xi=xi, n_eval=1000, seed=fit_seed)
        r = {"seed": seed, "bound": query_bound(d + 1, d, T), "reference_tv": ref,
             **_fit(learner, target, d + 1, d, T, fit_seed, xi=xi, rank=d, threshold=10 * xi)}
        r["fail"] = bool(r["tv"] - 2 * r["tv_se"] > BOUNDED_FACTOR * (ref + 2 * ref_se))
        rows.append(r)
    parts = {"queries": min(-1.0 if r["over_budget"] else 1.0 - r["queries"] / r["bound"] for r in rows)}
    extra = {"learner": learner, "d": d, "T": T, "xi": xi}
    return _evidence("learning.bounded_coefficients", rows, parts, extra)


def check_with_learner(claim: str, learner: str, rng: Any, instances: int) -> Evidence:
    """Claim ``claim``'s check (``learning.exact``, ``.witnesses``, ``.bounded_coefficients`` or
    ``.graceful``, at its default box) run with ``learner`` (``"provable"`` or a name of
    :data:`theory.broken_learners.BROKEN`): one cell of the table of ``benchmarks/learner_controls.py``."""
    gen = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    checks: dict[str, Callable[[], Evidence]] = {
        "learning.exact": lambda: _check_exact(gen, instances, 4, learner),
        "learning.witnesses": lambda: _check_witnesses(gen, instances, 5, learner),
        "learning.bounded_coefficients": lambda: _check_bounded(gen, instances, learner),
        "learning.graceful": lambda: _check_graceful(gen, instances, learner)}
    if claim not in checks:
        raise ValueError(f"claim: must be one of {list(checks)}, got {claim!r}")
    return checks[claim]()


def _controls(check: Callable[..., Evidence], names: tuple[str, ...], **kw: Any) -> Callable[..., Evidence]:
    """A negative control running every broken learner in ``names``: it *holds* if any of them holds, so a
    claim's control fails only when every broken learner fails; ``details`` keeps each one's parts."""

    def control(gen: np.random.Generator) -> Evidence:
        seeds = spawn_seeds(gen, len(names))
        evs = {name: check(np.random.default_rng(s), learner=name, **kw) for name, s in zip(names, seeds)}
        worst = max(ev.worst_margin for ev in evs.values())
        first = next(iter(evs.values()))
        details = {name: {"holds": ev.holds, "parts": ev.details["parts"],
                          "failure_rate": ev.details["failure_rate"]} for name, ev in evs.items()}
        return Evidence(claim=first.claim, holds=bool(worst >= 0), worst_margin=float(worst), details=details,
                        instances=sum(e.instances for e in evs.values()))

    return control


_PART_TEXT = {"frequency": "delta - (95% lower bound of the failure rate)", "queries": "1 - queries/Q",
              "coefficients": "beta - max|c|", "witnesses": "1 - witnesses/(4d)",
              "bound_below_brute_force": "1 - Q/brute force over the box"}
"""What each part of ``details["parts"]`` (see :func:`_evidence`) measures; the margin texts come from it."""

_MUST_FAIL = {"random_model": "random model (TV)", "brute_force": "brute force (queries > Q)",
              "no_witnesses": "witnesses disabled (TV: states not separated)",
              "unbounded": "beta = 1e6 (TV: the greedy basis needs |c| ~ 25, amplifying xi; "
                           "validation stalls)"}
"""Why each broken learner of a control must fail (:mod:`theory.broken_learners`)."""


def _learner_claim(check: Callable[..., Evidence], parts: tuple[str, ...], broken: tuple[str, ...],
                   control_kw: dict[str, Any], **text: Any) -> Claim:
    """A learning claim checked by ``check``: its margin is the smallest of the frequency part and ``parts``,
    and its negative control runs ``check`` with each broken learner in ``broken`` (``control_kw`` sizes it).
    Both descriptions are built from those same names, so they cannot drift from what is checked."""
    margin = "min of: " + ", ".join(_PART_TEXT[p] for p in ("frequency", *parts))
    why = ", ".join(_MUST_FAIL[b] for b in broken)
    return Claim(**text, checker=check, margin=margin, control=_controls(check, broken, **control_kw),
                 control_description=f"broken learners, each must fail: {why}")


register(_learner_claim(
    _check_exact, ("queries", "coefficients", "bound_below_brute_force"), ("random_model", "brute_force"),
    {"instances": 10, "max_dim": 4},
    id="learning.exact",
    statement="SpannerLP (GLS2 as written): TV <= eps w.p. >= 1 - delta within Q(V,d,T) < brute-force "
              "queries, |c| <= beta",
    latex=r"\Pr[\mathrm{TV}(M,\hat M)>\varepsilon]\le\delta,\ \#Q\le(2d+1)T(V+1)(64+\lceil\ln(1/\delta)"
          r"/\varepsilon\rceil)<\tfrac{V^T-1}{V-1},\ \|c\|_\infty\le2",
    hypotheses="random time-varying ISAN, V in 4..5, d <= max_dim, T in 10..11; beta = 2, exact queries; "
               "eps = 0.01, delta = 0.1, n_validation = ceil(ln(1/delta)/eps) = 231",
    bounds={"max_dim": (1, 4)}, reference="SPEC.md §1 'The provable learner' (GLS2)",
    defaults={"instances": 30, "max_dim": 4}))
register(_learner_claim(
    _check_witnesses, ("witnesses", "queries", "coefficients", "bound_below_brute_force"),
    ("random_model", "no_witnesses", "brute_force"), {"instances": 4, "max_dim": 5},
    id="learning.witnesses",
    statement="Witness futures per position <= 4d make binary ISANs (d > V + 1) learnable: TV <= eps "
              "w.p. >= 1 - delta within Q queries",
    latex=r"\max_s |\hat F_s \setminus F^{(0)}_s| \le 4d,\ \Pr[\mathrm{TV}>\varepsilon]\le\delta,"
          r"\ \#Q\le Q",
    hypotheses="random binary ISANs (V = 2, d in 4..max_dim: one-token futures do not separate the "
               "states), T in 18..20; eps = 0.01, delta = 0.1",
    bounds={"max_dim": (4, 6)},
    reference="SPEC.md §1 (elliptical potential: O(d log(T d alpha/(eps delta))))",
    defaults={"instances": 8, "max_dim": 5}))
register(_learner_claim(
    _check_bounded, ("queries",), ("random_model", "unbounded"), {"instances": 8},
    id="learning.bounded_coefficients",
    statement=f"With fixed oracle error xi on Kahan-configured ISANs, TV <= {BOUNDED_FACTOR:g} x "
              "TV(oracle's answers) w.p. >= 1 - delta: bounded coefficients keep xi from being amplified",
    latex=r"\Pr[\mathrm{TV}(M,\hat M) > 2\,\mathrm{TV}(M, \tilde M_\xi)] \le \delta",
    hypotheses="theory.separating.kahan_isan (d = 10, V = 11, T = 4, c = 0.6): greedy pivoting would "
               "need |c| = 25.5 for one token; fixed oracle error xi = 3e-4, rank bound d, threshold "
               "10 xi. No query bound below brute force here: at T = 4 every prefix (1464) is cheap",
    bounds={}, reference="SPEC.md §1 'The provable learner' (bounded coefficients); theory/separating.py",
    defaults={"instances": 12}))
register(_learner_claim(
    _check_graceful, ("queries", "bound_below_brute_force"), ("random_model", "brute_force"),
    {"instances": 8},
    id="learning.graceful",
    statement=f"TV <= {GRACEFUL_FACTOR:g} x the reference TV w.p. >= 1 - delta (misspecified: the base "
              "model as generator; fixed xi: T tanh(xi/2))",
    latex=r"\Pr[\mathrm{TV}(M,\hat M) > 3\,\mathrm{TV}_{ref}] \le \delta",
    hypotheses="PerturbedModel of a random ISAN (V = 6, d = 3, T = 8), eps or fixed xi in [1e-3, 1e-1]; "
               "rank bound d, threshold 10 (eps + xi); our measured claim (GLS2 proves TV <= "
               "poly(eps_avg))",
    bounds={}, reference="SPEC.md §1 'Misspecification, oracle error' (GLS2's robust theorem)",
    defaults={"instances": 20}))
