"""Result cache of the runner and the figures: each finished step is a JSON file (and an ``.npz`` of arrays).

A step's result is a nested structure of dicts, lists, strings, numbers and numpy arrays. It is written
as ``<dir>/<step>.json`` whose leaves that were arrays point into ``<dir>/<step>.npz``. Both files are
written to a temporary name and renamed, the JSON last, so the JSON's presence marks a finished step: a
run interrupted at any point leaves either a finished step or nothing, and re-running resumes.

Floats round-trip exactly (:mod:`logitrank.results_io`: ``repr``, non-finite ones as ``NaN`` /
``Infinity``), so a cache hit reproduces identical numbers.

Each JSON records the size and SHA-256 of its ``.npz`` and a SHA-256 of its own content: a step whose files
are truncated, overwritten (even with the same size) or unreadable is recomputed by :meth:`StepCache.step`
with a warning naming the file (:meth:`StepCache.load` raises
:class:`logitrank.results_io.CorruptFileError`). The ``*.tmp`` files of a killed run are swept when the
cache is opened (one run per output folder at a time). Steps cached before checksums were recorded are
used with a warning.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from logitrank import results_io as rio
from logitrank.results_io import CorruptFileError

__all__ = ["StepCache", "function_name"]

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


def function_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of ``fn`` (of the function a :func:`functools.partial` wraps)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


def _digest(doc: dict[str, Any]) -> str:
    """SHA-256 of a cached step's JSON content (everything but the digest itself, canonical JSON)."""
    body = {k: v for k, v in doc.items() if k != "sha256"}
    return hashlib.sha256(rio.dumps_json(body, sort_keys=True).encode()).hexdigest()


def _join(obj: Any, arrays: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return np.asarray(arrays[obj["__array__"]])
        return {k: _join(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, arrays) for v in obj]
    return obj


class StepCache:
    """A cache directory (a figure's ``<out>/cache/<figure>/``, measure's ``<out>/steps/``).

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
        rio.sweep_tmp(self.directory)  # partial files of a killed run
        self.progress = progress
        self.computed: list[str] = []
        self.seconds: dict[str, float] = {}
        self.loaded: list[str] = []

    def _paths(self, name: str) -> tuple[Path, Path]:
        if not _NAME.match(name):
            raise ValueError(f"step name: must match {_NAME.pattern}, got {name!r}")
        return self.directory / f"{name}.json", self.directory / f"{name}.npz"

    def _read(self, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The verified JSON document and arrays of step ``name``; :class:`CorruptFileError` naming the
        damaged file (``FileNotFoundError`` when the step is not finished)."""
        jpath, npath = self._paths(name)
        doc = rio.load_json(jpath)
        if not isinstance(doc, dict) or not {"params", "result", "has_arrays"} <= set(doc):
            raise CorruptFileError(jpath, "is not a cached step (params, result, has_arrays)")
        if "sha256" not in doc:
            warnings.warn(f"{jpath}: cached before checksums were recorded; used unverified", UserWarning,
                          stacklevel=3)
        elif doc["sha256"] != _digest(doc):
            raise CorruptFileError(jpath, "its SHA-256 does not match its content (damaged)")
        arrays: dict[str, np.ndarray] = {}
        if doc["has_arrays"]:
            if "npz" in doc and (problem := rio.checksum_problem(npath, doc["npz"])) is not None:
                raise CorruptFileError(npath, f"does not match the checksum in {jpath.name} ({problem})")
            arrays = rio.load_npz(npath, what="cached step arrays")
        return doc, arrays

    def has(self, name: str, params: dict[str, Any] | None = None) -> bool:
        """Whether step ``name`` is finished and intact (with the same ``params`` when given)."""
        jpath, _ = self._paths(name)
        if not jpath.exists():
            return False
        try:
            doc, _ = self._read(name)
        except CorruptFileError:
            return False
        return params is None or bool(doc["params"] == rio.to_jsonable(params))

    def load(self, name: str) -> Any:
        """The stored result of step ``name`` (verified; :class:`CorruptFileError` naming a damaged file)."""
        doc, arrays = self._read(name)
        try:
            return _join(doc["result"], arrays)
        except KeyError as exc:
            raise CorruptFileError(self._paths(name)[1], f"lacks the array {exc} its JSON names") from exc

    def save(self, name: str, result: Any, params: dict[str, Any] | None = None, *, function: str = "",
             seconds: float | None = None) -> Path:
        """Store ``result`` atomically (arrays first, then the JSON that marks the step finished), with the
        ``function`` that computed it and the ``seconds`` it took."""
        jpath, npath = self._paths(name)
        arrays: dict[str, np.ndarray] = {}
        doc: dict[str, Any] = {"params": rio.to_jsonable(params or {}), "result": _split(result, arrays, ""),
                               "has_arrays": bool(arrays), "function": function, "seconds": seconds}
        if arrays:
            rio.atomic_write(npath, lambda fh: np.savez(fh, **arrays))  # type: ignore[arg-type]
            doc["npz"] = rio.file_checksum(npath)
        doc = rio.to_jsonable(doc)
        doc["sha256"] = _digest(doc)
        return rio.save_json(doc, jpath, indent=1)

    def seconds_of(self, name: str) -> float | None:
        """The seconds step ``name`` took when it was computed (None when unknown or not finished)."""
        try:
            doc, _ = self._read(name)
        except (FileNotFoundError, CorruptFileError):
            return None
        seconds = doc.get("seconds")
        return None if seconds is None else float(seconds)

    def step(self, name: str, fn: Callable[..., Any], **params: Any) -> Any:
        """Return the cached result of ``fn(**params)`` under ``name``, computing it only once.

        A stored result computed by another function (:func:`function_name`) or with parameters other than
        ``params`` is recomputed (with a warning) and replaced. The returned value is always the one read
        back from disk, so a first run and a cache hit give identical objects.
        """
        jpath, _ = self._paths(name)
        function = function_name(fn)
        if jpath.exists():
            try:
                doc, arrays = self._read(name)
                value = _join(doc["result"], arrays)
            except (CorruptFileError, KeyError) as exc:
                warnings.warn(f"cache: {exc}; recomputing step {name!r}", RuntimeWarning, stacklevel=2)
            else:
                if doc["params"] == rio.to_jsonable(params) and doc.get("function", "") == function:
                    self.loaded.append(name)
                    return value
                warnings.warn(f"cache {self.directory / name}: function or parameters changed, recomputing",
                              stacklevel=2)
        if self.progress is not None:
            self.progress(name)
        start = time.perf_counter()
        result = fn(**params)
        self.seconds[name] = time.perf_counter() - start
        self.save(name, result, params, function=function, seconds=self.seconds[name])
        self.computed.append(name)
        return self.load(name)
