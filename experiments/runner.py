"""The one runner of experiments: cached, resumable, keyed by what determines the numbers.

A :class:`Job` is ``(experiment, config, inputs, seed)``. :meth:`Runner.run` returns the experiment's
``Result.to_dict()``, computed once and stored by :class:`experiments.store.StepCache` (atomic, checksummed)
under a key made of the experiment's name, its config (``Config.to_dict()``), the inputs' identity, the seed
and the code version (:func:`code_version`: the package version and a hash of the experiment module's
source and of the modules it names in ``DEPENDS``). A stored result whose key differs (another seed, preset,
model, or edited code) is never served: it is recomputed and replaced. ``logitrank measure`` and
``logitrank reproduce`` are both lists of jobs run through this class, so a killed run re-run with the same
command skips what is finished.

Within a job, an experiment marks its long independent pieces with :func:`part` (a checkpoint of a series,
one ablation): while the runner runs the job, each part is stored as it finishes (keyed by the job's key,
so a part of another seed, config or code is never served), and a killed job re-run skips the parts it
finished; called outside a runner, :func:`part` just computes.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from logitrank.results_io import to_jsonable

from .base import ExperimentConfig, ExperimentInputs
from .registry import experiment
from .store import StepCache, function_name

__all__ = ["Job", "Runner", "code_version", "dependencies", "part"]

#: the job being run by a :class:`Runner` (its store, name and key), for :func:`part`
_RUNNING: ContextVar[tuple[StepCache, str, dict[str, Any]] | None] = ContextVar("running_job", default=None)


@functools.cache
def source_hash(module_name: str) -> str:
    """``<package version>+<sha256 prefix of the module's source>``."""
    try:
        version = metadata.version("logit-rank")
    except metadata.PackageNotFoundError:  # running from a source tree
        version = "0"
    source = inspect.getsource(sys.modules[module_name])
    return f"{version}+{hashlib.sha256(source.encode()).hexdigest()[:12]}"


def dependencies(module_name: str) -> list[str]:
    """``module_name`` and, transitively, the modules its ``DEPENDS`` names (sorted, each once).

    An experiment module sets ``DEPENDS: tuple[str, ...]`` to the modules outside itself that hold its
    computation (another experiment, a simulator, a theory module), so that editing one of them changes the
    experiment's :func:`code_version`. The library layers ``logitrank`` and ``llm_bridge`` are left out:
    they count through the package version."""
    seen: set[str] = set()
    todo = [module_name]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(getattr(importlib.import_module(name), "DEPENDS", ()))
    return sorted(seen)


def code_version(name: str) -> str:
    """The code version of experiment ``name``: :func:`source_hash` of its module, joined (when it has a
    ``DEPENDS``) by a hash of the source hashes of every module in its :func:`dependencies`; a stored result
    of older code of this experiment or of one of those modules is recomputed."""
    own = experiment(name).__name__
    names = dependencies(own)
    if names == [own]:
        return source_hash(own)
    joined = "\n".join(f"{n}={source_hash(n)}" for n in names)
    return f"{source_hash(own)}+deps-{hashlib.sha256(joined.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class Job:
    """One experiment to run: ``experiment`` (a name of :data:`experiments.EXPERIMENTS`), its ``config``,
    its ``inputs`` and the ``seed`` of its generator; ``name`` (default: the experiment's) names the stored
    result in the runner's folder."""

    experiment: str
    config: ExperimentConfig
    inputs: ExperimentInputs
    seed: Any = 0
    name: str | None = None

    def key(self) -> dict[str, Any]:
        """What determines the numbers: experiment, config, inputs identity, seed, code version."""
        return to_jsonable({"experiment": self.experiment, "config": self.config.to_dict(),
                            "inputs": self.inputs.identity, "seed": self.seed,
                            "code": code_version(self.experiment)})


def part(name: str, compute: Callable[[], Any], **params: Any) -> Any:
    """``compute()``, stored as part ``name`` of the job a :class:`Runner` is running (resumable), or just
    computed outside one.

    ``params`` (JSON-ready) join the job's key under ``"params"`` (so a param named ``seed`` cannot stand in
    for the job's own seed); the value must round-trip through
    :class:`~experiments.store.StepCache` (numbers, strings, lists, dicts, arrays), and under a runner the
    value returned is the one read back from disk, so a first run and a resumed one give identical numbers.
    A part must not draw from a generator shared with later parts (pass it a seed), or skipping it would
    change what follows.
    """
    running = _RUNNING.get()
    if running is None:
        return compute()
    cache, job_name, key = running
    return cache.step(f"{job_name}.part.{name}", functools.partial(_call, compute),
                      key={**key, "part": name, "params": params})


def _call(compute: Callable[[], Any], key: dict[str, Any]) -> Any:
    return compute()  # ``key`` only keys the stored part


def _compute(job: Job, key: dict[str, Any]) -> dict[str, Any]:
    result = experiment(job.experiment).run(job.inputs, job.config, rng=job.seed)
    return to_jsonable(result.to_dict())  # type: ignore[no-any-return]


class Runner:
    """Runs :class:`Job` s into ``directory`` (one JSON file per job, plus ``.npz`` for arrays).

    Attributes
    ----------
    cache : StepCache — ``computed`` / ``loaded`` list the job names computed or read back by this runner
    seconds : dict — job name -> seconds it took when it was computed (this call or an earlier one)
    """

    def __init__(self, directory: str | Path, progress: Callable[[str], None] | None = None, *,
                 cache: StepCache | None = None):
        self.cache = cache if cache is not None else StepCache(directory, progress=progress)
        self.seconds: dict[str, float] = {}

    def run(self, job: Job, compute: Callable[..., Any] | None = None) -> dict[str, Any]:
        """``job``'s ``Result.to_dict()``, read back from disk when a run with the same key finished it.

        ``compute(job, key)`` replaces the experiment's own ``run`` for a view that computes the same result
        another way (``measure``'s sharded spectrum); it must return a JSON-ready dict."""
        name = job.name or job.experiment
        start = time.perf_counter()
        fn = functools.partial(compute or _compute, job)
        key = job.key()
        if compute is not None:  # the view's own computation is part of the key too
            inner = compute
            while isinstance(inner, functools.partial):
                inner = inner.func
            key["compute"] = f"{function_name(compute)}@{source_hash(inner.__module__)}"
        running = _RUNNING.set((self.cache, name, key))
        try:
            value = self.cache.step(name, fn, key=key)
        finally:
            _RUNNING.reset(running)
        stored = self.cache.seconds_of(name)
        self.seconds[name] = stored if stored is not None else time.perf_counter() - start
        return value  # type: ignore[no-any-return]


