"""Run a learner over tasks x seeds x the budget ladder, resumably, with reference rows per task and seed."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from logitrank import SequenceModel
from logitrank.results_io import atomic_write_text
from logitrank.run_folder import owns_out
from logitrank.validation import check_int

from .leaderboard import reference_record
from .persistence import append_record, read_log, record_key, write_outputs
from .runner import build_target, instantiate, resolve_learner, run_one, streams
from .tasks import MissingDependency, check_ladder, get_task, resolve_tasks

__all__ = ["LearnersOutcome", "learner_access", "log_traceback", "run", "run_learners", "seed_list"]


def seed_list(seeds: int | Iterable[int]) -> list[int]:
    """``0..n-1`` for a count ``n``, else the given seeds (non-empty)."""
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds: a count must be >= 1, got {seeds}")
        return list(range(int(seeds)))
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds: must be a count (int >= 1) or an iterable of int seeds, got {seeds!r:.80}")
    out = [check_int(f"seeds[{i}]", s, minimum=0) for i, s in enumerate(seeds)]
    if not out:
        raise ValueError("seeds: must name at least one seed, got an empty list")
    return out


def learner_access(learner: Any, task_name: str) -> str:
    """The access a learner asks for on a task (its ``access_kind``, else the task's; a factory that
    raises is left for :func:`run_one` to record as failed)."""
    _, factory = resolve_learner(learner)
    kind = getattr(factory, "access_kind", None)
    if kind is None and not isinstance(factory, type):
        try:
            kind = getattr(instantiate(factory, 0), "access_kind", None)
        except Exception:  # noqa: BLE001  (run_one records the error with its traceback)
            kind = None
    return str(kind or get_task(task_name).access)


def log_traceback(out: Path, rec: dict[str, Any]) -> dict[str, Any]:
    """Move a failed run's traceback into ``out/logs/<learner>/<task>-seed<s>-budget<b>.log`` and name the
    file in the record (``"log"``, relative to ``out``)."""
    text = rec.pop("traceback", None)
    if not text:
        return rec
    learner = re.sub(r"[^A-Za-z0-9._-]+", "_", str(rec["learner"]))[-80:]
    rel = Path("logs") / learner / f"{rec['task']}-seed{rec['seed']}-budget{rec['budget']}.log"
    atomic_write_text(out / rel, f"{rec['learner']} on {rec['task']}, seed {rec['seed']}, budget "
                                 f"{rec['budget']}: {rec['status']}\n\n{text}")
    return {**rec, "log": rel.as_posix()}


class _Log:
    """The records already in ``out`` (``done``, by key) and :meth:`record`, which appends one (its
    traceback moved to a log file); without ``out`` nothing is read or written."""

    def __init__(self, out: str | Path | None):
        self.path = None if out is None else Path(out) / "results.jsonl"
        self.done: dict[tuple[Any, ...], dict[str, Any]] = {}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.done = {record_key(r): r for r in read_log(self.path)}

    def record(self, rec: dict[str, Any]) -> dict[str, Any]:
        if self.path is not None:
            rec = log_traceback(self.path.parent, rec)
            append_record(self.path, rec)
        return rec


class _LastTarget:
    """``(name, seed) -> target``, keeping one target alive at a time (the transformer is large)."""

    def __init__(self) -> None:
        self.key: tuple[str, int] | None = None
        self.model: SequenceModel | None = None

    def __call__(self, name: str, seed: int) -> SequenceModel:
        if self.key != (name, seed) or self.model is None:
            self.key, self.model = None, None
            self.model, self.key = build_target(name, seed), (name, seed)
        return self.model


@owns_out("bench")  # one run per folder at a time, never another command's folder (issue 24)
def run(learner: Any, tasks: str | Sequence[str], seeds: int | Iterable[int] = 1, *,
        budgets: Sequence[int] | None = None, out: str | Path | None = None,
        progress: bool | None = None) -> list[dict[str, Any]]:
    """Run ``learner`` on every task (a suite name or task names), seed and rung of the budget ladder.

    Parameters
    ----------
    learner : alias, import path, class/factory or object with ``fit``
    tasks : str or list of str — a suite name (``"core"``, ``"hard"``, ``"quick"``) or task names.
    seeds : int (that many: 0..n-1) or iterable of int
    budgets : strictly increasing ints, optional — one ladder for every task (in the unit of the learner's
        access); default each task's own ladder for that access.
    out : directory, optional — the resumable ``results.jsonl`` (see :mod:`simulators.bench.persistence`),
        then ``results.json`` and ``leaderboard.md`` of every record in the directory (all learners run
        there); finished runs are read back, not redone.
    progress : show a progress bar (None: only on a terminal)

    Returns
    -------
    list of dict — this call's reference records (one per task and seed), then its runs (:func:`run_one`).
    """
    names = resolve_tasks(tasks)
    ladder = None if budgets is None else check_ladder("budgets", budgets)
    label, _ = resolve_learner(learner)
    seeds_ = seed_list(seeds)
    log = _Log(out)
    done, record = log.done, log.record
    jobs = [(name, s, b) for name in names
            for s in seeds_ for b in ladder or get_task(name).ladder(learner_access(learner, name))]
    target, skipped = _LastTarget(), set[str]()
    refs, results = [], []
    bar = tqdm(jobs, disable=None if progress is None else not progress, desc=f"bench {label}")
    for name, s, b in bar:
        bar.set_postfix_str(f"{name} seed {s} budget {b:.0e}", refresh=False)
        if name in skipped:
            continue
        key: tuple[Any, ...] = ("reference", name, s)
        if key not in done:
            try:
                built = target(name, s)
            except MissingDependency as exc:
                warnings.warn(f"task {name!r}: skipped, {exc}", RuntimeWarning, stacklevel=2)
                skipped.add(name)
                continue
            done[key] = record(reference_record(get_task(name), s, built, streams(name, s)))
        if done[key] not in refs:
            refs.append(done[key])
        key = ("run", label, name, s, b)
        if key not in done:
            done[key] = record(run_one(learner, name, s, b, target=target(name, s)))
        results.append(done[key])
    if log.path is not None:
        write_outputs(log.path.parent, read_log(log.path))
    return refs + results


@dataclass(frozen=True)
class LearnersOutcome:
    """What :func:`run_learners` ran: ``runs`` run records of this call, ``failed`` of them failed."""

    runs: int
    failed: int

    @property
    def all_failed(self) -> bool:
        """Every run failed (and there was at least one): ``logitrank bench`` then exits 1."""
        return self.runs > 0 and self.failed == self.runs


def run_learners(learners: Sequence[Any], tasks: str | Sequence[str], seeds: int | Iterable[int] = 1, *,
                 budgets: Sequence[int] | None = None, out: str | Path | None = None,
                 progress: bool | None = None) -> LearnersOutcome:
    """:func:`run` for each learner in turn (same tasks, seeds, ladder and ``out``), counting the run
    records and the failed ones among them (reference records are not runs)."""
    runs = failed = 0
    for learner in learners:
        results = run(learner, tasks, seeds, budgets=budgets, out=out, progress=progress)
        mine = [r for r in results if r.get("kind") == "run"]
        runs += len(mine)
        failed += sum(r["status"] == "failed" for r in mine)
    return LearnersOutcome(runs, failed)
