"""Experiment: GLS2's provable learner beside the practical one (robustness, witnesses, queries, sampling).

The sweeps (each deterministic given its seed; the pieces they call are :mod:`theory.learning`'s):

- :func:`robustness_sweep` — TV of both learners against a reference TV over the average misspecification
  ``eps_avg`` (GLS2's average L1 error) of :class:`simulators.PerturbedModel` targets — the reference is the
  base model used as the generator, the best rank-``d`` model at hand — or over a fixed oracle error ``xi``
  (``QueryAccess(noise_mode="fixed")``) — the reference is the oracle's own answers used as a model. The
  ratio TV(learner) / TV(reference), with its interval, is the informative number: GLS2 proves
  ``TV <= poly(eps_avg, ...)`` with no exponent to test, and a log-log slope mostly restates the definition;
- :func:`long_horizon` — both learners at a long horizon (where coefficient or state growth would show);
- :func:`witness_sweep` — witness futures per position vs ``d`` on binary ISANs (``V = 2``: the one-token
  futures cannot separate ``d > 3`` states), against ``d log2(2 T d alpha / (eps delta))`` and GLS2's
  explicit ``64 d J_b``, ``J_b = ceil(log2(2 T d alpha / (eps delta))) + 64``;
- :func:`query_scaling` — queries and complete samples of one fit vs ``d``, ``V`` or ``T`` (the cost-to-eps
  curves with intervals and the power-vs-affine test are :mod:`experiments.cost_to_eps`);
- :func:`sampled_logit_cost` — entrywise error of :class:`simulators.learners.SampledLogitAccess` vs ``m`` for
  centered logits bounded by ``lambda``, and the ``m`` reaching a fixed error: Remark 5.8's
  ``m ~ e^{2 lambda} |Sigma| / eps^2`` predicts ``log m`` linear in ``lambda`` with slope 2;
- :func:`sampled_end_to_end` — both learners from sampled logits on a small ISAN (the benchmark's).

:func:`run` is the figure ``provable_learning``'s set of them at the sizes of :class:`Config`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from logitrank.validation import RngLike, as_rng, spawn_seeds
from simulators import PerturbedModel, TimeVaryingISAN
from simulators.learners import (
    LogitQueryLearner,
    QueryAccess,
    SampledLogitAccess,
    SpannerLPLearner,
    evaluate,
)
from theory.learning import (
    LEARNERS,
    FixedLogits,
    crossing_m,
    fit_both,
    reference_tv,
    sampled_logit_errors,
    scaling_exponent,
    tv_ratio,
    witness_bound,
)

from .base import ExperimentConfig, NoInputs, Presets, ResultBase

__all__ = ["LEARNERS", "Config", "Result", "run", "long_horizon", "query_scaling", "robustness_sweep",
           "sampled_end_to_end", "sampled_logit_cost", "witness_sweep"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("theory.learning", "simulators.isan", "simulators.perturbed",
                            "simulators.learners.query_learner", "simulators.learners.spanner_lp",
                            "simulators.learners.access", "simulators.learners.evaluation")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Target sizes of each measurement: ``vocab``, ``dim``, ``horizon`` and the ``levels`` of the robustness
    sweeps; the ``long_horizon``; the witness sweep's ``witness_dims`` and ``witness_horizon``; the
    ``scaling`` axes ``((axis, values), ...)``; the sampled-logit ``lambdas`` and ``repeats``; ``n_eval``
    target samples per TV estimate."""

    vocab: int = 8
    dim: int = 4
    horizon: int = 10
    levels: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
    long_horizon: int = 48
    witness_dims: tuple[int, ...] = (2, 4, 8, 16)
    witness_horizon: int = 12
    scaling: tuple[tuple[str, tuple[int, ...]], ...] = (("d", (2, 4, 8)), ("V", (4, 8, 16)),
                                                        ("T", (6, 12, 24)))
    lambdas: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0)
    repeats: int = 50
    n_eval: int = 300
    PRESETS: ClassVar[Presets] = {
        "tiny": {"vocab": 4, "dim": 2, "horizon": 5, "levels": (1e-1, 1e-2, 1e-3), "long_horizon": 8,
                 "witness_dims": (2, 4), "witness_horizon": 7,
                 "scaling": (("d", (2, 3)), ("V", (3, 4)), ("T", (4, 6))),
                 "lambdas": (1.0, 2.0, 3.0), "repeats": 10, "n_eval": 50},
        "full": {"witness_dims": (2, 3, 4, 6, 8, 12, 16),
                 "scaling": (("d", (2, 4, 8, 16)), ("V", (4, 8, 16, 32)), ("T", (6, 12, 24, 48))),
                 "repeats": 100, "n_eval": 2000},
    }


@dataclass
class Result(ResultBase):
    """``eps``, ``xi``: :func:`robustness_sweep` over misspecification and oracle error; ``long``:
    :func:`long_horizon` at ``xi = 1e-2``; ``witnesses``: :func:`witness_sweep`; ``scaling``: one
    :func:`query_scaling` per axis; ``sampled``: :func:`sampled_logit_cost` (each the function's dict)."""

    eps: dict[str, Any]
    xi: dict[str, Any]
    long: dict[str, Any]
    witnesses: dict[str, Any]
    scaling: list[dict[str, Any]]
    sampled: dict[str, Any]


def run(inputs: NoInputs, config: Config, *, rng: RngLike = 0) -> Result:
    """Every measurement of :class:`Config`; an integer ``rng`` is the seed of each (one seed spawned from a
    Generator)."""
    seed = rng if isinstance(rng, int) else spawn_seeds(rng, 1)[0]
    size = {"V": config.vocab, "d": config.dim, "T": config.horizon, "n_eval": config.n_eval, "seed": seed}
    robust = {kind: robustness_sweep(kind, list(config.levels), **size) for kind in ("eps", "xi")}
    return Result(
        **robust,
        long=long_horizon("xi", 1e-2, V=config.vocab, d=config.dim, T=config.long_horizon,
                          n_eval=config.n_eval, seed=seed),
        witnesses=witness_sweep(list(config.witness_dims), T=config.witness_horizon, n_eval=config.n_eval,
                                seed=seed),
        scaling=[query_scaling(axis, list(values), n_eval=config.n_eval, seed=seed)
                 for axis, values in config.scaling],
        sampled=sampled_logit_cost(list(config.lambdas), repeats=config.repeats, rng=seed))


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
    ratio = {name: [tv_ratio(r[name]["tv"], r[name]["tv_se"], *ref) for r, ref in zip(rows, refs)]
             for name in LEARNERS}
    return {"kind": kind, "levels": list(levels), "x": xs, "tv": tv, "rows": rows,
            "reference_tv": [ref[0] for ref in refs], "reference_tv_se": [ref[1] for ref in refs],
            "ratio": ratio, "slope": {name: scaling_exponent(xs, tv[name]) for name in LEARNERS},
            "monotone": {name: bool(np.all(np.diff(np.asarray(tv[name])[np.argsort(xs)]) > 0))
                         for name in LEARNERS}}


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
            "slope": scaling_exponent([r["d"] for r in rows], [r["max_per_position"] for r in rows])}


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
    out["exponent"] = {name: scaling_exponent(values, [r[name]["queries"] for r in rows])
                       for name in LEARNERS}
    out["reached"] = {name: bool(all(r[name]["tv"] <= 0.01 for r in rows)) for name in LEARNERS}
    out["theory_exponent"] = {"d": 4.0, "V": float("nan"), "T": 13.0}[axis]
    return out


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
        model = FixedLogits.plus_minus(lam, V)
        errs = [float(np.median(sampled_logit_errors(model, int(m), repeats, gen))) for m in grid]
        curves.append(errs)
        m_star.append(crossing_m(grid, errs, error))
    ok = np.isfinite(m_star)
    # log m* against lambda itself (not log lambda): the law is exponential in lambda
    slope = float(np.polyfit(np.asarray(lambdas)[ok], np.log(np.asarray(m_star)[ok]), 1)[0]) if ok.sum() > 1 \
        else float("nan")
    return {"lambdas": list(lambdas), "m": grid.tolist(), "error_curves": curves, "error": error,
            "m_star": m_star, "exponent": slope, "law_exponent": 2.0}


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
