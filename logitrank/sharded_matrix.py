"""Reading a shard directory (written by :func:`logitrank.shards.extract`): :class:`ShardedMatrix`.

The format (``FORMAT``): ``manifest.json`` (model id, SHA-256 of the history and future sets, ``top_k``,
token rule and chosen tokens, dtype, shape ``(|H|, |F| k)``, shard row boundaries, vocabulary size),
``sets.npz`` (the sets) and ``shard-NNNNN.npy`` row shards, each with ``shard-NNNNN.npy.sum.json`` beside
it (its size and SHA-256, :func:`logitrank.results_io.file_checksum`, written after the shard). Readers
stream the matrix by row shards or by column blocks gathered from memory-mapped shards, so spectra never
need ``L`` in memory.

Every file is read back defensively: the manifest carries its own SHA-256 (``manifest_sha256``), the sets
are checked against the manifest's hashes (and the zip CRC), and each shard against its recorded size and
SHA-256 on first use by a reader (so a truncated shard or a same-size overwrite is noticed, not used).
Damage raises :class:`logitrank.results_io.CorruptFileError` naming the file; re-running ``extract``
rewrites a damaged shard or ``sets.npz`` (with a warning). Shards written before checksums were recorded
are read with a warning after the shape checks only.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .logit_matrix import LogitMatrix, pack_sequences, unpack_sequences
from .results_io import (
    CorruptFileError,
    atomic_write,
    checksum_problem,
    dumps_json,
    file_checksum,
    load_json,
    load_npy,
    load_npz,
    save_json,
)
from .validation import RngLike, as_rng, check_int, check_positive_int

__all__ = ["FORMAT", "ShardedMatrix", "open_shards", "read_manifest", "save_shard", "sequences_sha256",
           "shard_name", "shard_problem", "shard_spectrum", "write_manifest"]

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


def checksum_name(index: int) -> str:
    """The file beside shard ``index`` holding its size and SHA-256."""
    return shard_name(index) + ".sum.json"


def _manifest_digest(manifest: dict[str, Any]) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    return hashlib.sha256(dumps_json(body, sort_keys=True).encode()).hexdigest()


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically with its own SHA-256 (``manifest_sha256``)."""
    manifest["manifest_sha256"] = _manifest_digest(manifest)
    save_json(manifest, directory / MANIFEST, indent=None)


def read_manifest(directory: Path) -> dict[str, Any]:
    """``manifest.json`` of a shard directory, checked (JSON object, format, own SHA-256 when recorded);
    :class:`CorruptFileError` naming it otherwise."""
    path = directory / MANIFEST
    manifest = load_json(path)
    if not isinstance(manifest, dict):
        raise CorruptFileError(path, f"must hold a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT:
        raise CorruptFileError(path, f"format must be {FORMAT!r}, got {manifest.get('format')!r:.60}")
    if "manifest_sha256" in manifest and manifest["manifest_sha256"] != _manifest_digest(manifest):
        raise CorruptFileError(path, "its SHA-256 does not match its content (edited or damaged); the "
                               "directory cannot be trusted: extract into a new directory")
    try:
        shards = manifest["shards"]
        ok = (len(manifest["shape"]) == 2 and all(isinstance(n, int) and n >= 0 for n in manifest["shape"])
              and all(len(sh["rows"]) == 2 for sh in shards))
        np.dtype(manifest["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(path, f"is not a shard manifest ({type(exc).__name__}: {exc})") from exc
    if not ok:
        raise CorruptFileError(path, "is not a shard manifest (bad shape or shard rows)")
    return manifest


def save_shard(directory: Path, index: int, rows: np.ndarray) -> None:
    """Write shard ``index`` atomically, then its size and SHA-256 beside it (a shard without its checksum
    file is not finished: a kill between the two only costs recomputing it)."""
    path = directory / shard_name(index)
    atomic_write(path, lambda fh: np.save(fh, rows))
    save_json(file_checksum(path), directory / checksum_name(index), indent=None)


def shard_problem(directory: Path, index: int) -> str | None:
    """``None`` when shard ``index`` matches its recorded size and SHA-256; else what is wrong (missing,
    no checksum recorded, truncated, damaged)."""
    path, sums = directory / shard_name(index), directory / checksum_name(index)
    if not path.is_file():
        return f"{path}: missing"
    if not sums.is_file():
        return f"{path}: no checksum recorded ({sums.name} missing)"
    try:
        record = load_json(sums)
    except CorruptFileError as exc:
        return str(exc)
    return checksum_problem(path, record)


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
        self.manifest: dict[str, Any] = read_manifest(self.path)
        self._verified: set[int] = set()
        self._warned_unverified = False
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
        path = self.path / SETS
        d = load_npz(path, what="shard sets file")
        try:
            H = unpack_sequences(d["histories"], d["history_lengths"])
            F = unpack_sequences(d["futures"], d["future_lengths"])
        except (KeyError, ValueError, TypeError) as exc:
            raise CorruptFileError(path, f"is not a shard sets file ({type(exc).__name__}: {exc})") from exc
        if sequences_sha256(H) != self.manifest["histories_sha256"] or \
                sequences_sha256(F) != self.manifest["futures_sha256"]:
            raise CorruptFileError(path, f"does not match the hashes in {MANIFEST}; re-run extract with the "
                                   "same arguments to rewrite it")
        return H, F

    def verify(self, index: int | None = None) -> None:
        """Check shard ``index`` (every written shard when ``None``) against its recorded size and SHA-256;
        :class:`CorruptFileError` naming the first damaged file. A shard is hashed once per object."""
        for i in (range(self.n_shards) if index is None else [index]):
            if i in self._verified or (index is None and not (self.path / shard_name(i)).exists()):
                continue
            problem = shard_problem(self.path, i)
            if problem is not None and problem.endswith("missing)"):
                if not self._warned_unverified:
                    warnings.warn(f"{problem}: written before checksums were recorded; shards without one "
                                  "are read after their shape checks only", UserWarning, stacklevel=3)
                self._warned_unverified = True
            elif problem is not None:
                raise CorruptFileError(self.path / shard_name(i), f"{problem.split(': ', 1)[-1]}; re-run "
                                       "extract with the same arguments to rewrite it")
            self._verified.add(i)

    def shard(self, index: int, *, mmap: bool = False) -> np.ndarray:
        """Rows of shard ``index``, shape ``(rows, |F| k)`` (memory-mapped read-only with ``mmap``), after
        :meth:`verify` (its size and SHA-256, on first use)."""
        index = check_int("index", index, minimum=0, maximum=self.n_shards - 1)
        a, b = self.bounds[index]
        path = self.path / shard_name(index)
        if not path.exists():
            raise FileNotFoundError(f"index: shard {index} ({path}) is not written yet; re-run extract "
                                    "with the same arguments to finish")
        self.verify(index)
        arr = load_npy(path, mmap=mmap, what="shard")
        if arr.shape != (b - a, self.shape[1]) or arr.dtype != self.dtype:
            raise CorruptFileError(path, f"expected shape {(b - a, self.shape[1])} {self.dtype}, got "
                                   f"{arr.shape} {arr.dtype}; re-run extract with the same arguments to "
                                   "rewrite it")
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
            yield self._gather(np.empty((nh, stop - start), dtype=out_dtype), start)

    def _gather(self, block: np.ndarray, start: int) -> np.ndarray:
        """``block[:] = L[:, start : start + block.shape[1]]`` from the memory-mapped shards (cast fused)."""
        for i, (a, b) in enumerate(self.bounds):
            mm = self.shard(i, mmap=True)
            block[a:b] = mm[:, start : start + block.shape[1]]
            del mm  # unmapped after each slice: resident memory stays O(|H| c)
        return block

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
        nh, n = self.shape
        if rank is not None:
            rank = check_positive_int("rank", rank, maximum=min(nh, n))
        if method == "gram":
            block_columns = check_positive_int("block_columns", block_columns)
            self._require_complete()
            s = _streamed_gram_spectrum(self, block_columns, progress)[: min(nh, n)]
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


def _streamed_gram_spectrum(sm: ShardedMatrix, block_columns: int, progress: bool | None) -> np.ndarray:
    """:func:`logitrank.spectra.gram_singular_values` of the shards at the GEMM rate in bounded memory.

    One float64 block buffer is gathered into again and again (never two blocks alive), ``G`` (Fortran
    order) grows by BLAS ``dsyrk`` in place (its upper triangle, the symmetric product's ``|H|^2 c`` FLOPs,
    no ``B B^T`` temporary), and ``eigh`` overwrites it: memory ``8 |H| (|H| + c)`` bytes. Non-finite or
    overflowing entries show on ``G``'s diagonal, checked after each block. Scaling as in
    ``gram_singular_values`` (:data:`logitrank.spectra.GRAM_SAFE`).
    """
    from scipy.linalg import eigh
    from scipy.linalg.blas import dsyrk
    from tqdm.auto import tqdm

    from .spectra import gram_shift

    nh, n = sm.shape
    G = np.zeros((nh, nh), order="F")
    buf = np.empty((nh, min(block_columns, n)))
    shift: int | None = None
    starts = range(0, n, block_columns)
    for b, start in enumerate(tqdm(starts, disable=not progress, desc="gram", unit="block")):
        c = min(block_columns, n - start)
        B = sm._gather(buf if c == buf.shape[1] else np.empty((nh, c)), start)
        if shift is None:
            shift = gram_shift(B)
        if shift:
            np.ldexp(B, -shift, out=B)
        # B is C-ordered, so B.T is a Fortran (c, |H|) matrix: trans=1 gives B B^T without a copy
        G = dsyrk(1.0, B.T, beta=1.0, c=G, trans=1, lower=0, overwrite_c=1)
        if not np.isfinite(np.diagonal(G)).all():
            raise ValueError(
                f"column_blocks[{b}]: entries must be finite and below ~1e154 in magnitude so that the Gram "
                f"matrix L L^T does not overflow float64, got a largest |entry| of {np.abs(B).max():.3g}")
    lam = eigh(G, lower=False, eigvals_only=True, overwrite_a=True, check_finite=False)[::-1]
    s = np.sqrt(np.clip(lam, 0.0, None))
    return np.ldexp(s, shift) if shift else s


def shard_spectrum(path: str | Path, out: str | Path, *, rtol: float | None = None, rng: RngLike = 0,
                   progress: bool | None = None) -> tuple[ShardedMatrix, dict[str, Any]]:
    """The Gram-streamed spectrum of the shard directory ``path`` summarized
    (:func:`logitrank.summarize_spectrum`, numerical rank at ``rtol``, default 1e-6: the Gram route's
    round-off is ``~sqrt(eps) sigma_1``) with the shards' identity, written to ``out/summary.json``.

    Returns the opened :class:`ShardedMatrix` and the summary."""
    from .power_law import summarize_spectrum

    sm = open_shards(path)
    s = sm.singular_values(method="gram", progress=progress)
    summary = summarize_spectrum(s, rtol=1e-6 if rtol is None else rtol, rng=rng)
    summary.update(source=str(sm.path), model_id=sm.manifest["model_id"], shape=list(sm.shape),
                   top_k=sm.manifest["top_k"], token_rule=sm.manifest["token_rule"], method="gram-shards")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(summary, out / "summary.json")
    return sm, summary
