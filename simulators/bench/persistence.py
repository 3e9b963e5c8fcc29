"""Persistence: the resumable ``results.jsonl`` log, ``results.json`` / ``leaderboard.md``, and export.

``<out>/results.jsonl`` gets one JSON line per finished run (and per reference record) as soon as it
finishes, flushed and fsynced, so a killed benchmark loses only the run in progress; a re-run with the same
``out`` reads the log back and skips what is there.  A kill during the append can leave a half-written last
line: it is dropped with a warning (the file is cut back to the last complete line) and that run is redone.
Any other unreadable line is an error — the log is not trusted blindly.  ``results.json`` (every record of
the log) and ``leaderboard.md`` are then written atomically (:func:`logitrank.save_json`,
:func:`logitrank.results_io.atomic_write_text`).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from logitrank import save_json
from logitrank.results_io import atomic_write_text, dumps_json

from .leaderboard import leaderboard
from .runner import build_target, streams
from .tasks import TASKS, get_task

__all__ = ["FORMAT", "append_record", "export_task", "merge_logs", "read_log", "record_key", "write_outputs"]

FORMAT = "logitrank-bench/2"
"""Marker stored in every record; a log written by another format version is refused."""


def record_key(rec: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies a record: ``("reference", task, seed)`` or ``("run", learner, task, seed, budget)``."""
    if rec.get("kind") == "reference":
        return ("reference", rec["task"], int(rec["seed"]))
    return ("run", rec["learner"], rec["task"], int(rec["seed"]), int(rec["budget"]))


def read_log(path: Path) -> list[dict[str, Any]]:
    """The records of ``path`` (``[]`` when missing), dropping a half-written last line with a warning."""
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    records, good_end = [], 0
    for i, raw in enumerate(lines):
        if not raw.strip():
            good_end += len(raw) + 1
            continue
        last = i == len(lines) - 1 or all(not r.strip() for r in lines[i + 1:])
        try:
            rec = json.loads(raw)
            if not isinstance(rec, dict) or rec.get("format") != FORMAT:
                raise ValueError(f"format must be {FORMAT!r}")
            if rec.get("kind") == "run" and rec.get("status") == "failed" and "budget" not in rec:
                # written before a learner whose __init__ raised was recorded with its budget: no key to
                # resume by, so the run is redone (it used to stop every later bench in this folder)
                warnings.warn(f"{path}: line {i + 1} is a failed run without a budget (written by an older "
                              f"version); ignored, that run will be redone", RuntimeWarning, stacklevel=2)
                good_end += len(raw) + 1
                continue
            record_key(rec)
        except (ValueError, KeyError, TypeError) as exc:
            if last and not data.endswith(b"\n"):
                warnings.warn(f"{path}: dropping a half-written last line ({len(raw)} bytes, {exc}); "
                              f"that run will be redone", RuntimeWarning, stacklevel=2)
                with open(path, "r+b") as fh:
                    fh.truncate(good_end)
                break
            raise ValueError(f"{path}: line {i + 1} must be a bench record ({FORMAT}), got "
                             f"{raw.decode(errors='replace')[:80]!r} ({exc})") from exc
        records.append(rec)
        good_end += len(raw) + 1
    return records


def merge_logs(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The records of several logs (e.g. one folder per learner run side by side), one per key: a
    reference record computed in two folders is kept once (they are equal: same streams)."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path in paths:
        for rec in read_log(Path(path)):
            merged.setdefault(record_key(rec), rec)
    return list(merged.values())


def append_record(path: Path, rec: dict[str, Any]) -> None:
    """Append ``rec`` as one line (the format marker added), flushed to disk before returning."""
    line = dumps_json({**rec, "format": FORMAT}, indent=None) + "\n"
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def write_outputs(outdir: Path, records: Sequence[dict[str, Any]]) -> str:
    """``results.json`` and ``leaderboard.md`` of ``records`` (atomically); returns the leaderboard."""
    save_json(list(records), outdir / "results.json", indent=1)
    board = leaderboard(records, TASKS)
    atomic_write_text(outdir / "leaderboard.md", board)
    return board


def export_task(name: str, seed: int, directory: str | Path) -> tuple[Path, Path]:
    """Write task ``name``'s target for ``seed`` to ``directory`` for learners written elsewhere.

    Synthetic targets: ``<name>-seed<seed>.npz`` (load with :func:`simulators.load_model`); the transformer:
    its checkpoint directory ``<name>-seed<seed>/``.  Beside it ``<name>-seed<seed>.json`` describes the task
    (access, oracle, budget ladders, streams) and how to load the target.
    """
    task = get_task(name)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-seed{seed}"
    exporter = getattr(task.build, "export", None)
    if callable(exporter):
        path = Path(exporter(directory, stem))
        target_info: dict[str, Any] = {"model": "HFModel", "load": "llm_bridge.HFModel(path, bos_token_id=V, "
                                       "vocab_size=V)"}
    else:
        target = build_target(name, seed)
        save = getattr(target, "save", None)
        if not callable(save):
            raise ValueError(f"task: {name!r}'s target must be savable, got {type(target).__name__} "
                             f"without save()")
        path = Path(save(directory / f"{stem}.npz"))
        target_info = {"model": type(target).__name__, "load": "simulators.load_model(path)",
                       "vocab_size": int(target.vocab_size), "horizon": int(target.horizon)}
    desc = {**task.describe(), **target_info, "seed": int(seed), "file": path.name,
            "streams": streams(name, seed)}
    js = save_json(desc, directory / f"{stem}.json", indent=1)
    return path, Path(js)

