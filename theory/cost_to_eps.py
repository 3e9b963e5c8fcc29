"""Cost-to-eps curves: the queries a learner needs to reach a TV target; exponents in d, V, T and 1/eps.

For one target and one learner seed, the **cost to eps** is the smallest query budget ``B`` such that the
learner, run on ``QueryAccess(target, budget=B)`` (an anytime learner keeps its last complete model when the
budget runs out), returns a model with ``TV <= eps``.  It is found by bisection on ``log B`` between a budget
that fails and one that succeeds, to a relative tolerance ``rel_tol`` (:func:`cost_to_eps`); the samples the
learner drew at that budget are recorded beside it.  Over ``seeds`` targets per point and at least six points
spanning at least 1.5 decades per axis, :func:`logitrank.power_law.fit_scaling` fits ``cost ~ C x^k`` with a
bootstrap interval and tests it against the affine law ``cost ~ a + b x``.

The learner is GLS2's (:class:`~simulators.learners.SpannerLPLearner`, as written) with the sample sizes its
(eps, delta) statement prescribes: ``n_validation = ceil(ln(1/delta)/eps)`` (:func:`validation_size`), so the
``1/eps`` axis measures how that prescription costs.  The theory's exponents (GLS2's exact-rank robust bound,
``O~(T^13 d^4 / eps^4)`` requests) are upper bounds on a worst case, printed beside the measured ones as such.

An experiment in one module: :class:`Config` (presets ``tiny()``, ``quick()``, ``full()``), :class:`Result`
(``to_dict`` / ``from_dict``) and :func:`run`.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from logitrank.power_law import fit_scaling
from logitrank.validation import RngLike, as_rng, spawn_seeds
from simulators import TimeVaryingISAN
from simulators.learners import BudgetExceeded, QueryAccess, SpannerLPLearner, evaluate

from .learning_claims import validation_size

__all__ = ["AXES", "THEORY_EXPONENTS", "Config", "Result", "cost_to_eps", "run"]

AXES = ("d", "V", "T", "inv_eps")
THEORY_EXPONENTS = {"d": 4.0, "V": float("nan"), "T": 13.0, "inv_eps": 4.0}
"""GLS2's exact-rank robust theorem, ``O~(T^13 d^4 / eps^4)`` requests: upper bounds for the worst case (no
``V`` exponent is stated); not predictions of the typical cost."""


@dataclass(frozen=True)
class Config:
    """What to sweep: each axis's values with the others at ``base``; ``seeds`` targets per point.

    ``base`` is ``(V, d, T, eps)``; the ``inv_eps`` axis lists ``1/eps`` values (the TV target and the
    prescribed validation size change together)."""

    base: tuple[int, int, int, float] = (4, 2, 6, 0.05)
    d: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    V: tuple[int, ...] = (2, 4, 8, 16, 32, 64)
    T: tuple[int, ...] = (3, 6, 12, 24, 48, 96)
    inv_eps: tuple[float, ...] = (3.0, 6.0, 12.0, 25.0, 50.0, 100.0)
    seeds: int = 5
    delta: float = 0.1
    rel_tol: float = 0.1
    n_eval: int = 400
    n_bootstrap: int = 400

    @classmethod
    def tiny(cls) -> Config:
        """Seconds: two small points per axis, two seeds (a smoke test; too few points for an exponent)."""
        return cls(d=(1, 2), V=(2, 4), T=(3, 6), inv_eps=(3.0, 6.0), seeds=2, rel_tol=0.5, n_eval=100,
                   n_bootstrap=50)

    @classmethod
    def quick(cls) -> Config:
        """About a minute: four cheap points per axis (1 decade or less), three seeds."""
        return cls(d=(1, 2, 4, 8), V=(2, 4, 8, 16), T=(3, 6, 12, 24), inv_eps=(3.0, 6.0, 12.0, 25.0), seeds=3,
                   rel_tol=0.25, n_eval=200, n_bootstrap=200)

    @classmethod
    def full(cls) -> Config:
        """The README's measurement: six points over 1.5 decades per axis, five seeds (tens of minutes)."""
        return cls()

    def points(self, axis: str) -> list[dict[str, Any]]:
        """The ``(V, d, T, eps)`` of each point of ``axis``."""
        V, d, T, eps = self.base
        values = getattr(self, axis)
        key = {"inv_eps": "eps"}.get(axis, axis)
        return [{"V": V, "d": d, "T": T, "eps": eps, key: (1.0 / v if axis == "inv_eps" else int(v))}
                for v in values]


@dataclass
class Result:
    """Per axis: the points' costs (queries and samples, one per seed) and the fitted scaling law."""

    config: dict[str, Any]
    axes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "axes": self.axes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        return cls(config=dict(data["config"]), axes={k: dict(v) for k, v in data["axes"].items()})


def _attempt(target: Any, eps: float, delta: float, budget: int, seed: int, n_eval: int) -> tuple[bool, int]:
    """Fit under ``budget``: ``(TV <= eps, samples drawn)``."""
    learner_seed, access_seed, eval_seed = spawn_seeds(seed, 3)
    learner = SpannerLPLearner(n_validation=validation_size(eps, delta), rng=learner_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "budget exhausted": the point of the bisection
        try:
            learner.fit(QueryAccess(target, budget=budget, rng=access_seed))
        except BudgetExceeded:
            return False, 0
    tv = evaluate(target, learner.model_, n_sequences=n_eval, rng=eval_seed).tv
    return tv <= eps, learner.samples_used_


def cost_to_eps(target: Any, eps: float, *, delta: float = 0.1, rel_tol: float = 0.1, n_eval: int = 400,
                rng: RngLike = None) -> dict[str, Any]:
    """Smallest query budget (to ``rel_tol``) with which GLS2's learner reaches ``TV <= eps`` on ``target``.

    The unbudgeted fit's query count is the first bracket's top (doubled until it succeeds, at most 4
    times); bisection on ``log B`` then halves the bracket ``[fail, success]`` until ``success / fail <= 1
    + rel_tol``.  Returns ``{"queries", "samples", "fits", "reached"}`` (``reached`` False: even 16x the
    unbudgeted cost failed; ``queries`` is then that last budget), and the unbudgeted fit's own cost
    ``validated_queries`` / ``validated_samples`` / ``stop_reason`` (a budget-cut model may already be good
    before its validation finishes: the cost to reach eps is at most the cost to certify it)."""
    seed = spawn_seeds(rng, 1)[0]
    learner_seed, access_seed, _ = spawn_seeds(seed, 3)
    full = SpannerLPLearner(n_validation=validation_size(eps, delta), rng=learner_seed)
    full.fit(QueryAccess(target, rng=access_seed))
    hi, fits = int(full.queries_used_), 1
    validated = {"validated_queries": float(full.queries_used_),
                 "validated_samples": float(full.samples_used_), "stop_reason": full.stop_reason_}
    ok, samples = _attempt(target, eps, delta, hi, seed, n_eval)
    while not ok and fits < 5:
        hi, fits = 2 * hi, fits + 1
        ok, samples = _attempt(target, eps, delta, hi, seed, n_eval)
    if not ok:
        return {"queries": float(hi), "samples": float(samples), "fits": fits, "reached": False, **validated}
    lo = 1
    while hi / lo > 1.0 + rel_tol:
        mid = int(round(math.sqrt(lo * hi)))
        if mid in (lo, hi):
            break
        good, s = _attempt(target, eps, delta, mid, seed, n_eval)
        fits += 1
        if good:
            hi, samples = mid, s
        else:
            lo = mid
    return {"queries": float(hi), "samples": float(samples), "fits": fits, "reached": True, **validated}


def _fit_axis(axis: str, values: list[float], rows: list[list[dict[str, float]]], config: Config,
              gen: np.random.Generator) -> dict[str, Any]:
    x = [v for v, per in zip(values, rows) for r in per if r["reached"]]
    out: dict[str, Any] = {"values": values, "rows": rows, "theory_exponent": THEORY_EXPONENTS[axis]}
    for what in ("queries", "samples", "validated_queries"):
        y = [r[what] for per in rows for r in per if r["reached"]]
        try:
            out[f"fit_{what}"] = fit_scaling(x, y, n_bootstrap=config.n_bootstrap, rng=gen).to_dict()
        except ValueError as exc:  # too few points reached the target: no law to fit
            out[f"fit_{what}"], out[f"fit_{what}_error"] = None, str(exc)
    return out


def run(config: Config, *, rng: RngLike = 0, axes: tuple[str, ...] = AXES, progress: bool | None = False
        ) -> Result:
    """The ``axes`` of ``config``: ``seeds`` random exact ISANs per point, the cost to eps of each, the fits.

    Each axis draws from its own spawned stream, so running the axes one at a time (and saving each) gives
    the same numbers as running them together."""
    gen = as_rng(rng)
    result = Result(config=dataclasses.asdict(config))
    for axis, axis_seed in zip(AXES, spawn_seeds(gen, len(AXES))):
        if axis not in axes:
            continue
        pts = config.points(axis)
        rows = []
        for p, point_seed in tqdm(list(zip(pts, spawn_seeds(axis_seed, len(pts)))), disable=not progress,
                                  desc=f"cost to eps vs {axis}", unit="point"):
            per = []
            for s in spawn_seeds(point_seed, config.seeds):
                target_seed, cost_seed = spawn_seeds(s, 2)
                target = TimeVaryingISAN.random(p["V"], p["d"], p["T"], rng=target_seed)
                per.append(cost_to_eps(target, p["eps"], delta=config.delta, rel_tol=config.rel_tol,
                                       n_eval=config.n_eval, rng=cost_seed))
            rows.append(per)
        fit_rng = np.random.default_rng(axis_seed)
        result.axes[axis] = _fit_axis(axis, [float(v) for v in getattr(config, axis)], rows, config, fit_rng)
    return result
