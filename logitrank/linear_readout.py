"""Logits that are a linear map of a final hidden state: centered logits, top-k entries and spectra from it.

Most causal LMs compute raw logits as ``W g(x) + b`` with ``g(x)`` in ``R^d`` the final (normed) hidden state,
``W`` of shape ``(V, d)`` the output head and ``b`` of shape ``(V,)`` an optional bias. With the mean row and
mean bias

.. math:: \\bar w = \\tfrac1V \\textstyle\\sum_z W_z, \\qquad \\bar b = \\tfrac1V \\sum_z b_z,
          \\qquad W_c = W - \\mathbf 1 \\bar w^\\top, \\qquad b_c = b - \\bar b \\mathbf 1,

the centered logits are :math:`\\ell_z(x) = (W_z - \\bar w) \\cdot g(x) + (b_z - \\bar b)` -- no
full-vocabulary log-softmax is needed (SPEC §1, "Logits through the final hidden state"). Consequences:

* **top-k "mean" tokens.** ``mean_h l(h . f) = W_c gbar_f + b_c`` with ``gbar_f = mean_h g(h . f)``: one
  ``V x d`` product per future, not per ``(h, f)`` (:func:`top_tokens`; ranking by the mean *centered* logit
  is ranking by the mean log-probability, as in :func:`logitrank.select_tokens`, which breaks the ties);
* **top-k entries** cost ``k d`` per ``(h, f)``: :func:`token_entries`;
* **the spectrum of the full-vocabulary matrix** ``L[h, (f, z)] = l_z(h . f)`` needs no ``|H| x |F| V``
  matrix. Write ``A = [W_c, b_c]`` (``V x (d+1)``; ``W_c`` alone without a bias) and ``gt = [g, 1]``; then
  ``L_f = Gt_f A^T`` for the ``|H| x (d+1)`` stacked states ``Gt_f`` of future ``f``, and with the thin QR
  factorisation ``A = Q R`` (``R`` of shape ``(r, d+1)``, ``r = min(V, d+1)``, ``Q^T Q = I``)

  .. math:: L = [\\tilde G_1 R^\\top, \\dots, \\tilde G_{|F|} R^\\top]
            \\, \\mathrm{blockdiag}(Q^\\top, \\dots), \\qquad
            L L^\\top = \\sum_f \\tilde G_f M \\tilde G_f^\\top, \\quad M = R^\\top R = A^\\top A,

  where ``M = [[W_c^T W_c, W_c^T b_c], [b_c^T W_c, b_c^T b_c]]`` is the ``d x d`` matrix ``W_c^T W_c``
  with its bias terms. ``blockdiag(Q^T)`` has orthonormal rows, so ``L`` has the singular values of the
  ``|H| x |F| r`` matrix ``K = [Gt_f R^T]_f`` (:func:`readout_singular_values`, no squared condition number)
  and the Gram matrix ``L L^T = K K^T`` (:func:`readout_gram`, accumulable over blocks of futures). Its rank
  is at most ``|F| r`` by construction: ``d + 1`` (``d`` without a bias) for the next-token matrix
  (``F = {()}``).

Everything here is numpy, float64, array-in/array-out; the shapes: ``G`` ``(|H|, |F|, d)`` hidden states
(float32 or float64), ``W`` ``(V, d)``, ``b`` ``(V,)`` or ``None``, ``tokens`` ``(|F|, k)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .logit_matrix import select_tokens
from .validation import check_finite, check_positive_int

__all__ = ["check_readout", "centered_readout_logits", "top_tokens", "token_entries", "readout_factor",
           "readout_gram", "readout_singular_values"]


def check_readout(W: Any, b: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """``(W, b)`` as finite float64 arrays of shapes ``(V, d)`` and ``(V,)`` (``b`` may be ``None``)."""
    W = check_finite("W", np.asarray(W, dtype=np.float64))
    if W.ndim != 2 or W.shape[0] < 1 or W.shape[1] < 1:
        raise ValueError(f"W: must be a non-empty 2-D array (V, d), got shape {W.shape}")
    if b is None:
        return W, None
    b = check_finite("b", np.asarray(b, dtype=np.float64))
    if b.shape != (W.shape[0],):
        raise ValueError(f"b: must have shape (V,) = ({W.shape[0]},) to match W, got {b.shape}")
    return W, b


def _check_hidden(G: Any, d: int, ndim: int) -> np.ndarray:
    G = np.asarray(G)
    if G.ndim != ndim or G.shape[-1] != d or G.dtype.kind != "f":
        raise ValueError(f"G: must be a {ndim}-D float array with last axis d = {d}, got {G.dtype} "
                         f"shape {G.shape}")
    return check_finite("G", G)


def centered_readout_logits(G: Any, W: Any, b: Any = None) -> np.ndarray:
    """Centered logits ``l = (W - wbar) g + (b - bbar)`` of hidden states ``g``.

    Parameters
    ----------
    G : array, shape (..., d), float
    W : array, shape (V, d) ; b : array, shape (V,), optional

    Returns
    -------
    array, shape (..., V), float64
    """
    W, b = check_readout(W, b)
    G = _check_hidden(G, W.shape[1], np.ndim(G)).astype(np.float64, copy=False)
    out = G @ (W - W.mean(axis=0)).T
    if b is not None:
        out += b - b.mean()
    return out


def top_tokens(g_mean: Any, W: Any, b: Any, top_k: int) -> np.ndarray:
    """Top-k "mean" tokens of each future from the mean hidden state ``gbar_f = mean_h g(h . f)``.

    ``mean_h l(h . f) = W_c gbar_f + b_c`` exactly (the centered logits are affine in ``g``), so the tokens
    are those :func:`logitrank.select_tokens` picks from the full ``(|H|, |F|, V)`` logits (highest mean, ties
    to the lower id), up to round-off in the mean.

    Parameters
    ----------
    g_mean : array, shape (|F|, d), the mean final hidden state of each future
    W : array, shape (V, d) ; b : array, shape (V,), optional
    top_k : int, ``1 <= top_k <= V``

    Returns
    -------
    int64 array, shape (|F|, top_k), each row ascending
    """
    mean = centered_readout_logits(_check_hidden(g_mean, np.shape(W)[1], 2), W, b)
    return select_tokens(mean[None], top_k, "mean")


def token_entries(G: Any, W: Any, b: Any, tokens: Any) -> np.ndarray:
    """Entries ``out[h, f, i] = (W_t - wbar) . g(h . f) + (b_t - bbar)`` for ``t = tokens[f, i]``.

    ``k d`` operations per ``(h, f)`` instead of ``V d``; the centering is still over all ``V`` tokens.

    Parameters
    ----------
    G : array, shape (|H|, |F|, d), float32 or float64
    W : array, shape (V, d) ; b : array, shape (V,), optional
    tokens : int array, shape (|F|, k), ids in ``[0, V)``

    Returns
    -------
    array, shape (|H|, |F|, k), float64
    """
    W, b = check_readout(W, b)
    G = _check_hidden(G, W.shape[1], 3)
    tokens = np.asarray(tokens)
    nh, nf, _ = G.shape
    if tokens.ndim != 2 or tokens.shape[0] != nf or tokens.dtype.kind not in "iu" \
            or (tokens.size and (tokens.min() < 0 or tokens.max() >= W.shape[0])):
        raise ValueError(f"tokens: must be an int array (|F| = {nf}, k) of ids in [0, {W.shape[0]}), got "
                         f"{tokens.dtype} shape {tokens.shape}")
    rows = W[tokens] - W.mean(axis=0)  # (|F|, k, d)
    shift = np.zeros(tokens.shape) if b is None else b[tokens] - b.mean()
    out = np.empty((nh, nf, tokens.shape[1]))
    for j in range(nf):  # one future at a time: G is never converted to float64 as a whole
        out[:, j] = G[:, j].astype(np.float64) @ rows[j].T + shift[j]
    return out


def readout_factor(W: Any, b: Any = None) -> np.ndarray:
    """``R`` of the thin QR factorisation ``[W_c, b_c] = Q R`` (``W_c`` alone without a bias).

    ``R^T R = M``, the ``d x d`` (``(d+1) x (d+1)`` with a bias) matrix ``W_c^T W_c`` with its bias terms;
    see the module docstring for how it gives the spectrum of the full-vocabulary matrix.

    Parameters
    ----------
    W : array, shape (V, d) ; b : array, shape (V,), optional

    Returns
    -------
    array, shape (min(V, d'), d') with ``d' = d + 1`` with a bias, ``d`` without; float64
    """
    W, b = check_readout(W, b)
    A = W - W.mean(axis=0)
    if b is not None:
        A = np.hstack([A, (b - b.mean())[:, None]])
    return np.asarray(np.linalg.qr(A, mode="r"))


def _stacked(G: Any, R: np.ndarray) -> np.ndarray:
    """``K = [Gt_f R^T]_f`` of shape (|H|, |F| r) (``Gt = [G, 1]`` when ``R`` carries the bias column)."""
    R = check_finite("R", np.asarray(R, dtype=np.float64))
    if R.ndim != 2:
        raise ValueError(f"R: must be a 2-D array from readout_factor, got shape {R.shape}")
    G = np.asarray(G)
    if G.ndim != 3:
        raise ValueError(f"G: must be a 3-D float array (|H|, |F|, d), got {G.dtype} shape {G.shape}")
    d = G.shape[-1]
    if R.shape[1] not in (d, d + 1):
        raise ValueError(f"R: must have d = {d} or d + 1 columns for G of shape {G.shape}, got {R.shape}")
    G = _check_hidden(G, d, 3).astype(np.float64)
    if R.shape[1] == d + 1:
        G = np.concatenate([G, np.ones(G.shape[:2] + (1,))], axis=2)
    return (G @ R.T).reshape(G.shape[0], -1)


def readout_gram(G: Any, R: Any) -> np.ndarray:
    """The Gram matrix ``L L^T = sum_f Gt_f M Gt_f^T`` of the full-vocabulary matrix of ``G``.

    Additive over blocks of futures: the Gram of all futures is the sum of the Grams of a partition of them,
    so it streams. Its eigenvalues are the squared singular values of ``L`` (the smallest lose accuracy below
    about ``1e-8 sigma_1``; :func:`readout_singular_values` does not).

    Parameters
    ----------
    G : array, shape (|H|, |F|, d) ; R : array from :func:`readout_factor`

    Returns
    -------
    array, shape (|H|, |H|), float64, symmetric positive semi-definite
    """
    K = _stacked(G, R)
    return K @ K.T


def readout_singular_values(G: Any, R: Any, vocab_size: int) -> np.ndarray:
    """All singular values of ``L[h, (f, z)] = l_z(h . f)`` (``|H| x |F| V``) without materialising it.

    They are those of ``K = [Gt_f R^T]_f`` (``|H| x |F| r``), padded with zeros to ``min(|H|, |F| V)`` values
    as :func:`numpy.linalg.svd` of ``L`` returns them.

    Parameters
    ----------
    G : array, shape (|H|, |F|, d) ; R : array from :func:`readout_factor`
    vocab_size : int, ``V``

    Returns
    -------
    array, shape (min(|H|, |F| V),), float64, descending
    """
    vocab_size = check_positive_int("vocab_size", vocab_size)
    K = _stacked(G, R)
    s = np.linalg.svd(K, compute_uv=False)
    n = min(K.shape[0], np.shape(G)[1] * vocab_size)
    return np.concatenate([s, np.zeros(max(0, n - s.size))])[:n]
