"""The hidden-state fast path of a :class:`logitrank.SequenceModel`, as the extended matrix and shards use it.

A model whose raw logits are ``W g(x) + b`` (see :mod:`logitrank.linear_readout`) may offer

* ``readout() -> (W, b)`` or ``None``: ``W`` of shape ``(V, d)`` restricted to the model's ``V`` tokens, ``b``
  of shape ``(V,)`` or ``None``; ``None`` says the fast path does not apply to this instance (soft-capped
  logits, switched off, ...), and
* ``final_hidden(histories, futures) -> (|H|, |F|, d)``: the final hidden states ``g(h . f)``, float32 or
  float64 (optionally taking ``progress=``).

Then the top-k extended matrix needs the ``V x d`` output head once per future (token choice) and ``k d``
per ``(h, f)`` (entries) instead of ``V d`` per ``(h, f)``, and top-k "mean" needs only ``sum_h g(h . f)``
from its first pass. :func:`hidden_top_k` serves :func:`logitrank.extended_logit_matrix`;
:func:`hidden_future_sums` and :func:`hidden_rows` serve :mod:`logitrank.shards` (and through it
:mod:`logitrank.distributed`).

Hidden states between the two passes of a top-k "mean" extraction. Pass 1 needs every row's hidden states
before any shard can be written; rather than run the transformer body a second time, pass 1 keeps each
shard's states in ``hidden-NNNNN.npy`` beside the shards (written atomically in the dtype ``final_hidden``
returned, so float32 models lose nothing; then its size and SHA-256 in ``hidden-NNNNN.npy.sum.json``), pass
2 reads them back (a missing, damaged or mismatching file is recomputed, with a warning when it was there),
and each file is deleted once its shard is written. A kill anywhere loses nothing that is not recomputed.
The files take ``|H| |F| d`` numbers at most (151 MB for 256 x 256 rows of width 576 in float32); a shard's
file is only written while the disk keeps at least as much free as the file takes.
"""

from __future__ import annotations

import inspect
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .linear_readout import centered_readout_logits, check_readout, token_entries, top_tokens
from .logit_matrix import random_tokens
from .results_io import (
    CorruptFileError,
    atomic_write,
    checksum_problem,
    file_checksum,
    load_json,
    load_npy,
    save_json,
)
from .validation import RngLike, check_finite

__all__ = ["model_readout", "final_hidden_of", "hidden_top_k", "hidden_future_sums", "hidden_rows",
           "hidden_name", "drop_hidden", "sweep_hidden"]

Readout = tuple[np.ndarray, np.ndarray | None]


def model_readout(model: Any) -> Readout | None:
    """``(W, b)`` (float64, checked against ``model.vocab_size``) when ``model`` offers the hidden-state fast
    path -- ``final_hidden`` and ``readout`` both callable and ``readout()`` not ``None`` -- else ``None``."""
    if not (callable(getattr(model, "final_hidden", None)) and callable(getattr(model, "readout", None))):
        return None
    got = model.readout()
    if got is None:
        return None
    W, b = check_readout(*got)
    if W.shape[0] != model.vocab_size:
        raise ValueError(f"model.readout: W must have V = vocab_size = {model.vocab_size} rows, got shape "
                         f"{W.shape}")
    return W, b


def final_hidden_of(model: Any, H: list[tuple[int, ...]], F: list[tuple[int, ...]], d: int, *,
                    progress: bool | None = None) -> np.ndarray:
    """``model.final_hidden(H, F)`` checked: shape ``(|H|, |F|, d)``, float32 or float64, finite."""
    fast = model.final_hidden
    takes_progress = progress is not None and "progress" in inspect.signature(fast).parameters
    G = np.asarray(fast(H, F, progress=progress) if takes_progress else fast(H, F))
    if G.shape != (len(H), len(F), d) or G.dtype not in (np.float32, np.float64):
        raise ValueError(f"model.final_hidden: must return float32 or float64 of shape "
                         f"{(len(H), len(F), d)}, got {G.dtype} {G.shape}")
    return check_finite("model.final_hidden", G)


def hidden_top_k(model: Any, readout: Readout, H: list[tuple[int, ...]], F: list[tuple[int, ...]], *,
                 top_k: int, token_rule: str, rng: RngLike,
                 progress: bool | None) -> tuple[np.ndarray, np.ndarray]:
    """Tokens ``(|F|, k)`` and values ``(|H|, |F| k)`` of the top-k extended matrix from the hidden states.

    ``"mean"``: the top k of ``W_c gbar_f + b_c`` (:func:`logitrank.linear_readout.top_tokens`); ``"random"``:
    drawn from ``rng`` exactly as the full path draws them. Entries by
    :func:`logitrank.linear_readout.token_entries`.
    """
    W, b = readout
    G = final_hidden_of(model, H, F, W.shape[1], progress=progress)
    if token_rule == "mean":
        tokens = top_tokens(G.mean(axis=0, dtype=np.float64), W, b, top_k)
    else:
        tokens = random_tokens(len(F), W.shape[0], top_k, rng)
    return tokens, token_entries(G, W, b, tokens).reshape(len(H), -1)


def hidden_future_sums(model: Any, readout: Readout, histories: list[tuple[int, ...]],
                       futures: list[tuple[int, ...]], cache: Path | None = None) -> np.ndarray:
    """``sum_h l(h . f)`` over ``histories`` for every future, ``(|F|, V)`` float64: ``W_c sum_h g + n b_c``.

    With ``cache`` (a ``hidden-NNNNN.npy`` path), the hidden states are read from it when it holds them, else
    computed and kept there for :func:`hidden_rows` (when they fit in one block of :data:`HIDDEN_ENTRIES`).
    """
    W, b = readout
    n = len(histories)
    out = np.empty((len(futures), W.shape[0]))
    for block, G in _hidden_blocks(model, histories, futures, W.shape[1], cache, keep=True):
        out[block] = centered_readout_logits(G.sum(axis=0, dtype=np.float64), W, None if b is None else n * b)
    return out


def hidden_rows(model: Any, readout: Readout, histories: list[tuple[int, ...]],
                futures: list[tuple[int, ...]], tokens: np.ndarray, dtype: str,
                cache: Path | None = None) -> np.ndarray:
    """Rows ``(|histories|, |F| k)`` of the top-k matrix in ``dtype`` from the hidden states (read from
    ``cache`` when it holds them; the file is left for the caller to drop once the rows are stored)."""
    W, b = readout
    out = np.empty((len(histories), len(futures), tokens.shape[1]), dtype=dtype)
    for block, G in _hidden_blocks(model, histories, futures, W.shape[1], cache, keep=False):
        out[:, block] = token_entries(G, W, b, tokens[block])
    return out.reshape(len(histories), -1)


HIDDEN_ENTRIES = 1 << 26
"""Most hidden-state numbers held at once (256 MB in float32): more futures are taken in blocks (and then
not kept between the passes)."""


def _hidden_blocks(model: Any, H: list[tuple[int, ...]], F: list[tuple[int, ...]], d: int, cache: Path | None,
                   *, keep: bool) -> Iterator[tuple[slice, np.ndarray]]:
    """``(futures block, hidden states (|H|, |block|, d))`` over blocks of at most :data:`HIDDEN_ENTRIES`; a
    single block goes through ``cache`` (read when it verifies, written when ``keep``)."""
    per = max(1, HIDDEN_ENTRIES // max(1, len(H) * d))
    if per < len(F):
        for start in range(0, len(F), per):
            block = slice(start, min(len(F), start + per))
            yield block, final_hidden_of(model, H, F[block], d, progress=False)
        return
    G = None if cache is None else _load_hidden(cache, (len(H), len(F), d))
    if G is None:
        G = final_hidden_of(model, H, F, d, progress=False)
        if keep and cache is not None and 2 * G.nbytes < shutil.disk_usage(cache.parent).free:
            atomic_write(cache, lambda fh: np.save(fh, G))
            save_json(file_checksum(cache), _sum_path(cache), indent=None)  # after the file: it is finished
    yield slice(0, len(F)), G


def hidden_name(index: int) -> str:
    """File name of shard ``index``'s hidden states between the two passes."""
    return f"hidden-{index:05d}.npy"


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sum.json")


def _load_hidden(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The hidden states kept at ``path`` if they verify (checksum, shape, dtype, finite); else ``None``,
    after a warning and removal when a file was there."""
    if not path.exists():
        return None
    try:
        problem = checksum_problem(path, load_json(_sum_path(path))) if _sum_path(path).exists() \
            else f"{path}: no checksum recorded"
        G = None if problem else load_npy(path, what="hidden states")
        if G is not None and (G.shape != shape or G.dtype not in (np.float32, np.float64)
                              or not np.isfinite(G).all()):
            problem = f"{path}: holds {G.dtype} {G.shape}, expected finite float of shape {shape}"
    except CorruptFileError as exc:
        problem = str(exc)
    if problem:
        warnings.warn(f"{problem}; recomputing these hidden states", RuntimeWarning, stacklevel=3)
        drop_hidden(path)
        return None
    return G


def drop_hidden(path: Path) -> None:
    """Remove a hidden-states file and its checksum (both may be missing)."""
    path.unlink(missing_ok=True)
    _sum_path(path).unlink(missing_ok=True)


def sweep_hidden(directory: Path) -> None:
    """Remove every hidden-states file in ``directory`` and every checksum of one (a kill inside
    :func:`drop_hidden` can leave a checksum without its file), once every shard is written."""
    for path in directory.glob("hidden-*.npy"):
        drop_hidden(path)
    for path in directory.glob("hidden-*.npy.sum.json"):
        path.unlink(missing_ok=True)
