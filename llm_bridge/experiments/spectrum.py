"""Experiment: the singular values of a transformer's ``L_{M,k}(H, F)`` and their power law.

``H`` and ``F`` are disjoint corpus windows (:func:`llm_bridge.draw_windows`, seeded); the matrix is the
top-k extended logit matrix (SPEC §1), its spectrum :func:`logitrank.singular_values` and the fit
``sigma_i ~ C i^(-alpha)`` :func:`logitrank.fit_power_law` with its bootstrap interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from logitrank import PowerLawFit, as_rng, fit_power_law, singular_values
from logitrank.validation import RngLike

from ..windows import WindowSpec, draw_windows
from ._common import ResultBase, as_model, logit_matrix

__all__ = ["Config", "Result", "run", "logit_spectrum"]


DEFAULT_SPEC = WindowSpec()


@dataclass(frozen=True)
class Config(WindowSpec):
    """The window sizes (:class:`llm_bridge.WindowSpec`: ``|H|``, ``|h|``, ``|F|``, ``|f|``, top-k)."""


@dataclass
class Result(ResultBase):
    """Singular values of ``L_{M,k}(H, F)`` and their power-law fit.

    Attributes
    ----------
    singular_values : array, shape (min(|H|, |F| k),)
    fit : PowerLawFit — ``sigma_i ~ C i^(-alpha)``
    shape : (int, int)
    spec : WindowSpec
    """

    singular_values: np.ndarray
    fit: PowerLawFit
    shape: tuple[int, int]
    spec: WindowSpec

    @property
    def alpha(self) -> float:
        return float(self.fit.alpha)


def logit_spectrum(
    model: Any,
    tokens: np.ndarray,
    spec: WindowSpec = DEFAULT_SPEC,
    *,
    rng: RngLike = None,
    windows: tuple[list, list] | None = None,
) -> Result:
    """Spectrum and power-law exponent ``alpha`` of ``L_{M,k}(H, F)`` with ``H, F`` drawn from ``tokens``.

    Parameters
    ----------
    model : SequenceModel, transformers model or checkpoint directory
    tokens : int array, shape (N,) — the corpus (e.g. the validation split)
    spec : WindowSpec
    rng : Generator or seed (windows, top-k rule, bootstrap)
    windows : (H, F), optional — reuse given windows instead of drawing

    Returns
    -------
    Result
    """
    gen = as_rng(rng)
    model = as_model(model)
    H, F = windows if windows is not None else draw_windows(tokens, spec, gen)
    L = logit_matrix(model, H, F, spec.top_k, gen)
    s = singular_values(L)
    return Result(singular_values=s, fit=fit_power_law(s, rng=gen), shape=L.shape, spec=spec)


def run(model: Any, tokens: np.ndarray, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`logit_spectrum` with ``config`` as the window sizes."""
    return logit_spectrum(model, tokens, config, rng=rng)
