"""The learning theorem measured: GLS2's provable learner beside the practical one, and its claims.

Measurements (each deterministic given ``seed``; the benchmarks and ``fig_provable_learning`` call them):

- :func:`robustness_sweep` — TV vs the average misspecification ``eps_avg`` of :class:`PerturbedModel`
  targets, or vs a fixed oracle error ``xi`` (:class:`QueryAccess` ``noise_mode="fixed"``), both learners;
- :func:`long_horizon` — both learners at ``T = 48`` (where coefficient or state growth would show);
- :func:`witness_sweep` — witness futures per position vs ``d`` on binary ISANs (``V = 2``: the
  one-token futures cannot separate ``d > 3`` states), against ``d log2(2 T d alpha / (eps delta))`` and
  GLS2's explicit ``64 d J_b``, ``J_b = ceil(log2(2 T d alpha / (eps delta))) + 64``;
- :func:`query_scaling` — queries and complete samples of a fit (which reaches TV <= 0.01) vs ``d``,
  ``V`` or ``T``, with fitted exponents (the theory's bound is ``O~(T^13 d^4 / eps^4)``);
- :func:`sampled_logit_cost` — entrywise error of :class:`SampledLogitAccess` vs ``m`` for centered logits
  bounded by ``lambda``, and the ``m`` reaching a fixed error: Remark 5.8's ``m ~ e^{2 lambda} |Sigma| /
  eps^2`` predicts ``log m`` linear in ``lambda`` with slope 2.

Tolerances are the user's hyperparameters, never read from the access: under misspecification ``eps`` or
oracle error ``xi`` both learners get the rank bound ``d``; the provable learner's validation threshold is
``10 (eps + xi)`` and the practical learner's noise level ``noise_std = xi / sqrt(3)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank import center_logits
from logitrank.validation import RngLike, as_rng, spawn_seeds
from simulators import PerturbedModel, TimeVaryingISAN
from simulators.learners import LogitQueryLearner, QueryAccess, SampledLogitAccess, SpannerLPLearner, evaluate

__all__ = ["fit_both", "long_horizon", "loglog_slope", "query_scaling", "robustness_sweep",
           "sampled_end_to_end", "sampled_logit_cost", "witness_bound", "witness_sweep"]

LEARNERS = ("provable", "practical")


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of ``log y`` against ``log x`` (points with ``y <= 0`` dropped)."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = (xa > 0) & (ya > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(xa[keep]), np.log(ya[keep]), 1)[0])


def fit_both(target: Any, *, rank: int | None = None, eps: float = 0.0, xi: float = 0.0, n_eval: int = 500,
             seed: int = 0) -> dict[str, dict[str, float]]:
    """Fit both learners on ``QueryAccess(target, noise=xi, noise_mode="fixed")``; TV, KL and costs each."""
    out = {}
    for name in LEARNERS:
        access = QueryAccess(target, noise=xi, noise_mode="fixed", rng=seed)
        learner: Any
        if name == "provable":
            thr = 10.0 * (eps + xi) if eps + xi > 0 else 1e-4
            learner = SpannerLPLearner(rank=rank, threshold=thr, rng=seed)
        else:
            learner = LogitQueryLearner(rank=rank, noise_std=xi / np.sqrt(3.0), rng=seed)
        learner.fit(access)
        ev = evaluate(target, learner.model_, n_sequences=n_eval, rng=seed + 1)
        row = {"tv": ev.tv, "tv_se": ev.tv_se, "kl": ev.kl, "queries": float(learner.queries_used_)}
        if name == "provable":
            row.update(coef_max=learner.coef_max_, witnesses_max=float(learner.witnesses_.max()),
                       samples=float(learner.samples_used_))
        else:  # the practical learner's size: state norms along target samples, and their growth
            seqs = target.sample(200, rng=seed + 2)
            norms = np.array([np.linalg.norm(learner.model_.states(seqs[:, :t]), axis=1).mean()
                              for t in range(target.horizon)])
            row.update(state_norm_max=float(norms.max()),
                       state_norm_growth=float(norms.max() / norms[1:].min()))
        out[name] = row
    return out


def robustness_sweep(kind: str, levels: Sequence[float], *, V: int = 8, d: int = 4, T: int = 10,
                     n_eval: int = 500, seed: int = 0) -> dict[str, Any]:
    """TV of both learners vs misspecification (``kind="eps"``) or fixed oracle error (``kind="xi"``).

    Returns a dict with ``levels``, ``x`` (``eps_avg`` estimates, or ``xi``), per-learner ``tv`` lists and
    log-log ``slope`` of TV against ``x``, plus the raw rows."""
    if kind not in ("eps", "xi"):
        raise ValueError(f"kind: must be one of 'eps', 'xi', got {kind!r}")
    base_seed, hash_seed = spawn_seeds(seed, 2)
    base = TimeVaryingISAN.random(V, d, T, rng=base_seed)
    xs, rows = [], []
    for level in levels:
        if kind == "eps":
            target: Any = PerturbedModel(base, level, rng=hash_seed)
            xs.append(target.estimate_eps_avg(500, rng=seed)[0])
            rows.append(fit_both(target, rank=d, eps=level, n_eval=n_eval, seed=seed))
        else:
            xs.append(float(level))
            rows.append(fit_both(base, rank=d, xi=level, n_eval=n_eval, seed=seed))
    tv = {name: [r[name]["tv"] for r in rows] for name in LEARNERS}
    return {"kind": kind, "levels": list(levels), "x": xs, "tv": tv, "rows": rows,
            "slope": {name: loglog_slope(xs, tv[name]) for name in LEARNERS},
            "monotone": {name: bool(np.all(np.diff(np.asarray(tv[name])[np.argsort(xs)]) > 0))
                         for name in LEARNERS}}


def witness_bound(d: int, T: int, alpha: float, eps: float = 0.01, delta: float = 0.1) -> tuple[float, float]:
    """``(d log2(2 T d alpha / (eps delta)), 64 d J_b)`` with ``J_b = ceil(log2(...)) + 64`` (GLS2)."""
    lg = float(np.log2(2.0 * T * d * alpha / (eps * delta)))
    return d * lg, 64.0 * d * (np.ceil(lg) + 64)


def witness_sweep(dims: Sequence[int], *, V: int = 2, T: int = 12, n_eval: int = 300, seed: int = 0
                  ) -> dict[str, Any]:
    """Witness futures per position of the provable learner vs ``d`` on random ISANs, with the bounds."""
    rows: list[dict[str, Any]] = []
    for d, s in zip(dims, spawn_seeds(seed, len(dims))):
        target = TimeVaryingISAN.random(V, int(d), T, rng=s)
        learner = SpannerLPLearner(max_epochs=60, rng=s).fit(QueryAccess(target, rng=s))
        alpha = max(float(np.abs(r).max(initial=0.0)) for r in learner.model_.basis_rows) * np.sqrt(V)
        soft, explicit = witness_bound(int(d), T, max(alpha, 1.0))
        tv = evaluate(target, learner.model_, n_sequences=n_eval, rng=s).tv
        rows.append({"d": int(d), "max_per_position": int(learner.witnesses_.max()),
                     "total": int(learner.witnesses_.sum()), "d_log": soft, "explicit": explicit,
                     "tv": tv, "epochs": learner.epochs_, "stop": learner.stop_reason_})
    return {"V": V, "T": T, "rows": rows,
            "slope": loglog_slope([r["d"] for r in rows], [r["max_per_position"] for r in rows])}


def query_scaling(axis: str, values: Sequence[int], *, V: int = 8, d: int = 4, T: int = 8, n_eval: int = 300,
                  seed: int = 0) -> dict[str, Any]:
    """Queries (and samples) of both learners on exact ISANs as ``axis`` in ``{"d", "V", "T"}`` varies."""
    if axis not in ("d", "V", "T"):
        raise ValueError(f"axis: must be one of 'd', 'V', 'T', got {axis!r}")
    rows: list[dict[str, Any]] = []
    for v, s in zip(values, spawn_seeds(seed, len(values))):
        knobs = {"V": V, "d": d, "T": T, axis: int(v)}
        target = TimeVaryingISAN.random(knobs["V"], knobs["d"], knobs["T"], rng=s)
        rows.append({**knobs, **fit_both(target, n_eval=n_eval, seed=s)})
    out: dict[str, Any] = {"axis": axis, "values": list(values), "rows": rows}
    out["exponent"] = {name: loglog_slope(values, [r[name]["queries"] for r in rows]) for name in LEARNERS}
    out["reached"] = {name: bool(all(r[name]["tv"] <= 0.01 for r in rows)) for name in LEARNERS}
    out["theory_exponent"] = {"d": 4.0, "V": float("nan"), "T": 13.0}[axis]
    return out


class _FixedLogits:
    """A one-step sequence model with given centered logits (the target of :func:`sampled_logit_cost`)."""

    horizon = 1

    def __init__(self, logits: np.ndarray):
        self._l = center_logits(np.asarray(logits, dtype=float))
        self.vocab_size = self._l.shape[0]

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        return np.tile(self._l, (len(prefixes), 1))


def sampled_logit_cost(lambdas: Sequence[float] = (1, 2, 3, 4), *, V: int = 8, error: float = 0.5,
                       ms: Sequence[int] | None = None, repeats: int = 50,
                       rng: RngLike = 0) -> dict[str, Any]:
    """Entrywise error of sampled logits vs ``m`` at centered-logit bound ``lambda``, and the law's exponent.

    The target has centered logits ``+lambda`` on half the tokens and ``-lambda`` on the other half (so the
    rare tokens have probability ``2 e^{-2 lambda} / (V (1 + e^{-2 lambda}))``).  For each ``lambda`` the
    median over ``repeats`` queries of ``max_z |l^_z - l_z|`` is measured on a grid of ``m``; ``m*`` is the
    log-log interpolated ``m`` where it crosses ``error``; the slope of ``log m*`` vs ``lambda`` is compared
    with the law's 2."""
    gen = as_rng(rng)
    grid = np.unique(np.geomspace(10, 2e6, 24).astype(int)) if ms is None else np.asarray(ms)
    curves, m_star = [], []
    for lam in lambdas:
        ell = np.where(np.arange(V) < V // 2, float(lam), -float(lam))
        model = _FixedLogits(ell)
        errs = []
        for m in grid:
            access = SampledLogitAccess(model, int(m), rng=gen)
            est = access.logits([()] * repeats)
            errs.append(float(np.median(np.abs(est - model.logits([()])).max(axis=1))))
        curves.append(errs)
        e = np.asarray(errs)
        below = np.flatnonzero(e <= error)
        if below.size == 0 or below[0] == 0:
            m_star.append(float("nan"))
            continue
        j = below[0]  # interpolate log m between grid points j-1 and j
        f = (np.log(e[j - 1]) - np.log(error)) / (np.log(e[j - 1]) - np.log(e[j]))
        m_star.append(float(np.exp(np.log(grid[j - 1]) + f * (np.log(grid[j]) - np.log(grid[j - 1])))))
    ok = np.isfinite(m_star)
    slope = float(np.polyfit(np.asarray(lambdas)[ok], np.log(np.asarray(m_star)[ok]), 1)[0]) if ok.sum() > 1 \
        else float("nan")
    return {"lambdas": list(lambdas), "m": grid.tolist(), "error_curves": curves, "error": error,
            "m_star": m_star, "exponent": slope, "law_exponent": 2.0}


# --- claims -------------------------------------------------------------------------------------------

def _exact_tv(target: Any, learned: Any) -> float:
    """TV over all ``V^T`` sequences (enumeration; independent of the learner's own tracking)."""
    import itertools

    from logitrank import sequence_log_prob

    seqs = np.array(list(itertools.product(range(target.vocab_size), repeat=target.horizon)))
    return 0.5 * float(np.abs(np.exp(sequence_log_prob(target, seqs))
                              - np.exp(sequence_log_prob(learned, seqs))).sum())


def _query_bound(V: int, d: int, T: int) -> float:
    return 200.0 * T**2 * V**2 * (d + 1)


def _check_exact(gen: np.random.Generator, instances: int, max_dim: int, beta: float = 2.0,
                 binary: bool = False, witnesses: bool = True) -> Any:
    from .registry import Tally

    tally = Tally("learning.exact" if not binary else "learning.witnesses")
    rows = []
    for _ in range(instances):
        V = 2 if binary else int(gen.integers(2, 5))
        d = int(gen.integers(3 if binary else 1, max_dim + 1))
        T = int(gen.integers(6, 9)) if binary else int(gen.integers(3, 7))
        seed = int(gen.integers(2**31))
        target = TimeVaryingISAN.random(V, d, T, rng=seed)
        learner = SpannerLPLearner(beta=beta, max_epochs=40, max_witnesses=None if witnesses else 0,
                                   n_validation=32, extend_basis=True, rng=seed)
        learner.fit(QueryAccess(target, rng=seed))
        tv = _exact_tv(target, learner.model_)
        q_margin = 1.0 - learner.queries_used_ / _query_bound(V, d, T)
        w_margin = 1.0 - learner.witnesses_.max() / (4.0 * d)
        tally.add(min((1e-6 - tv) / 1e-6, q_margin, w_margin, learner.beta - learner.coef_max_),
                  V=V, d=d, T=T, seed=seed, tv=tv, queries=learner.queries_used_,
                  witnesses_max=int(learner.witnesses_.max()), coef_max=learner.coef_max_)
        rows.append({"V": V, "d": d, "T": T, "tv": tv, "queries": learner.queries_used_,
                     "witnesses_max": int(learner.witnesses_.max())})
    tally.details["instances"] = rows
    return tally.evidence()


def _check_graceful(gen: np.random.Generator, instances: int, beta: float = 2.0, n_eval: int = 400) -> Any:
    from .registry import Tally

    tally = Tally("learning.graceful")
    for _ in range(instances):
        V, d, T = 6, 3, 8
        seed = int(gen.integers(2**31))
        level = 10.0 ** gen.uniform(-4, -1)
        eps, xi = (level, 0.0) if gen.random() < 0.5 else (0.0, level)
        base_seed, hash_seed = spawn_seeds(seed, 2)
        base = TimeVaryingISAN.random(V, d, T, rng=base_seed)
        target: Any = PerturbedModel(base, eps, rng=hash_seed) if eps > 0 else base
        eps_avg = target.estimate_eps_avg(400, rng=seed)[0] if eps > 0 else 0.0
        learner = SpannerLPLearner(beta=beta, rank=d, threshold=10.0 * (eps + xi), max_epochs=3, rng=seed)
        learner.fit(QueryAccess(target, noise=xi, noise_mode="fixed", rng=seed))
        ev = evaluate(target, learner.model_, n_sequences=n_eval, rng=seed)
        bound = T * (np.sqrt(3.0 * eps_avg) + xi)
        tally.add(1.0 - (ev.tv + 3.0 * ev.tv_se) / bound, eps=eps, eps_avg=eps_avg, xi=xi, tv=ev.tv,
                  bound=bound, seed=seed)
    return tally.evidence()


def _check_sampled(gen: np.random.Generator, instances: int, law_factor: float = 1.0) -> Any:
    from .registry import Tally

    tally = Tally("learning.sampled_logits")
    V, eps, delta, repeats = 8, 0.5, 0.1, 300
    for _ in range(instances):
        lam = float(gen.uniform(0.5, 3.5))
        model = _FixedLogits(np.where(np.arange(V) < V // 2, lam, -lam))
        m = int(np.ceil(law_factor * np.exp(2 * lam) * V * np.log(V / delta) / eps**2))
        est = SampledLogitAccess(model, m, rng=gen).logits([()] * repeats)
        fail = float(np.mean(np.abs(est - model.logits([()])).max(axis=1) > eps))
        se = np.sqrt(max(fail, 1.0 / repeats) * (1 - fail) / repeats)
        tally.add((delta - (fail - 2 * se)) / delta, lam=lam, m=m, failure_rate=fail)
    return tally.evidence()


def _register() -> None:
    from .registry import Claim, register

    register(Claim(
        id="learning.exact",
        statement="SpannerLP learns exact random ISANs to TV ~ 0 with poly queries, |c| <= beta",
        latex=r"\mathrm{TV}(M,\hat M)\le10^{-6},\ \#Q\le200\,T^2V^2(d+1),\ \|c\|_\infty\le\beta",
        hypotheses="random time-varying ISAN, V in 2..4, d <= max_dim, T in 3..6; beta = 2; exact queries",
        bounds={"max_dim": (1, 5)}, reference="SPEC.md §1 'The provable learner' (GLS2)",
        defaults={"instances": 4, "max_dim": 4},
        margin="min of (1e-6 - TV)/1e-6, 1 - queries/bound, 1 - witnesses/(4d), beta - max|c|",
        checker=_check_exact,
        control=lambda g: _check_exact(g, 2, 3, beta=0.5),
        control_description="beta = 0.5 < 1: a basis row itself is out of the box, so TV stays large"))
    register(Claim(
        id="learning.witnesses",
        statement="Witness futures per position stay <= 4d and are what makes V = 2 ISANs learnable",
        latex=r"\max_s |\hat F_s \setminus F^{(0)}_s| \le 4d\ \text{and}\ \mathrm{TV}\le10^{-6}",
        hypotheses="random binary ISANs (V = 2, d in 3..max_dim > V + 1: one-token futures do not separate "
                   "the states), T in 6..8",
        bounds={"max_dim": (3, 6)},
        reference="SPEC.md §1 (elliptical potential: O(d log(T d alpha/(eps delta))))",
        defaults={"instances": 3, "max_dim": 5},
        margin="min of (1e-6 - TV)/1e-6, 1 - witnesses/(4d), 1 - queries/bound, beta - max|c|",
        checker=lambda g, instances, max_dim: _check_exact(g, instances, max_dim, binary=True),
        control=lambda g: _check_exact(g, 2, 5, binary=True, witnesses=False),
        control_description="witnesses disabled (max_witnesses = 0): the states are not separated"))
    register(Claim(
        id="learning.graceful",
        statement="TV degrades polynomially: TV <= T (sqrt(3 eps_avg) + xi), misspecified or fixed xi",
        latex=r"\mathrm{TV}\le T\,(\sqrt{3\varepsilon_{avg}}+\xi)",
        hypotheses="PerturbedModel of a random ISAN (V = 6, d = 3, T = 8), eps or fixed xi in [1e-4, 1e-1]; "
                   "rank bound d, threshold 10 (eps + xi)",
        bounds={}, reference="SPEC.md §1 'Misspecification, oracle error' (GLS2's robust theorem)",
        defaults={"instances": 3}, margin="1 - (TV + 3 se) / bound",
        checker=_check_graceful,
        control=lambda g: _check_graceful(g, 1, beta=0.5, n_eval=100),
        control_description="beta = 0.5: bounded-coefficient tracking is impossible, TV does not follow"))
    register(Claim(
        id="learning.sampled_logits",
        statement="m = e^{2 lambda} V log(V/delta) / eps^2 samples per query: entrywise error <= eps "
                  "w.p. >= 1 - delta",
        latex=r"m=e^{2\lambda}|\Sigma|\log(|\Sigma|/\delta)/\varepsilon^2\Rightarrow"
              r"\Pr[\|\hat\ell-\ell\|_\infty>\varepsilon]\le\delta",
        hypotheses="centered logits +-lambda (lambda in [0.5, 3.5]), V = 8, eps = 0.5, delta = 0.1, add-1/2 "
                   "smoothing",
        bounds={}, reference="SPEC.md §1 'sampled logits' (GLS2 Remark 5.8)",
        defaults={"instances": 4}, margin="(delta - (failure rate - 2 se)) / delta",
        checker=_check_sampled,
        control=lambda g: _check_sampled(g, 3, law_factor=np.exp(-6.0)),
        control_description="m times e^-6 (no e^{2 lambda} factor at lambda ~ 3): rare tokens fail"))


_register()


def sampled_end_to_end(samples_per_query: int = 20_000, *, V: int = 3, d: int = 2, T: int = 4,
                       n_eval: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Both learners on :class:`SampledLogitAccess` of a small ISAN (``logit_scale = 1``): TV and samples.

    Tolerances from ``m``: entrywise sampled-logit error ``~ sqrt(V / m)``, so the provable learner's
    threshold is ``8 sqrt(V / m)`` and the practical learner's ``noise_std = sqrt(V / m)``."""
    target = TimeVaryingISAN.random(V, d, T, rng=seed, logit_scale=1.0)
    scale = float(np.sqrt(V / samples_per_query))
    out = {}
    for name in LEARNERS:
        access = SampledLogitAccess(target, samples_per_query, rng=seed)
        learner: Any = (SpannerLPLearner(rank=d, threshold=8 * scale, max_epochs=3, rng=seed)
                        if name == "provable" else
                        LogitQueryLearner(rank=d, noise_std=scale, max_rounds=2, rng=seed))
        learner.fit(access)
        ev = evaluate(target, learner.model_, n_sequences=n_eval, rng=seed + 1)
        out[name] = {"tv": ev.tv, "tv_se": ev.tv_se, "samples": float(access.samples_used),
                     "queries": float(access.queries_used), "m": float(samples_per_query)}
    return out


def long_horizon(kind: str = "xi", level: float = 1e-2, *, V: int = 8, d: int = 4, T: int = 48,
                 n_eval: int = 500, seed: int = 0) -> dict[str, Any]:
    """Both learners on a long horizon under fixed oracle error (``kind="xi"``) or misspecification
    (``"eps"``): TV, the provable learner's largest ``|c|`` and the practical learner's state-norm growth."""
    if kind not in ("eps", "xi"):
        raise ValueError(f"kind: must be one of 'eps', 'xi', got {kind!r}")
    base_seed, hash_seed = spawn_seeds(seed, 2)
    base = TimeVaryingISAN.random(V, d, T, rng=base_seed)
    target: Any = PerturbedModel(base, level, rng=hash_seed) if kind == "eps" else base
    kw = {"eps": level} if kind == "eps" else {"xi": level}
    return {"kind": kind, "level": level, "T": T, **fit_both(target, rank=d, n_eval=n_eval, seed=seed, **kw)}
