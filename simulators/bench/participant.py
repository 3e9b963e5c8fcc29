"""What a participant may see of a task: the public view served by ``logitrank serve`` and written by
``logitrank bench --export DIR`` (``--with-answers`` writes the target itself, :func:`export_task`).

The public view is a JSON object with these fields (``format`` ``"logitrank-task/1"``):

- ``name``, ``description``, ``hardness``: the task in words;
- ``vocab_size`` ``V`` and ``horizon`` ``T``: tokens are ``0..V-1``, sequences have length ``T``;
- ``access`` (the default kind, ``"query"`` or ``"sample"``) and ``offers`` (the kinds a learner may ask for);
- ``oracle``: how logit queries are answered (``exact``, ``iid-noise``, ``fixed-noise``, ``sampled-logits``)
  and ``samples_per_query`` (``m`` of ``sampled-logits``, whose budget counts samples);
- ``query_budgets``, ``sample_budgets``: the budget ladders (logit vectors or samples; sequences);
- ``n_eval``: the held-out sequences a submitted model is scored on;
- ``seed`` and ``learner_seed``: the seed of the target (a label, not the random stream that builds it) and
  the integer an in-process run hands the learner's factory as ``rng``.

Left out on purpose: the target's parameters and recipe, the random streams that build the target, its noise
and its held-out sequences, and the oracle's error size (a tolerance is the learner's own hyperparameter).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from logitrank import save_json
from logitrank.validation import check_int

from .persistence import export_task
from .runner import build_target, streams
from .tasks import get_task

__all__ = ["PUBLIC_FORMAT", "export_public", "export_tasks", "participant_view", "task_shape"]

PUBLIC_FORMAT = "logitrank-task/1"


def task_shape(name: str) -> tuple[int, int]:
    """``(V, T)`` of task ``name``: from its recipe when it says, else from the target of seed 0."""
    task = get_task(name)
    V, T = getattr(task.build, "vocab_size", None), getattr(task.build, "horizon", None)
    if V is None or T is None:
        target = build_target(name, 0)
        V, T = target.vocab_size, target.horizon
    return int(V), int(T)


def participant_view(name: str, seed: int | None = None) -> dict[str, Any]:
    """The public description of task ``name`` (see the module docstring); with ``seed``, also the seed and
    the learner's seed for it."""
    task = get_task(name)
    V, T = task_shape(name)
    view: dict[str, Any] = {
        "format": PUBLIC_FORMAT, "name": task.name, "description": task.description,
        "hardness": task.hardness, "vocab_size": V, "horizon": T, "access": task.access,
        "offers": list(task.offers), "oracle": task.oracle, "samples_per_query": task.samples_per_query,
        "query_budgets": list(task.query_budgets), "sample_budgets": list(task.sample_budgets),
        "n_eval": task.n_eval,
    }
    if seed is not None:
        seed = check_int("seed", seed, minimum=0)
        view.update(seed=seed, learner_seed=streams(name, seed)["learner"])
    return view


def export_public(name: str, seed: int, directory: str | Path) -> Path:
    """Write ``<directory>/<name>-seed<seed>.json``, the participant view of ``(name, seed)``; returns it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return Path(save_json(participant_view(name, seed), directory / f"{name}-seed{seed}.json", indent=1))


def export_tasks(tasks: Sequence[str], seeds: Iterable[int], directory: str | Path, *,
                 with_answers: bool = False) -> Iterator[tuple[Path, ...]]:
    """Export every task in ``tasks`` for every seed, task by task, yielding the files of each as soon as
    they are written: ``(view,)``, what a participant may see (:func:`export_public`), or with
    ``with_answers`` ``(target, description)``, the target itself (:func:`export_task`; a transformer target
    may train first)."""
    seeds = list(seeds)
    for name in tasks:
        for seed in seeds:
            if with_answers:
                yield export_task(name, seed, directory)
            else:
                yield (export_public(name, seed, directory),)
