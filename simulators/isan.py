"""Input-switched affine networks (ISANs), time-varying and time-invariant.

Time-varying ISAN of hidden dimension ``d`` and horizon ``T``: state ``x_0``; after a prefix
``z_1..z_t`` the state is ``x_t = A_{t, z_t} x_{t-1}`` and the next token is drawn from
``softmax(B_t x_t)``. Arrays: ``A[t-1, z] = A_{t,z}`` for ``t = 1..T-1`` (shape ``(T-1, V, d, d)``)
and ``B[t] = B_t`` (shape ``(T, V, d)``). Its extended logit matrix factors as
``l(h . f) = C B_{|h|+|f|} A_f x_{|h|}(h)`` with ``C = I - 11^T/V``, so it has logit rank ``<= d``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank import center_logits
from logitrank.validation import (
    RngLike,
    as_rng,
    check_cut,
    check_finite,
    check_float,
    check_positive_int,
    check_prefixes,
    check_size,
)

from .base import SyntheticModel

__all__ = ["TimeVaryingISAN", "TimeInvariantISAN", "random_orthogonal"]


def random_orthogonal(dim: int, rng: np.random.Generator, size: tuple[int, ...] = ()) -> np.ndarray:
    """Haar-random orthogonal matrices of shape ``size + (dim, dim)`` (QR with sign fix)."""
    g = rng.standard_normal(size + (dim, dim))
    q, r = np.linalg.qr(g)
    signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
    signs[signs == 0] = 1.0
    return q * signs[..., None, :]


class TimeVaryingISAN(SyntheticModel):
    """Time-varying ISAN ``(x0, A, B)``; see the module docstring for the indexing.

    Parameters
    ----------
    x0 : array, shape (d,)
    A : array, shape (T-1, V, d, d); ``A[t-1, z]`` is the transition after token ``z`` at step ``t``
    B : array, shape (T, V, d); readout ``B_t``
    """

    kind = "time_varying_isan"

    def __init__(self, x0: np.ndarray, A: np.ndarray, B: np.ndarray):
        x0, A, B = (np.asarray(a, dtype=np.float64) for a in (x0, A, B))
        if x0.ndim != 1:
            raise ValueError(f"x0: must be 1-D (d,), got shape {x0.shape}")
        d = x0.shape[0]
        if B.ndim != 3 or B.shape[2] != d or B.shape[0] < 1:
            raise ValueError(f"B: must have shape (T, V, d={d}) with T >= 1, got {B.shape}")
        T, V = B.shape[0], B.shape[1]
        if A.shape != (T - 1, V, d, d):
            raise ValueError(f"A: must have shape (T-1={T - 1}, V={V}, d={d}, d={d}), got {A.shape}")
        for name, arr in (("x0", x0), ("A", A), ("B", B)):
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"{name}: must be finite, got non-finite entries")
        self.x0, self.A, self.B = x0, A, B
        self.dim, self.vocab_size, self.horizon = d, V, T

    @classmethod
    def random(cls, vocab_size: int, dim: int, horizon: int, *, rng: RngLike = None,
               logit_scale: float = 2.0) -> TimeVaryingISAN:
        """A generic random ISAN: Haar-orthogonal transitions (states keep unit norm, so logits neither
        explode nor vanish with depth), Gaussian readouts with ``std(l) ~ logit_scale``, unit ``x0``."""
        V = check_positive_int("vocab_size", vocab_size, minimum=2)
        d = check_positive_int("dim", dim)
        T = check_positive_int("horizon", horizon)
        logit_scale = check_float("logit_scale", logit_scale)
        check_size("(vocab_size, dim, horizon)", (V, d, T), (max(T - 1, 1), V, d, d),
                   what="the transitions A (T-1, V, d, d)")
        gen = as_rng(rng)
        x0 = gen.standard_normal(d)
        x0 /= np.linalg.norm(x0)
        A = random_orthogonal(d, gen, (T - 1, V))
        B = gen.standard_normal((T, V, d)) * logit_scale
        return cls(x0, A, B)

    # ------------------------------------------------------------------------------------------
    def states(self, prefixes: np.ndarray) -> np.ndarray:
        """States ``x_t`` of equal-length prefixes: int array ``(n, t)`` -> ``(n, d)``."""
        prefixes = np.asarray(prefixes, dtype=np.int64)
        X = np.tile(self.x0, (prefixes.shape[0], 1))
        for s in range(prefixes.shape[1]):
            X = np.einsum("nij,nj->ni", self.A[s, prefixes[:, s]], X)
        return X

    def _logits_batch(self, prefixes: np.ndarray) -> np.ndarray:
        t = prefixes.shape[1]
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by the finite check
            return center_logits(self.states(prefixes) @ self.B[t].T)

    def logits_along(self, sequences: np.ndarray) -> np.ndarray:
        """Centered logits at every position of ``(n, L)`` sequences -> ``(n, L, V)`` in one sweep."""
        seqs = np.asarray(sequences, dtype=np.int64)
        n, L = seqs.shape
        out = np.empty((n, L, self.vocab_size))
        X = np.tile(self.x0, (n, 1))
        for t in range(L):
            out[:, t] = X @ self.B[t].T
            if t + 1 < L:
                X = np.einsum("nij,nj->ni", self.A[t, seqs[:, t]], X)
        return self._finite(center_logits(out))

    def future_operator(self, start: int, future: Sequence[int]) -> np.ndarray:
        """``B_{start+|f|} A_{start+|f|, f_m} ... A_{start+1, f_1}``, shape ``(V, d)``."""
        M = np.eye(self.dim)
        for i, z in enumerate(future):
            M = self.A[start + i, z] @ M
        return self.B[start + len(future)] @ M

    def extended_logits(
        self, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """Fast ``(|H|, |F|, V)`` path: history states once, one ``(d, |F| V)`` operator per history
        length, one GEMM — instead of re-running every ``h . f``.

        Centering is linear, so the operators are centered over tokens (``C B A_f``, ``|F| V d`` numbers)
        and the GEMM writes centered logits straight into the output: no pass over the ``|H| |F| V`` result
        besides the product itself; finiteness is bounded from the factors (:meth:`_finite_product`)."""
        H = check_prefixes("histories", histories, self.vocab_size, self.horizon - 1)
        F = check_prefixes("futures", futures, self.vocab_size, self.horizon - 1)
        V, nf = self.vocab_size, len(F)
        out = np.empty((len(H), nf, V))
        flat = out.reshape(len(H), nf * V)
        lengths = np.fromiter(map(len, H), dtype=np.int64, count=len(H))
        for t in np.unique(lengths):
            idx = np.flatnonzero(lengths == t)
            X = self.states(np.array([H[i] for i in idx], dtype=np.int64).reshape(len(idx), int(t)))
            ops = self._stacked_future_operators(int(t), F).reshape(nf, V, self.dim)
            ops = (ops - ops.mean(axis=1, keepdims=True)).reshape(nf * V, self.dim)
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by the finite check
                if len(idx) == len(H):  # one history length (the usual case): the GEMM writes the output
                    np.matmul(X, ops.T, out=flat)
                else:
                    flat[idx] = X @ ops.T
            self._finite_product(X, ops, flat, idx)
        return out

    def _finite_product(self, X: np.ndarray, ops: np.ndarray, flat: np.ndarray, idx: np.ndarray) -> None:
        """Check ``X @ ops.T`` finite without a pass over it when ``d max|X| max|ops|`` bounds it well
        below overflow (always, but for parameters near the float64 range); else check the rows."""
        bound = self.dim * float(np.abs(X).max(initial=0.0)) * float(np.abs(ops).max(initial=0.0))
        if not bound < 1e300:  # also NaN: a non-finite factor
            self._finite(flat[idx])

    def _stacked_future_operators(self, start: int, futures: list[tuple[int, ...]]) -> np.ndarray:
        """``B_{start+|f|} A_f`` of every future stacked, ``(|F| V, d)``: the distinct prefixes of the futures
        depth by depth (a trie shares common prefixes), one batched product per depth, one GEMM per length."""
        d, V = self.dim, self.vocab_size
        level: dict[tuple[int, ...], int] = {(): 0}
        mats = np.eye(d)[None]
        by_depth = [(level, mats)]
        for m in range(1, max(map(len, futures), default=0) + 1):
            prefs = list(dict.fromkeys(f[:m] for f in futures if len(f) >= m))
            parents = np.fromiter((level[p[:-1]] for p in prefs), dtype=np.int64, count=len(prefs))
            toks = np.fromiter((p[-1] for p in prefs), dtype=np.int64, count=len(prefs))
            mats = np.matmul(self.A[start + m - 1, toks], mats[parents])
            level = {p: i for i, p in enumerate(prefs)}
            by_depth.append((level, mats))
        out = np.empty((len(futures), V, d))
        lengths = np.fromiter(map(len, futures), dtype=np.int64, count=len(futures))
        for m in np.unique(lengths):
            idx = np.flatnonzero(lengths == m)
            index, stack = by_depth[int(m)]
            rows = np.fromiter((index[futures[j]] for j in idx), dtype=np.int64, count=len(idx))
            # B (V, d) times every A_f side by side, (d, n d): one GEMM for all futures of this length
            R = self.B[start + int(m)] @ stack[rows].transpose(1, 0, 2).reshape(d, -1)
            out[idx] = R.reshape(V, len(idx), d).transpose(1, 0, 2)
        return out.reshape(len(futures) * V, d)

    def rank_bound(self, t: int) -> int:
        check_cut(t, self.horizon)
        return self.dim

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"x0": self.x0, "A": self.A, "B": self.B}

    def _params(self) -> dict[str, Any]:
        return {"dim": self.dim}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> TimeVaryingISAN:
        return cls(arrays["x0"], arrays["A"], arrays["B"])


class TimeInvariantISAN(SyntheticModel):
    """Foerster et al.'s ISAN: ``x_t = A_{z_t} x_{t-1} + b_{z_t}``, next token ``softmax(B x_t + c)``.

    Parameters
    ----------
    x0 : (d,) ; A : (V, d, d) ; b : (V, d) ; B : (V, d) ; c : (V,) ; horizon : int
    """

    kind = "time_invariant_isan"

    def __init__(self, x0: np.ndarray, A: np.ndarray, b: np.ndarray, B: np.ndarray, c: np.ndarray,
                 horizon: int):
        self.x0, self.A, self.b, self.B, self.c = (np.asarray(a, dtype=np.float64) for a in (x0, A, b, B, c))
        if self.x0.ndim != 1:
            raise ValueError(f"x0: must be 1-D (d,), got shape {self.x0.shape}")
        if self.B.ndim != 2 or self.B.shape[0] < 1:
            raise ValueError(f"B: must have shape (V, d) with V >= 1, got {self.B.shape}")
        d = self.x0.shape[0]
        V = self.B.shape[0]
        for name, arr, shape in (("A", self.A, (V, d, d)), ("b", self.b, (V, d)), ("B", self.B, (V, d)),
                                 ("c", self.c, (V,))):
            if arr.shape != shape:
                raise ValueError(f"{name}: must have shape {shape}, got {arr.shape}")
        for name, arr in (("x0", self.x0), ("A", self.A), ("b", self.b), ("B", self.B), ("c", self.c)):
            check_finite(name, arr)
        self.dim, self.vocab_size = d, V
        self.horizon = check_positive_int("horizon", horizon)

    @classmethod
    def random(cls, vocab_size: int, dim: int, horizon: int, *, rng: RngLike = None,
               logit_scale: float = 2.0) -> TimeInvariantISAN:
        """Random parameters: contracting orthogonal transitions (x0.9) and small biases keep
        states bounded."""
        V = check_positive_int("vocab_size", vocab_size, minimum=2)
        d = check_positive_int("dim", dim)
        logit_scale = check_float("logit_scale", logit_scale)
        check_size("(vocab_size, dim)", (V, d), (V, d, d), what="the transitions A (V, d, d)")
        gen = as_rng(rng)
        A = 0.9 * random_orthogonal(d, gen, (V,))
        b = 0.3 * gen.standard_normal((V, d)) / np.sqrt(d)
        B = gen.standard_normal((V, d)) * logit_scale
        c = gen.standard_normal(V)
        x0 = gen.standard_normal(d) / np.sqrt(d)
        return cls(x0, A, b, B, c, horizon)

    def _logits_batch(self, prefixes: np.ndarray) -> np.ndarray:
        X = np.tile(self.x0, (prefixes.shape[0], 1))
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by the finite check
            for s in range(prefixes.shape[1]):
                z = prefixes[:, s]
                X = np.einsum("nij,nj->ni", self.A[z], X) + self.b[z]
            return center_logits(X @ self.B.T + self.c)

    def to_time_varying(self) -> TimeVaryingISAN:
        """The equivalent time-varying ISAN of dimension ``d + 1`` (bias and output offset absorbed
        by a constant coordinate)."""
        d, V, T = self.dim, self.vocab_size, self.horizon
        check_size("horizon", T, (max(T - 1, 1), V, d + 1, d + 1), what="the time-varying transitions")
        x0 = np.append(self.x0, 1.0)
        Az = np.zeros((V, d + 1, d + 1))
        Az[:, :d, :d] = self.A
        Az[:, :d, d] = self.b
        Az[:, d, d] = 1.0
        Bt = np.concatenate([self.B, self.c[:, None]], axis=1)
        return TimeVaryingISAN(x0, np.broadcast_to(Az, (T - 1, V, d + 1, d + 1)).copy(),
                               np.broadcast_to(Bt, (T, V, d + 1)).copy())

    def rank_bound(self, t: int) -> int:
        check_cut(t, self.horizon)
        return self.dim + 1

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"x0": self.x0, "A": self.A, "b": self.b, "B": self.B, "c": self.c}

    def _params(self) -> dict[str, Any]:
        return {"horizon": self.horizon}
