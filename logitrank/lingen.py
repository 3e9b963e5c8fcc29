"""LINGEN: generate from a target history without querying it, through a linear combination of others.

Fit ``v in R^|H|`` with ``L_M({h*}, F) ~ v^T L_M(H, F)`` (least squares, optionally ridge), then
generate ``z_t ~ softmax( sum_{h in H} v_h l_M(h . z_1..z_{t-1}) )``. When the model has logit rank
``d`` (a time-varying ISAN of dimension ``d``), every row factors through a state, ``l(h . f) = C B A_f
x(h)``; if ``x(h*) = sum_h v_h x(h)`` (histories of one length, ``|H| >= d`` generic ones and futures
whose columns span the state space) the combination reproduces ``l(h* . z)`` for *every* continuation
``z``, so LINGEN samples exactly from the target's distribution. The evaluation metric of the paper is
the cumulative ``KL(true || LINGEN)`` over the generated steps (15 in the paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .continuations import continuation_logits
from .logit_matrix import extended_logit_matrix, extended_logits
from .sequence_model import SequenceModel, log_softmax
from .validation import (
    RngLike,
    as_rng,
    check_finite,
    check_float,
    check_model,
    check_positive_int,
    check_prefixes,
    check_size,
)

__all__ = ["LingenFit", "LingenSamples", "lingen_coefficients", "lingen_fit", "lingen_generate",
           "lingen_logits"]


@dataclass(frozen=True)
class LingenFit:
    """Result of :func:`lingen_fit`.

    Attributes
    ----------
    coefficients : array, shape (|H|,)
        ``v``.
    residual : float
        Relative residual ``||l* - v^T L||_2 / ||l*||_2`` on the fitted columns.
    histories : list of tuple of int
    target_history : tuple of int
    tokens : int array, shape (|F|, k)
        Token columns used per future (all ``V`` without top-k).
    ridge : float
    """

    coefficients: np.ndarray
    residual: float
    histories: list[tuple[int, ...]]
    target_history: tuple[int, ...]
    tokens: np.ndarray
    ridge: float


@dataclass(frozen=True)
class LingenSamples:
    """Result of :func:`lingen_generate`.

    Attributes
    ----------
    tokens : int64 array, shape (n_samples, steps)
        Generated ``z_1..z_steps``.
    kl : array, shape (n_samples, steps), or None
        ``KL(softmax l(h* . z_<t) || softmax(LINGEN logits at t))`` when a target history was given.
    cumulative_kl : array, shape (n_samples, steps), or None
        ``cumsum(kl, axis=1)``; ``cumulative_kl[:, -1]`` is the paper's metric.
    """

    tokens: np.ndarray
    kl: np.ndarray | None
    cumulative_kl: np.ndarray | None

    @property
    def mean_cumulative_kl(self) -> float:
        """Cumulative KL over all steps, averaged over samples."""
        if self.cumulative_kl is None:
            raise ValueError("target_history: was not given to lingen_generate, so there is no KL")
        return float(self.cumulative_kl[:, -1].mean())


def lingen_coefficients(L: np.ndarray, y: np.ndarray,
                        ridge: float = 0.0) -> tuple[np.ndarray, float | np.ndarray]:
    """``v = argmin ||L^T v - y||^2 + ridge ||v||^2`` and the relative residual ``||L^T v - y|| / ||y||``.

    Plain least squares (minimum-norm solution) when ``ridge == 0``; otherwise the ridge solution through
    the SVD of ``L^T``. Several targets (``y`` of shape ``(n_cols, k)``) share one factorisation of ``L``.

    Parameters
    ----------
    L : array, shape (|H|, n_cols)
        Rows of the histories ``H`` (e.g. ``LogitMatrix.values``).
    y : array, shape (n_cols,) or (n_cols, k)
        The target history's row over the same columns (or ``k`` targets' rows as columns).
    ridge : float, ``>= 0``

    Returns
    -------
    v : array, shape (|H|,) or (|H|, k)
    residual : float, or array of shape (k,)
    """
    ridge = check_float("ridge", ridge, low=0)
    M = np.asarray(L, dtype=np.float64).T
    y = np.asarray(y, dtype=np.float64)
    if M.ndim != 2 or M.size == 0:
        raise ValueError(f"L: must be a non-empty 2-D array (|H|, n_cols), got shape {M.T.shape}")
    if y.ndim not in (1, 2):
        raise ValueError(f"y: must be a 1-D array (n_cols,) (the target history's row) or a 2-D array "
                         f"(n_cols, k), got shape {y.shape}")
    check_finite("L", M)
    check_finite("y", y)
    if M.shape[0] != y.shape[0]:
        raise ValueError(f"y: must have one entry per column of L ({M.shape[0]}), got shape {y.shape}")
    if ridge == 0:
        v = np.linalg.lstsq(M, y, rcond=None)[0]
    else:
        U, s, Wt = np.linalg.svd(M, full_matrices=False)
        shrink = s / (s**2 + ridge)
        v = Wt.T @ ((shrink if y.ndim == 1 else shrink[:, None]) * (U.T @ y))
    if y.ndim == 1:
        norm, res = float(np.linalg.norm(y)), float(np.linalg.norm(M @ v - y))
        return v, res / norm if norm > 0 else res
    norms = np.linalg.norm(y, axis=0)
    residuals = np.linalg.norm(M @ v - y, axis=0)
    return v, np.where(norms > 0, residuals / np.where(norms > 0, norms, 1.0), residuals)


def lingen_fit(
    model: SequenceModel,
    target_history: Sequence[int],
    histories: Sequence[Sequence[int]],
    futures: Sequence[Sequence[int]],
    *,
    ridge: float = 0.0,
    top_k: int | None = None,
    token_rule: str = "mean",
    rng: RngLike = None,
) -> LingenFit:
    """Fit LINGEN coefficients ``v = argmin ||L^T v - l*||^2 + ridge ||v||^2``.

    Parameters
    ----------
    model : SequenceModel
    target_history : sequence of int
        ``h*``; its row ``l* = L_M({h*}, F)`` (shape ``(|F| k,)``) is queried only here, to fit.
    histories : sequence of token sequences, ``H``
    futures : sequence of token sequences, ``F``
    ridge : float, ``>= 0``
        ``0`` gives the minimum-norm least-squares solution.
    top_k, token_rule, rng
        Fit on the top-k matrix ``L_{M,k}(H, F)`` instead (tokens chosen from ``H`` only, as in
        :func:`logitrank.extended_logit_matrix`; the target row uses the same tokens).

    Returns
    -------
    LingenFit
    """
    ridge = check_float("ridge", ridge, low=0)
    V, T = check_model(model)
    target = check_prefixes("target_history", [target_history], V, T - 1)[0]
    F = check_prefixes("futures", futures, V, T - 1)
    longest = len(target) + max(len(f) for f in F)
    if longest > T - 1:
        raise ValueError(f"target_history: len(target_history) + len(f) must be <= horizon - 1 = {T - 1} for "
                         f"every future f, got {len(target)} + {longest - len(target)} = {longest}")
    L = extended_logit_matrix(model, histories, futures, top_k=top_k, token_rule=token_rule, rng=rng,
                              progress=False)
    star = extended_logits(model, [target], L.futures, progress=False)[0]  # (|F|, V)
    y = np.take_along_axis(star, L.tokens, axis=1).reshape(-1)
    v, residual = lingen_coefficients(L.values, y, ridge)
    return LingenFit(coefficients=v, residual=float(residual), histories=L.histories,
                     target_history=target, tokens=L.tokens, ridge=float(ridge))


def lingen_logits(
    model: SequenceModel, histories: Sequence[Sequence[int]], coefficients: np.ndarray,
    continuations: Sequence[Sequence[int]],
) -> np.ndarray:
    """LINGEN logits ``sum_h v_h l_M(h . c)`` for each continuation ``c``.

    Returns
    -------
    array, shape (len(continuations), V)
    """
    v = np.asarray(coefficients, dtype=np.float64)
    n_histories = len(check_prefixes("histories", histories, check_model(model)[0], None))
    if v.shape != (n_histories,):
        raise ValueError(f"coefficients: must have shape (|H|,) = ({n_histories},), got {v.shape}")
    check_finite("coefficients", v)
    unique = list(dict.fromkeys(tuple(c) for c in continuations))
    where = {c: i for i, c in enumerate(unique)}
    ext = extended_logits(model, histories, unique, progress=False)  # (|H|, u, V)
    comb = np.einsum("h,huv->uv", v, ext)
    return comb[[where[tuple(c)] for c in continuations]]


def _check_against_fit(H: list[tuple[int, ...]], target_history: Sequence[int] | None, fit: LingenFit,
                       V: int, T: int) -> None:
    """A LingenFit's coefficients belong to its own histories, in its order (and to its target)."""
    if H != list(fit.histories):
        if len(H) != len(fit.histories):
            diff = f"{len(H)} histories for a fit on {len(fit.histories)}"
        else:
            i = next(i for i, (a, b) in enumerate(zip(H, fit.histories, strict=True)) if a != b)
            diff = f"histories[{i}] = {H[i]} where the fit has {fit.histories[i]}"
        raise ValueError(f"histories: must be the LingenFit's histories in the same order (coefficient i "
                         f"weights history i), got {diff}")
    if target_history is not None:
        target = check_prefixes("target_history", [target_history], V, T - 1)[0]
        if target != tuple(fit.target_history):
            raise ValueError(f"target_history: must be the LingenFit's target {fit.target_history} (its "
                             f"coefficients reproduce that history only), got {target}")


def lingen_generate(
    model: SequenceModel,
    histories: Sequence[Sequence[int]],
    coefficients: np.ndarray | LingenFit,
    steps: int,
    *,
    rng: RngLike = None,
    target_history: Sequence[int] | None = None,
    n_samples: int = 1,
    temperature: float = 1.0,
) -> LingenSamples:
    """Generate ``steps`` tokens with LINGEN, ``n_samples`` sequences at once.

    ``z_t ~ softmax( sum_h v_h l_M(h . z_<t) / temperature )``. With ``target_history`` the true logits
    ``l_M(h* . z_<t)`` along the *generated* path are queried too (for evaluation only) and
    ``KL(softmax(true) || softmax(LINGEN))`` is reported per step (both at temperature 1: the
    temperature changes only how tokens are drawn).

    Parameters
    ----------
    model : SequenceModel
    histories : sequence of token sequences, ``H`` (as passed to :func:`lingen_fit`)
    coefficients : array, shape (|H|,), or a LingenFit
    steps : int, ``>= 1``, with ``len(h) + steps <= horizon`` for every ``h`` (and ``h*``)
    rng : Generator or seed
    target_history : sequence of int, optional
    n_samples : int, ``>= 1``
    temperature : float, ``> 0``

    Returns
    -------
    LingenSamples
    """
    V, T = check_model(model)
    H = check_prefixes("histories", histories, V, T - 1)
    v = _generation_coefficients(coefficients, H, target_history, V, T)
    n_samples = check_positive_int("n_samples", n_samples)
    check_size("n_samples", n_samples, (n_samples, V), what="the samples' next-token distributions")
    temperature = check_float("temperature", temperature, low=0, low_inclusive=False)
    target = None
    if target_history is not None:
        target = check_prefixes("target_history", [target_history], V, T - 1)[0]
    longest = max([len(h) for h in H] + ([len(target)] if target is not None else []))
    steps = check_positive_int("steps", steps, maximum=T - longest)
    gen = as_rng(rng)
    tokens, kl = _sample_lingen(model, V, H, v, target, steps, n_samples, temperature, gen)
    return LingenSamples(tokens=tokens, kl=kl, cumulative_kl=None if kl is None else np.cumsum(kl, axis=1))


def _generation_coefficients(coefficients: np.ndarray | LingenFit, H: list[tuple[int, ...]],
                             target_history: Sequence[int] | None, V: int, T: int) -> np.ndarray:
    """:func:`lingen_generate`'s coefficients as a checked float64 vector of shape (|H|,)."""
    if isinstance(coefficients, LingenFit):
        _check_against_fit(H, target_history, coefficients, V, T)
    v = np.asarray(coefficients.coefficients if isinstance(coefficients, LingenFit) else coefficients,
                   dtype=np.float64)
    if v.shape != (len(H),):
        raise ValueError(f"coefficients: must have shape (|H|,) = ({len(H)},), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("coefficients: must be finite, got non-finite entries")
    return v


def _sample_lingen(model: SequenceModel, V: int, H: list[tuple[int, ...]], v: np.ndarray,
                   target: tuple[int, ...] | None, steps: int, n_samples: int, temperature: float,
                   gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """The sampling loop of :func:`lingen_generate` (arguments checked): ``(tokens, kl or None)``, each of
    shape (n_samples, steps)."""
    tokens = np.zeros((n_samples, steps), dtype=np.int64)
    kl = np.zeros((n_samples, steps)) if target is not None else None
    # the basis (and target) histories grow by each sampled token but the last (steps - 1 in all): a model
    # with a key/value cache extends them instead of re-reading every history, and sizes its cache by that
    basis = continuation_logits(model, H, n_samples, max_steps=steps - 1)
    truth = None if target is None else continuation_logits(model, [target], n_samples, max_steps=steps - 1)
    for t in range(steps):
        if t:
            basis.append(tokens[:, t - 1])
        logq = log_softmax(np.einsum("h,hnv->nv", v, basis.logits()))
        if kl is not None and truth is not None:
            if t:
                truth.append(tokens[:, t - 1])
            logp = log_softmax(truth.logits()[0])
            kl[:, t] = np.maximum((np.exp(logp) * (logp - logq)).sum(axis=1), 0.0)
        probs = np.exp(log_softmax(logq / temperature))
        cdf = np.cumsum(probs, axis=1)
        u = gen.random(n_samples) * cdf[:, -1]
        tokens[:, t] = np.minimum((cdf < u[:, None]).sum(axis=1), V - 1)
    return tokens, kl
