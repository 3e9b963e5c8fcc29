"""Saving and loading JSON results atomically, with numpy-aware encoding."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_json", "save_json", "to_jsonable"]


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


def save_json(obj: Any, path: str | Path, *, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (a temporary file in the same folder, then rename).

    Parent folders are created. A reader never sees a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_jsonable(obj), indent=indent, sort_keys=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_json(path: str | Path) -> Any:
    """Read a JSON file written by :func:`save_json`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no JSON file at {path}")
    return json.loads(path.read_text(encoding="utf-8"))
