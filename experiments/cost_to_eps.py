"""Experiment: cost to eps — the queries GLS2's learner needs to reach a TV target vs d, V, T and 1/eps.

Per axis, ``seeds`` random exact ISANs per point (the other knobs at :attr:`Config.base`), the cost to eps of
each (:func:`theory.cost_to_eps.cost_to_eps`: bisection on the query budget, with the samples drawn at that
budget and the cost of the unbudgeted, validated fit beside it).  Over at least six points spanning at least
1.5 decades per axis (the ``full`` preset), :func:`logitrank.power_law.fit_scaling` fits ``cost ~ C x^k`` with
a bootstrap interval and tests it against the affine law ``cost ~ a + b x``.  The theory's worst-case
exponents (:data:`theory.cost_to_eps.THEORY_EXPONENTS`) are recorded beside the fits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from logitrank.power_law import fit_scaling
from logitrank.validation import RngLike, as_rng, spawn_seeds
from simulators import TimeVaryingISAN
from theory.cost_to_eps import THEORY_EXPONENTS, cost_to_eps

from .base import ExperimentConfig, NoInputs, Presets, ResultBase

__all__ = ["AXES", "THEORY_EXPONENTS", "Config", "Result", "run"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("theory.cost_to_eps", "theory.learning_claims", "simulators.isan",
                            "simulators.learners.spanner_lp", "simulators.learners.access",
                            "simulators.learners.evaluation")

AXES = ("d", "V", "T", "inv_eps")


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """What to sweep: each axis's values with the others at ``base``; ``seeds`` targets per point.

    ``base`` is ``(V, d, T, eps)``; the ``inv_eps`` axis lists ``1/eps`` values (the TV target and the
    prescribed validation size change together). Presets: ``tiny`` (seconds: two small points per axis, two
    seeds; too few points for an exponent), ``quick`` (the defaults, about a minute: four cheap points per
    axis, 1 decade or less, three seeds), ``full`` (the README's measurement: six points over 1.5 decades
    per axis, five seeds; tens of minutes)."""

    base: tuple[int, int, int, float] = (4, 2, 6, 0.05)
    d: tuple[int, ...] = (1, 2, 4, 8)
    V: tuple[int, ...] = (2, 4, 8, 16)
    T: tuple[int, ...] = (3, 6, 12, 24)
    inv_eps: tuple[float, ...] = (3.0, 6.0, 12.0, 25.0)
    seeds: int = 3
    delta: float = 0.1
    rel_tol: float = 0.25
    n_eval: int = 200
    n_bootstrap: int = 200
    PRESETS: ClassVar[Presets] = {
        "tiny": {"d": (1, 2), "V": (2, 4), "T": (3, 6), "inv_eps": (3.0, 6.0), "seeds": 2, "rel_tol": 0.5,
                 "n_eval": 100, "n_bootstrap": 50},
        "full": {"d": (1, 2, 4, 8, 16, 32), "V": (2, 4, 8, 16, 32, 64), "T": (3, 6, 12, 24, 48, 96),
                 "inv_eps": (3.0, 6.0, 12.0, 25.0, 50.0, 100.0), "seeds": 5, "rel_tol": 0.1, "n_eval": 400,
                 "n_bootstrap": 400},
    }

    def points(self, axis: str) -> list[dict[str, Any]]:
        """The ``(V, d, T, eps)`` of each point of ``axis``."""
        V, d, T, eps = self.base
        values = getattr(self, axis)
        key = {"inv_eps": "eps"}.get(axis, axis)
        return [{"V": V, "d": d, "T": T, "eps": eps, key: (1.0 / v if axis == "inv_eps" else int(v))}
                for v in values]


@dataclass
class Result(ResultBase):
    """``config``: the :class:`Config` as a dict; ``axes``: axis -> ``values``, ``rows`` (per point, one
    :func:`theory.cost_to_eps.cost_to_eps` dict per seed), ``theory_exponent`` and the fits
    ``fit_queries``, ``fit_samples``, ``fit_validated_queries`` (:meth:`ScalingFit.to_dict`, or None with
    ``fit_<what>_error`` when too few points reached the target)."""

    config: dict[str, Any]
    axes: dict[str, dict[str, Any]] = field(default_factory=dict)


def fit_axis(axis: str, values: list[float], rows: list[list[dict[str, Any]]], n_bootstrap: int,
             gen: np.random.Generator) -> dict[str, Any]:
    """The scaling laws of one axis: queries, samples and validated queries against the axis's values
    (the points that reached the target only)."""
    x = [v for v, per in zip(values, rows) for r in per if r["reached"]]
    out: dict[str, Any] = {"values": values, "rows": rows, "theory_exponent": THEORY_EXPONENTS[axis]}
    for what in ("queries", "samples", "validated_queries"):
        y = [r[what] for per in rows for r in per if r["reached"]]
        try:
            out[f"fit_{what}"] = fit_scaling(x, y, n_bootstrap=n_bootstrap, rng=gen).to_dict()
        except ValueError as exc:  # too few points reached the target: no law to fit
            out[f"fit_{what}"], out[f"fit_{what}_error"] = None, str(exc)
    return out


def axis_rows(config: Config, axis: str, axis_seed: int, progress: bool | None) -> list[list[dict[str, Any]]]:
    """Per point of ``axis``: the cost to eps of ``config.seeds`` random exact ISANs."""
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
    return rows


def run(inputs: NoInputs, config: Config, *, rng: RngLike = 0, axes: tuple[str, ...] = AXES,
        progress: bool | None = False) -> Result:
    """The ``axes`` of ``config``: ``seeds`` random exact ISANs per point, the cost to eps of each, the fits.

    Each axis draws from its own spawned stream, so running the axes one at a time (and saving each) gives
    the same numbers as running them together."""
    gen = as_rng(rng)
    result = Result(config=config.to_dict())
    for axis, axis_seed in zip(AXES, spawn_seeds(gen, len(AXES))):
        if axis not in axes:
            continue
        rows_seed, fit_seed = spawn_seeds(axis_seed, 2)  # the targets' stream apart from the bootstrap's
        rows = axis_rows(config, axis, rows_seed, progress)
        fit_rng = as_rng(fit_seed)
        values = [float(v) for v in getattr(config, axis)]
        result.axes[axis] = fit_axis(axis, values, rows, config.n_bootstrap, fit_rng)
    return result
