"""The learning score: one task set per access kind, excess KL over the irreducible error, a stated floor.

Per task and seed the reference record gives the uniform predictor's KL ``KL_u`` and, for a misspecified
target (``PerturbedModel``), the KL of its exact low-rank part, ``KL_irr`` (the error no rank-``d`` learner
can remove; ``0`` for realisable targets, whose own class is in reach).  KL is per sequence, in nats,
averaged over seeds.  For a learner at one rung of the budget ladder:

- *excess KL* ``e = max(KL - KL_irr, 0)``; a rung that failed, ran over budget, was not run or gave a
  non-finite KL counts as the uniform predictor (``KL = KL_u``: a learner can always answer uniform);
- *rung score* ``s = clip(log10(g / max(e, F)) / log10(g / F), 0, 1)`` with ``g = KL_u - KL_irr`` and the
  floor ``F =`` :data:`SCORE_FLOOR` ``= 1e-3`` nats: the fraction of the decades between the uniform
  predictor and the floor that the learner removed (``0``: no better than uniform; ``1``: within ``F`` of
  the irreducible error).  Precision below the floor earns nothing, so ``1e-3 -> 1e-10`` is worth 0 and
  ``10 -> 1`` nats a full decade;
- *task score*: the mean of the rung scores over the task's ladder (a rung not run counts as uniform);
  *budget to TV*: the smallest rung whose ``TV - TV_irr <= `` :data:`TV_TARGET` ``= 0.1`` (``None`` if
  none).

Tables: one per access kind (``"query"``, ``"sample"``).  The tasks of a table are every task in the results
that offers that access; its learners are those that ran with it.  Every learner of a table is scored on
all of its tasks (a task it did not or could not run scores 0 — the uniform predictor — and is shown as
such); its *overall* score is the mean over those tasks.  Ranking: overall score (to 3 decimals), then the
number of tasks where the TV target was reached, then the sum of ``log10`` of the budgets that reached it
(smaller first); learners equal on all three share a rank (shown as a tie).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .tasks import ACCESS_KINDS, TASKS

__all__ = ["SCORE_FLOOR", "TV_TARGET", "Standing", "budget_to_tv", "isolation", "rank", "rung_score",
           "score_tables", "scores", "table_tasks"]

SCORE_FLOOR = 1e-3
"""Excess KL (nats per sequence) below which a rung scores 1: precision beyond it is not learning."""
TV_TARGET = 0.1
"""TV per sequence above the irreducible TV that the *budget to TV* asks for."""


def rung_score(kl: float, kl_u: float, kl_irr: float = 0.0, floor: float = SCORE_FLOOR) -> float:
    """The rung score (module docstring); a non-finite ``kl`` scores 0."""
    if not np.isfinite(kl):
        return 0.0
    gap = max(kl_u - kl_irr, 0.0)
    excess = max(kl - kl_irr, 0.0)
    if gap <= floor:
        return 1.0 if excess <= floor else 0.0
    return float(np.clip(np.log10(gap / max(excess, floor)) / np.log10(gap / floor), 0.0, 1.0))


@dataclass
class Standing:
    """A learner in one table: per task its score, the budget that reached the TV target and whether it
    ran; the overall score, the count of tasks at the TV target and its rank (``tie``: shared)."""

    learner: str
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    overall: float = 0.0
    reached: int = 0
    budget_log_sum: float = 0.0
    rank: int = 0
    tie: bool = False
    isolation: str = "in-process"


def isolation(rec: dict[str, Any]) -> str:
    """Where the learner ran: ``"server"`` (through ``logitrank serve``: the target out of its reach) or
    ``"in-process"`` (in the benchmark's interpreter)."""
    return str(rec.get("isolation") or ("server" if rec.get("served") else "in-process"))


def _ok(rec: dict[str, Any]) -> bool:
    return rec.get("status") == "ok" and all(np.isfinite(rec.get(k, np.nan)) for k in ("kl", "tv"))


def _access(rec: dict[str, Any]) -> str:
    task = TASKS.get(rec["task"])
    return str(rec.get("access") or (task.access if task else "query"))


def references(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per task: ``kl_u``, ``kl_irr``, ``tv_u``, ``tv_irr`` (means over its seeds' reference records)."""
    by: dict[str, list[dict[str, Any]]] = {}
    for rec in results:
        if rec.get("kind") == "reference":
            by.setdefault(rec["task"], []).append(rec)
    out = {}
    for task, refs in by.items():
        base = [r["base"] for r in refs if isinstance(r.get("base"), dict)]
        out[task] = {"kl_u": float(np.mean([r["uniform"]["kl"] for r in refs])),
                     "tv_u": float(np.mean([r["uniform"]["tv"] for r in refs])),
                     "kl_irr": float(np.mean([b["kl"] for b in base])) if base else 0.0,
                     "tv_irr": float(np.mean([b["tv"] for b in base])) if base else 0.0}
    return out


def table_tasks(results: Sequence[dict[str, Any]], kind: str) -> list[str]:
    """The tasks of the ``kind`` table: every task in ``results`` that offers ``kind`` (a task outside the
    registry: one some learner ran with ``kind``)."""
    names = list(dict.fromkeys(r["task"] for r in results))
    used = {r["task"] for r in results if r.get("kind") != "reference" and _access(r) == kind}
    return [t for t in names if (kind in TASKS[t].offers if t in TASKS else t in used)]


def _cells(results: Sequence[dict[str, Any]], kind: str
           ) -> dict[tuple[str, str], dict[int, list[dict[str, Any]]]]:
    """``(learner, task) -> {budget: [records over seeds]}`` of the runs with access ``kind``."""
    cells: dict[tuple[str, str], dict[int, list[dict[str, Any]]]] = {}
    for rec in results:
        if rec.get("kind") != "reference" and _access(rec) == kind and "budget" in rec:
            cells.setdefault((rec["learner"], rec["task"]), {}).setdefault(int(rec["budget"]), []).append(rec)
    return cells


def _ladder(task: str, kind: str, rungs: dict[int, list[dict[str, Any]]]) -> list[int]:
    """The rungs a run is scored on: the task's own ladder for ``kind`` when the runs used it (a rung not run,
    e.g. unfinished, then counts as uniform), else the budgets that were run (``--budgets``)."""
    own = TASKS[task].ladder(kind) if task in TASKS else ()
    return list(own) if set(rungs) <= set(own) else sorted(rungs)


def _task_entry(rungs: dict[int, list[dict[str, Any]]], ref: dict[str, float], ladder: list[int]
                ) -> dict[str, Any]:
    scores, tv_budget = [], None
    for budget in ladder:
        if budget not in rungs:
            scores.append(0.0)
            continue
        recs = rungs[budget]
        kl = float(np.mean([r["kl"] if _ok(r) else ref["kl_u"] for r in recs]))
        tv = float(np.mean([r["tv"] if _ok(r) else ref["tv_u"] for r in recs]))
        scores.append(rung_score(kl, ref["kl_u"], ref["kl_irr"]))
        if tv_budget is None and tv - ref["tv_irr"] <= TV_TARGET:
            tv_budget = budget
    ran = any(r.get("status") != "unsupported" for recs in rungs.values() for r in recs)
    return {"score": float(np.mean(scores)) if ran else 0.0, "tv_budget": tv_budget if ran else None,
            "ran": ran, "missing": [b for b in ladder if b not in rungs]}


def score_tables(results: Sequence[dict[str, Any]]) -> dict[str, list[Standing]]:
    """``{kind: [Standing, ...]}`` ranked (module docstring), for each access kind with learners."""
    refs = references(results)
    out: dict[str, list[Standing]] = {}
    for kind in ACCESS_KINDS:
        tasks = [t for t in table_tasks(results, kind) if t in refs]
        cells = _cells(results, kind)
        learners = list(dict.fromkeys(lr for lr, _ in cells))
        table = []
        for learner in learners:
            st = Standing(learner)
            for task in tasks:
                rungs = cells.get((learner, task))
                st.tasks[task] = (_task_entry(rungs, refs[task], _ladder(task, kind, rungs)) if rungs else
                                  {"score": 0.0, "tv_budget": None, "ran": False, "missing": []})
            st.overall = float(np.mean([e["score"] for e in st.tasks.values()])) if tasks else 0.0
            reached = [e["tv_budget"] for e in st.tasks.values() if e["tv_budget"] is not None]
            st.reached, st.budget_log_sum = len(reached), float(np.sum(np.log10(reached)))
            isolations = {isolation(r) for (lr, _), c in cells.items() if lr == learner
                          for rs in c.values() for r in rs}
            st.isolation = "/".join(sorted(isolations))
            table.append(st)
        if table and tasks:
            out[kind] = rank(table)
    return out


def rank(table: list[Standing]) -> list[Standing]:
    """Sort by (overall to 3 decimals desc, TV targets reached desc, log-budget sum asc); equal keys tie."""
    def key(s: Standing) -> tuple[float, int, float]:
        return (-round(s.overall, 3), -s.reached, round(s.budget_log_sum, 6))

    table = sorted(table, key=key)
    for i, st in enumerate(table):
        same_prev = i > 0 and key(table[i - 1]) == key(st)
        st.rank = table[i - 1].rank if same_prev else i + 1
        st.tie = same_prev or (i + 1 < len(table) and key(table[i + 1]) == key(st))
    return table


def scores(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """``{kind: {learner: {task: score, ..., "overall": mean}}}`` (see the module docstring)."""
    return {kind: {st.learner: {**{t: e["score"] for t, e in st.tasks.items()}, "overall": st.overall}
                   for st in table} for kind, table in score_tables(results).items()}


def budget_to_tv(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, int | None]]]:
    """``{kind: {learner: {task: smallest budget at the TV target, or None}}}``."""
    return {kind: {st.learner: {t: e["tv_budget"] for t, e in st.tasks.items()} for st in table}
            for kind, table in score_tables(results).items()}
