"""Parity-based binary models: noisy parity and bits with sparse-polynomial log-odds.

Both models live on the alphabet ``{0, 1}`` (``V = 2``). A bit ``x_j`` is read as the sign
``(-1)^{x_j}`` and a monomial over a set ``S`` of positions is the character
``chi_S(x) = prod_{j in S} (-1)^{x_j}`` (``chi_{empty} = 1``). Positions are 0-based: ``x_0`` is the
first token. With ``V = 2`` the centered logits of a next-bit distribution with log-odds
``g = log Pr[1] / Pr[0]`` are ``(-g/2, +g/2)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank.validation import (
    RngLike,
    as_rng,
    check_cut,
    check_float,
    check_int,
    check_positions,
    check_positive_int,
    check_size,
)

from .base import SyntheticModel
from .isan import TimeVaryingISAN
from .tables import trivial_rank_bound

__all__ = ["NoisyParity", "SparsePolynomialBits"]


def _binary_logits(log_odds: np.ndarray) -> np.ndarray:
    """Centered ``(n, 2)`` logits ``(-g/2, g/2)`` from log-odds ``g`` of shape ``(n,)``."""
    half = 0.5 * np.asarray(log_odds, dtype=np.float64)
    return np.stack([-half, half], axis=1)


class NoisyParity(SyntheticModel):
    """``n`` uniform bits, then a label: the parity of the bits in ``subset``, flipped w.p. ``noise``.

    Horizon ``T = n_bits + 1``. The label's log-odds are ``+-lambda`` with
    ``lambda = log((1 - noise) / noise)``: ``Pr[y = 1 | x] = 1 - noise`` when ``sum_{j in S} x_j`` is odd.

    **Exact logit rank.** For every cut ``0 <= t <= n_bits``,
    ``rank L(Sigma^t, Sigma^{<= n-t}) = 1`` if ``noise < 1/2`` and ``0`` if ``noise = 1/2``
    (:meth:`exact_rank`). Proof: a column ``(f, z)`` whose position ``p = t + |f|`` is a data bit
    (``p < n``) has centered logit 0 — the uniform distribution centers to the zero vector (without
    centering it would be the constant ``log 1/2`` and add one to the rank). At the label position
    (``|f| = n - t``) the centered logit is ``l_z = (z - 1/2) * lambda * (-1)^{1 + par_S(h . f)}`` and the
    parity splits as ``(-1)^{par_S(h . f)} = u(h) w(f)`` with ``u(h) = (-1)^{sum_{j in S, j < t} h_j}``.
    So ``L = u c^T`` for one column vector ``c`` (non-zero iff ``lambda != 0``): rank 1. This holds for
    every subset, including ``S`` empty (``u = 1``) and ``S`` entirely in the future (``u = 1``).
    Learning ``S`` from samples is nevertheless believed hard (learning parity with noise).

    Parameters
    ----------
    n_bits : int, ``>= 1``
    subset : sequence of int
        Distinct positions in ``[0, n_bits)`` (0-based) whose parity is the label; may be empty.
    noise : float in ``(0, 1/2]``
    """

    kind = "noisy_parity"

    def __init__(self, n_bits: int, subset: Sequence[int] | np.ndarray, noise: float):
        self.n_bits = check_positive_int("n_bits", n_bits)
        sub = check_positions("subset", subset, self.n_bits, "n_bits")
        noise = check_float("noise", noise)
        if not 0.0 < noise <= 0.5:
            raise ValueError(f"noise: must lie in (0, 1/2], got {noise}")
        self.subset = tuple(sorted(sub))
        self.noise = noise
        ratio = (1.0 - noise) / noise  # overflows for subnormal noise: then the stable form
        self.log_odds = float(np.log(ratio) if np.isfinite(ratio) else np.log1p(-noise) - np.log(noise))
        self.vocab_size, self.horizon = 2, self.n_bits + 1

    @classmethod
    def random(cls, n_bits: int, subset_size: int, noise: float = 0.1, *, rng: RngLike = None) -> NoisyParity:
        """A uniformly random subset of ``subset_size`` positions out of ``n_bits``."""
        n = check_positive_int("n_bits", n_bits, maximum=2**62)  # positions are drawn as int64
        k = check_int("subset_size", subset_size, minimum=0, maximum=n)
        gen = as_rng(rng)
        return cls(n, gen.choice(n, size=k, replace=False), noise)

    def _logits_batch(self, prefixes: np.ndarray) -> np.ndarray:
        n, t = prefixes.shape
        if t < self.n_bits:
            return np.zeros((n, 2))
        parity = prefixes[:, list(self.subset)].sum(axis=1) % 2
        return _binary_logits(self.log_odds * (2.0 * parity - 1.0))

    def exact_rank(self, t: int) -> int:
        """``rank L(Sigma^t, Sigma^{<= n_bits - t})``: 1 if ``noise < 1/2`` else 0 (class docstring)."""
        check_cut(t, self.horizon)
        return 1 if self.noise < 0.5 else 0

    def rank_bound(self, t: int) -> int:
        """Equal to :meth:`exact_rank` (the bound is tight)."""
        return self.exact_rank(t)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"subset": np.asarray(self.subset, dtype=np.int64)}

    def _params(self) -> dict[str, Any]:
        return {"n_bits": self.n_bits, "noise": self.noise}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> NoisyParity:
        return cls(params["n_bits"], arrays["subset"], params["noise"])


class SparsePolynomialBits(SyntheticModel):
    """Bits whose log-odds are sparse polynomials of the earlier bits.

    ``log Pr[x_p = 1 | x_<p] / Pr[x_p = 0 | x_<p] = bias_p + sum_i coefficients[p, i] * chi_{S_i}(x)``
    with monomial sets ``S_i = monomials[i]``; ``coefficients[p, i]`` may be non-zero only when every
    position of ``S_i`` is ``< p``. Horizon ``T = n_bits``.

    **ISAN of dimension m + 1** (:meth:`to_isan`, ``m`` = number of monomials): coordinate ``i`` of
    the state after ``t`` bits holds the running parity ``chi_{S_i cap [0, t)}(x)`` (a sign flip of that
    coordinate when a bit ``1`` arrives at a position of ``S_i``: a diagonal ``+-1`` transition), the last
    coordinate is the constant 1 (it carries the bias); once ``S_i subset [0, t)`` the running parity is
    ``chi_{S_i}``, so the readout ``B_t = (-1/2, 1/2)^T (coefficients[t], bias_t)`` is exact.

    **Rank bound at cut t** (:meth:`rank_bound`): ``L(Sigma^t, Sigma^{<= T-1-t})[h, (f, z)]`` at position
    ``p = t + |f|`` is ``(z - 1/2) (bias_p + sum_i a_{p,i} chi_{R_i}(h) chi_{S_i minus R_i}(f))`` with
    ``R_i = S_i cap [0, t)``. As functions of ``h`` the columns lie in the span of the characters
    ``chi_{R_i}`` of the *active* monomials (``a_{p,i} != 0`` for some ``p >= t``) and, if some
    ``bias_p != 0`` with ``p >= t``, the constant ``chi_{empty}``; so the rank is at most the number of
    distinct such sets ``R_i`` (with ``empty`` added for a bias), ``<= m + 1``, and at most the trivial
    row/column bound. Distinct characters are linearly independent, so the bound is tight unless the
    future-side coefficients happen to be dependent.

    Parameters
    ----------
    n_bits : int, ``>= 1``
    monomials : sequence of sequences of int
        ``m`` sets of 0-based positions in ``[0, n_bits)``.
    coefficients : array, shape (n_bits, m)
    bias : array, shape (n_bits,), optional (default zeros)
    """

    kind = "sparse_polynomial_bits"

    def __init__(self, n_bits: int, monomials: Sequence[Sequence[int]], coefficients: np.ndarray,
                 bias: np.ndarray | None = None):
        n = self.n_bits = check_positive_int("n_bits", n_bits)
        sets: list[tuple[int, ...]] = []
        if monomials is None or isinstance(monomials, str | bytes):
            raise TypeError(f"monomials: must be a sequence of position sets, got {monomials!r}")
        for i, mono in enumerate(monomials):
            sets.append(tuple(sorted(check_positions(f"monomials[{i}]", mono, n, "n_bits"))))
        m = len(sets)
        coef = np.asarray(coefficients, dtype=np.float64)
        if coef.shape != (n, m):
            raise ValueError(f"coefficients: must have shape (n_bits={n}, m={m}), got {coef.shape}")
        b = np.zeros(n) if bias is None else np.asarray(bias, dtype=np.float64)
        if b.shape != (n,):
            raise ValueError(f"bias: must have shape (n_bits={n},), got {b.shape}")
        for name, arr in (("coefficients", coef), ("bias", b)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name}: must be finite, got non-finite entries")
        self.indicator = np.zeros((m, n), dtype=np.int64)
        for i, s in enumerate(sets):
            self.indicator[i, list(s)] = 1
        last = np.array([max(s) if s else -1 for s in sets], dtype=np.int64)
        bad = np.argwhere((coef != 0) & (last[None, :] >= np.arange(n)[:, None]))
        if bad.size:
            p, i = (int(v) for v in bad[0])
            raise ValueError(f"coefficients[{p}, {i}]: must be 0 because monomial {i} = {set(sets[i])} uses "
                             f"a bit at position >= {p}; the log-odds of bit {p} may depend only on earlier "
                             f"bits (got {coef[p, i]})")
        self.monomials, self.coefficients, self.bias = sets, coef, b
        self.vocab_size, self.horizon = 2, n

    @classmethod
    def random(cls, n_bits: int, n_monomials: int, *, max_degree: int = 2, scale: float = 1.0,
               rng: RngLike = None) -> SparsePolynomialBits:
        """``n_monomials`` random monomials of degree ``1..max_degree`` over positions ``< n_bits - 1`` and
        Gaussian coefficients (std ``scale``) for every position where a monomial is allowed; zero bias."""
        n = check_positive_int("n_bits", n_bits, minimum=2)
        m = check_int("n_monomials", n_monomials, minimum=0)
        k = check_positive_int("max_degree", max_degree)
        scale = check_float("scale", scale)
        check_size("n_monomials", m, (n, m), what="the coefficients (n_bits, n_monomials)")
        gen = as_rng(rng)
        monos = []
        for _ in range(m):
            deg = int(gen.integers(1, min(k, n - 1) + 1))
            monos.append(sorted(int(j) for j in gen.choice(n - 1, size=deg, replace=False)))
        last = np.array([max(s) for s in monos], dtype=np.int64)
        allowed = last[None, :] < np.arange(n)[:, None]
        coef = np.where(allowed, scale * gen.standard_normal((n, m)), 0.0)
        return cls(n, monos, coef)

    def log_odds(self, prefixes: np.ndarray) -> np.ndarray:
        """Log-odds of the next bit after equal-length prefixes ``(k, t)``, shape ``(k,)``."""
        t = prefixes.shape[1]
        parity = (prefixes @ self.indicator[:, :t].T) % 2  # (k, m); exact chi where S_i within [0, t)
        return self.bias[t] + (1.0 - 2.0 * parity) @ self.coefficients[t]

    def _logits_batch(self, prefixes: np.ndarray) -> np.ndarray:
        return _binary_logits(self.log_odds(prefixes))

    def to_isan(self) -> TimeVaryingISAN:
        """The equivalent :class:`TimeVaryingISAN` of dimension ``m + 1`` (see the class docstring)."""
        n, m = self.n_bits, len(self.monomials)
        d = m + 1
        check_size("monomials", m, (max(n - 1, 1), 2, d, d),
                   what="the ISAN transitions (n_bits - 1, 2, m + 1, m + 1)")
        x0 = np.ones(d)
        A = np.zeros((n - 1, 2, d, d))
        diag = np.arange(d)
        for t in range(1, n):  # A[t-1, z]: bit z arrives at position t-1
            flips = np.append(self.indicator[:, t - 1], 0)
            A[t - 1, 0, diag, diag] = 1.0
            A[t - 1, 1, diag, diag] = 1.0 - 2.0 * flips
        readout = np.concatenate([self.coefficients, self.bias[:, None]], axis=1)  # (n, d)
        B = np.stack([-0.5 * readout, 0.5 * readout], axis=1)
        return TimeVaryingISAN(x0, A, B)

    def rank_bound(self, t: int) -> int:
        t = check_cut(t, self.horizon)
        active = np.flatnonzero(np.any(self.coefficients[t:] != 0, axis=0))
        characters = {tuple(j for j in self.monomials[i] if j < t) for i in active}
        if np.any(self.bias[t:] != 0):
            characters.add(())
        return min(len(characters), trivial_rank_bound(2, self.horizon, t))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"indicator": self.indicator, "coefficients": self.coefficients, "bias": self.bias}

    def _params(self) -> dict[str, Any]:
        return {"n_bits": self.n_bits, "n_monomials": len(self.monomials)}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> SparsePolynomialBits:
        monos = [np.flatnonzero(row).tolist() for row in arrays["indicator"]]
        return cls(params["n_bits"], monos, arrays["coefficients"], arrays["bias"])
