"""Running learners on tasks: seeded streams, access objects, one run per rung of the budget ladder.

Every random choice of a run comes from ``(task name, seed)`` through ``numpy.random.SeedSequence``:
target, access (sampling, oracle noise), learner, evaluation and the reference predictors each get their own
spawned stream, the same at every budget, so a run is reproducible bit for bit (wall times aside, kept under
``"timing"``).

The plug-in contract (also in the README and ``logitrank bench --help``): a *learner* is anything with
``fit(access)`` returning an object with ``model_`` (or a model itself): a :class:`logitrank.SequenceModel`
with the task's vocabulary and horizon.  It says which access it needs with a class attribute
``access_kind = "query" | "sample"`` (default: the task's).  Plug one in by object, factory, import path
``"package.module:Class"``, file path ``"path/to/file.py:Class"`` (imported from the file, no PYTHONPATH
needed) or alias (:data:`LEARNER_ALIASES`).  If the factory accepts ``rng``, it receives an integer seed of
the learner stream.  A learner that stops early for its budget says so with ``stopped_early_ = True``.

A run's ``status``: ``"ok"``; ``"over_budget"`` (the learner asked for more than the rung allows before it
had a model: :class:`~simulators.learners.BudgetExceeded`); ``"unsupported"`` (the learner needs an access
the task does not offer, e.g. queries on a sample-only task); ``"failed"`` (anything else, with the error
and its full traceback under ``"traceback"``, including a learned model of the wrong vocabulary or horizon
and one whose KL or TV is not finite).  Every run is marked ``"isolation": "in-process"``: the learner ran in
this interpreter, where the target is out of reach by accident but not by intent
(:mod:`simulators.learners.access`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import time
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from logitrank import SequenceModel
from logitrank.validation import spawn_seeds

from ..learners.access import BudgetExceeded, QueryAccess, SampleAccess
from ..learners.evaluation import evaluate
from .tasks import ACCESS_KINDS, Task, get_task

__all__ = ["LEARNER_ALIASES", "STREAMS", "build_target", "check_learned_model", "factory_access",
           "instantiate", "make_access", "resolve_learner", "run_one", "streams"]

STREAMS = ("target", "access", "learner", "eval", "reference")

_QUERY = "simulators.learners.query_learner:LogitQueryLearner"
LEARNER_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "query": (_QUERY, {}),
    "query-r16": (_QUERY, {"rank": 16}),
    "query-r32": (_QUERY, {"rank": 32}),
    "query-r64": (_QUERY, {"rank": 64}),
    "spectral": ("simulators.learners.spectral:SpectralWFALearner", {}),
    "ngram": ("simulators.learners.ngram_baseline:NGramLearner", {}),
    "mle": ("simulators.learners.mle:MLELearner", {}),
    "spanner": ("simulators.learners:SpannerLPLearner", {}),
}
"""``alias -> (import path, keyword arguments)``; ``query-rK`` is the query learner with rank cap ``K``."""


def streams(task: str, seed: int) -> dict[str, int]:
    """Independent integer seeds for each part of a run (:data:`STREAMS`), spawned from ``(seed, task)``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    ss = np.random.SeedSequence([int(seed), zlib.crc32(task.encode())])
    return dict(zip(STREAMS, spawn_seeds(ss, len(STREAMS)), strict=True))


def build_target(name: str, seed: int) -> SequenceModel:
    """The target of task ``name`` for ``seed``."""
    return get_task(name).build(np.random.default_rng(streams(name, seed)["target"]))


def make_access(task: Task, target: SequenceModel, kind: str, budget: int, rng: int) -> Any:
    """The access object of ``kind`` with ``budget``, its queries served by the task's oracle."""
    if kind not in ACCESS_KINDS:
        raise ValueError(f"access_kind: must be one of {ACCESS_KINDS}, got {kind!r}")
    if kind == "sample":
        return SampleAccess(target, budget=budget, rng=rng)
    if task.oracle == "exact":
        return QueryAccess(target, budget=budget, rng=rng)
    if task.oracle == "iid-noise":
        return QueryAccess(target, noise=task.noise, noise_mode="iid", budget=budget, rng=rng)
    if task.oracle == "fixed-noise":
        return QueryAccess(target, noise=task.noise, noise_mode="fixed", budget=budget, rng=rng)
    try:
        from ..learners.access import SampledLogitAccess
    except ImportError as exc:
        raise RuntimeError(f"task {task.name!r}: needs SampledLogitAccess (simulators.learners.access), "
                           f"which this installation lacks") from exc
    return SampledLogitAccess(target, task.samples_per_query, budget=budget, rng=rng)


def resolve_learner(learner: Any) -> tuple[str, Callable[..., Any]]:
    """``(label, factory)`` from an alias, an import path ``"module:attr"``, a file path
    ``"path/to/file.py:attr"``, a class/callable or an instance.

    Raises ValueError when an alias or path cannot be imported (naming it and why)."""
    if isinstance(learner, str):
        path, kwargs = LEARNER_ALIASES.get(learner, (learner, {}))
        if ":" not in path:
            raise ValueError(f"learner: must be an alias ({', '.join(LEARNER_ALIASES)}), an import path "
                             f"'package.module:Class' or a file path 'path/to/file.py:Class', "
                             f"got {learner!r}")
        mod_name, _, attr = path.rpartition(":")
        try:
            module = _import_file(mod_name) if _is_file_path(mod_name) else importlib.import_module(mod_name)
            obj = getattr(module, attr)
        except ModuleNotFoundError as exc:
            raise ValueError(f"learner: cannot import {path!r}: {exc}; a learner in a file is given by its "
                             f"path, e.g. path/to/{mod_name.rsplit('.', 1)[-1]}.py:{attr} (no PYTHONPATH "
                             f"needed)") from exc
        except (ImportError, AttributeError, OSError) as exc:
            raise ValueError(f"learner: cannot import {path!r}: {type(exc).__name__}: {exc}") from exc
        if not callable(obj):
            raise ValueError(f"learner: {path!r} must be callable (a class or factory), got "
                             f"{type(obj).__name__}")
        return learner, _with_kwargs(obj, kwargs) if kwargs else obj
    if callable(learner) and (inspect.isclass(learner) or not hasattr(learner, "fit")):
        return getattr(learner, "__name__", type(learner).__name__), learner
    if hasattr(learner, "fit"):
        return type(learner).__name__, lambda **_: learner
    raise ValueError(f"learner: must be an alias, an import path, a class/factory or an object with fit(), "
                     f"got {type(learner).__name__}")


def _is_file_path(name: str) -> bool:
    return name.endswith(".py") or "/" in name or "\\" in name


def _import_file(name: str) -> Any:
    """Import the Python file ``name`` as a module of its own (registered under a name derived from its
    resolved path, so the same file is imported once)."""
    path = Path(name).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"learner: the file {name!r} does not exist ({path})")
    mod_name = f"_bench_learner_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if mod_name in sys.modules:
        return sys.modules[mod_name]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # before exec: dataclasses and pickling look the module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[mod_name]
        raise
    return module


def _with_kwargs(cls: Callable[..., Any], kwargs: dict[str, Any]) -> Callable[..., Any]:
    def factory(rng: Any = None) -> Any:
        return cls(**kwargs, rng=rng)

    factory.access_kind = getattr(cls, "access_kind", None)  # type: ignore[attr-defined]
    return factory


def instantiate(factory: Callable[..., Any], seed: int) -> Any:
    """Build a learner from its factory, passing ``rng=seed`` when the factory accepts it."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory()
    accepts = "rng" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    return factory(rng=seed) if accepts else factory()


def check_learned_model(model: Any, task: Task, target: SequenceModel) -> SequenceModel:
    """Raise ValueError unless ``model`` is a sequence model with the target's vocabulary and horizon."""
    for attr in ("vocab_size", "horizon", "logits"):
        if not hasattr(model, attr):
            raise ValueError(f"learned model: must follow the SequenceModel protocol (have {attr!r}), got "
                             f"{type(model).__name__}")
    for attr in ("vocab_size", "horizon"):
        want, got = int(getattr(target, attr)), getattr(model, attr)
        if int(got) != want:
            raise ValueError(f"learned model {attr}: must equal task {task.name!r}'s {want}, got {got}")
    return model


def factory_access(factory: Callable[..., Any], task: Task) -> str:
    """The access a learner asks for, read from its factory (class attribute) without building it, else
    the task's."""
    return str(getattr(factory, "access_kind", None) or task.access)


def run_one(learner: Any, task_name: str, seed: int, budget: int | None = None, *,
            target: SequenceModel | None = None) -> dict[str, Any]:
    """One learner on one task, seed and budget (default: the top of the task's ladder for the learner's
    access); never raises for what the learner does (see the module docstring for ``status``).

    ``target`` may pass the already-built target of ``(task_name, seed)`` (it is built otherwise)."""
    label, factory = resolve_learner(learner)
    task = get_task(task_name)
    seeds = streams(task_name, seed)
    target = build_target(task_name, seed) if target is None else target
    kind = factory_access(factory, task)
    # access and budget are known before the learner is built, so a learner whose __init__ raises still
    # leaves a complete record (the log's key needs the budget)
    record: dict[str, Any] = {"kind": "run", "learner": label, "task": task_name, "seed": int(seed),
                              "vocab_size": int(target.vocab_size), "horizon": int(target.horizon),
                              "isolation": "in-process", "access": kind,
                              "budget": _rung(task, kind, budget)}
    t0 = time.perf_counter()
    access = None
    try:
        est = instantiate(factory, seeds["learner"])
        kind = getattr(est, "access_kind", None) or kind
        record.update(access=kind, budget=_rung(task, kind, budget))
        if kind not in task.offers:
            record.update(status="unsupported", error=f"access_kind: task {task_name!r} offers "
                          f"{' and '.join(task.offers)} access only, got a learner needing {kind!r}")
            return _finish(record, None, t0)
        access = make_access(task, target, kind, record["budget"], seeds["access"])
        fitted = est.fit(access)
        model = check_learned_model(getattr(fitted, "model_", fitted), task, target)
        record["stopped_early"] = bool(getattr(fitted, "stopped_early_", False))
        fit_s = time.perf_counter() - t0
        ev = evaluate(target, model, n_sequences=task.n_eval, rng=seeds["eval"])
        if not all(np.isfinite(v) for v in (ev.kl, ev.kl_se, ev.tv, ev.tv_se)):
            raise ValueError(f"learned model: its KL ({ev.kl}) and TV ({ev.tv}) must be finite; are its "
                             f"logits too large to normalise?")
    except BudgetExceeded as exc:
        record.update(status="over_budget", error=f"BudgetExceeded: {exc}", traceback=traceback.format_exc())
        return _finish(record, access, t0)
    except Exception as exc:  # a crashing learner is a result, not the end of the benchmark
        record.update(status="failed", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        return _finish(record, access, t0)
    record.update(status="ok", error=None, kl=ev.kl, kl_se=ev.kl_se, kl_per_position=ev.kl_per_position,
                  tv=ev.tv, tv_se=ev.tv_se, perplexity=ev.perplexity, target_perplexity=ev.target_perplexity,
                  n_eval=ev.n_sequences)
    return _finish(record, access, t0, fit_s, ev.eval_seconds)


def _rung(task: Task, kind: str, budget: int | None) -> int:
    """The budget of a run: ``budget``, else the top of the task's ladder for ``kind``."""
    if budget is not None:
        return int(budget)
    return task.ladder(kind if kind in ACCESS_KINDS else task.access)[-1]


def _finish(record: dict[str, Any], access: Any, t0: float, fit_s: float | None = None,
            eval_s: float = 0.0) -> dict[str, Any]:
    used = None if access is None else int(access.used)
    record["used"] = used
    record["timing"] = {"fit_seconds": time.perf_counter() - t0 if fit_s is None else fit_s,
                        "eval_seconds": eval_s}
    return record
