"""The learning theorem measured: GLS2's provable learner beside the practical one, and its claims.

Measurements (each deterministic given ``seed``; the benchmarks and ``fig_provable_learning`` call them):

- :func:`robustness_sweep` — TV of both learners against a reference TV over the average misspecification
  ``eps_avg`` (GLS2's average L1 error) of :class:`PerturbedModel` targets — the reference is the base model
  used as the generator, the best rank-``d`` model at hand — or over a fixed oracle error ``xi``
  (:class:`QueryAccess` ``noise_mode="fixed"``) — the reference is the oracle's own answers used as a model.
  The ratio TV(learner) / TV(reference), with its interval, is the informative number: GLS2 proves
  ``TV <= poly(eps_avg, ...)`` with no exponent to test, and a log-log slope mostly restates the definition;
- :func:`long_horizon` — both learners at ``T = 48`` (where coefficient or state growth would show);
- :func:`witness_sweep` — witness futures per position vs ``d`` on binary ISANs (``V = 2``: the
  one-token futures cannot separate ``d > 3`` states), against ``d log2(2 T d alpha / (eps delta))`` and
  GLS2's explicit ``64 d J_b``, ``J_b = ceil(log2(2 T d alpha / (eps delta))) + 64``;
- :func:`query_scaling` — queries and complete samples of one fit vs ``d``, ``V`` or ``T`` (the cost-to-eps
  curves with intervals and the power-vs-affine test are :mod:`theory.cost_to_eps`);
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
from logitrank.power_law import fit_scaling
from logitrank.validation import RngLike, as_rng, spawn_seeds
from simulators import PerturbedModel, TimeVaryingISAN
from simulators.learners import LogitQueryLearner, QueryAccess, SampledLogitAccess, SpannerLPLearner, evaluate

__all__ = ["fit_both", "long_horizon", "query_scaling", "reference_tv", "robustness_sweep",
           "sampled_end_to_end", "sampled_logit_cost", "witness_bound", "witness_sweep"]

LEARNERS = ("provable", "practical")


def _exponent(x: Sequence[float], y: Sequence[float]) -> float:
    """Log-log exponent of ``y`` on ``x`` by :func:`logitrank.power_law.fit_scaling` (nan under 3 points)."""
    keep = [(a, b) for a, b in zip(x, y) if a > 0 and b > 0 and np.isfinite(b)]
    if len(keep) < 3 or len({a for a, _ in keep}) < 2:
        return float("nan")
    return fit_scaling(*zip(*keep), n_bootstrap=1, rng=0).exponent


def _ratio(tv: float, tv_se: float, ref: float, ref_se: float, z: float = 1.96) -> dict[str, float]:
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


def robustness_sweep(kind: str, levels: Sequence[float], *, V: int = 8, d: int = 4, T: int = 10,
                     n_eval: int = 500, seed: int = 0) -> dict[str, Any]:
    """TV of both learners, and of the reference generator, vs misspecification (``kind="eps"``) or fixed
    oracle error (``kind="xi"``).

    Returns a dict with ``levels``, ``x`` (``eps_avg`` estimates — average L1 error — or ``xi``), per-learner
    ``tv`` lists, ``reference_tv``, per-learner ``ratio`` rows ``{ratio, low, high}`` (TV / reference TV
    with a 95% interval), the log-log ``slope`` of TV against ``x`` (for reference: it restates the
    definition), and the raw rows."""
    if kind not in ("eps", "xi"):
        raise ValueError(f"kind: must be one of 'eps', 'xi', got {kind!r}")
    base_seed, hash_seed, avg_seed = spawn_seeds(seed, 3)
    base = TimeVaryingISAN.random(V, d, T, rng=base_seed)
    xs, rows, refs = [], [], []
    for level in levels:
        if kind == "eps":
            target: Any = PerturbedModel(base, level, rng=hash_seed)
            xs.append(target.estimate_eps_avg(500, rng=avg_seed)[0])
            rows.append(fit_both(target, rank=d, eps=level, n_eval=n_eval, seed=seed))
            refs.append(reference_tv(target, base, n_eval=n_eval, seed=seed))
        else:
            xs.append(float(level))
            rows.append(fit_both(base, rank=d, xi=level, n_eval=n_eval, seed=seed))
            refs.append(reference_tv(base, base, xi=level, n_eval=n_eval, seed=seed))
    tv = {name: [r[name]["tv"] for r in rows] for name in LEARNERS}
    ratio = {name: [_ratio(r[name]["tv"], r[name]["tv_se"], *ref) for r, ref in zip(rows, refs)]
             for name in LEARNERS}
    return {"kind": kind, "levels": list(levels), "x": xs, "tv": tv, "rows": rows,
            "reference_tv": [ref[0] for ref in refs], "reference_tv_se": [ref[1] for ref in refs],
            "ratio": ratio, "slope": {name: _exponent(xs, tv[name]) for name in LEARNERS},
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
        target_seed, learner_seed, access_seed, eval_seed = spawn_seeds(s, 4)
        target = TimeVaryingISAN.random(V, int(d), T, rng=target_seed)
        learner = SpannerLPLearner(max_epochs=60, rng=learner_seed)
        learner.fit(QueryAccess(target, rng=access_seed))
        alpha = max(float(np.abs(r).max(initial=0.0)) for r in learner.model_.basis_rows) * np.sqrt(V)
        soft, explicit = witness_bound(int(d), T, max(alpha, 1.0))
        tv = evaluate(target, learner.model_, n_sequences=n_eval, rng=eval_seed).tv
        rows.append({"d": int(d), "max_per_position": int(learner.witnesses_.max()),
                     "total": int(learner.witnesses_.sum()), "d_log": soft, "explicit": explicit,
                     "tv": tv, "epochs": learner.epochs_, "stop": learner.stop_reason_})
    return {"V": V, "T": T, "rows": rows,
            "slope": _exponent([r["d"] for r in rows], [r["max_per_position"] for r in rows])}


def query_scaling(axis: str, values: Sequence[int], *, V: int = 8, d: int = 4, T: int = 8, n_eval: int = 300,
                  seed: int = 0) -> dict[str, Any]:
    """Queries (and samples) of both learners on exact ISANs as ``axis`` in ``{"d", "V", "T"}`` varies."""
    if axis not in ("d", "V", "T"):
        raise ValueError(f"axis: must be one of 'd', 'V', 'T', got {axis!r}")
    rows: list[dict[str, Any]] = []
    for v, s in zip(values, spawn_seeds(seed, len(values))):
        knobs = {"V": V, "d": d, "T": T, axis: int(v)}
        target_seed, fit_seed = spawn_seeds(s, 2)
        target = TimeVaryingISAN.random(knobs["V"], knobs["d"], knobs["T"], rng=target_seed)
        rows.append({**knobs, **fit_both(target, n_eval=n_eval, seed=fit_seed)})
    out: dict[str, Any] = {"axis": axis, "values": list(values), "rows": rows}
    out["exponent"] = {name: _exponent(values, [r[name]["queries"] for r in rows]) for name in LEARNERS}
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

def _check_sampled(gen: np.random.Generator, instances: int, law_factor: float = 1.0) -> Any:
    from .learning_claims import CONFIDENCE, failure_interval
    from .registry import Tally

    tally = Tally("learning.sampled_logits")
    V, eps, delta, repeats = 8, 0.5, 0.1, 300
    for _ in range(instances):
        lam = float(gen.uniform(0.5, 3.5))
        model = _FixedLogits(np.where(np.arange(V) < V // 2, lam, -lam))
        m = int(np.ceil(law_factor * np.exp(2 * lam) * V * np.log(V / delta) / eps**2))
        est = SampledLogitAccess(model, m, rng=gen).logits([()] * repeats)
        fails = int(np.sum(np.abs(est - model.logits([()])).max(axis=1) > eps))
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


def sampled_end_to_end(samples_per_query: int = 20_000, *, V: int = 3, d: int = 2, T: int = 4,
                       n_eval: int = 1000, seed: int = 0) -> dict[str, dict[str, float]]:
    """Both learners on :class:`SampledLogitAccess` of a small ISAN (``logit_scale = 1``): TV and samples.

    Tolerances from ``m``: entrywise sampled-logit error ``~ sqrt(V / m)``, so the provable learner's
    threshold is ``8 sqrt(V / m)`` and the practical learner's ``noise_std = sqrt(V / m)``."""
    target_seed, access_seed, learner_seed, eval_seed = spawn_seeds(seed, 4)
    target = TimeVaryingISAN.random(V, d, T, rng=target_seed, logit_scale=1.0)
    scale = float(np.sqrt(V / samples_per_query))
    out = {}
    for name in LEARNERS:
        access = SampledLogitAccess(target, samples_per_query, rng=access_seed)
        learner: Any = (SpannerLPLearner(rank=d, threshold=8 * scale, max_epochs=3, rng=learner_seed)
                        if name == "provable" else
                        LogitQueryLearner(rank=d, noise_std=scale, max_rounds=2, rng=learner_seed))
        learner.fit(access)
        ev = evaluate(target, learner.model_, n_sequences=n_eval, rng=eval_seed)
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
