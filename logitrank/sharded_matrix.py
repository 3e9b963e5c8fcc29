"""Reading a shard directory (written by :func:`logitrank.shards.extract`): :class:`ShardedMatrix`.

The format (``FORMAT``): ``manifest.json`` (model id, SHA-256 of the history and future sets, ``top_k``,
token rule and chosen tokens, dtype, shape ``(|H|, |F| k)``, shard row boundaries, vocabulary size),
``sets.npz`` (the sets) and ``shard-NNNNN.npy`` row shards. Readers stream the matrix by row shards or
by column blocks gathered from memory-mapped shards, so spectra never need ``L`` in memory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .logit_matrix import LogitMatrix, pack_sequences, unpack_sequences
from .validation import RngLike, as_rng, check_positive_int

__all__ = ["FORMAT", "ShardedMatrix", "open_shards", "sequences_sha256", "shard_name"]

FORMAT = "logitrank-shards/1"
MANIFEST = "manifest.json"
SETS = "sets.npz"

def sequences_sha256(seqs: Sequence[Sequence[int]]) -> str:
    """SHA-256 of a list of token sequences (lengths and tokens as little-endian int64)."""
    padded, lengths = pack_sequences(seqs)
    h = hashlib.sha256()
    h.update(np.int64(len(seqs)).astype("<i8").tobytes())
    h.update(lengths.astype("<i8").tobytes())
    h.update(padded.astype("<i8").tobytes())
    return h.hexdigest()


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.npy"


class ShardedMatrix:
    """Read access to a shard directory written by :func:`extract` (use :func:`open_shards`).

    Attributes
    ----------
    path : Path ; manifest : dict ; shape : (|H|, |F| k) ; dtype : numpy dtype ; n_shards : int
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        mf = self.path / MANIFEST
        if not mf.exists():
            raise FileNotFoundError(f"path: {str(self.path)!r} has no {MANIFEST}; not a shard directory")
        self.manifest: dict[str, Any] = json.loads(mf.read_text())
        if self.manifest.get("format") != FORMAT:
            raise ValueError(f"path: manifest format must be {FORMAT!r}, got {self.manifest.get('format')!r}")
        self.shape: tuple[int, int] = tuple(self.manifest["shape"])  # type: ignore[assignment]
        self.dtype = np.dtype(self.manifest["dtype"])
        self.bounds: list[tuple[int, int]] = [tuple(s["rows"]) for s in self.manifest["shards"]]  # type: ignore
        self.n_shards = len(self.bounds)

    def __repr__(self) -> str:
        return (f"ShardedMatrix({str(self.path)!r}, shape={self.shape}, dtype={self.dtype}, "
                f"shards={self.n_shards - len(self.missing())}/{self.n_shards})")

    def missing(self) -> list[int]:
        """Indices of shards not (yet) written."""
        return [i for i in range(self.n_shards) if not (self.path / shard_name(i)).exists()]

    @property
    def complete(self) -> bool:
        return not self.missing()

    def _require_complete(self) -> None:
        miss = self.missing()
        if miss or self.manifest["top_k"] is not None and self.manifest["tokens"] is None:
            raise ValueError(f"path: {str(self.path)!r} is incomplete ({len(miss)} of {self.n_shards} shards "
                             f"missing, e.g. {miss[:5]}); re-run extract with the same arguments to finish")

    @property
    def tokens(self) -> np.ndarray:
        """Token of each column within each future block, int64 ``(|F|, k)``."""
        t = self.manifest["tokens"]
        if t is None:
            if self.manifest["top_k"] is not None:
                self._require_complete()
            V, nf = self.manifest["vocab_size"], self.manifest["n_futures"]
            return np.tile(np.arange(V, dtype=np.int64), (nf, 1))
        return np.asarray(t, dtype=np.int64)

    def sets(self) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
        """The histories and futures (checked against the manifest's hashes)."""
        with np.load(self.path / SETS) as d:
            H = unpack_sequences(d["histories"], d["history_lengths"])
            F = unpack_sequences(d["futures"], d["future_lengths"])
        if sequences_sha256(H) != self.manifest["histories_sha256"] or \
                sequences_sha256(F) != self.manifest["futures_sha256"]:
            raise ValueError(f"path: {SETS} does not match the hashes in {MANIFEST}; the directory is "
                             "corrupt")
        return H, F

    def shard(self, index: int, *, mmap: bool = False) -> np.ndarray:
        """Rows of shard ``index``, shape ``(rows, |F| k)`` (memory-mapped read-only with ``mmap``)."""
        a, b = self.bounds[index]
        arr = np.load(self.path / shard_name(index), mmap_mode="r" if mmap else None)
        if arr.shape != (b - a, self.shape[1]) or arr.dtype != self.dtype:
            raise ValueError(f"shard {index}: expected shape {(b - a, self.shape[1])} {self.dtype}, "
                             f"got {arr.shape} {arr.dtype}; the file is corrupt: delete it and re-run "
                             "extract")
        return arr

    def row_blocks(self) -> Iterator[np.ndarray]:
        """Yield the row shards in order, one in memory at a time: ``(rows_i, |F| k)`` arrays."""
        self._require_complete()
        for i in range(self.n_shards):
            yield self.shard(i)

    def column_blocks(self, block_columns: int = 4096, *, dtype: str | None = None) -> Iterator[np.ndarray]:
        """Yield ``L[:, j:j+c]`` (``(|H|, c)``) for consecutive ``c = block_columns``, gathered from
        memory-mapped shards (each map is closed after its slice is copied, so resident memory stays
        ``O(|H| c)`` however large the files are), in ``dtype`` (default: the stored dtype; the cast is
        fused with the gather, no extra pass)."""
        block_columns = check_positive_int("block_columns", block_columns)
        self._require_complete()
        nh, n = self.shape
        out_dtype = self.dtype if dtype is None else np.dtype(dtype)
        for start in range(0, n, block_columns):
            stop = min(n, start + block_columns)
            block = np.empty((nh, stop - start), dtype=out_dtype)
            for i, (a, b) in enumerate(self.bounds):
                mm = self.shard(i, mmap=True)
                block[a:b] = mm[:, start:stop]
                del mm
            yield block

    def to_logit_matrix(self, *, max_bytes: int = 1 << 30) -> LogitMatrix:
        """The whole matrix as a float64 :class:`LogitMatrix` (refuses above ``max_bytes``)."""
        nh, n = self.shape
        if nh * n * 8 > max_bytes:
            raise ValueError(f"max_bytes: the float64 matrix needs {nh * n * 8} bytes, more than "
                             f"max_bytes={max_bytes}; stream it with column_blocks/row_blocks instead")
        values = np.concatenate([np.asarray(r, dtype=np.float64) for r in self.row_blocks()], axis=0)
        H, F = self.sets()
        meta = {k: self.manifest[k] for k in ("model_id", "top_k", "token_rule", "dtype")}
        return LogitMatrix(values=values, tokens=self.tokens, histories=H, futures=F,
                           vocab_size=int(self.manifest["vocab_size"]), metadata=meta)

    def singular_values(self, *, method: str = "gram", rank: int | None = None,
                        block_columns: int = 4096, oversample: int = 10, rng: RngLike = None,
                        progress: bool | None = None) -> np.ndarray:
        """Spectrum without materialising ``L``.

        ``method="gram"``: all ``min(|H|, n)`` values from ``G = sum_b L_b L_b^T`` over column blocks
        (:func:`logitrank.spectra.gram_singular_values`; memory ``O(|H|^2 + |H| block_columns)``), then
        the top ``rank`` if given. ``method="sketch"``: top ``rank`` values by the single-pass sketch of
        :func:`logitrank.sketch.single_pass_svd` over row shards.
        """
        from .spectra import gram_singular_values

        nh, n = self.shape
        if rank is not None:
            rank = check_positive_int("rank", rank, maximum=min(nh, n))
        if method == "gram":
            blocks = self.column_blocks(block_columns, dtype="float64")  # the Gram is accumulated in float64
            s = gram_singular_values(blocks, nh, progress=progress)[: min(nh, n)]
            return s if rank is None else s[:rank]
        if method == "sketch":
            if rank is None:
                raise ValueError("rank: must be given (an int >= 1) for method='sketch', got None")
            return self.sketch_svd(rank, rng=rng, oversample=oversample)[1]
        raise ValueError(f"method: must be 'gram' or 'sketch', got {method!r}")


    def sketch_svd(self, rank: int, *, rng: RngLike = None,
                   oversample: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Top-``rank`` singular triplets ``(U (|H|, r), s (r,), Vt (r, n))`` from one pass over the row
        shards (:func:`logitrank.sketch.single_pass_svd`)."""
        from .sketch import single_pass_svd

        return single_pass_svd(self.row_blocks(), self.shape[1], rank, rng=as_rng(rng), oversample=oversample)


def open_shards(path: str | Path) -> ShardedMatrix:
    """Open a shard directory written by :func:`extract` or ``extract_distributed``."""
    return ShardedMatrix(path)
