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
    :func:`dumps_json` is the encoder (a string); :func:`save_json` writes it atomically.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "dumps_json",
    "load_json",
    "replace_dir",
    "save_json",
    "to_jsonable",
]


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
    ``Infinity`` (Python's JSON dialect, read back by :func:`load_json`).
    """
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
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
    """Read a JSON file written by :func:`save_json`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no JSON file at {path}")
    return json.loads(path.read_text(encoding="utf-8"))
