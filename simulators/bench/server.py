"""The oracle server's state: hidden targets, budgeted sessions, held-out scoring and the leaderboard log.

``logitrank serve`` (:func:`simulators.bench.serve.run`) puts an :class:`OracleService` behind HTTP
(:mod:`simulators.bench.api`, FastAPI + uvicorn, the ``serve`` extra).  The service holds each target of
``(task, seed)`` and never hands it out; a learner sees it only through a *session*, the server-side twin of
an in-process run:

- A session is opened for ``(learner, task, seed, budget)`` (the budget a rung of the task's ladder for the
  access kind, default the top) and wraps the very access object an in-process run would get
  (:func:`~simulators.bench.runner.make_access` with the run's ``access`` stream), so its answers, its
  budget and its refusals are those of ``run_one``.  Opening the same key again returns the same session
  (its ``used`` count goes on); a key already in the log is refused (one record per key, as in the log).
- Queries (``logits``, ``extended_logits``, ``sample``) are validated, then charged; over the budget the
  request is refused whole (:class:`~simulators.learners.BudgetExceeded`, HTTP 429) and costs nothing.
- A model is submitted as the parameters of a :class:`~simulators.TimeVaryingISAN` (scored by
  :func:`~simulators.learners.evaluate` exactly as in-process), or as its logits along the task's held-out
  sequences (the run's ``eval`` stream, the same sequences ``evaluate`` draws).  Those sequences are samples
  of the target, so asking for them ends the query phase of every session of that ``(learner, task, seed)``
  and no new one opens: fit every rung first, then submit.  A learner that failed says so (``give_up``).
- The record appended to ``<out>/results.jsonl`` is ``run_one``'s, with ``"served": true`` and the learner
  labelled ``"<learner> (served)"``; the leaderboard and scores are the bench's own.

The targets come from public seeds: the server hides them from a learner that uses only the protocol, not from
someone who runs this package with the same seed.  An organiser who needs more serves seeds nobody else knows
(``--seeds``).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from logitrank import SequenceModel, sample_sequences
from logitrank.validation import as_rng

from ..isan import TimeVaryingISAN
from ..learners.evaluation import evaluate
from .ladder import log_traceback
from .leaderboard import reference_record
from .participant import participant_view
from .persistence import append_record, read_log, record_key, write_outputs
from .runner import build_target, check_learned_model, make_access, streams
from .score import scores
from .tasks import get_task

__all__ = ["SERVED_SUFFIX", "Conflict", "NotFound", "OracleService", "Session", "TooLarge",
           "heldout_sequences", "served_label"]

SERVED_SUFFIX = " (served)"
MAX_ANSWER_FLOATS = 2**22  # per response: ~80 MB of JSON; RemoteAccess splits larger logit requests
MAX_TARGETS = 4  # targets kept built (a transformer is large)
MAX_SESSIONS = 10_000  # each holds an access object; a client inventing learner names cannot exhaust memory


class NotFound(LookupError):
    """An unknown task, seed or session (HTTP 404)."""


class Conflict(RuntimeError):
    """A request the session's state forbids: queries after the held-out release, a second submission
    (HTTP 409)."""


class TooLarge(ValueError):
    """An answer larger than the server's per-request limit (HTTP 413)."""


def served_label(learner: str) -> str:
    """The leaderboard label of a learner run through the server."""
    return learner + SERVED_SUFFIX


@dataclass
class Session:
    """One ``(learner, task, seed, budget)`` run in progress; ``access`` never leaves the server."""

    id: str
    learner: str
    task: str
    seed: int
    kind: str
    budget: int
    access: Any
    max_answer_floats: int = MAX_ANSWER_FLOATS
    opened: float = field(default_factory=time.perf_counter)
    fit_seconds: float | None = None
    state: str = "open"  # open -> closed (held-out released) -> submitted
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def info(self) -> dict[str, Any]:
        """What the learner may see: the session's key, budget and counts."""
        acc = self.access
        return {"session": self.id, "learner": self.learner, "task": self.task, "seed": self.seed,
                "access": self.kind, "budget": self.budget, "used": int(acc.used),
                "remaining": int(acc.remaining), "queries_used": int(getattr(acc, "queries_used", acc.used)),
                "unit": acc.unit, "vocab_size": int(acc.vocab_size), "horizon": int(acc.horizon),
                "samples_per_query": int(getattr(acc, "samples_per_query", 0)),
                "learner_seed": streams(self.task, self.seed)["learner"], "state": self.state,
                "max_answer_floats": self.max_answer_floats, "n_eval": get_task(self.task).n_eval}


class _HeldOutLogits:
    """A sequence model that knows only the submitted logits along the held-out sequences."""

    def __init__(self, sequences: np.ndarray, logits: np.ndarray):
        self.horizon, self.vocab_size = int(logits.shape[1]), int(logits.shape[2])
        self._rows = {row.tobytes(): i for i, row in reversed(list(enumerate(sequences)))}
        self._logits = logits

    def logits(self, prefixes: Any) -> np.ndarray:
        raise NotImplementedError("a submission of held-out logits answers only along the held-out sequences")

    def logits_along(self, sequences: np.ndarray) -> np.ndarray:
        seqs = np.asarray(sequences, dtype=np.int64)
        idx = [self._rows.get(row.tobytes()) for row in seqs]
        if any(i is None for i in idx):
            raise RuntimeError("held-out sequences: the evaluation drew sequences the submission does not "
                               "cover")
        return self._logits[np.asarray(idx, dtype=np.int64), : seqs.shape[1]]


def heldout_sequences(target: SequenceModel, n: int, rng: int) -> np.ndarray:
    """The ``n`` sequences :func:`~simulators.learners.evaluate` draws from ``target`` with ``rng``."""
    gen = as_rng(rng)
    own = getattr(target, "sample", None)
    if callable(own):
        return np.asarray(own(n, rng=gen), dtype=np.int64)
    return sample_sequences(target, n, rng=gen)


class OracleService:
    """Sessions over hidden targets, scored into ``<out>/results.jsonl`` (see the module docstring).

    Parameters
    ----------
    tasks : list of str — the task names served.
    out : directory — the bench output directory the served runs join.
    seeds : list of int — the seeds served.
    max_answer_floats : int — the largest answer (floats) one request may ask for.
    """

    def __init__(self, tasks: list[str], out: str | Path, seeds: list[int], *,
                 max_answer_floats: int = MAX_ANSWER_FLOATS):
        self.tasks = [get_task(t).name for t in tasks]
        self.seeds = sorted(set(seeds))
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = self.out / "results.jsonl"
        self.max_answer_floats = int(max_answer_floats)
        self._sessions: dict[str, Session] = {}
        self._by_key: dict[tuple[str, str, int, int], Session] = {}
        self._released: set[tuple[str, str, int]] = set()
        self._targets: dict[tuple[str, int], SequenceModel] = {}
        self._views = {name: participant_view(name) for name in self.tasks}
        self._lock = threading.RLock()

    # -- public views --------------------------------------------------------------------------
    def view(self, task: str) -> dict[str, Any]:
        """The participant view of a served task (:class:`NotFound` otherwise)."""
        if task not in self._views:
            raise NotFound(f"task: must be one of the served tasks ({', '.join(self.tasks)}), got {task!r}")
        return self._views[task]

    def target(self, task: str, seed: int) -> SequenceModel:
        with self._lock:
            if (task, seed) not in self._targets:
                if len(self._targets) >= MAX_TARGETS:
                    self._targets.pop(next(iter(self._targets)))
                self._targets[(task, seed)] = build_target(task, seed)
            return self._targets[(task, seed)]

    # -- sessions ------------------------------------------------------------------------------
    def open(self, learner: str, task: str, seed: int, access: str | None = None,
             budget: int | None = None) -> Session:
        """The session of ``(learner, task, seed, budget)``, opened if new (see the module docstring)."""
        view = self.view(task)
        if seed not in self.seeds:
            raise NotFound(f"seed: must be one of the served seeds {self.seeds}, got {seed}")
        kind = access or view["access"]
        if kind not in view["offers"]:
            raise ValueError(f"access: task {task!r} offers {' and '.join(view['offers'])} access, got "
                             f"{kind!r}")
        ladder = get_task(task).ladder(kind)
        rung = ladder[-1] if budget is None else budget
        if rung not in ladder:
            raise ValueError(f"budget: must be a rung of task {task!r}'s {kind} ladder {list(ladder)}, "
                             f"got {rung}")
        with self._lock:
            key = (learner, task, seed, rung)
            if key in self._by_key:
                old = self._by_key[key]
                if old.kind != kind:
                    raise Conflict(f"access: the session of {key} has {old.kind!r} access, got {kind!r}")
                return old
            if len(self._sessions) >= MAX_SESSIONS:
                raise Conflict(f"session: this server holds its limit of {MAX_SESSIONS} sessions; restart it "
                               f"(the log keeps every submitted run)")
            if (learner, task, seed) in self._released:
                raise Conflict(f"session: the held-out sequences of ({learner!r}, {task!r}, seed {seed}) "
                               f"were released; fit every rung before the first held-out submission")
            label = served_label(learner)
            if ("run", label, task, seed, rung) in {record_key(r) for r in read_log(self.log)}:
                raise Conflict(f"session: {label!r} on {task!r} seed {seed} budget {rung} is already in "
                               f"{self.log}; one record per learner, task, seed and budget")
            acc = make_access(get_task(task), self.target(task, seed), kind, rung,
                              streams(task, seed)["access"])
            sess = Session(secrets.token_urlsafe(12), learner, task, seed, kind, rung, acc,
                           self.max_answer_floats)
            self._sessions[sess.id] = self._by_key[key] = sess
            return sess

    def session(self, sid: str) -> Session:
        if sid not in self._sessions:
            raise NotFound(f"session: no open session {sid!r} (open one with POST /sessions)")
        return self._sessions[sid]

    def _ask(self, sid: str, method: str, n_floats: int, *args: Any) -> tuple[Session, Any]:
        """``access.<method>(*args)`` of session ``sid`` if it is open and the answer within the limit."""
        sess = self.session(sid)
        if n_floats > self.max_answer_floats:
            raise TooLarge(f"request: the answer would hold {n_floats} numbers, more than this server's "
                           f"limit of {self.max_answer_floats} per request; ask in smaller batches")
        with sess.lock:  # one request at a time per session: the access's count and random stream
            if sess.state != "open":
                raise Conflict(f"session {sid}: answers no more queries (its state is {sess.state!r})")
            return sess, getattr(sess.access, method)(*args)

    def logits(self, sid: str, prefixes: list[list[int]]) -> tuple[Session, np.ndarray]:
        """``access.logits(prefixes)`` of session ``sid``."""
        V = self.session(sid).access.vocab_size
        return self._ask(sid, "logits", len(prefixes) * V, prefixes)

    def extended_logits(self, sid: str, histories: list[list[int]], futures: list[list[int]]
                        ) -> tuple[Session, np.ndarray]:
        """``access.extended_logits(histories, futures)`` of session ``sid``."""
        V = self.session(sid).access.vocab_size
        return self._ask(sid, "extended_logits", len(histories) * len(futures) * V, histories, futures)

    def sample(self, sid: str, n: int) -> tuple[Session, np.ndarray, np.ndarray | None]:
        """``access.sample(n)``: sequences, and for query access the logits that predicted each token."""
        sess = self.session(sid)
        V, T = sess.access.vocab_size, sess.access.horizon
        sess, out = self._ask(sid, "sample", n * T * (V + 1 if sess.kind == "query" else 1), n)
        return (sess, *out) if isinstance(out, tuple) else (sess, out, None)

    # -- submissions ---------------------------------------------------------------------------
    def heldout(self, sid: str) -> np.ndarray:
        """The held-out sequences of session ``sid``'s task and seed, ``(n_eval, T)``; ends the query phase
        of every session of its ``(learner, task, seed)``."""
        sess = self.session(sid)
        with self._lock:
            self._released.add((sess.learner, sess.task, sess.seed))
            for other in self._sessions.values():
                if (other.learner, other.task, other.seed) == (sess.learner, sess.task, sess.seed):
                    with other.lock:  # waits for a query in flight
                        if other.state == "open":
                            other.state, other.fit_seconds = "closed", time.perf_counter() - other.opened
        return heldout_sequences(self.target(sess.task, sess.seed), get_task(sess.task).n_eval,
                                 streams(sess.task, sess.seed)["eval"])

    def submit_logits(self, sid: str, logits: np.ndarray, stopped_early: bool = False) -> dict[str, Any]:
        """Score the logits ``(n_eval, T, V)`` along the held-out sequences (released first);
        ``stopped_early``: the learner's word that its budget stopped it (recorded as in-process)."""
        sess = self.session(sid)
        if sess.state == "open":
            raise Conflict(f"session {sid}: ask for the held-out sequences (POST /sessions/{sid}/heldout) "
                           f"before submitting logits along them")
        target, task = self.target(sess.task, sess.seed), get_task(sess.task)
        want = (task.n_eval, int(target.horizon), int(target.vocab_size))
        if logits.shape != want:
            raise ValueError(f"logits: must have shape (n_eval, T, V) = {want}, got {logits.shape}")
        seqs = heldout_sequences(target, task.n_eval, streams(sess.task, sess.seed)["eval"])
        return self._score(sess, _HeldOutLogits(seqs, logits), "heldout-logits", stopped_early=stopped_early)

    def submit_isan(self, sid: str, x0: np.ndarray, A: np.ndarray, B: np.ndarray,
                    stopped_early: bool = False) -> dict[str, Any]:
        """Score the time-varying ISAN ``(x0, A, B)`` (see :class:`~simulators.TimeVaryingISAN`)."""
        sess = self.session(sid)
        model = TimeVaryingISAN(x0, A, B)
        check_learned_model(model, get_task(sess.task), self.target(sess.task, sess.seed))
        return self._score(sess, model, "isan", stopped_early=stopped_early)

    def give_up(self, sid: str, status: str, error: str, traceback: str = "") -> dict[str, Any]:
        """Record that the learner failed (``status`` ``"failed"`` or ``"over_budget"``) with ``error``; its
        ``traceback`` goes to ``<out>/logs/``, named in the leaderboard, as in-process."""
        return self._score(self.session(sid), None, "none", status=status, error=error, traceback=traceback)

    def _score(self, sess: Session, model: Any, how: str, *, status: str = "ok", error: str | None = None,
               stopped_early: bool = False, traceback: str = "") -> dict[str, Any]:
        with sess.lock:
            if sess.state == "submitted":
                raise Conflict(f"session {sess.id}: already submitted; one record per session")
            sess.state, prev = "submitted", sess.state
        fit_s = time.perf_counter() - sess.opened if sess.fit_seconds is None else sess.fit_seconds
        target = self.target(sess.task, sess.seed)
        rec: dict[str, Any] = {"kind": "run", "learner": served_label(sess.learner), "task": sess.task,
                               "seed": sess.seed, "vocab_size": int(target.vocab_size),
                               "horizon": int(target.horizon), "access": sess.kind, "budget": sess.budget,
                               "status": status, "error": error, "served": True, "isolation": "server",
                               "submission": how}
        eval_s = 0.0
        if model is not None:
            rec["stopped_early"] = bool(stopped_early)
            try:
                ev = evaluate(target, model, n_sequences=get_task(sess.task).n_eval,
                              rng=streams(sess.task, sess.seed)["eval"])
            except BaseException:
                sess.state = prev  # a submission that could not be scored may be sent again
                raise
            eval_s = ev.eval_seconds
            if not all(np.isfinite(v) for v in (ev.kl, ev.kl_se, ev.tv, ev.tv_se)):  # as run_one says
                rec.update(status="failed", error=f"ValueError: learned model: its KL ({ev.kl}) and TV "
                           f"({ev.tv}) must be finite; are its logits too large to normalise?")
                return self._finish(rec, sess, fit_s, eval_s, target)
            rec.update(kl=ev.kl, kl_se=ev.kl_se, kl_per_position=ev.kl_per_position, tv=ev.tv,
                       tv_se=ev.tv_se, perplexity=ev.perplexity, target_perplexity=ev.target_perplexity,
                       n_eval=ev.n_sequences)
        elif traceback:
            rec["traceback"] = traceback
        return self._finish(rec, sess, fit_s, eval_s, target)

    def _finish(self, rec: dict[str, Any], sess: Session, fit_s: float, eval_s: float,
                target: SequenceModel) -> dict[str, Any]:
        rec["used"] = int(sess.access.used)
        rec["timing"] = {"fit_seconds": fit_s, "eval_seconds": eval_s}
        return self._append(log_traceback(self.out, rec), target)

    def _append(self, rec: dict[str, Any], target: SequenceModel) -> dict[str, Any]:
        task, seed = rec["task"], rec["seed"]
        with self._lock:
            keys = {record_key(r) for r in read_log(self.log)}
            if ("reference", task, seed) not in keys:
                append_record(self.log, reference_record(get_task(task), seed, target, streams(task, seed)))
            append_record(self.log, rec)
            records = read_log(self.log)
            write_outputs(self.out, records)
        return {"record": rec, "scores": scores(records).get(rec["access"], {}).get(rec["learner"], {})}

    def leaderboard(self) -> str:
        """The markdown leaderboard of every record in the output directory."""
        path = self.out / "leaderboard.md"
        return path.read_text() if path.exists() else "# Leaderboard\n\n(no runs yet)\n"

