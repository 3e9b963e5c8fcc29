"""An ISAN whose extended logit matrices have a planted power-law spectrum ``sigma_i ~ C i^(-alpha)``."""

from __future__ import annotations

from typing import Any

import numpy as np

from logitrank.validation import RngLike, as_rng, check_cut, check_float, check_positive_int, check_size

from .isan import TimeVaryingISAN
from .tables import trivial_rank_bound

__all__ = ["PlantedSpectrum", "C_MAX"]

C_MAX = 1e150
"""Largest prefactor ``C``: logits reach ``~C``, and spectra square them (Gram path, Frobenius sums), so
beyond ``~1e154`` they overflow float64 (``C = 1e308`` gave NaN logits, issue 16)."""


class PlantedSpectrum(TimeVaryingISAN):
    """A time-varying ISAN with diagonal sign transitions, power-law initial state and balanced readouts.

    Parameters: ``x0_i = C i^(-alpha)`` (``i = 1..d``); ``A_{t,z} = diag(signs[t-1, z])`` with entries
    ``+-1``; readouts ``B_t`` (``V x d``) whose columns are centered over the tokens and have unit norm.

    **Why the spectrum is planted.** The state after a history is ``x_t(h) = s(h) * x0`` (elementwise)
    with ``s(h) in {+-1}^d`` the product of the signs read along ``h``, so for histories ``H`` of length
    ``t`` and futures ``F``

        ``L(H, F) = S diag(x0) O^T``,  ``S[h, i] = s_i(h)``,  ``O[(f, z), i] = B_{t+|f|}[z, i] s_i(f)``.

    The columns of ``S`` have norm ``sqrt(|H|)`` and those of ``O`` norm ``sqrt(|F|)`` exactly (``B``
    columns are centered, so centering the logits changes nothing, and have unit norm). Transitions
    are orthogonal and *non-mixing*: coordinate ``i`` is only ever multiplied by ``+-1``, so no coordinate
    leaks into another (mixing transitions, e.g. Haar-random ones, would spread ``x0`` over all
    coordinates and flatten the spectrum). With i.i.d. random signs, different coordinates' sign
    patterns are nearly orthogonal over many histories (and futures): ``S^T S / |H| = I + E_S`` with
    ``||E_S|| ~ sqrt(d / |H|)``, likewise ``E_O``. Writing ``S = Q_S R_S`` and ``O = Q_O R_O``, the singular
    values of ``L`` are those of ``R_S diag(x0) R_O^T`` and by Ostrowski's multiplicative bounds

        ``sigma_i(L) / (sqrt(|H| |F|) C i^(-alpha)) in [(1 - ||E_S||)^(1/2) (1 - ||E_O||)^(1/2),
        (1 + ||E_S||)^(1/2) (1 + ||E_O||)^(1/2)]``

    — a bounded multiplicative distortion, uniform in ``i``, which shifts ``log sigma_i`` by ``O(||E||)`` and
    leaves the log-log slope ``-alpha`` nearly untouched. So ``L / sqrt(|H| |F|)`` has
    ``sigma_i ~= C i^(-alpha)``, ``i = 1..d``, and rank exactly ``d`` once ``|H|, |F| (V - 1) >= d``
    (generically).
    A small finite-sample effect remains: for well-separated ``sigma_i`` the ``i``-th value picks up
    ``~ sqrt(1 - i/|H|)`` (the part of column ``i`` of ``S`` outside the span of the first ``i - 1``), which
    steepens the measured slope slightly when ``d`` is not small against ``|H|``; keep ``|H| >= 16 d``
    for ``alpha`` within ~0.01.

    **Rank bound** ``d`` at every cut (an ISAN of dimension ``d``).

    Parameters
    ----------
    signs : array, shape (T-1, V, d), entries ``+-1``
    B : array, shape (T, V, d)
    alpha : float, ``>= 0``
    C : float, ``0 < C <= C_MAX = 1e150``
    """

    kind = "planted_spectrum"

    def __init__(self, signs: np.ndarray, B: np.ndarray, alpha: float, C: float = 1.0):
        signs = np.asarray(signs, dtype=np.float64)
        if signs.ndim != 3:
            raise ValueError(f"signs: must have shape (T-1, V, d), got {signs.shape}")
        if not np.all(np.abs(signs) == 1.0):
            raise ValueError("signs: entries must be +1 or -1 (non-mixing orthogonal transitions)")
        alpha, C = check_float("alpha", alpha, allow_inf=True), check_float("C", C, allow_inf=True)
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha: must be a finite number >= 0, got {alpha}")
        if not (np.isfinite(C) and C > 0):
            raise ValueError(f"C: must be a finite number > 0, got {C}")
        if C > C_MAX:
            raise ValueError(f"C: must be <= C_MAX = {C_MAX:g} (the logits reach ~C and spectra square "
                             f"them), got {C:g}")
        d = signs.shape[2]
        check_size("signs", signs.shape, signs.shape + (d,), what="the transitions A (T-1, V, d, d)")
        x0 = C * np.arange(1, d + 1, dtype=np.float64) ** (-alpha)
        A = np.zeros(signs.shape + (d,))
        A[..., np.arange(d), np.arange(d)] = signs
        super().__init__(x0, A, B)
        self.signs, self.alpha, self.C = signs, alpha, C

    @classmethod
    def random(  # type: ignore[override]
        cls, vocab_size: int, dim: int, horizon: int, alpha: float = 0.5, *, rng: RngLike = None,
        C: float = 1.0,
    ) -> PlantedSpectrum:
        """I.i.d. uniform signs; Gaussian readouts, each column centered over tokens, unit norm."""
        V = check_positive_int("vocab_size", vocab_size, minimum=2)
        d = check_positive_int("dim", dim)
        T = check_positive_int("horizon", horizon)
        check_size("(vocab_size, dim, horizon)", (V, d, T), (max(T - 1, 1), V, d, d),
                   what="the transitions A (T-1, V, d, d)")
        gen = as_rng(rng)
        signs = gen.choice(np.array([-1.0, 1.0]), size=(T - 1, V, d))
        B = gen.standard_normal((T, V, d))
        B -= B.mean(axis=1, keepdims=True)
        B /= np.linalg.norm(B, axis=1, keepdims=True)
        return cls(signs, B, alpha, C)

    def states(self, prefixes: np.ndarray) -> np.ndarray:
        """States ``x_t = s(h) * x0`` of equal-length prefixes ``(n, t)`` -> ``(n, d)`` (diagonal path)."""
        prefixes = np.asarray(prefixes, dtype=np.int64)
        X = np.tile(self.x0, (prefixes.shape[0], 1))
        for s in range(prefixes.shape[1]):
            X *= self.signs[s, prefixes[:, s]]
        return X

    def _stacked_future_operators(self, start: int, futures: list[tuple[int, ...]]) -> np.ndarray:
        cache: dict[tuple[int, ...], np.ndarray] = {(): np.ones(self.dim)}
        for f in sorted(set(futures), key=len):
            for m in range(1, len(f) + 1):
                if f[:m] not in cache:
                    cache[f[:m]] = self.signs[start + m - 1, f[m - 1]] * cache[f[: m - 1]]
        return np.concatenate([self.B[start + len(f)] * cache[f] for f in futures], axis=0)

    def rank_bound(self, t: int) -> int:
        t = check_cut(t, self.horizon)
        return min(self.dim, trivial_rank_bound(self.vocab_size, self.horizon, t))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"signs": self.signs, "B": self.B}

    def _params(self) -> dict[str, Any]:
        return {"dim": self.dim, "alpha": self.alpha, "C": self.C}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> PlantedSpectrum:
        return cls(arrays["signs"], arrays["B"], params["alpha"], params["C"])
