"""The task registry: seeded targets (built through :func:`simulators.build_model`), access, budget ladders.

A task is a recipe: a target built from a random stream, the access a learner gets (logit queries served by
an *oracle*, or i.i.d. samples), a *budget ladder* for each kind of access (every task is scored at every
rung), and the number of evaluation sequences.

Oracles of query access (SPEC §1 "Misspecification, oracle error, sampled logits"):

- ``"exact"``: ``l_M(x)``;
- ``"iid-noise"``: ``l_M(x) + e``, ``e ~ Uniform[-xi, xi]^V`` fresh per query;
- ``"fixed-noise"``: the same, but ``e`` a deterministic function of ``x`` (asking again gives the same
  answer: an API serving a fixed slightly-wrong model; the setting of GLS2's theorem);
- ``"sampled-logits"``: each query answered from ``m`` next-token samples (GLS2 Remark 5.8), charged as
  ``m`` samples; the budget counts samples.

Misspecified targets are the ``"perturbed"`` family (``simulators.PerturbedModel(base, eps)``): an exact
low-rank ISAN plus ``eps C g(x)`` with ``g`` hash-seeded per prefix; ``eps_avg`` (GLS2's average L1 error)
is about ``0.48 eps`` at ``V = 16``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from logitrank import SequenceModel
from logitrank.validation import RngLike, as_rng, check_choice, check_float, check_positive_int

from ..families import build_model

__all__ = [
    "ACCESS_KINDS",
    "ORACLES",
    "FamilyTarget",
    "MissingDependency",
    "SUITES",
    "TASKS",
    "Task",
    "family",
    "check_ladder",
    "get_task",
    "register_task",
    "resolve_tasks",
    "suite",
]

ACCESS_KINDS = ("query", "sample")
MAX_BUDGET = 10**12
"""The largest budget a ladder may name (more queries or samples than any run can spend)."""
ORACLES = ("exact", "iid-noise", "fixed-noise", "sampled-logits")


class MissingDependency(RuntimeError):
    """A task needs an optional dependency that is not installed (:func:`simulators.bench.run` warns and
    skips that task); a task's ``build`` raises it."""


def check_ladder(name: str, budgets: Any) -> tuple[int, ...]:
    """A budget ladder: a non-empty, strictly increasing sequence of positive integers.

    Floats that are whole numbers (``1e5``) are accepted; anything else is a ValueError naming ``name``,
    the rule and the value received."""
    if isinstance(budgets, str | bytes) or not isinstance(budgets, Sequence | np.ndarray):
        raise ValueError(f"{name}: must be a sequence of positive integers, got {budgets!r}")
    out = []
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, int | float | np.integer | np.floating) or \
                not np.isfinite(b) or b <= 0 or float(b) != int(b):
            raise ValueError(f"{name}: every budget must be a positive integer, got {b!r} in {list(budgets)}")
        if b > MAX_BUDGET:
            raise ValueError(f"{name}: every budget must be <= {MAX_BUDGET:.0e}, got {b!r} in "
                             f"{list(budgets)}")
        out.append(int(b))
    if not out:
        raise ValueError(f"{name}: must name at least one budget, got an empty ladder")
    if any(b >= c for b, c in zip(out, out[1:])):
        raise ValueError(f"{name}: must be strictly increasing, got {out}")
    return tuple(out)


@dataclass(frozen=True)
class FamilyTarget:
    """A target from the one family registry: ``build_model(family, vocab_size=, dim=, horizon=, **kw)``
    (misspecified targets are the ``"perturbed"`` family)."""

    family: str
    vocab_size: int | None
    dim: int
    horizon: int
    kw: tuple[tuple[str, Any], ...] = ()

    def __call__(self, rng: RngLike) -> SequenceModel:
        return build_model(self.family, vocab_size=self.vocab_size, dim=self.dim, horizon=self.horizon,
                           rng=as_rng(rng), **dict(self.kw))

    def describe(self) -> dict[str, Any]:
        return {"family": self.family, "vocab_size": self.vocab_size, "dim": self.dim,
                "horizon": self.horizon, **dict(self.kw)}


def family(name: str, vocab_size: int | None = None, dim: int = 8, horizon: int = 12,
           **kw: Any) -> FamilyTarget:
    """Shorthand for :class:`FamilyTarget` (keywords sorted, so equal recipes compare equal)."""
    return FamilyTarget(name, vocab_size, dim, horizon, tuple(sorted(kw.items())))


@dataclass(frozen=True)
class Task:
    """A benchmark task.

    Attributes
    ----------
    name, description : str
    build : callable ``(Generator) -> SequenceModel`` — the target from its random stream (a
        :class:`FamilyTarget` for synthetic families).
    hardness : str — what makes the task hard (shown by ``logitrank bench --list``).
    access : {"query", "sample"} — the access a learner gets unless it asks for the other.
    offers : tuple — the kinds of access a learner may ask for (``("sample",)``: a sample-only task).
    query_budgets, sample_budgets : strictly increasing tuples of int — the budget ladders (queries, or
        samples for the ``"sampled-logits"`` oracle; sequences).
    oracle : one of :data:`ORACLES` — how logit queries are answered.
    noise : float — ``xi`` of the noisy oracles.
    samples_per_query : int — ``m`` of the ``"sampled-logits"`` oracle.
    n_eval : int — sequences sampled from the target for the evaluation.
    suites : tuple of str — suites the task belongs to.
    """

    name: str
    description: str
    build: Callable[[np.random.Generator], SequenceModel]
    hardness: str = "exact low logit rank, exact oracle: a control task"
    access: str = "query"
    offers: tuple[str, ...] = ACCESS_KINDS
    query_budgets: tuple[int, ...] = (10**4, 10**5, 10**6)
    sample_budgets: tuple[int, ...] = (10**3, 10**4)
    oracle: str = "exact"
    noise: float = 0.0
    samples_per_query: int = 0
    n_eval: int = 500
    suites: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        check_choice("access", self.access, ACCESS_KINDS)
        offers = self.offers
        if not offers or any(k not in ACCESS_KINDS for k in offers) or self.access not in offers:
            raise ValueError(f"offers: must be a non-empty subset of {ACCESS_KINDS} containing access "
                             f"{self.access!r}, got {self.offers!r}")
        object.__setattr__(self, "query_budgets", check_ladder("query_budgets", self.query_budgets))
        object.__setattr__(self, "sample_budgets", check_ladder("sample_budgets", self.sample_budgets))
        check_choice("oracle", self.oracle, ORACLES)
        check_float("noise", self.noise, low=0.0)
        if self.oracle.endswith("noise") and self.noise <= 0:
            raise ValueError(f"noise: the {self.oracle!r} oracle needs noise > 0, got {self.noise!r}")
        if self.oracle == "sampled-logits":
            check_positive_int("samples_per_query", self.samples_per_query)
        check_positive_int("n_eval", self.n_eval)

    def ladder(self, kind: str) -> tuple[int, ...]:
        """The budget ladder of access ``kind``."""
        check_choice("access_kind", kind, ACCESS_KINDS)
        return self.query_budgets if kind == "query" else self.sample_budgets

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (the target's recipe when it is a :class:`FamilyTarget`)."""
        describe = getattr(self.build, "describe", None)
        return {
            "name": self.name, "description": self.description, "hardness": self.hardness,
            "access": self.access, "offers": list(self.offers), "oracle": self.oracle, "noise": self.noise,
            "samples_per_query": self.samples_per_query, "query_budgets": list(self.query_budgets),
            "sample_budgets": list(self.sample_budgets), "n_eval": self.n_eval,
            "target": describe() if callable(describe) else type(self.build).__name__,
        }


TASKS: dict[str, Task] = {}
SUITES: dict[str, list[str]] = {}


def register_task(task: Task, *, suites: Sequence[str] = ()) -> Task:
    """Add ``task`` to :data:`TASKS` and to ``task.suites`` + ``suites`` (created if new); a name in use
    is an error."""
    if not isinstance(task, Task):
        raise TypeError(f"task: must be a Task, got {type(task).__name__}")
    if task.name in TASKS:
        raise ValueError(f"task: the name must be new, {task.name!r} is already registered")
    TASKS[task.name] = task
    for s in (*task.suites, *suites):
        SUITES.setdefault(s, []).append(task.name)
    return task


def get_task(name: str) -> Task:
    """The task called ``name`` (ValueError listing the known names otherwise)."""
    if name not in TASKS:
        raise ValueError(f"task: must be a registered task name, got {name!r}; known tasks: "
                         f"{', '.join(TASKS)}")
    return TASKS[name]


def suite(name: str) -> list[str]:
    """Task names of a suite."""
    if name not in SUITES:
        raise ValueError(f"suite: must be a known suite name, got {name!r}; known suites: "
                         f"{', '.join(SUITES)}")
    return list(SUITES[name])


def resolve_tasks(tasks: str | Sequence[str]) -> list[str]:
    """Task names from a suite name, a task name or a list of task names (each checked)."""
    if isinstance(tasks, str):
        names = suite(tasks) if tasks in SUITES else [tasks]
    else:
        names = list(tasks)
    if not names:
        raise ValueError("tasks: must name at least one task, got an empty list")
    for name in names:
        get_task(name)
    return names


def parse_budgets(text: str | None, name: str = "budgets") -> list[int] | None:
    """``"1e3,1e4,1e5"`` -> ``[1000, 10000, 100000]`` (the CLI's ``--budgets``; ``name`` is the option as
    the user typed it).  Each part must be a whole number in ``[1, MAX_BUDGET]``; the order is checked by
    :func:`check_ladder`."""
    if text is None:
        return None
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"{name}: must be comma-separated numbers such as 1e3,1e4,1e5, "
                             f"got {text!r}") from None
        if not (np.isfinite(value) and 1 <= value <= MAX_BUDGET and value == int(value)):
            raise ValueError(f"{name}: every budget must be a whole number in [1, {MAX_BUDGET:.0e}], got "
                             f"{part.strip()!r} in {text!r}")
        out.append(int(value))
    return out


def describe_tasks(names: Sequence[str]) -> str:
    """What ``logitrank bench --list`` prints: each task's description, access, ladder and why it is hard,
    then the suites."""
    lines = []
    for name in names:
        t = get_task(name)
        ladder = ", ".join(f"{b:.0e}" for b in t.ladder(t.access))
        oracle = (f", oracle {t.oracle}{f' xi={t.noise:g}' if t.noise else ''}"
                  f"{f' m={t.samples_per_query}' if t.samples_per_query else ''}"
                  if "query" in t.offers else "")
        lines.append(f"{name}\n    {t.description}\n    access: {'/'.join(t.offers)} (default {t.access})"
                     f"{oracle}; {t.access} ladder {ladder}\n    hard because: {t.hardness}")
    lines.append("suites: " + ", ".join(f"{k} ({len(v)} tasks)" for k, v in SUITES.items()))
    return "\n".join(lines)
