"""The extended logit matrix ``L_M(H, F)`` and its top-k variant.

``L_M(H, F)[h, (f, z)] = l_M(h . f)_z`` with columns ordered future-major (column ``j*V + z`` is
``(f_j, z)``; with top-k, column ``j*k + i`` is ``(f_j, tokens[j, i])``).
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .results_io import CorruptFileError, atomic_write, dumps_json, load_npz
from .sequence_model import SequenceModel, centered, declares_centered
from .validation import (
    RngLike,
    as_rng,
    check_int,
    check_model,
    check_positive_int,
    check_prefixes,
    check_real_array,
    check_size,
    check_token_array,
)

__all__ = ["LogitMatrix", "extended_logit_matrix", "extended_logits", "extended_logits_of", "select_tokens",
           "random_tokens", "all_sequences", "all_futures", "pack_sequences", "unpack_sequences"]

TOKEN_RULES = ("mean", "random")


def pack_sequences(seqs: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Pack variable-length token sequences into a padded int64 array (pad -1) and their lengths."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    width = int(lengths.max()) if len(seqs) else 0
    out = np.full((len(seqs), width), -1, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def unpack_sequences(padded: np.ndarray, lengths: np.ndarray) -> list[tuple[int, ...]]:
    """Inverse of :func:`pack_sequences`."""
    return [tuple(int(t) for t in row[:n]) for row, n in zip(padded, lengths, strict=True)]


def all_sequences(vocab_size: int, length: int) -> list[tuple[int, ...]]:
    """All ``V**length`` sequences of exactly ``length`` tokens, in lexicographic order (``Sigma^t``)."""
    return list(itertools.product(range(vocab_size), repeat=length))


def all_futures(vocab_size: int, max_length: int) -> list[tuple[int, ...]]:
    """All sequences of length ``0 .. max_length`` (``Sigma^{<= max_length}``), shortest first."""
    return [s for m in range(max_length + 1) for s in all_sequences(vocab_size, m)]


@dataclass
class LogitMatrix:
    """An extended logit matrix with the sets and tokens it was built from.

    Attributes
    ----------
    values : array, shape (|H|, |F| * k), float64
        ``values[i, j*k + c] = l_M(h_i . f_j)_{tokens[j, c]}`` (``k = V`` for the full matrix).
    tokens : int array, shape (|F|, k)
        Token of each column within each future block (``arange(V)`` rows for the full matrix).
    histories, futures : list of tuple of int
    vocab_size : int
    metadata : dict
        JSON-serialisable description (model, rule, seed, ...).
    """

    values: np.ndarray
    tokens: np.ndarray
    histories: list[tuple[int, ...]]
    futures: list[tuple[int, ...]]
    vocab_size: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.values, np.ndarray):  # a list of rows: checked, not an AttributeError below
            self.values = check_real_array("values", self.values, ndim=2)
        if not isinstance(self.tokens, np.ndarray):
            self.tokens = check_token_array("tokens", self.tokens, ndim=2)
        nh, nf = len(self.histories), len(self.futures)
        if self.tokens.ndim != 2 or self.tokens.shape[0] != nf:
            raise ValueError(f"tokens: must have shape (|F|={nf}, k), got {self.tokens.shape}")
        k = self.tokens.shape[1]
        if self.values.shape != (nh, nf * k):
            raise ValueError(f"values: must have shape (|H|={nh}, |F|*k={nf * k}), got {self.values.shape}")

    @property
    def k(self) -> int:
        """Columns per future block."""
        return int(self.tokens.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]

    def block(self, j: int) -> np.ndarray:
        """The ``(|H|, k)`` block of future ``j``, ``0 <= j < |F|``."""
        j = check_int("j", j, minimum=0, maximum=len(self.futures) - 1)
        return self.values[:, j * self.k : (j + 1) * self.k]

    def save(self, path: str | Path) -> Path:
        """Write to ``path`` atomically; :meth:`load` round-trips exactly.

        ``path`` must end in ``.npz``; a path without a suffix gets ``.npz`` appended (as ``np.savez``
        does); any other suffix (``M.txt``) is refused rather than silently written elsewhere. The
        metadata is encoded and every field checked as :meth:`load` checks it (float64 finite values,
        int64 tokens) before anything is written, so a refused matrix leaves no file.
        """
        path = npz_path(path)
        hp, hl = pack_sequences(self.histories)
        fp, fl = pack_sequences(self.futures)
        arrays = {"format": np.array(MATRIX_FORMAT), "values": self.values, "tokens": self.tokens,
                  "histories": hp, "history_lengths": hl, "futures": fp, "future_lengths": fl,
                  "vocab_size": np.int64(self.vocab_size), "metadata": np.array(dumps_json(self.metadata))}
        _checked_matrix_fields({k: np.asarray(v) for k, v in arrays.items()})  # never write what load refuses
        return atomic_write(path, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | Path) -> LogitMatrix:
        """Read a matrix written by :meth:`save`, checking every field (keys, dtypes, shapes, token ranges,
        padding, finiteness; the zip CRC covers the bytes): a truncated, damaged, edited or foreign file
        raises :class:`logitrank.results_io.CorruptFileError` naming it."""
        path = Path(path)
        data = load_npz(path, what="LogitMatrix file")
        try:
            return cls(**_checked_matrix_fields(data))
        except (ValueError, TypeError) as exc:
            raise CorruptFileError(path, f"not a valid LogitMatrix file: {exc}") from exc


MATRIX_FORMAT = "logitrank-matrix/1"
_MATRIX_KEYS = {"values", "tokens", "histories", "history_lengths", "futures", "future_lengths", "vocab_size",
                "metadata"}


def npz_path(path: str | Path) -> Path:
    """``path`` as an ``.npz`` file name: no suffix gets ``.npz``; another suffix is refused."""
    path = Path(path)
    if path.suffix == "":
        return path.with_suffix(".npz")
    if path.suffix != ".npz":
        raise ValueError(f"path: must end in .npz (a name without a suffix gets .npz), got {str(path)!r}")
    return path


def _sequences_field(data: dict[str, np.ndarray], key: str, vocab_size: int) -> list[tuple[int, ...]]:
    """The sequences packed under ``key`` and their lengths (see :func:`pack_sequences`), checked."""
    padded, lengths = data[key], data[{"histories": "history_lengths", "futures": "future_lengths"}[key]]
    if padded.dtype != np.int64 or padded.ndim != 2:
        raise ValueError(f"{key}: must be a 2-D int64 array, got {padded.dtype} shape {padded.shape}")
    if lengths.dtype != np.int64 or lengths.shape != (padded.shape[0],):
        raise ValueError(f"{key}: lengths must be int64 of shape ({padded.shape[0]},), got {lengths.dtype} "
                         f"shape {lengths.shape}")
    if lengths.size and (lengths.min() < 0 or lengths.max() > padded.shape[1]):
        raise ValueError(f"{key}: lengths must lie in [0, {padded.shape[1]}], got range "
                         f"[{lengths.min()}, {lengths.max()}]")
    inside = np.arange(padded.shape[1])[None, :] < lengths[:, None]
    if padded.size and ((padded[inside] < 0).any() or (padded[inside] >= vocab_size).any()):
        raise ValueError(f"{key}: tokens must lie in [0, vocab_size={vocab_size})")
    if (padded[~inside] != -1).any():
        raise ValueError(f"{key}: padding beyond each length must be -1")
    return unpack_sequences(padded, lengths)


def _checked_matrix_fields(data: dict[str, np.ndarray]) -> dict[str, Any]:
    fmt = data.pop("format", None)
    if fmt is not None and (fmt.shape != () or str(fmt) != MATRIX_FORMAT):
        raise ValueError(f"format: must be {MATRIX_FORMAT!r}, got {str(fmt)[:40]!r}")
    if set(data) != _MATRIX_KEYS:
        raise ValueError(f"keys: must be {sorted(_MATRIX_KEYS)}, got {sorted(data)}")
    vs = data["vocab_size"]
    if vs.shape != () or vs.dtype != np.int64 or int(vs) < 1:
        raise ValueError(f"vocab_size: must be an int64 scalar >= 1, got {vs.dtype} {vs.tolist()!r}")
    V = int(vs)
    values, tokens = data["values"], data["tokens"]
    if values.dtype != np.float64 or values.ndim != 2:
        raise ValueError(f"values: must be a 2-D float64 array, got {values.dtype} shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values: must be finite, got NaN or inf entries")
    if tokens.dtype != np.int64 or tokens.ndim != 2 or tokens.shape[1] > V:
        raise ValueError(f"tokens: must be a 2-D int64 array of at most V={V} columns, got {tokens.dtype} "
                         f"shape {tokens.shape}")
    if tokens.size and (tokens.min() < 0 or tokens.max() >= V or (np.diff(tokens, axis=1) <= 0).any()):
        raise ValueError(f"tokens: each row must be increasing token ids in [0, {V})")
    meta = data["metadata"]
    if meta.shape != () or meta.dtype.kind != "U":
        raise ValueError(f"metadata: must be a JSON string, got {meta.dtype} shape {meta.shape}")
    metadata = json.loads(str(meta))
    if not isinstance(metadata, dict):
        raise ValueError(f"metadata: must be a JSON object, got {type(metadata).__name__}")
    return {"values": values, "tokens": tokens, "histories": _sequences_field(data, "histories", V),
            "futures": _sequences_field(data, "futures", V), "vocab_size": V, "metadata": metadata}


def extended_logits(
    model: SequenceModel,
    histories: Sequence[Sequence[int]],
    futures: Sequence[Sequence[int]],
    *,
    batch_size: int = 8192,
    progress: bool | None = None,
) -> np.ndarray:
    """Centered logits of every ``h . f`` as a tensor (validated, fast path when the model has one).

    Returns
    -------
    array, shape (|H|, |F|, V), float64 — ``out[i, j] = l_M(h_i . f_j)``.
    """
    H, F = _validated_sets(model, histories, futures)
    batch_size = check_positive_int("batch_size", batch_size)
    return extended_logits_of(model, H, F, batch_size=batch_size, progress=progress)


def _validated_sets(
    model: SequenceModel, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]]
) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    V, T = check_model(model)
    H = check_prefixes("histories", histories, V, T - 1)
    F = check_prefixes("futures", futures, V, T - 1)
    longest = max(len(h) for h in H) + max(len(f) for f in F)
    if longest > T - 1:
        raise ValueError(
            f"histories/futures: len(h) + len(f) must be <= horizon - 1 = {T - 1}, got a longest "
            f"concatenation of length {longest}"
        )
    return H, F


def extended_logits_of(
    model: SequenceModel, H: list[tuple[int, ...]], F: list[tuple[int, ...]], *, batch_size: int,
    progress: bool | None,
) -> np.ndarray:
    """Centered logits of every ``h . f`` for already validated sets (:func:`extended_logits` minus checks).

    For callers that validated ``H`` and ``F`` once themselves (every ``h . f`` must be a valid prefix of
    length ``<= horizon - 1``) and call this many times, e.g. on blocks of futures; unvalidated input can
    give wrong results or numpy errors instead of clear ones, so use :func:`extended_logits` otherwise.

    Parameters
    ----------
    model : SequenceModel
    H, F : lists of token tuples (validated histories and futures)
    batch_size : int, ``>= 1``; prefixes per ``model.logits`` call on the slow path
    progress : bool or None; tqdm bar (None: on for more than 200,000 prefixes)

    Returns
    -------
    array, shape (|H|, |F|, V), float64 -- ``out[i, j] = l_M(h_i . f_j)``.
    """
    V = model.vocab_size
    fast = getattr(model, "extended_logits", None)
    if callable(fast):
        # a fast path that draws its own progress bar (e.g. llm_bridge.HFModel) honours the caller's setting
        takes_progress = progress is not None and "progress" in inspect.signature(fast).parameters
        out = np.asarray(fast(H, F, progress=progress) if takes_progress else fast(H, F), dtype=np.float64)
    else:
        out = np.empty((len(H), len(F), V))
        rows_per_batch = max(1, batch_size // len(F))
        show = progress if progress is not None else len(H) * len(F) > 200_000
        for start in tqdm(range(0, len(H), rows_per_batch), disable=not show, desc="extended logits",
                          unit="batch"):
            hs = H[start : start + rows_per_batch]
            block = np.asarray(model.logits([h + f for h in hs for f in F]), dtype=np.float64)
            if block.shape != (len(hs) * len(F), V):
                raise ValueError(
                    f"model.logits: must return shape ({len(hs) * len(F)}, {V}), got {block.shape}"
                )
            out[start : start + len(hs)] = block.reshape(len(hs), len(F), V)
    if out.shape != (len(H), len(F), V):
        raise ValueError(f"model.extended_logits: must return shape {(len(H), len(F), V)}, got {out.shape}")
    return centered("model.extended_logits" if callable(fast) else "model.logits", out,
                    declared=declares_centered(model))


def select_tokens(
    logits: np.ndarray, top_k: int, token_rule: str = "mean", rng: RngLike = None
) -> np.ndarray:
    """Choose ``top_k`` tokens per future block.

    Parameters
    ----------
    logits : array, shape (|H|, |F|, V)
        Centered logits. Ranking by mean centered logit over ``h`` equals ranking by mean
        log-probability, because ``log p = l - logsumexp(l)`` shifts each row by a constant.
    top_k : int, ``1 <= top_k <= V``
    token_rule : ``"mean"`` (highest mean log-probability over ``H``; ties to the lower id) or
        ``"random"`` (uniform without replacement per future, from ``rng``).

    Returns
    -------
    int64 array, shape (|F|, top_k), each row sorted ascending.
    """
    _, nf, V = logits.shape
    top_k = check_positive_int("top_k", top_k, maximum=V)
    if token_rule == "mean":
        mean = logits.mean(axis=0)
        order = np.argsort(-mean, axis=1, kind="stable")[:, :top_k]
    elif token_rule == "random":
        return random_tokens(nf, V, top_k, rng)
    else:
        raise ValueError(f"token_rule: must be one of {TOKEN_RULES}, got {token_rule!r}")
    return np.sort(order, axis=1).astype(np.int64)


def random_tokens(n_futures: int, vocab_size: int, top_k: int, rng: RngLike = None) -> np.ndarray:
    """The ``"random"`` rule of :func:`select_tokens`: ``top_k`` distinct tokens per future, uniform, drawn
    from ``rng`` one future after another. Returns int64 ``(n_futures, top_k)``, each row ascending."""
    top_k = check_positive_int("top_k", top_k, maximum=vocab_size)
    gen = as_rng(rng)
    order = np.stack([gen.choice(vocab_size, size=top_k, replace=False) for _ in range(n_futures)])
    return np.sort(order.reshape(n_futures, top_k), axis=1).astype(np.int64)


def extended_logit_matrix(
    model: SequenceModel,
    histories: Sequence[Sequence[int]],
    futures: Sequence[Sequence[int]],
    *,
    top_k: int | None = None,
    token_rule: str = "mean",
    rng: RngLike = None,
    batch_size: int = 8192,
    progress: bool | None = None,
) -> LogitMatrix:
    """Build the extended logit matrix ``L_M(H, F)`` (or its top-k variant ``L_{M,k}(H, F)``).

    ``L[h, (f, z)] = l_M(h . f)_z``; columns future-major. With ``top_k``, each future keeps
    ``top_k`` token columns chosen by ``token_rule`` (see :func:`select_tokens`); the entries stay
    centered over the full vocabulary.

    Parameters
    ----------
    model : SequenceModel
    histories : sequence of token sequences, ``|H| >= 1``
    futures : sequence of token sequences, ``|F| >= 1``; ``len(h) + len(f) <= horizon - 1``
    top_k : int, optional, ``1 <= top_k <= V``
    token_rule : ``"mean"`` or ``"random"``
    rng : Generator or seed, used by ``token_rule="random"``

    Returns
    -------
    LogitMatrix with ``values`` of shape ``(|H|, |F| * k)`` (``k = V`` without ``top_k``).

    With ``top_k``, a model's hidden-state fast path (:mod:`logitrank.hidden_path`) gives the same tokens
    (but for exact ties at round-off) and entries without full-vocabulary logits per ``(h, f)``.
    """
    from .hidden_path import hidden_top_k, model_readout  # imported here: hidden_path builds on this module

    if token_rule not in TOKEN_RULES:
        raise ValueError(f"token_rule: must be one of {TOKEN_RULES}, got {token_rule!r}")
    if top_k is not None:
        check_positive_int("top_k", top_k, maximum=check_model(model)[0])
    H, F = _validated_sets(model, histories, futures)
    batch_size = check_positive_int("batch_size", batch_size)
    meta: dict[str, Any] = {"model": type(model).__name__, "top_k": top_k, "token_rule": token_rule}
    readout = model_readout(model) if top_k is not None else None
    if top_k is not None and readout is not None:
        tokens, values = hidden_top_k(model, readout, H, F, top_k=top_k, token_rule=token_rule, rng=rng,
                                      progress=progress)
        return LogitMatrix(values=values, tokens=tokens, histories=H, futures=F, vocab_size=model.vocab_size,
                           metadata=meta)
    check_size("(histories, futures)", (len(H), len(F)), (len(H), len(F), model.vocab_size),
               what="the dense extended logits (|H|, |F|, V)")
    full = extended_logits_of(model, H, F, batch_size=batch_size, progress=progress)
    nh, nf, V = full.shape
    if top_k is None:
        tokens = np.tile(np.arange(V, dtype=np.int64), (nf, 1))
        values = full.reshape(nh, nf * V)
    else:
        tokens = select_tokens(full, top_k, token_rule, rng)
        values = np.take_along_axis(full, tokens[None, :, :], axis=2).reshape(nh, nf * top_k)
    return LogitMatrix(values=np.ascontiguousarray(values), tokens=tokens, histories=H, futures=F,
                       vocab_size=V, metadata=meta)
