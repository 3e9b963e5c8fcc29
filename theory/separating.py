"""A target family on which GLS2's bounded coefficients matter: Kahan-configured histories plus oracle error.

**Why a family is needed.**  On random well-conditioned ISANs, learners without the coefficient bound
(``beta = 1e6``) or with least-squares tracking reach the same TV as the provable learner (measured: T = 64
with fixed oracle error, misspecified T = 64, ill-conditioned transitions, hidden chains; see
``benchmarks/provable_separation.py``): every history's exact coefficients are small, and validation catches
what is not.  The bound matters when the *basis* a learner picks makes some history need large coefficients.

**The family.**  The histories of length 1 are the ``V = d + 1`` tokens.  Their rows (on the futures of
position 1) are placed, in the row metric, at the columns ``k_1..k_d`` of a Kahan matrix
``K = diag(s^{i-1}) (I - c N)`` (``N`` strictly upper triangular of ones, ``s = sqrt(1 - c^2)``; unit columns,
with a tiny tie-break) and at one more point ``v = 0.99 s^{d-1} e_d``.  Greedy column-pivoted QR — the
spanner with no coefficient bound, as ``beta = 1e6`` makes it — picks ``k_1..k_d`` in order (``v``'s residual
is below every pivot), and ``v`` then needs the coefficients ``K^{-1} v = 0.99 (I - cN)^{-1} e_d``, entries
``c (1 + c)^{d-i-1}`` (25.5 at ``d = 10, c = 0.6``): the classic worst case of pivoted QR.  With a fixed
oracle error ``xi`` in every answer, tracking through token ``v`` multiplies the basis rows' errors by those
coefficients (``~ sqrt(sum c_i^2) xi / sqrt(3)``, above a threshold of ``10 xi``), validation then fails on
it and cannot be repaired (adding ``v`` as a history witness does not change the greedy choice: the fit
stalls).  A ``beta = 2`` spanner swaps ``v`` in (each swap multiplies ``|det|`` by more than 2), so every
coefficient stays ``<= 2`` and the error stays ``~ xi``.  Later positions are random orthogonal ISAN steps.

**Scope (measured).**  The separation holds at ``T = 4`` (``benchmarks/provable_separation.py``: mean
TV 6.5x the provable learner's, 95% interval [5.1, 7.5]).  From ``T = 6`` on, validation finds a witness
future of length >= 3 for position 1 (impossible at ``T = 4``), the rows gain columns, the Kahan geometry is
gone and the greedy basis repairs itself: witnesses can stand in for the coefficient bound here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from logitrank.validation import RngLike, as_rng, check_float, check_positive_int, spawn_seeds
from simulators import TimeVaryingISAN
from simulators.learners import QueryAccess, evaluate

from .broken_learners import make_learner

__all__ = ["kahan_coefficients", "kahan_isan", "kahan_matrix", "separation"]


def kahan_matrix(d: int, c: float) -> np.ndarray:
    """``K = diag(s^i (1 - 1e-3)^i) (I - c N)``, ``(d, d)``: unit-norm columns (up to the tie-break)."""
    s = np.sqrt(1.0 - c * c)
    return np.diag((s * (1 - 1e-3)) ** np.arange(d)) @ (np.eye(d) - c * np.triu(np.ones((d, d)), 1))


def kahan_coefficients(d: int, c: float) -> np.ndarray:
    """Coefficients of ``v = 0.99 K_dd e_d`` in the Kahan columns, ``(d,)`` (what ``beta = 1e6`` tracks)."""
    K = kahan_matrix(d, c)
    return np.linalg.solve(K, np.r_[np.zeros(d - 1), 0.99 * K[-1, -1]])


def kahan_isan(dim: int, horizon: int, *, c: float = 0.6, scale: float = 20.0, v_logit: float = 1.5,
               rng: RngLike = None) -> TimeVaryingISAN:
    """A time-varying ISAN (``V = dim + 1``) whose length-1 histories sit at Kahan columns plus ``v``.

    Parameters
    ----------
    dim : int, ``>= 2``; horizon : int, ``>= 3``
    c : float in (0, 1) — Kahan's ``cos``: larger gives larger coefficients and a smaller ``sigma_min``.
    scale : float — the rows' norm (logit scale) at position 1.
    v_logit : float — the logit of token ``v`` at position 0 (the others 0): how often ``v`` is seen.
    rng : Generator or int — draws the other positions (random orthogonal transitions, Gaussian readouts).
    """
    d = check_positive_int("dim", dim, minimum=2)
    T = check_positive_int("horizon", horizon, minimum=3)
    c = check_float("c", c, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    scale = check_float("scale", scale, low=0.0, low_inclusive=False)
    V = d + 1
    base = TimeVaryingISAN.random(V, d, T, rng=as_rng(rng))
    A, B, x0 = base.A.copy(), base.B.copy(), base.x0
    # a state x at position 1 has the row M^T x on {()} and the one-token futures (centered logits); in
    # that metric, x = L^{-T} k puts the rows' Gram matrix at K^T K (L L^T = M M^T)
    C = np.eye(V) - 1.0 / V
    M = np.concatenate([(C @ B[1]).T] + [(C @ B[2] @ A[1, z]).T for z in range(V)], axis=1)
    L = np.linalg.cholesky(M @ M.T)
    K = kahan_matrix(d, c) * scale
    points = np.concatenate([K.T, 0.99 * K[-1, -1] * np.eye(d)[-1:]], axis=0)  # (V, d): k_1..k_d, v
    states = np.linalg.solve(L.T, points.T).T
    A[0] = states[:, :, None] * x0[None, None, :] / (x0 @ x0)  # A_{1,z} x0 = the designed state of z
    B[0] = np.outer(np.where(np.arange(V) == V - 1, v_logit, 0.0), x0) / (x0 @ x0)
    return TimeVaryingISAN(x0, A, B)


def separation(learners: tuple[str, ...] = ("provable", "unbounded", "lstsq"), *, dim: int = 10,
               horizon: int = 8, c: float = 0.6, scale: float = 20.0, xi: float = 3e-4, seeds: int = 12,
               n_eval: int = 2000, n_bootstrap: int = 2000, rng: RngLike = 0) -> dict[str, Any]:
    """TV of each learner on ``seeds`` Kahan ISANs with fixed oracle error ``xi`` (rank bound ``dim``,
    threshold ``10 xi``), and the ratio of each mean TV to the provable learner's with a 95% seed-bootstrap
    interval (the margin by which the bounded learner wins)."""
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in learners}
    for seed in spawn_seeds(rng, seeds):
        target_seed, access_seed, learner_seed, eval_seed = spawn_seeds(seed, 4)
        target = kahan_isan(dim, horizon, c=c, scale=scale, rng=target_seed)
        for name in learners:
            learner = make_learner(name, rank=dim, threshold=10 * xi, max_epochs=6, rng=learner_seed)
            learner.fit(QueryAccess(target, noise=xi, noise_mode="fixed", rng=access_seed))
            ev = evaluate(target, learner.model_, n_sequences=n_eval, rng=eval_seed)
            rows[name].append({"tv": ev.tv, "tv_se": ev.tv_se, "coef_max": float(learner.coef_max_),
                               "stop": learner.stop_reason_})
    tv = {name: np.array([r["tv"] for r in rs]) for name, rs in rows.items()}
    boot = np.random.default_rng(spawn_seeds(rng, seeds + 1)[-1]).integers(0, seeds, (n_bootstrap, seeds))
    ratio = {}
    for name in learners:
        r = tv[name][boot].mean(axis=1) / tv["provable"][boot].mean(axis=1)
        lo, hi = np.quantile(r, [0.025, 0.975])
        ratio[name] = {"ratio": float(tv[name].mean() / tv["provable"].mean()), "low": float(lo),
                       "high": float(hi)}
    return {"dim": dim, "horizon": horizon, "c": c, "scale": scale, "xi": xi, "seeds": seeds,
            "kahan_coef_max": float(np.abs(kahan_coefficients(dim, c)).max()), "rows": rows,
            "mean_tv": {name: float(v.mean()) for name, v in tv.items()}, "ratio": ratio}
