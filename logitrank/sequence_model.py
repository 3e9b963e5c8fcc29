"""The sequence-model abstraction: next-token distributions seen only through centered logits.

A *sequence model* ``M`` over the alphabet ``{0, ..., V-1}`` with horizon ``T`` gives, for every
prefix ``x`` with ``len(x) < T``, a next-token distribution ``Pr_M[. | x]``.  Everything in the
package exchanges its **centered logits**

    l_M(x)_z = log Pr_M[z | x] - (1/V) sum_z' log Pr_M[z' | x]

as float64 numpy arrays.  This module defines the protocol, the conversions, a generic sampler,
sequence log-probabilities and a query-counting wrapper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.special import logsumexp

from .validation import (
    RngLike,
    as_rng,
    check_finite,
    check_float,
    check_int,
    check_model,
    check_positive_int,
    check_prefixes,
    check_size,
    check_token_array,
)

__all__ = [
    "SequenceModel",
    "center_logits",
    "log_softmax",
    "logits_along",
    "sample_sequences",
    "sequence_log_prob",
    "QueryCounter",
    "model_logits",
    "centered",
    "declares_centered",
    "CENTER_RTOL",
]

CENTER_RTOL = 1e-9
"""A returned logit row whose mean exceeds ``CENTER_RTOL * max|row|`` is centered by the core (see
:func:`centered`); rows already centered to round-off are passed through bit for bit."""


@runtime_checkable
class SequenceModel(Protocol):
    """A sequence model seen through its centered logits.

    Attributes
    ----------
    vocab_size : int
        ``V``, the alphabet size.
    horizon : int
        ``T``; prefixes of length ``0 .. T-1`` may be queried.

    Optional fast paths a model may provide (the core uses them when present):
    ``extended_logits(histories, futures) -> (|H|, |F|, V)`` and
    ``logits_along(sequences) -> (n, L, V)``, both centered float64, and
    ``logits_of_array(prefixes) -> (n, V)`` for an ``(n, t)`` int array of equal-length valid prefixes
    (used by the sampler), ``continuations(histories, n_branches)`` returning a
    :class:`logitrank.Continuations` (growing continuations for generation, e.g. a key/value cache), and the
    **hidden-state fast path**, for a model whose raw logits are ``W g(x) + b``: ``readout() -> (W, b)``
    (``W`` float64 ``(V, d)``, ``b`` ``(V,)`` or None; ``None`` instead when the path does not apply to this
    instance) with ``final_hidden(histories, futures) -> (|H|, |F|, d)`` float32 or float64 (the states
    ``g(h . f)``). Top-k matrices and shards then never form full-vocabulary logits per ``(h, f)``
    (:mod:`logitrank.hidden_path`, :mod:`logitrank.linear_readout`).

    **Centering is the core's job too.** A model may return raw logits or log-probabilities instead of
    centered logits (they define the same distributions): every core entry point that reads logits
    (:func:`model_logits`, :func:`logits_along`, :func:`logitrank.extended_logits` and the matrices and
    spectra built on them) passes what comes back through :func:`centered`. Without that, the per-row
    constant ``-logsumexp`` of log-probabilities would add a direction to every logit matrix (numerical
    rank 12 instead of 3 for a rank-3 ISAN, issue 16).

    **The centering contract.** A model class that sets ``centered_logits = True`` declares that everything
    it returns (``logits`` and every fast path) is centered and finite float64; the core then skips its
    centering pass for it and only spot-checks a few rows (:func:`centered`), so a false declaration is
    refused, not silently believed. The package's own models declare it (:class:`simulators.base.
    SyntheticModel`, :class:`llm_bridge.HFModel`); a model without the attribute is centered by the core.
    """

    vocab_size: int
    horizon: int

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Centered logits, shape ``(len(prefixes), V)``, float64."""
        ...


def center_logits(raw: np.ndarray) -> np.ndarray:
    """Centered logits ``raw - mean(raw, axis=-1)`` (invariant to per-row constants).

    Parameters
    ----------
    raw : array, shape (..., V)
        Raw logits or log-probabilities.

    Returns
    -------
    array, shape (..., V), float64
    """
    raw = np.asarray(raw, dtype=np.float64)
    return raw - raw.mean(axis=-1, keepdims=True)


CENTERED_SPOT_ROWS = 8
"""Rows of a declared-centered answer the core checks (first, last and evenly spaced between)."""

_CHUNK_ENTRIES = 1 << 16
"""Entries per chunk of the fused check (512 KiB of float64): its passes over a chunk stay in cache."""


def declares_centered(model: object) -> bool:
    """Whether ``model`` declares that it returns centered, finite logits (``centered_logits = True``)."""
    return getattr(model, "centered_logits", False) is True


def centered(name: str, values: np.ndarray, *, declared: bool = False) -> np.ndarray:
    """``values`` (shape ``(..., V)``) checked finite, with every row that is not centered centered.

    A row counts as centered when ``|mean(row)| <= CENTER_RTOL * max|row|`` (round-off of a centered
    model); such rows are returned unchanged, so centered models give bit-identical results, and the
    others become ``row - mean(row)``, the centered logits of the same distribution. The check is fused
    with the centering: one trip through memory, chunk by chunk (row means, maxima and the decision on a
    chunk while it is in cache), and a non-finite entry shows up as a non-finite row mean.

    ``declared=True`` (the model declares ``centered_logits``, :func:`declares_centered`) skips that pass:
    only :data:`CENTERED_SPOT_ROWS` rows are checked, and a row that is not centered or not finite raises a
    ``ValueError`` naming the false declaration (the core never re-centers a declared model's answer).
    """
    out = np.asarray(values, dtype=np.float64)
    if out.size == 0:
        return out
    flat = out.reshape(-1, out.shape[-1])
    if declared:
        _spot_check(name, flat)
        return out
    fixed = _center_rows(name, out, flat)
    return out if fixed is None else fixed.reshape(out.shape)


def _row_stats(name: str, values: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row means and max-magnitudes of the chunk ``x``; raises naming the first non-finite entry."""
    with np.errstate(over="ignore", invalid="ignore"):  # judged below
        mean = x.mean(axis=1)
    absmax = np.abs(x).max(axis=1)
    bad = ~np.isfinite(mean)
    if bad.any():  # an inf or NaN entry, or a sum of finite values past the float64 range
        check_finite(name, values)  # raises with the index when an entry is not finite
        rows = np.flatnonzero(bad)
        mean[rows] = (x[rows] / absmax[rows, None]).mean(axis=1) * absmax[rows]
    return mean, absmax


def _center_rows(name: str, values: np.ndarray, flat: np.ndarray) -> np.ndarray | None:
    """The fused check of :func:`centered`: ``None`` when every row is centered, else the fixed rows."""
    n, V = flat.shape
    step = max(1, _CHUNK_ENTRIES // V)
    fixed: np.ndarray | None = None
    for start in range(0, n, step):
        x = flat[start : start + step]
        mean, absmax = _row_stats(name, values, x)
        off = np.abs(mean) > CENTER_RTOL * absmax
        if fixed is None and off.any():
            fixed = np.empty_like(flat)  # the model's own array is never written to (it may be shared)
            fixed[:start] = flat[:start]
        if fixed is not None:
            fixed[start : start + len(x)] = np.where(off[:, None], x - mean[:, None], x)
    return fixed


def _spot_check(name: str, flat: np.ndarray) -> None:
    rows = np.unique(np.linspace(0, len(flat) - 1, min(len(flat), CENTERED_SPOT_ROWS)).astype(np.int64))
    x = flat[rows]
    mean, absmax = x.mean(axis=1), np.abs(x).max(axis=1)
    bad = ~(np.isfinite(mean) & (np.abs(mean) <= CENTER_RTOL * absmax))
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{name}: the model declares centered_logits = True (centered, finite rows, so the core does not "
            f"center them) but row {int(rows[i])} is not: mean {mean[i]:.6g}, max |entry| {absmax[i]:.6g}; "
            f"return centered logits or drop the declaration"
        )


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """``log softmax`` over the last axis: ``l - logsumexp(l)``; shape preserved, float64."""
    logits = np.asarray(logits, dtype=np.float64)
    return logits - logsumexp(logits, axis=-1, keepdims=True)


def model_logits(model: SequenceModel, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
    """Call ``model.logits`` after validating inputs and check the answer's shape and finiteness.

    Returns
    -------
    array, shape (len(prefixes), V), float64
    """
    V, T = check_model(model)
    checked = check_prefixes("prefixes", prefixes, V, T - 1)
    out = np.asarray(model.logits(checked), dtype=np.float64)
    if out.shape != (len(checked), V):
        raise ValueError(f"model.logits: must return shape ({len(checked)}, {V}), got {out.shape}")
    return centered("model.logits", out, declared=declares_centered(model))


def logits_along(model: SequenceModel, sequences: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """Centered logits at every position of equal-length sequences.

    ``out[i, t] = l_M(sequences[i][:t])`` for ``t = 0 .. L-1``: the logits that predict token ``t``.

    Parameters
    ----------
    sequences : int array, shape (n, L) with ``L <= horizon``

    Returns
    -------
    array, shape (n, L, V), float64
    """
    V, T = check_model(model)
    seqs = check_token_array("sequences", sequences, V)
    n, length = seqs.shape
    if length > T:
        raise ValueError(f"sequences: length must be <= horizon {T}, got {length}")
    fast = getattr(model, "logits_along", None)
    if not callable(fast):  # model_logits has checked and centered every row
        prefixes = [tuple(row[:t]) for t in range(length) for row in seqs.tolist()]
        flat = model_logits(model, prefixes) if prefixes else np.zeros((0, V))
        return flat.reshape(length, n, V).transpose(1, 0, 2)
    out = np.asarray(fast(seqs), dtype=np.float64)
    if out.shape != (n, length, V):
        raise ValueError(f"model.logits_along: must return shape {(n, length, V)}, got {out.shape}")
    return centered("model.logits_along", out, declared=declares_centered(model))


def sample_sequences(
    model: SequenceModel,
    n: int,
    length: int | None = None,
    *,
    rng: RngLike = None,
    prefix: Sequence[int] = (),
    temperature: float = 1.0,
) -> np.ndarray:
    """Draw ``n`` sequences token by token from ``model`` (batched over the ``n`` samples).

    Parameters
    ----------
    n : int
        Number of sequences.
    length : int, optional
        Tokens to generate after ``prefix``; default ``horizon - len(prefix)``.
    prefix : sequence of int
        A common prompt; it is not included in the output.
    temperature : float
        Sampling from ``softmax(l / temperature)``.

    Returns
    -------
    int64 array, shape (n, length)
    """
    gen = as_rng(rng)
    V, T = check_model(model)
    n = check_positive_int("n", n)
    base = check_prefixes("prefix", [prefix], V, T - 1)[0]
    max_len = T - len(base)
    length = max_len if length is None else check_int("length", length, minimum=0, maximum=max_len)
    check_size("n", n, (n, max(length, 1)), what="the samples (n, length)")
    temperature = check_float("temperature", temperature, low=0, low_inclusive=False)
    out = np.zeros((n, length), dtype=np.int64)
    batch = getattr(model, "logits_of_array", None)
    head = np.tile(np.asarray(base, dtype=np.int64), (n, 1))
    for t in range(length):
        if callable(batch):  # equal-length int arrays: no per-prefix Python tuples
            raw = check_finite("model.logits_of_array", np.asarray(batch(np.hstack([head, out[:, :t]]))))
        else:
            raw = model_logits(model, [base + tuple(int(x) for x in row[:t]) for row in out])
        logp = log_softmax(raw / temperature)
        cdf = np.cumsum(np.exp(logp), axis=1)
        u = gen.random(n) * cdf[:, -1]
        out[:, t] = np.minimum((cdf < u[:, None]).sum(axis=1), model.vocab_size - 1)
    return out


def sequence_log_prob(model: SequenceModel, sequences: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """Natural-log probability of each whole sequence, ``sum_t log Pr_M[x_t | x_<t]``.

    Parameters
    ----------
    sequences : int array, shape (n, L)

    Returns
    -------
    array, shape (n,), float64
    """
    seqs = check_token_array("sequences", sequences, check_model(model)[0])
    logp = log_softmax(logits_along(model, seqs))
    picked = np.take_along_axis(logp, seqs[:, :, None], axis=2)[:, :, 0]
    return np.asarray(picked.sum(axis=1))


class QueryCounter:
    """Wrap a model and count the logit vectors requested from it (one per prefix).

    Fast paths are forwarded and counted too: ``extended_logits`` costs ``|H| * |F|`` queries and
    ``logits_along`` costs ``n * L``.

    Attributes
    ----------
    queries : int
        Logit vectors returned so far.
    """

    def __init__(self, model: SequenceModel):
        self.model = model
        self.vocab_size = model.vocab_size
        self.horizon = model.horizon
        self.centered_logits = declares_centered(model)
        self.queries = 0
        if callable(getattr(model, "extended_logits", None)):
            self.extended_logits = self._extended_logits
        if callable(getattr(model, "logits_along", None)):
            self.logits_along = self._logits_along

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        out = self.model.logits(prefixes)
        self.queries += len(prefixes)
        return out

    def _extended_logits(
        self, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]]
    ) -> np.ndarray:
        out = self.model.extended_logits(histories, futures)  # type: ignore[attr-defined]
        self.queries += len(histories) * len(futures)
        return out

    def _logits_along(self, sequences: np.ndarray) -> np.ndarray:
        out = self.model.logits_along(sequences)  # type: ignore[attr-defined]
        self.queries += int(np.asarray(sequences).shape[0] * np.asarray(sequences).shape[1])
        return out

    def reset(self) -> None:
        """Set the count back to zero."""
        self.queries = 0
