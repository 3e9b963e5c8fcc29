"""A benchmark suite for learners of low-logit-rank sequence models.

A *task* is a recipe: a target built from a seed, an access type (logit queries or samples), budgets and
the number of evaluation sequences.  Every random choice of a run is derived from ``(task name, seed)``
through ``numpy.random.SeedSequence``: target, access (sampling, query noise), learner and evaluation
each get their own stream, so a run is reproducible bit-for-bit (wall times aside).

A *learner* is anything with ``fit(access)`` returning an object with ``model_`` (or a model itself): a
:class:`logitrank.SequenceModel` with the task's vocabulary and horizon.  It says which access it needs with
a class attribute ``access_kind = "query" | "sample"`` (default: the task's).  Plug one in by object,
factory, import path ``"package.module:Class"`` or alias (``query``, ``spectral``, ``ngram``, ``mle``).
If the factory accepts ``rng``, it receives an integer seed derived from the task and seed.

Results (one dict per learner x task x seed) are appended to ``<out>/results.jsonl`` as soon as each run
finishes (a killed run loses nothing finished; re-running with the same ``out`` skips what is there),
then written to ``results.json`` and ``leaderboard.md``.  Wall times live under ``"timing"`` only and are
left out of the leaderboard, which is therefore reproducible bit-for-bit from the seeds.
"""

from __future__ import annotations

import importlib
import inspect
import json
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from logitrank import SequenceModel

from .isan import TimeVaryingISAN
from .learners.access import QueryAccess, SampleAccess
from .learners.evaluation import evaluate

__all__ = [
    "Task",
    "TASKS",
    "SUITES",
    "LEARNER_ALIASES",
    "get_task",
    "register_task",
    "suite",
    "build_target",
    "make_access",
    "resolve_learner",
    "check_learned_model",
    "run_one",
    "run",
    "leaderboard",
    "export_task",
]

ACCESS_KINDS = ("query", "sample")


@dataclass(frozen=True)
class Task:
    """A benchmark task.

    Attributes
    ----------
    name, description : str
    build : callable ``(Generator) -> SequenceModel`` — the target from its random stream.
    access : {"query", "sample"} — the access a learner gets unless it asks for the other.
    query_budget, sample_budget : int — budgets for each kind of access.
    noise : float — query noise ``xi`` (uniform in ``[-xi, xi]``).
    n_eval : int — sequences sampled from the target for the evaluation.
    """

    name: str
    description: str
    build: Callable[[np.random.Generator], SequenceModel]
    access: str = "query"
    query_budget: int = 1_000_000
    sample_budget: int = 10_000
    noise: float = 0.0
    n_eval: int = 500

    def __post_init__(self) -> None:
        if self.access not in ACCESS_KINDS:
            raise ValueError(f"access: must be one of {ACCESS_KINDS}, got {self.access!r}")
        for name in ("query_budget", "sample_budget", "n_eval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: must be a positive integer, got {value!r}")
        if not (np.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"noise: must be a finite number >= 0, got {self.noise!r}")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "access": self.access,
            "query_budget": self.query_budget,
            "sample_budget": self.sample_budget,
            "noise": self.noise,
            "n_eval": self.n_eval,
        }


# --- targets ------------------------------------------------------------------------------------


def _isan(V: int, d: int, T: int) -> Callable[[np.random.Generator], SequenceModel]:
    return lambda rng: TimeVaryingISAN.random(V, d, T, rng=rng)


def _planted(rng: np.random.Generator) -> SequenceModel:
    from .planted import PlantedSpectrum

    return PlantedSpectrum.random(8, 32, 8, 0.7, rng=rng)  # V=8, d=32, T=8


def _hmm(rng: np.random.Generator) -> SequenceModel:
    from .hmm import HMM

    return HMM.random(8, 8, 10, rng=rng)  # 8 states, V=8, T=10


def _ngram(rng: np.random.Generator) -> SequenceModel:
    from .ngram import NGram

    return NGram.random(8, 3, 10, rng=rng)  # V=8, order 3, T=10


def _parity(rng: np.random.Generator) -> SequenceModel:
    from .parity import NoisyParity

    return NoisyParity.random(20, 10, 0.1, rng=rng)


def _sparse_poly(rng: np.random.Generator) -> SequenceModel:
    from .parity import SparsePolynomialBits

    return SparsePolynomialBits.random(16, 4, rng=rng)


def _copy(rng: np.random.Generator) -> SequenceModel:
    from .copying import Copying

    return Copying(4, 6)  # V=4, n=6, T=12


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task(
            "isan-v16-d8-t16",
            "random time-varying ISAN, V=16, d=8, T=16 (exact logit rank 8)",
            _isan(16, 8, 16),
            query_budget=1_000_000,
        ),
        Task(
            "isan-v32-d16-t32",
            "random time-varying ISAN, V=32, d=16, T=32 (exact logit rank 16)",
            _isan(32, 16, 32),
            query_budget=4_000_000,
        ),
        Task(
            "planted-alpha0.7",
            "planted power-law spectrum sigma_i ~ i^-0.7, V=8, d=32, T=8",
            _planted,
        ),
        Task("hmm-s8-v8", "random HMM, 8 states, V=8, T=10 (approximately low rank)", _hmm),
        Task("ngram3-v8", "random trigram model, V=8, T=10 (logit rank <= V^2)", _ngram, access="sample"),
        Task(
            "noisy-parity-n20",
            "20 uniform bits, label = parity of a hidden 10-subset flipped w.p. 0.1",
            _parity,
            query_budget=100_000,
            sample_budget=10_000,  # sampling 1e5 parity sequences takes ~2 min; see learner_curves.py
        ),
        Task(
            "sparse-poly-n16-m4", "16 bits, log-odds of each bit a 4-monomial sparse polynomial", _sparse_poly
        ),
        Task("copy-n6-v4", "6 random tokens over V=4, then copied (T=12)", _copy),
    ]
}

SUITES: dict[str, list[str]] = {
    "quick": ["isan-v16-d8-t16", "ngram3-v8", "noisy-parity-n20"],
    "core": list(TASKS),
}

LEARNER_ALIASES: dict[str, str] = {
    "query": "simulators.learners.query_learner:LogitQueryLearner",
    "spectral": "simulators.learners.spectral:SpectralWFALearner",
    "ngram": "simulators.learners.ngram_baseline:NGramLearner",
    "mle": "simulators.learners.mle:MLELearner",
}


def register_task(task: Task, *, suites: Sequence[str] = ()) -> Task:
    """Add ``task`` to :data:`TASKS` (and to the named suites, created if new); a name in use is an error."""
    if not isinstance(task, Task):
        raise TypeError(f"task: must be a Task, got {type(task).__name__}")
    if task.name in TASKS:
        raise ValueError(f"task: the name {task.name!r} is already registered")
    TASKS[task.name] = task
    for s in suites:
        SUITES.setdefault(s, []).append(task.name)
    return task


def get_task(name: str) -> Task:
    """The task called ``name`` (ValueError listing the known names otherwise)."""
    if name not in TASKS:
        raise ValueError(f"task: unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[name]


def suite(name: str) -> list[str]:
    """Task names of a suite."""
    if name not in SUITES:
        raise ValueError(f"suite: unknown suite {name!r}; known suites: {', '.join(SUITES)}")
    return list(SUITES[name])


def _streams(task: str, seed: int) -> dict[str, int]:
    """Independent integer seeds for each part of a run, from ``(task, seed)``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
    ss = np.random.SeedSequence([int(seed), zlib.crc32(task.encode())])
    keys = ("target", "access", "learner", "eval")
    return {
        k: int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for k, c in zip(keys, ss.spawn(4))
    }


def build_target(name: str, seed: int) -> SequenceModel:
    """The target of task ``name`` for ``seed``."""
    task = get_task(name)
    return task.build(np.random.default_rng(_streams(name, seed)["target"]))


def make_access(task: Task, target: SequenceModel, kind: str, rng: int) -> QueryAccess | SampleAccess:
    """The access object of ``kind`` with the task's budget."""
    if kind not in ACCESS_KINDS:
        raise ValueError(f"access_kind: must be one of {ACCESS_KINDS}, got {kind!r}")
    if kind == "query":
        return QueryAccess(target, noise=task.noise, budget=task.query_budget, rng=rng)
    return SampleAccess(target, budget=task.sample_budget, rng=rng)


def resolve_learner(learner: Any) -> tuple[str, Callable[..., Any]]:
    """``(label, factory)`` from an alias, an import path ``"module:attr"``, a class/callable or an instance.

    Raises ValueError when an alias or path cannot be imported (naming it and why)."""
    if isinstance(learner, str):
        path = LEARNER_ALIASES.get(learner, learner)
        if ":" not in path:
            raise ValueError(
                f"learner: must be an alias ({', '.join(LEARNER_ALIASES)}) or an import path "
                f"'package.module:Class', got {learner!r}"
            )
        mod_name, _, attr = path.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"learner: cannot import {path!r}: {type(exc).__name__}: {exc}") from exc
        if not callable(obj):
            raise ValueError(
                f"learner: {path!r} is not callable (a class or factory), got {type(obj).__name__}"
            )
        return learner, obj
    if callable(learner) and (inspect.isclass(learner) or not hasattr(learner, "fit")):
        return getattr(learner, "__name__", type(learner).__name__), learner
    if hasattr(learner, "fit"):
        return type(learner).__name__, lambda **_: learner
    raise ValueError(
        f"learner: must be an alias, an import path, a class/factory or an object with fit(), "
        f"got {type(learner).__name__}"
    )


def _instantiate(factory: Callable[..., Any], seed: int) -> Any:
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
            raise ValueError(
                f"learned model: must follow the SequenceModel protocol (no {attr!r}), got "
                f"{type(model).__name__}"
            )
    if int(model.vocab_size) != int(target.vocab_size):
        raise ValueError(
            f"learned model: vocab_size must equal task {task.name!r}'s {target.vocab_size}, got "
            f"{model.vocab_size}"
        )
    if int(model.horizon) != int(target.horizon):
        raise ValueError(
            f"learned model: horizon must equal task {task.name!r}'s {target.horizon}, got {model.horizon}"
        )
    return model


def run_one(learner: Any, task_name: str, seed: int) -> dict[str, Any]:
    """One learner on one task and seed; a crashing learner gives ``status="failed"`` with the error."""
    import time

    label, factory = resolve_learner(learner)
    task = get_task(task_name)
    streams = _streams(task_name, seed)
    target = build_target(task_name, seed)
    record: dict[str, Any] = {
        "learner": label,
        "task": task_name,
        "seed": int(seed),
        "vocab_size": int(target.vocab_size),
        "horizon": int(target.horizon),
    }
    t0 = time.perf_counter()
    access = None
    try:
        est = _instantiate(factory, streams["learner"])
        kind = getattr(est, "access_kind", task.access)
        access = make_access(task, target, kind, streams["access"])
        record.update(access=kind, budget=access.budget)
        fitted = est.fit(access)
        model = getattr(fitted, "model_", fitted)
        check_learned_model(model, task, target)
        fit_s = time.perf_counter() - t0
        ev = evaluate(target, model, n_sequences=task.n_eval, rng=streams["eval"])
    except Exception as exc:  # a crashing learner is a result, not the end of the benchmark
        record.update(
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            queries_used=getattr(access, "used", None) if isinstance(access, QueryAccess) else None,
            samples_used=getattr(access, "used", None) if isinstance(access, SampleAccess) else None,
            timing={"fit_seconds": time.perf_counter() - t0, "eval_seconds": 0.0},
        )
        return record
    record.update(
        status="ok",
        error=None,
        kl=ev.kl,
        kl_se=ev.kl_se,
        kl_per_position=ev.kl_per_position,
        tv=ev.tv,
        tv_se=ev.tv_se,
        perplexity=ev.perplexity,
        target_perplexity=ev.target_perplexity,
        n_eval=ev.n_sequences,
        queries_used=access.used if isinstance(access, QueryAccess) else 0,
        samples_used=access.used if isinstance(access, SampleAccess) else 0,
        timing={"fit_seconds": fit_s, "eval_seconds": ev.eval_seconds},
    )
    return record


def _seed_list(seeds: int | Iterable[int]) -> list[int]:
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds: a count must be >= 1, got {seeds}")
        return list(range(int(seeds)))
    out = [int(s) for s in seeds]  # type: ignore[union-attr]
    if not out:
        raise ValueError("seeds: must name at least one seed, got an empty list")
    return out


def run(
    learner: Any,
    tasks: str | Sequence[str],
    seeds: int | Iterable[int] = 3,
    *,
    out: str | Path | None = None,
    progress: bool | None = None,
) -> list[dict[str, Any]]:
    """Run ``learner`` on every task (a suite name or task names) and seed.

    Parameters
    ----------
    learner : alias, import path, class/factory or fitted-able object
    tasks : str or list of str — a suite name (``"core"``, ``"quick"``) or task names.
    seeds : int (that many: 0..n-1) or iterable of int
    out : directory, optional — incremental ``results.jsonl``, then ``results.json`` and ``leaderboard.md``;
        runs already in ``results.jsonl`` (same learner label, task and seed) are not redone.
    progress : show a progress bar (None: only on a terminal)

    Returns
    -------
    list of dict — one record per run (see :func:`run_one`).
    """
    names = (
        suite(tasks)
        if isinstance(tasks, str) and tasks in SUITES
        else ([tasks] if isinstance(tasks, str) else list(tasks))
    )
    for name in names:
        get_task(name)
    label, _ = resolve_learner(learner)
    seed_list = _seed_list(seeds)
    done: dict[tuple[str, str, int], dict[str, Any]] = {}
    log = None
    if out is not None:
        outdir = Path(out)
        outdir.mkdir(parents=True, exist_ok=True)
        log = outdir / "results.jsonl"
        if log.exists():
            for line in log.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    done[(rec["learner"], rec["task"], rec["seed"])] = rec
    results = []
    jobs = [(name, s) for name in names for s in seed_list]
    for name, s in tqdm(jobs, disable=None if progress is None else not progress, desc=f"bench {label}"):
        key = (label, name, s)
        if key in done:
            results.append(done[key])
            continue
        rec = run_one(learner, name, s)
        results.append(rec)
        if log is not None:
            with open(log, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
    if out is not None:
        outdir = Path(out)
        (outdir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        (outdir / "leaderboard.md").write_text(leaderboard(results))
    return results


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def leaderboard(results: Sequence[dict[str, Any]]) -> str:
    """Markdown table: per task and learner, mean over seeds of KL per sequence (± standard error across
    seeds, or the Monte-Carlo one for a single seed), TV, perplexity beside the target's, queries, samples."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in results:
        groups.setdefault((rec["task"], rec["learner"]), []).append(rec)
    lines = [
        "| task | learner | access | ok/runs | KL per sequence (nats) | TV | perplexity (target) | queries | "
        "samples |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (task, learner), recs in groups.items():
        ok = [r for r in recs if r["status"] == "ok"]
        access = recs[0].get("access", "?")
        if ok:
            kl = np.array([r["kl"] for r in ok])
            se = kl.std(ddof=1) / np.sqrt(len(kl)) if len(kl) > 1 else ok[0]["kl_se"]
            cells = [
                f"{_fmt(kl.mean())} ± {_fmt(se)}",
                _fmt(np.mean([r["tv"] for r in ok])),
                f"{_fmt(np.mean([r['perplexity'] for r in ok]))} "
                f"({_fmt(np.mean([r['target_perplexity'] for r in ok]))})",
                f"{np.mean([r['queries_used'] for r in ok]):.0f}",
                f"{np.mean([r['samples_used'] for r in ok]):.0f}",
            ]
        else:
            cells = ["failed: " + str(recs[0]["error"]).replace("|", "/")[:80], "", "", "", ""]
        lines.append(f"| {task} | {learner} | {access} | {len(ok)}/{len(recs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def export_task(name: str, seed: int, directory: str | Path) -> tuple[Path, Path]:
    """Write task ``name``'s target for ``seed`` as ``<dir>/<name>-seed<seed>.npz`` (load with
    :func:`simulators.load_model`) and a JSON description beside it, for learners written elsewhere."""
    task = get_task(name)
    target = build_target(name, seed)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-seed{seed}"
    save = getattr(target, "save", None)
    if not callable(save):
        raise ValueError(f"task {name!r}: its target {type(target).__name__} cannot be saved")
    npz = Path(save(directory / f"{stem}.npz"))
    desc = task.describe() | {
        "seed": int(seed),
        "vocab_size": int(target.vocab_size),
        "horizon": int(target.horizon),
        "model": type(target).__name__,
        "file": npz.name,
        "streams": _streams(name, seed),
        "load": "simulators.load_model(path)",
    }
    js = directory / f"{stem}.json"
    js.write_text(json.dumps(desc, indent=1) + "\n")
    return npz, js
