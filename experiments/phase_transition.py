"""Experiment: the alpha = 1/2 phase transition of the rank needed for a relative error eps.

For the spectrum ``sigma_i = i^-alpha, i <= N`` the minimal rank ``r_eps(N)`` whose truncation has relative
squared Frobenius error ``<= eps`` is computed exactly (``logitrank.approx_rank``) beside the sympy-derived
Euler–Maclaurin formula solved for ``r`` (:func:`theory.phase_transition.phase_transition_table`): bounded
in N for alpha > 1/2, linear in N for alpha < 1/2, ``N^{1-eps}``-like at alpha = 1/2. The constant for
alpha > 1/2 explodes as alpha -> 1/2; :attr:`Result.paper_alpha_constant` is its value at the paper's
alpha (``logitrank.paper.PAPER["alpha_olmo7b"]``); :attr:`Result.growth` is the log-log slope of the exact
``r_eps`` in ``N`` per alpha (0 above 1/2, 1 below, in the limit). Deterministic: no random draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from logitrank.paper import PAPER
from logitrank.power_law import loglog_fit
from logitrank.validation import RngLike

from .base import ExperimentConfig, NoInputs, Presets, ResultBase

__all__ = ["Config", "Result", "run", "growth_exponents"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("theory.phase_transition",)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Spectrum exponents ``alphas`` (the paper's alpha among them), the relative error ``eps`` and the
    matrix sizes ``N``."""

    alphas: tuple[float, ...] = (0.3, 0.45, 0.5, PAPER["alpha_olmo7b"], 0.6, 0.75, 1.0)
    eps: float = 0.09
    sizes: tuple[int, ...] = (10**2, 10**3, 10**4, 10**5, 10**6)
    PRESETS: ClassVar[Presets] = {
        "tiny": {"sizes": (10, 100, 1000), "alphas": (0.3, 0.5, PAPER["alpha_olmo7b"], 0.75)},
        "full": {"sizes": (10**2, 10**3, 10**4, 10**5, 10**6, 10**7)},
    }


@dataclass
class Result(ResultBase):
    """The minimal ranks, numeric and from the formulas (the fields of
    :func:`theory.phase_transition.phase_transition_table`).

    Attributes
    ----------
    alphas : list (n_alphas,); sizes : list (n_sizes,); eps : float
    numeric, formula, asymptotic : lists (n_alphas, n_sizes) — exact rank, Euler–Maclaurin rank, leading
        order
    theory_sizes : list (n_grid,); theory : list (n_alphas, n_grid) — the formula's rank on that grid
    constants, constants_log10 : dict ``str(alpha)`` -> ``r_eps(N = oo)`` (alpha > 1/2 only) and its log10
    regimes : list (n_alphas,) of ``"below"``, ``"critical"``, ``"above"``
    formulas : dict name -> sympy result as text
    paper_alpha_constant : float — ``r_eps(N = oo)`` at the paper's alpha
    growth : list (n_alphas,) — log-log slope of ``numeric`` (ranks below 1 read as 1) against ``sizes``
    """

    alphas: list[float]
    sizes: list[int]
    eps: float
    numeric: list[list[int]]
    formula: list[list[int]]
    asymptotic: list[list[float]]
    theory_sizes: list[float]
    theory: list[list[float]]
    constants: dict[str, float]
    constants_log10: dict[str, float]
    regimes: list[str]
    formulas: dict[str, Any]
    paper_alpha_constant: float
    growth: list[float]


def run(inputs: NoInputs, config: Config, *, rng: RngLike = None) -> Result:
    """The phase-transition table of ``config`` and the constant at the paper's alpha (``inputs`` and
    ``rng`` are unused: the experiment builds its spectra and draws nothing)."""
    from theory.phase_transition import phase_transition_table, r_eps_constant

    table = phase_transition_table(list(config.alphas), list(config.sizes), config.eps)
    paper = r_eps_constant(PAPER["alpha_olmo7b"], config.eps)
    growth = growth_exponents(table["sizes"], table["numeric"])
    return Result(**table, paper_alpha_constant=paper, growth=growth)


def growth_exponents(sizes: list[int], numeric: list[list[int]]) -> list[float]:
    """Per alpha, the log-log least-squares slope of its minimal ranks ``numeric[j]`` (floored at 1, so that
    a rank of 0 has a logarithm) against ``sizes``."""
    x = np.asarray(sizes, dtype=float)
    return [float(loglog_fit(x, np.maximum(np.asarray(row, dtype=float), 1))["slope"]) for row in numeric]
