"""A benchmark suite for learners of (approximately) low-logit-rank sequence models.

Modules: :mod:`~simulators.bench.tasks` (the task recipe, budget ladders, registry and suites),
:mod:`~simulators.bench.catalog` (the bundled ``core``, ``hard`` and ``quick`` tasks),
:mod:`~simulators.bench.runner` (streams, access, one run), :mod:`~simulators.bench.ladder` (``run``: tasks
x seeds x ladder, resumable), :mod:`~simulators.bench.score` (the learning score, one table per access kind),
:mod:`~simulators.bench.leaderboard` (reference rows, markdown),
:mod:`~simulators.bench.persistence` (the log, atomic outputs, export), :mod:`~simulators.bench.participant`
(what a participant may see), :mod:`~simulators.bench.server`, :mod:`~simulators.bench.api` and
:mod:`~simulators.bench.serve` (``logitrank serve``: the oracle server) and :mod:`~simulators.bench.remote`
(``RemoteAccess``, its client).  The frozen-transformer task of the ``hard`` and ``transformer`` suites lives
above this package: ``import llm_bridge.bench_task`` registers it (``logitrank bench`` does), through
:func:`register_task` like any task written elsewhere.

Example::

    from simulators import bench
    results = bench.run("query", "hard", seeds=1, out="results/hard")   # or: logitrank bench --suite hard
    print(bench.leaderboard(results, bench.TASKS))
"""

from . import catalog  # noqa: F401  (registers the bundled tasks)
from .ladder import LearnersOutcome, run, run_learners, seed_list
from .leaderboard import PositionUnigram, UniformModel, headroom, leaderboard, reference_record
from .participant import export_public, export_tasks, participant_view
from .persistence import FORMAT, export_task, merge_logs, read_log
from .remote import RemoteAccess, run_remote
from .runner import (
    LEARNER_ALIASES,
    STREAMS,
    build_target,
    check_learned_model,
    make_access,
    resolve_learner,
    run_one,
    streams,
)
from .score import SCORE_FLOOR, TV_TARGET, budget_to_tv, rung_score, score_tables, scores
from .tasks import (
    ACCESS_KINDS,
    ORACLES,
    SUITES,
    TASKS,
    FamilyTarget,
    MissingDependency,
    Task,
    check_ladder,
    describe_tasks,
    family,
    get_task,
    parse_budgets,
    register_task,
    resolve_tasks,
    suite,
)

__all__ = [
    "ACCESS_KINDS",
    "FORMAT",
    "SCORE_FLOOR",
    "LEARNER_ALIASES",
    "LearnersOutcome",
    "ORACLES",
    "STREAMS",
    "SUITES",
    "TASKS",
    "TV_TARGET",
    "FamilyTarget",
    "MissingDependency",
    "PositionUnigram",
    "RemoteAccess",
    "Task",
    "UniformModel",
    "budget_to_tv",
    "build_target",
    "check_ladder",
    "check_learned_model",
    "describe_tasks",
    "export_public",
    "export_task",
    "export_tasks",
    "family",
    "get_task",
    "headroom",
    "leaderboard",
    "make_access",
    "merge_logs",
    "parse_budgets",
    "participant_view",
    "read_log",
    "reference_record",
    "register_task",
    "resolve_learner",
    "resolve_tasks",
    "run",
    "run_learners",
    "run_one",
    "run_remote",
    "rung_score",
    "score_tables",
    "scores",
    "seed_list",
    "streams",
    "suite",
]
