"""Per-figure result cache: each finished step is a JSON file (plus an ``.npz`` for its arrays).

A step's result is a nested structure of dicts, lists, strings, numbers and numpy arrays. It is written
as ``<dir>/<step>.json`` whose leaves that were arrays point into ``<dir>/<step>.npz``. Both files are
written to a temporary name and renamed, the JSON last, so the JSON's presence marks a finished step: a
run interrupted at any point leaves either a finished step or nothing, and re-running resumes.

Floats round-trip exactly (:mod:`logitrank.results_io`: ``repr``, non-finite ones as ``NaN`` /
``Infinity``), so a cache hit reproduces identical numbers.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from logitrank.results_io import atomic_write, save_json, to_jsonable

__all__ = ["StepCache"]

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _split(obj: Any, arrays: dict[str, np.ndarray], prefix: str) -> Any:
    if isinstance(obj, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, dict):
        return {str(k): _split(v, arrays, f"{prefix}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, arrays, f"{prefix}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise ValueError(f"result{prefix}: must be dict/list/number/str/ndarray, got {type(obj).__name__}")


def _join(obj: Any, arrays: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return np.asarray(arrays[obj["__array__"]])
        return {k: _join(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, arrays) for v in obj]
    return obj


class StepCache:
    """The cache directory of one figure, ``<out>/cache/<figure>/``.

    Parameters
    ----------
    directory : path
    progress : callable, optional
        Called with a step name when a step starts computing (for progress displays).

    Attributes
    ----------
    computed, loaded : list of str
        Names of the steps computed / loaded from disk by this object (for reports and tests).
    seconds : dict of str to float
        Wall time of each step computed by this object.
    """

    def __init__(self, directory: str | Path, progress: Callable[[str], None] | None = None):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.progress = progress
        self.computed: list[str] = []
        self.seconds: dict[str, float] = {}
        self.loaded: list[str] = []

    def _paths(self, name: str) -> tuple[Path, Path]:
        if not _NAME.match(name):
            raise ValueError(f"step name: must match {_NAME.pattern}, got {name!r}")
        return self.directory / f"{name}.json", self.directory / f"{name}.npz"

    def has(self, name: str, params: dict[str, Any] | None = None) -> bool:
        """Whether step ``name`` is finished (with the same ``params`` when given)."""
        jpath, _ = self._paths(name)
        if not jpath.exists():
            return False
        if params is None:
            return True
        stored = json.loads(jpath.read_text()).get("params")
        return bool(stored == to_jsonable(params))

    def load(self, name: str) -> Any:
        """The stored result of step ``name``."""
        jpath, npath = self._paths(name)
        doc = json.loads(jpath.read_text())
        if doc.get("has_arrays"):
            with np.load(npath, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        else:
            arrays = {}
        return _join(doc["result"], arrays)

    def save(self, name: str, result: Any, params: dict[str, Any] | None = None) -> Path:
        """Store ``result`` atomically (arrays first, then the JSON that marks the step finished)."""
        jpath, npath = self._paths(name)
        arrays: dict[str, np.ndarray] = {}
        doc = {"params": to_jsonable(params or {}), "result": _split(result, arrays, ""),
               "has_arrays": bool(arrays)}
        if arrays:
            atomic_write(npath, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]
        return save_json(doc, jpath, indent=1)

    def step(self, name: str, fn: Callable[..., Any], **params: Any) -> Any:
        """Return the cached result of ``fn(**params)`` under ``name``, computing it only once.

        A stored result whose parameters differ from ``params`` is recomputed (with a warning) and
        replaced. The returned value is always the one read back from disk, so a first run and a cache
        hit give identical objects.
        """
        if self.has(name):
            if self.has(name, params):
                self.loaded.append(name)
                return self.load(name)
            warnings.warn(f"cache {self.directory / name}: parameters changed, recomputing", stacklevel=2)
        if self.progress is not None:
            self.progress(name)
        start = time.perf_counter()
        result = fn(**params)
        self.seconds[name] = time.perf_counter() - start
        self.save(name, result, params)
        self.computed.append(name)
        return self.load(name)
