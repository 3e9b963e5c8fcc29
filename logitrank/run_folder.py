"""Who owns an output folder: one command's runs, one process at a time (issue 24: F06, F15, F18).

``bench``, ``measure`` and ``reproduce`` resume from what their ``--out`` already holds, so a folder must
never be shared by two of them, and two processes must never append to one folder at once (two identical
``bench`` runs logged every run twice and computed a standard error of 0 from the duplicate). A run
therefore *claims* its folder first (:func:`claim`, or the :func:`owns_out` decorator on an entry point):

* **lock** -- an exclusive :class:`filelock.FileLock` on ``<out>/.logitrank-run.lock`` (``flock``: the
  kernel releases it when the holder dies, even by SIGKILL, so a killed run never leaves the folder locked).
  A second process is refused at once, naming the folder and the process that holds it (refused rather
  than queued: the second run could only redo or duplicate what the first is doing). A claim nested in
  one that this process already holds (the CLI around a library entry point) passes through.
* **owner** -- ``<out>/.logitrank-run.json`` records the command (and the latest run: pid, host, start,
  what the caller describes), written through :func:`logitrank.results_io.save_json` (atomic). Another
  command is refused, naming the folder and its owner. A folder written before markers existed is
  recognised by its files (:data:`SIGNATURES`); any other folder is adopted.
* **stale temporaries** -- with the lock held no writer of ours can be mid-write, so the ``*.tmp`` files of
  killed writers are removed from the folder and every folder below it (:func:`logitrank.results_io
  .sweep_tmp`), as the README promises.
"""

from __future__ import annotations

import functools
import inspect
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout

from .results_io import CorruptFileError, load_json, save_json, sweep_tmp

__all__ = ["OWNER_FILE", "LOCK_FILE", "SIGNATURES", "FolderBusyError", "claim", "owns_out", "owner_of"]

OWNER_FILE = ".logitrank-run.json"
LOCK_FILE = ".logitrank-run.lock"
FORMAT = "logitrank-run-folder"

SIGNATURES: dict[str, tuple[str, ...]] = {
    "bench": ("results.jsonl",),
    "measure": ("measure.json",),
    "extract": ("manifest.json",),
    "train": ("latest.json",),
    "reproduce": ("report.md", "results.json", "cache"),
}
"""Files that tell whose a folder without an owner marker is (checked in this order: ``measure`` writes a
``report.md`` too, so ``reproduce`` comes last)."""

_held: dict[Path, tuple[FileLock, str]] = {}  # folders this process holds: nested claims pass through
_held_guard = threading.Lock()

F = TypeVar("F", bound=Callable[..., Any])


class FolderBusyError(ValueError):
    """Another process holds the folder's lock (a ``ValueError``: the CLI exits 2 with the message)."""


def owner_of(out: str | Path) -> str | None:
    """The command that owns ``out``: its marker's, else the one :data:`SIGNATURES` recognises, else None.

    Raises
    ------
    CorruptFileError
        The marker exists but is not one (hand-edited or damaged): the folder's owner is unknown.
    """
    folder = Path(out)
    marker = folder / OWNER_FILE
    if marker.is_file():
        record = load_json(marker)
        if not isinstance(record, dict) or record.get("format") != FORMAT or not isinstance(
                record.get("command"), str):
            raise CorruptFileError(marker, f"is not a {FORMAT} marker (format, command); delete it if "
                                           f"the folder is yours")
        return str(record["command"])
    for command, names in SIGNATURES.items():
        if any((folder / name).exists() for name in names):
            return command
    return None


def _refuse_other_owner(folder: Path, command: str) -> None:
    owner = owner_of(folder)
    if owner is not None and owner != command:
        raise ValueError(f"out: {str(folder)!r} belongs to `logitrank {owner}`, not `logitrank {command}`; "
                         f"refusing to mix their files, use another folder")


def _holder(folder: Path) -> str:
    try:
        last = load_json(folder / OWNER_FILE).get("last_run", {})
        return f"pid {last.get('pid')} on {last.get('host')}, started {last.get('started')}"
    except (OSError, ValueError, AttributeError):
        return "another process"


@contextmanager
def claim(out: str | Path, command: str, run: Mapping[str, Any] | None = None) -> Iterator[Path]:
    """Own ``out`` for ``command`` while the block runs (see the module docstring); yields the folder.

    Parameters
    ----------
    out : the output folder (created when missing)
    command : the subcommand that writes it (``"bench"``, ``"measure"``, ``"reproduce"``)
    run : JSON-ready words on this run for the marker (e.g. the model), optional

    Raises
    ------
    FolderBusyError
        Another process holds the folder.
    ValueError
        Another command owns the folder.
    """
    folder = Path(out)
    key = folder.resolve()
    with _held_guard:
        nested = _held.get(key)
    if nested is not None:  # this process holds it already (the CLI around a library entry point)
        if nested[1] != command:
            raise ValueError(f"out: {str(folder)!r} is being written by `logitrank {nested[1]}` in this "
                             f"process; `logitrank {command}` cannot use it too")
        yield folder
        return
    _refuse_other_owner(folder, command)  # before creating anything in someone else's folder
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock, locked = _lock(folder)
    try:
        _refuse_other_owner(folder, command)  # again, now that nobody else can be writing the marker
        _write_marker(folder, command, run)
        for directory in sorted({p.parent for p in folder.rglob("*.tmp")} if locked else ()):
            sweep_tmp(directory)  # partial files of killed writers: none of ours is writing now
        with _held_guard:
            _held[key] = (lock, command)
        try:
            yield folder
        finally:
            with _held_guard:
                _held.pop(key, None)
            if created:
                _remove_if_unused(folder)
    finally:
        lock.release()
        if created:
            try:  # a run refused before it wrote anything leaves no folder behind
                folder.rmdir()
            except OSError:
                pass  # not empty: a result, or another run that started since


def _lock(folder: Path) -> tuple[FileLock, bool]:
    """Take ``folder``'s lock without waiting: ``(lock, locked)``; ``locked`` is False on a file system
    without locks (warned about)."""
    lock = FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise FolderBusyError(f"out: {str(folder)!r} is in use by another `logitrank` run "
                              f"({_holder(folder)}); wait for it to finish or use another folder") from None
    except NotImplementedError:  # a file system without flock (some network mounts): run, but say so
        # stacklevel: this function, claim, contextlib's __enter__, then the caller's `with`
        warnings.warn(f"{folder}: its file system has no file locks; another run on this folder at the same "
                      f"time would not be detected", RuntimeWarning, stacklevel=4)
        return lock, False
    return lock, True


def _write_marker(folder: Path, command: str, run: Mapping[str, Any] | None) -> None:
    """Record ``command`` as the folder's owner, with who runs it now (pid, host, start) and ``run``."""
    save_json({"format": FORMAT, "version": 1, "command": command,
               "last_run": {"pid": os.getpid(), "host": socket.gethostname(),
                            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **dict(run or {})}},
              folder / OWNER_FILE, indent=1)


def _remove_if_unused(folder: Path) -> None:
    """Delete the marker and the lock file (the lock still held) of a folder this claim created and nothing
    was written to; a process that opened the old lock file is refused, one that comes later makes a new
    one."""
    if {p.name for p in folder.iterdir()} <= {OWNER_FILE, LOCK_FILE}:
        (folder / OWNER_FILE).unlink(missing_ok=True)
        (folder / LOCK_FILE).unlink(missing_ok=True)


def owns_out(command: str, param: str = "out") -> Callable[[F], F]:
    """Decorate an entry point so that its ``param`` folder is :func:`claim`\\ ed for ``command`` while it
    runs (nothing is claimed when the argument is ``None``)."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            out = bound.arguments.get(param)
            if out is None:
                return fn(*args, **kwargs)
            with claim(out, command):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
