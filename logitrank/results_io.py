"""Persistence: the one atomic writer and the one JSON encoder of every package.

Atomic writes
    :func:`atomic_write` streams into a temporary file in the destination's folder
    (``<name>.<random>.tmp``, from :func:`tempfile.mkstemp`), flushes and ``fsync``\\ s it, then
    ``os.replace``\\ s it onto the destination: a reader sees the old file or the complete new one, never a
    part, and a failed write leaves no temporary file behind. :func:`atomic_write_bytes` and
    :func:`atomic_write_text` wrap it; ``np.save`` / ``np.savez`` / ``torch.save`` pass a writer callback.
    :func:`replace_dir` publishes a directory written under a staging name (checkpoints).

JSON
    :func:`to_jsonable` converts numpy scalars and arrays, dataclasses, objects with ``to_dict()``, tuples,
    sets and paths to plain JSON types. One NaN policy: non-finite floats stay floats and are written as
    ``NaN`` / ``Infinity`` / ``-Infinity`` (Python's JSON dialect, read back exactly by :func:`load_json`
    and :func:`json.loads`). Floats are written with ``repr``, so they round-trip exactly.
    :func:`dumps_json` is the encoder (a string); :func:`save_json` writes it atomically. Mapping keys
    must be strings, or ints / floats (written as their JSON text, as :func:`json.dumps` does); any other
    key (a tuple, ``None``, a bool, an object) is refused with a ``TypeError`` naming it, and so are two
    keys that would collide as text (``1`` and ``"1"``), so nothing is silently turned into another key.

Reading back defensively
    :class:`CorruptFileError` (a ``ValueError``) names the file and what is wrong with it; readers raise
    it for truncated, damaged or foreign files instead of the library's own error (``BadZipFile``,
    ``EOFError``, ``JSONDecodeError``, ...). :func:`load_json`, :func:`load_npz` and :func:`load_npy`
    read through it. :func:`file_checksum` records a file's size and SHA-256 (``{"size", "sha256"}``);
    :func:`checksum_problem` compares a file with such a record (``None`` when it matches), so a
    same-size overwrite is detected too. :func:`sweep_tmp` removes the ``*.tmp`` leftovers of killed
    writers in a folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "CorruptFileError",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "checksum_problem",
    "dumps_json",
    "file_checksum",
    "load_json",
    "load_npy",
    "load_npz",
    "replace_dir",
    "save_json",
    "sweep_tmp",
    "to_jsonable",
]


class CorruptFileError(ValueError):
    """A file that cannot be what it should be (truncated, damaged, foreign); ``path`` names it."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(fh)`` on a temporary binary file next to ``path``, then rename it onto ``path``.

    Parent folders are created. On any exception the temporary file is removed and the exception
    re-raised; ``path`` keeps its previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write_bytes(path, text.encode(encoding))


def replace_dir(staging: str | Path, final: str | Path) -> Path:
    """Publish the complete directory ``staging`` as ``final`` (an existing ``final`` is removed first).

    The rename itself is atomic; a reader that requires a marker file written last inside the directory
    (e.g. a checkpoint's ``train_state.json``) never takes a staging or half-removed directory for a
    complete one.
    """
    staging, final = Path(staging), Path(final)
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    return final


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, dataclasses, tuples, sets and paths to plain JSON types (recursively).

    Objects with a ``to_dict()`` method are converted through it. Non-finite floats stay ``NaN`` /
    ``Infinity`` (Python's JSON dialect, read back by :func:`load_json`). An object that contains itself
    is a ``ValueError`` (JSON has no cycles), not a ``RecursionError``.
    """
    return _jsonable(obj, set())


def _jsonable(obj: Any, active: set[int]) -> Any:
    """:func:`to_jsonable` with the ids of the containers being converted (to catch a cycle)."""
    if isinstance(obj, dict | list | tuple | set | frozenset) or hasattr(obj, "to_dict") or (
            dataclasses.is_dataclass(obj) and not isinstance(obj, type)):
        if id(obj) in active:
            raise ValueError(f"obj: contains itself (a circular {type(obj).__name__}); JSON cannot encode a "
                             f"cycle")
        active.add(id(obj))
        try:
            return _container(obj, active)
        finally:
            active.discard(id(obj))
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), active)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    raise TypeError(f"obj: cannot encode a {type(obj).__name__} as JSON: {obj!r:.80}")


def _container(obj: Any, active: set[int]) -> Any:
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _jsonable(obj.to_dict(), active)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name), active) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            key = _json_key(k)
            if key in out:
                raise TypeError(f"obj: keys {k!r} and another key both become the JSON key {key!r}; "
                                f"make the keys distinct strings")
            out[key] = _jsonable(v, active)
        return out
    return [_jsonable(v, active) for v in obj]


def _json_key(key: Any) -> str:
    """A mapping key as JSON text: strings as they are, ints and floats as :func:`json.dumps` writes them."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool | np.bool_) or not isinstance(key, int | float | np.integer | np.floating):
        raise TypeError(f"obj: mapping keys must be str, int or float (JSON object keys), got the key "
                        f"{key!r:.80} ({type(key).__name__}); convert it to a string yourself, e.g. "
                        f"'-'.join(map(str, key)) for a tuple")
    return json.dumps(key.item() if isinstance(key, np.generic) else key)


def dumps_json(obj: Any, *, indent: int | None = None, sort_keys: bool = False,
               ensure_ascii: bool = True) -> str:
    """``obj`` as JSON text (:func:`to_jsonable` first; the module's NaN policy)."""
    return json.dumps(to_jsonable(obj), indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii)


def save_json(obj: Any, path: str | Path, *, indent: int | None = 2, ensure_ascii: bool = True) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (:func:`atomic_write`); parent folders are created.

    The object is encoded before anything is written, so an unencodable object leaves no file.
    """
    text = dumps_json(obj, indent=indent, ensure_ascii=ensure_ascii)
    return atomic_write_text(path, text + "\n")


def load_json(path: str | Path) -> Any:
    """Read a JSON file written by :func:`save_json`; :class:`CorruptFileError` for a truncated or foreign
    file, ``FileNotFoundError`` when there is none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no JSON file at {path}")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(path, f"not a valid JSON file (truncated or damaged?): {exc}") from exc


def load_npz(path: str | Path, *, what: str = "npz archive") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickles), read fully; :class:`CorruptFileError` naming the file
    for a truncated, damaged (zip CRC) or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no {what} at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise ValueError("holds a single array, not an npz archive")
            return {k: data[k] for k in data.files}
    except Exception as exc:  # BadZipFile, EOFError, zlib.error, ValueError, OSError, ...
        raise CorruptFileError(path, f"not a readable {what} (truncated, damaged or foreign: "
                               f"{type(exc).__name__}: {exc})") from exc


def load_npy(path: str | Path, *, mmap: bool = False, what: str = "npy array") -> np.ndarray:
    """One ``.npy`` array (memory-mapped read-only with ``mmap``; no pickles); :class:`CorruptFileError`
    naming the file when it is truncated or not an npy file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no {what} at {path}")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except Exception as exc:  # EOFError, "mmap length is greater than file size", bad magic, ...
        raise CorruptFileError(path, f"not a readable {what} (truncated, damaged or foreign: "
                               f"{type(exc).__name__}: {exc})") from exc
    if not isinstance(arr, np.ndarray):
        raise CorruptFileError(path, f"not a readable {what} (an npz archive, not one array)")
    return arr


def file_checksum(path: str | Path) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
            size += len(block)
    return {"size": size, "sha256": h.hexdigest()}


def checksum_problem(path: str | Path, record: Any) -> str | None:
    """``None`` when ``path`` has the size and SHA-256 of ``record`` (from :func:`file_checksum`), else
    what differs (missing file, size, content), for an error or warning message."""
    path = Path(path)
    if not isinstance(record, dict) or not isinstance(record.get("size"), int) \
            or not isinstance(record.get("sha256"), str):
        return f"{path}: its checksum record is malformed ({record!r:.80})"
    if not path.is_file():
        return f"{path}: missing"
    size = path.stat().st_size
    if size != record["size"]:
        return f"{path}: {size} bytes, {record['size']} recorded (truncated or overwritten)"
    if file_checksum(path)["sha256"] != record["sha256"]:
        return f"{path}: SHA-256 differs from the recorded one (the content was damaged)"
    return None


def sweep_tmp(directory: str | Path) -> list[Path]:
    """Remove the ``*.tmp`` files :func:`atomic_write` leaves when its process is killed mid-write (in
    ``directory`` only, not below); returns what was removed. Call it when a run starts, never while
    another writer works in the same folder."""
    removed = []
    for stale in Path(directory).glob("*.tmp"):
        if stale.is_file():
            stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed
