"""Hidden dimension from the largest gap in the log singular values (Carlini et al. 2024).

A model whose logits are a linear read-out of a ``d``-dimensional state has a centered logit matrix
``L(H, {empty})`` of rank ``<= d``. In floating point the matrix is numerically full rank (the
trailing values sit at the round-off level, ``~eps sigma_1``), so a threshold is fragile; the position
of the largest drop ``log sigma_i - log sigma_{i+1}`` is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .validation import check_float, check_int, check_spectrum

__all__ = ["HiddenDimEstimate", "estimate_hidden_dim"]


@dataclass(frozen=True)
class HiddenDimEstimate:
    """Result of :func:`estimate_hidden_dim`.

    Attributes
    ----------
    dim : int
        Number of singular values above the largest gap.
    gap : float
        ``log sigma_dim - log sigma_{dim+1}`` (natural log, after flooring).
    log_gaps : array, shape (n - 1,)
        All consecutive gaps ``log sigma_i - log sigma_{i+1}`` (after flooring).
    floor : float
        The value tiny singular values were raised to before taking logs.
    """

    dim: int
    gap: float
    log_gaps: np.ndarray
    floor: float

    @property
    def ratio(self) -> float:
        """``sigma_dim / sigma_{dim+1} = exp(gap)``."""
        return float(np.exp(self.gap))


def estimate_hidden_dim(
    s: np.ndarray | Sequence[float], *, floor_rtol: float | None = None, max_dim: int | None = None
) -> HiddenDimEstimate:
    """Estimate the hidden dimension as the index of the largest gap in ``log sigma``.

    ``dim = argmax_i (log s_i - log s_{i+1})`` over ``1 <= i < n`` (ties: the smallest ``i``), after
    raising every value below ``floor = floor_rtol * sigma_1`` to ``floor``. Exact zeros and values at
    the round-off level thus form a flat tail (gaps 0) instead of producing infinite or random gaps
    inside the noise; the drop from ``sigma_d`` to the floor is still seen.

    Parameters
    ----------
    s : array, shape (n,), ``n >= 2``; sorted descending internally; ``sigma_1 > 0``
    floor_rtol : float, optional
        Default ``n * eps(float64)`` (the round-off level of a float64 SVD). Use ``~n * 1e-7`` for a
        matrix computed in float32, ``~1e-8`` for Gram-path spectra.
    max_dim : int, optional
        Only consider ``dim <= max_dim``.

    Returns
    -------
    HiddenDimEstimate
    """
    arr = np.sort(check_spectrum(s))[::-1]
    n = arr.size
    if n < 2:
        raise ValueError(f"s: need at least 2 singular values to find a gap, got {n}")
    if arr[0] <= 0:
        raise ValueError("s: the largest singular value must be > 0, got an all-zero spectrum")
    rtol = n * np.finfo(np.float64).eps if floor_rtol is None else check_float(
        "floor_rtol", floor_rtol, low=0, high=1, low_inclusive=False, high_inclusive=False)
    limit = n - 1 if max_dim is None else check_int("max_dim", max_dim, minimum=1, maximum=n - 1)
    floor = rtol * float(arr[0])
    logs = np.log(np.maximum(arr, floor))
    gaps = logs[:-1] - logs[1:]
    i = int(np.argmax(gaps[:limit]))
    return HiddenDimEstimate(dim=i + 1, gap=float(gaps[i]), log_gaps=gaps, floor=floor)
