"""What the speed benchmarks share: best-of timing, the machine's matrix-product rate, the table row, the
common command-line options and random token sequences.

The scripts run as ``python benchmarks/NAME.py`` (this folder is then first on ``sys.path``), so they import
this module as ``from _harness import ...``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

Row = dict[str, Any]
"""One row of ``benchmarks/table.py``: ``name, size, ours, naive, floor, floor_def, note`` (:func:`row`)."""

SKIPPED_IN_QUICK = "skipped in --quick (several minutes on 2 cores); run without --quick"

_BEST_RATE: dict[str, float] = {}

# the options several benchmarks share (type, help); each script picks its own defaults
OPTIONS: dict[str, tuple[type, str | None]] = {
    "vocab": (int, "vocabulary size V"),
    "dim": (int, "state dimension d (the planted rank of a planted spectrum)"),
    "horizon": (int, "horizon T"),
    "histories": (int, "how many histories"),
    "history_length": (int, "tokens per history"),
    "futures": (int, "how many futures (future windows where all their prefixes are read)"),
    "future_length": (int, "tokens per future (window)"),
    "repeats": (int, "best of this many runs"),
    "threads": (int, "torch threads (default: torch's own choice)"),
    "checkpoint": (str, "a local HuggingFace checkpoint (default: a fresh model)"),
    "dtypes": (str, "comma-separated dtypes, run in this order"),
    "seed": (int, None),
}


def best_of(fn: Callable[..., Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls of ``fn`` and the last result."""
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    """Wall time of one call ``fn(*args)`` and its result."""
    return best_of(lambda: fn(*args), 1)


def best_rate(key: str, flops: float, product: Callable[[], Any], repeats: int) -> float:
    """FLOP/s of ``product`` (``flops`` each call): the best of ``repeats`` calls now and of every earlier
    call with this ``key`` in this process (other jobs only ever slow it down)."""
    seconds, _ = best_of(product, repeats)
    _BEST_RATE[key] = max(_BEST_RATE.get(key, 0.0), flops / seconds)
    return _BEST_RATE[key]


def row(name: str, size: str, *, ours: float, naive: float, floor: float, floor_def: str, note: str) -> Row:
    """A measured row of the benchmark table: seconds of the package's way (``ours``), of the way it replaces
    (``naive``, NaN when not run) and of the ``floor`` measured in the same run, defined by ``floor_def``."""
    return {"name": name, "size": size, "ours": ours, "naive": naive, "floor": floor, "floor_def": floor_def,
            "note": note}


def skipped_row(name: str, note: str = SKIPPED_IN_QUICK) -> Row:
    """A row of the benchmark table that was not measured, saying why."""
    return {"name": name, "note": note}


def parser(doc: str | None, **defaults: Any) -> argparse.ArgumentParser:
    """An argument parser described by ``doc``'s first line, with the shared option ``--NAME`` (``_`` written
    ``-``; see :data:`OPTIONS`) per keyword, at that default: ``parser(__doc__, histories=64, seed=0)``."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    for name, default in defaults.items():
        kind, help_text = OPTIONS[name]
        p.add_argument("--" + name.replace("_", "-"), type=kind, default=default, help=help_text)
    return p


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when ``threads`` is given (torch imported only then)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def token_tuples(rng: np.random.Generator, vocab: int, n: int, length: int) -> list[tuple[int, ...]]:
    """``n`` uniform token sequences of ``length`` over ``vocab`` tokens, drawn one after the other."""
    return [tuple(int(t) for t in rng.integers(0, vocab, size=length)) for _ in range(n)]
