"""Sharded, resumable extraction of extended logit matrices, and reading the shards back.

A *shard directory* holds the rows of ``L_M(H, F)`` (or ``L_{M,k}(H, F)``) in row shards:
``shard-00000.npy`` holds rows ``[0, shard_rows)``, the next ``[shard_rows, 2 shard_rows)``, ... each an
``(rows, |F| k)`` array in ``dtype`` with the column order of :func:`logitrank.extended_logit_matrix`.
``manifest.json`` records what the shards are (model id, SHA-256 of ``H`` and ``F``, ``top_k``, token rule,
chosen tokens, dtype, shape, shard boundaries, vocabulary size) and ``sets.npz`` the sets themselves.

Guarantees:

* every file is written to a temporary name and atomically renamed
  (:func:`logitrank.results_io.atomic_write`), so a kill at any moment loses at most the shard being
  computed; re-running :func:`extract` skips finished shards and gives a result
  identical, bit for bit, to an uninterrupted run;
* a directory written for a different model id, sets, ``top_k``, token rule, dtype or shard size is
  refused with a ``ValueError`` naming the differences, before anything is written;
* an output directory that cannot be created or written raises ``PermissionError`` before any work.

Run one extraction per directory at a time (a starting run removes the ``*.tmp`` leftovers of killed runs).

Reading (:class:`ShardedMatrix`, :func:`open_shards`) lives in :mod:`logitrank.sharded_matrix`; the dask
version of the extraction in :mod:`logitrank.distributed`.

Top-k with ``token_rule="mean"`` ranks tokens by the mean over **all** histories, which is only known
after every row has been computed. :func:`extract` therefore makes a first pass over the row shards
that accumulates ``sum_h l(h . f)`` per future in float64 (``(|F|, V)``, checkpointed to
``token-means.partial.npz`` after each shard, so that pass is resumable too), selects the tokens with
:func:`logitrank.select_tokens`, stores them in the manifest, and only then writes shards. This doubles
the body's work unless the model has the hidden-state fast path (pass 1 then keeps its hidden states,
:mod:`logitrank.hidden_path`); the "random" rule and the full matrix need one pass. Sums run per shard, then
across shards, so the tokens agree with ``extended_logit_matrix`` except where two means tie to ~1e-15.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from . import hidden_path
from .logit_matrix import (
    TOKEN_RULES,
    extended_logits,
    pack_sequences,
    select_tokens,
)
from .results_io import CorruptFileError, atomic_write, load_npz, sweep_tmp
from .sequence_model import SequenceModel
from .sharded_matrix import (
    FORMAT,
    MANIFEST,
    SETS,
    ShardedMatrix,
    checksum_name,
    open_shards,
    read_manifest,
    save_shard,
    sequences_sha256,
    shard_name,
    shard_problem,
    write_manifest,
)
from .validation import RngLike, check_positive_int, check_prefixes

__all__ = ["FORMAT", "ShardedMatrix", "extract", "open_shards", "sequences_sha256", "model_fingerprint"]

MEANS_PARTIAL = "token-means.partial.npz"

DTYPES = ("float32", "float64")
# identity fields: a directory whose manifest differs in any of them is never mixed with a new run
IDENTITY = ("format", "model_id", "histories_sha256", "futures_sha256", "n_histories", "n_futures",
            "vocab_size", "top_k", "token_rule", "dtype", "shard_rows")


def model_fingerprint(model: SequenceModel, probe: Sequence[Sequence[int]]) -> str:
    """Default model id: class name and a hash of the centered logits at ``probe`` prefixes (rounded to
    1e-6 so that bit-level differences between machines do not matter). Pass an explicit ``model_id``
    (e.g. a checkpoint path and revision) for real models."""
    prefixes = [tuple(p) for p in probe]
    try:
        logits = np.asarray(model.logits(prefixes), dtype=np.float64)
    except ValueError:  # a model that cannot condition on nothing (a HF model without BOS): drop ()
        logits = np.asarray(model.logits([p for p in prefixes if p] or [(0,)]), dtype=np.float64)
    digest = hashlib.sha256(np.round(logits, 6).astype("<f8").tobytes()).hexdigest()[:16]
    return f"{type(model).__name__}:V={model.vocab_size}:T={model.horizon}:{digest}"


def atomic_save(path: Path, array: np.ndarray | dict[str, np.ndarray]) -> None:
    """``np.save`` (``np.savez`` for a dict) through :func:`logitrank.results_io.atomic_write`: readers see
    the old file or the complete new one, never a part."""
    if isinstance(array, dict):
        atomic_write(path, lambda fh: np.savez(fh, **array))  # type: ignore[arg-type]
    else:
        atomic_write(path, lambda fh: np.save(fh, array))


def check_writable_dir(out: str | Path) -> Path:
    """Create ``out`` if needed and prove it writable with a probe file; ``PermissionError`` otherwise."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise PermissionError(f"out: must be a directory, got an existing file {str(path)!r}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"out: directory {str(path)!r} cannot be created or written "
                              f"({exc.strerror or exc}); choose a writable location") from exc
    return path


def compute_rows(model: SequenceModel, histories: list[tuple[int, ...]], futures: list[tuple[int, ...]],
                 tokens: np.ndarray | None, dtype: str, max_entries: int = 1 << 24,
                 hidden: Path | None = None) -> np.ndarray:
    """Rows ``L[histories, :]`` in ``dtype``, shape ``(|rows|, |F| k)``; futures in blocks of ``max_entries``
    logits (``|rows| x |F_b| x V``), or top-k from the hidden states (fast path; ``hidden``: kept ones)."""
    if tokens is not None and (readout := hidden_path.model_readout(model)) is not None:
        return hidden_path.hidden_rows(model, readout, histories, futures, tokens, dtype, hidden)
    V, nf = model.vocab_size, len(futures)
    k = V if tokens is None else tokens.shape[1]
    out = np.empty((len(histories), nf * k), dtype=dtype)
    per = max(1, max_entries // max(1, len(histories) * V))
    for start in range(0, nf, per):
        stop = min(nf, start + per)
        full = extended_logits(model, histories, futures[start:stop], progress=False)
        if tokens is not None:
            full = np.take_along_axis(full, tokens[None, start:stop, :], axis=2)
        out[:, start * k : stop * k] = full.reshape(len(histories), -1)
    return out


def future_sums(model: SequenceModel, histories: list[tuple[int, ...]], futures: list[tuple[int, ...]],
                max_entries: int = 1 << 24, hidden: Path | None = None) -> np.ndarray:
    """``sum_{h in rows} l(h . f)`` for every future: float64 array ``(|F|, V)`` (first pass of "mean"); with
    the hidden-state fast path from ``sum_h g(h . f)``, the hidden states kept at ``hidden`` when given."""
    if (readout := hidden_path.model_readout(model)) is not None:
        return hidden_path.hidden_future_sums(model, readout, histories, futures, hidden)
    V, nf = model.vocab_size, len(futures)
    out = np.empty((nf, V))
    per = max(1, max_entries // max(1, len(histories) * V))
    for start in range(0, nf, per):
        stop = min(nf, start + per)
        out[start:stop] = extended_logits(model, histories, futures[start:stop], progress=False).sum(axis=0)
    return out


@dataclass
class ShardPlan:
    """What :func:`extract` (or :func:`logitrank.distributed.extract_distributed`) still has to do."""

    out: Path
    manifest: dict[str, Any]
    histories: list[tuple[int, ...]]
    futures: list[tuple[int, ...]]

    @property
    def bounds(self) -> list[tuple[int, int]]:
        return [tuple(s["rows"]) for s in self.manifest["shards"]]  # type: ignore[misc]

    @property
    def tokens(self) -> np.ndarray | None:
        t = self.manifest["tokens"]
        return None if t is None else np.asarray(t, dtype=np.int64)

    def missing(self) -> list[int]:
        """Shards still to compute: not written, or failing their recorded size and SHA-256 (a truncated
        or overwritten shard, or one killed before its checksum was written): those are removed with a
        warning, so they are rewritten, never skipped or used."""
        todo = []
        for i in range(len(self.bounds)):
            problem = shard_problem(self.out, i)
            if problem is None:
                continue
            if (self.out / shard_name(i)).exists():
                warnings.warn(f"{problem}; rewriting shard {i}", RuntimeWarning, stacklevel=2)
                (self.out / shard_name(i)).unlink()
                (self.out / checksum_name(i)).unlink(missing_ok=True)
            todo.append(i)
        return todo

    def pending_means(self) -> tuple[np.ndarray, np.ndarray]:
        """Accumulated per-future sums and the done-mask of the first ("mean") pass (restarted, with a
        warning, when the partial file is unreadable or not what this pass wrote)."""
        path = self.out / MEANS_PARTIAL
        shape, n = (len(self.futures), self.manifest["vocab_size"]), len(self.bounds)
        if path.exists():
            try:
                data = load_npz(path, what="token-means checkpoint")
                sums, done = data["sums"], data["done"]
                if sums.shape != shape or sums.dtype != np.float64 or done.shape != (n,) \
                        or done.dtype != bool:
                    raise CorruptFileError(path, f"holds sums {sums.shape} {sums.dtype} and done "
                                           f"{done.shape} {done.dtype}, expected {shape} float64 and "
                                           f"({n},) bool")
                return sums, done
            except (CorruptFileError, KeyError) as exc:
                warnings.warn(f"{exc}; restarting the token-means pass", RuntimeWarning, stacklevel=2)
        return (np.zeros((len(self.futures), self.manifest["vocab_size"])),
                np.zeros(len(self.bounds), dtype=bool))

    def save_means(self, sums: np.ndarray, done: np.ndarray) -> None:
        atomic_save(self.out / MEANS_PARTIAL, {"sums": sums, "done": done})

    def set_tokens(self, sums: np.ndarray) -> None:
        """Select the top-k "mean" tokens from the per-future sums and record them in the manifest."""
        mean = sums / len(self.histories)
        tokens = select_tokens(mean[None], self.manifest["top_k"], "mean")
        self.manifest["tokens"] = tokens.tolist()
        write_manifest(self.out, self.manifest)
        (self.out / MEANS_PARTIAL).unlink(missing_ok=True)

    def write_shard(self, index: int, rows: np.ndarray) -> None:
        a, b = self.bounds[index]
        expected = (b - a, self.manifest["shape"][1])
        if rows.shape != expected or rows.dtype != np.dtype(self.manifest["dtype"]):
            raise ValueError(f"shard {index}: must have shape {expected} and dtype {self.manifest['dtype']}, "
                             f"got {rows.shape} {rows.dtype}")
        save_shard(self.out, index, rows)


def plan_extraction(
    out: str | Path,
    histories: Sequence[Sequence[int]],
    futures: Sequence[Sequence[int]],
    *,
    vocab_size: int,
    horizon: int,
    model_id: str,
    shard_rows: int,
    top_k: int | None,
    token_rule: str,
    dtype: str,
    rng: RngLike,
) -> ShardPlan:
    """Validate, compare with an existing manifest (refusing any mismatch) or create a new one."""
    top_k, shard_rows, H, F = _check_plan_args(histories, futures, vocab_size, horizon, shard_rows, top_k,
                                               token_rule, dtype)
    path = check_writable_dir(out)
    manifest = _new_manifest(H, F, vocab_size, model_id, shard_rows, top_k, token_rule, dtype)
    if (path / MANIFEST).exists():
        return _reuse_manifest(path, manifest, H, F)
    if any(path.glob("shard-*.npy")):
        raise ValueError(f"out: {str(path)!r} holds shard files but no {MANIFEST}; refusing to mix results")
    if top_k is not None and token_rule == "random":
        manifest["tokens"] = select_tokens(np.zeros((1, len(F), vocab_size)), top_k, "random", rng).tolist()
    save_sets(path, H, F)
    write_manifest(path, manifest)
    return ShardPlan(path, manifest, H, F)


def _check_plan_args(
    histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]], vocab_size: int, horizon: int,
    shard_rows: int, top_k: int | None, token_rule: str, dtype: str,
) -> tuple[int | None, int, list[tuple[int, ...]], list[tuple[int, ...]]]:
    """:func:`plan_extraction`'s arguments, checked: ``(top_k, shard_rows, H, F)``."""
    if token_rule not in TOKEN_RULES:
        raise ValueError(f"token_rule: must be one of {TOKEN_RULES}, got {token_rule!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype: must be one of {DTYPES}, got {dtype!r}")
    if top_k is not None:
        top_k = check_positive_int("top_k", top_k, maximum=vocab_size)
    shard_rows = check_positive_int("shard_rows", shard_rows)
    H = check_prefixes("histories", histories, vocab_size, horizon - 1)
    F = check_prefixes("futures", futures, vocab_size, horizon - 1)
    longest = max(len(h) for h in H) + max(len(f) for f in F)
    if longest > horizon - 1:
        raise ValueError(f"histories/futures: len(h) + len(f) must be <= horizon - 1 = {horizon - 1}, got a "
                         f"longest concatenation of length {longest}")
    return top_k, shard_rows, H, F


def _new_manifest(H: list[tuple[int, ...]], F: list[tuple[int, ...]], vocab_size: int, model_id: str,
                  shard_rows: int, top_k: int | None, token_rule: str, dtype: str) -> dict[str, Any]:
    """The manifest of this extraction (``tokens`` still None)."""
    k = vocab_size if top_k is None else top_k
    nh = len(H)
    return {
        "format": FORMAT, "model_id": str(model_id),
        "histories_sha256": sequences_sha256(H), "futures_sha256": sequences_sha256(F),
        "n_histories": nh, "n_futures": len(F), "vocab_size": int(vocab_size), "top_k": top_k,
        "token_rule": token_rule if top_k is not None else None, "dtype": dtype, "shard_rows": shard_rows,
        "k": k, "shape": [nh, len(F) * k],
        "shards": [{"index": i, "rows": [a, min(nh, a + shard_rows)], "file": shard_name(i)}
                   for i, a in enumerate(range(0, nh, shard_rows))],
        "tokens": None,
        "token_selection": ("all V tokens" if top_k is None else
                            "random: drawn per future from rng before extraction" if token_rule == "random"
                            else "mean: top-k of the float64 mean over all histories (first pass)"),
    }


def _reuse_manifest(path: Path, manifest: dict[str, Any], H: list[tuple[int, ...]],
                    F: list[tuple[int, ...]]) -> ShardPlan:
    """Resume the extraction in ``path`` if its manifest is this one's (else refuse, listing differences);
    a damaged ``sets.npz`` is rewritten."""
    old = read_manifest(path)
    diffs = [f"{key} (directory: {short_value(old.get(key))}, this call: {short_value(manifest[key])})"
             for key in IDENTITY if old.get(key) != manifest[key]]
    if diffs:
        raise ValueError(f"out: {str(path)!r} holds shards of a different extraction; refusing to mix "
                         f"results. Differences: {'; '.join(diffs)}. Use a new directory.")
    if not sets_intact(path, old):
        # stacklevel 3: the caller of plan_extraction, as before this was split out
        warnings.warn(f"{path / SETS}: unreadable or not matching {MANIFEST}; rewriting it",
                      RuntimeWarning, stacklevel=3)
        save_sets(path, H, F)
    return ShardPlan(path, old, H, F)


def save_sets(path: Path, H: list[tuple[int, ...]], F: list[tuple[int, ...]]) -> None:
    """Write ``sets.npz`` (the packed histories and futures) atomically."""
    hp, hl = pack_sequences(H)
    fp, fl = pack_sequences(F)
    atomic_save(path / SETS, {"histories": hp, "history_lengths": hl, "futures": fp, "future_lengths": fl})


def sets_intact(path: Path, manifest: dict[str, Any]) -> bool:
    """Whether ``sets.npz`` reads back (zip CRC) and matches the manifest's SHA-256 of the sets."""
    try:
        ShardedMatrix(path).sets()
    except (CorruptFileError, FileNotFoundError):
        return False
    return True


def short_value(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def extract(
    model: SequenceModel,
    histories: Sequence[Sequence[int]],
    futures: Sequence[Sequence[int]],
    out: str | Path,
    *,
    shard_rows: int = 256,
    top_k: int | None = None,
    token_rule: str = "mean",
    dtype: str = "float32",
    model_id: str | None = None,
    progress: bool | None = None,
    rng: RngLike = None,
) -> ShardedMatrix:
    """Write ``L_M(H, F)`` (or ``L_{M,k}(H, F)``) to ``out`` as resumable row shards.

    Shard ``i`` holds rows ``[i shard_rows, (i+1) shard_rows)`` of the matrix of
    :func:`logitrank.extended_logit_matrix` (same column order, same tokens), cast to ``dtype``.
    Re-running with the same arguments skips finished shards (and, for top-k "mean", finished shards of
    the token-selection pass); see the module docstring for the guarantees and the top-k first pass.

    Parameters
    ----------
    model : SequenceModel
    histories, futures : sequences of token sequences, ``len(h) + len(f) <= horizon - 1``
    out : directory (created if missing)
    shard_rows : int, rows per shard; memory is ``O(shard_rows |F| k)`` plus the model's working set
    top_k : int, optional, ``1 <= top_k <= V``; token_rule : ``"mean"`` or ``"random"``
    dtype : ``"float32"`` (default; halves disk) or ``"float64"``
    model_id : str, optional
        Identity recorded in the manifest; default :func:`model_fingerprint` of the model.
    progress : bool, optional, tqdm bar over shards (default: on for more than 20 shards)
    rng : Generator or seed, used by ``token_rule="random"`` on the first run only (the tokens are
        then read from the manifest)

    Returns
    -------
    ShardedMatrix over ``out``.
    """
    V, T = model.vocab_size, model.horizon
    H = check_prefixes("histories", histories, V, T - 1)
    F = check_prefixes("futures", futures, V, T - 1)
    if model_id is None:
        model_id = model_fingerprint(model, [(), H[0]])
    plan = plan_extraction(out, H, F, vocab_size=V, horizon=T, model_id=model_id, shard_rows=shard_rows,
                           top_k=top_k, token_rule=token_rule, dtype=dtype, rng=rng)
    run_plan(plan, lambda i: compute_shard(model, plan, i), lambda i: shard_future_sums(model, plan, i),
             progress)
    return open_shards(plan.out)


def compute_shard(model: SequenceModel, plan: ShardPlan, index: int) -> np.ndarray:
    a, b = plan.bounds[index]
    return compute_rows(model, plan.histories[a:b], plan.futures, plan.tokens, plan.manifest["dtype"],
                        hidden=plan.out / hidden_path.hidden_name(index))


def shard_future_sums(model: SequenceModel, plan: ShardPlan, index: int) -> np.ndarray:
    a, b = plan.bounds[index]
    return future_sums(model, plan.histories[a:b], plan.futures,
                       hidden=plan.out / hidden_path.hidden_name(index))


def run_plan(plan: ShardPlan, shard_fn: Callable[[int], np.ndarray], sums_fn: Callable[[int], np.ndarray],
             progress: bool | None) -> None:
    """Run the first pass (if needed) and the missing shards sequentially, checkpointing each."""
    sweep_tmp(plan.out)  # partial files of a killed run: never a finished result
    n = len(plan.bounds)
    show = progress if progress is not None else n > 20
    if plan.manifest["top_k"] is not None and plan.manifest["tokens"] is None:
        sums, done = plan.pending_means()
        for i in tqdm([i for i in range(n) if not done[i]], disable=not show, desc="token means",
                      unit="shard"):
            sums = sums + sums_fn(i)
            done = done.copy()
            done[i] = True
            plan.save_means(sums, done)
        plan.set_tokens(sums)
    for i in tqdm(plan.missing(), disable=not show, desc="shards", unit="shard"):
        plan.write_shard(i, shard_fn(i))
        hidden_path.drop_hidden(plan.out / hidden_path.hidden_name(i))  # pass 1's states: used now
    hidden_path.sweep_hidden(plan.out)  # what a run killed between a shard and its cleanup left


