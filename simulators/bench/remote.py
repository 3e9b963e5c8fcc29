"""A thin client of the oracle server: :class:`RemoteAccess`, an access object whose answers come over HTTP.

``RemoteAccess(url, task, seed, learner=...)`` opens the session and is of its kind: a
:class:`RemoteQueryAccess` has the interface of :class:`~simulators.learners.QueryAccess` and
:class:`~simulators.learners.SampledLogitAccess` (``vocab_size``, ``horizon``, ``budget``, ``used``,
``remaining``, ``queries_used``, ``logits``, ``extended_logits``, ``sample`` returning sequences and
logits), a :class:`RemoteSampleAccess` that of :class:`~simulators.learners.SampleAccess` (``sample``
returning sequences, no ``logits``), so any learner that takes an access object runs against the server
unchanged.  A refusal for the budget (HTTP 429) raises :class:`~simulators.learners.BudgetExceeded`, a
malformed request ValueError with the server's message.  Only the standard library is used
(``http.client``, one kept-alive connection per access).

Example::

    from simulators import bench
    from simulators.learners import LogitQueryLearner

    access = bench.RemoteAccess("http://127.0.0.1:8765", "isan-v16-d8-t16", learner="query", budget=10**4)
    model = LogitQueryLearner(rng=access.learner_seed).fit(access).model_
    print(access.submit(model)["record"]["kl"])

or, for a learner over a whole ladder as ``bench.run`` would: ``bench.run_remote("query", url, task)``.
"""

from __future__ import annotations

import base64
import http.client
import json
import traceback
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from logitrank import SequenceModel, logits_along
from logitrank.validation import check_positive_int, check_prefixes

from ..isan import TimeVaryingISAN
from ..learners.access import BudgetExceeded

__all__ = ["RemoteAccess", "RemoteError", "RemoteQueryAccess", "RemoteSampleAccess", "run_remote"]


class RemoteError(RuntimeError):
    """The server refused a request for its state (404 unknown, 409 conflict, 413 too large) or failed."""


def _decode_floats(answer: dict[str, Any]) -> np.ndarray:
    """A float array sent as ``{base64, dtype, shape}``."""
    if answer.get("dtype") != "<f8":
        raise RemoteError(f"answer: must be little-endian float64 ('<f8'), got dtype {answer.get('dtype')!r}")
    raw = np.frombuffer(base64.b64decode(answer["base64"]), dtype="<f8")
    return raw.reshape(answer["shape"]).astype(np.float64)


class _Client:
    """JSON over one kept-alive HTTP connection; error bodies become exceptions with the server's message."""

    def __init__(self, url: str, timeout: float = 600.0):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"url: must look like http://HOST:PORT, got {url!r}")
        self.url, self.host, self.port, self.timeout = url, parts.hostname, parts.port or 80, timeout
        self._conn: http.client.HTTPConnection | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):  # a kept-alive connection the server closed is opened again, once
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
                resp = self._conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        is_json = resp.getheader("content-type", "").startswith("application/json")
        payload = json.loads(raw) if raw and is_json else raw.decode(errors="replace")
        if resp.status < 400:
            return payload
        detail = payload.get("detail", payload) if isinstance(payload, dict) else payload
        if resp.status == 429:
            raise BudgetExceeded(str(detail))
        if resp.status in (400, 422):
            raise ValueError(str(detail))
        raise RemoteError(f"{method} {path}: HTTP {resp.status}: {detail}")


class RemoteAccess:
    """The server-side session of ``(learner, task, seed, budget)`` as an access object.

    Parameters
    ----------
    url : str — the server, ``http://127.0.0.1:8765``.
    task : str — a served task.
    seed : int — a served seed.
    learner : str — the learner's name (its leaderboard label gets ``" (served)"``).
    access : {"query", "sample"}, optional — default the task's.
    budget : int, optional — a rung of the task's ladder; default the top.

    Attributes
    ----------
    session : str — the session's id.
    learner_seed : int — the ``rng`` an in-process run hands the learner's factory.
    access_kind, budget, vocab_size, horizon, samples_per_query, unit
    """

    _client: _Client
    session: str
    learner: str
    task: str
    seed: int
    access_kind: str
    unit: str
    budget: int
    vocab_size: int
    horizon: int
    samples_per_query: int
    learner_seed: int
    n_eval: int
    used: int
    queries_used: int
    _limit: int

    def __new__(cls, url: str, task: str, seed: int = 0, *, learner: str, access: str | None = None,
                budget: int | None = None) -> RemoteAccess:
        # the server says which kind the session has; the object is of that kind, so that a learner that
        # tells the kinds apart by their methods (a sample learner refusing anything with logits) can
        client = _Client(url)
        info = client.call("POST", "/sessions", {"learner": learner, "task": task, "seed": seed,
                                                  "access": access, "budget": budget})
        self = super().__new__(RemoteQueryAccess if info["access"] == "query" else RemoteSampleAccess)
        self._client, self.learner, self.task, self.seed = client, learner, task, seed
        self.session, self.access_kind, self.unit = info["session"], info["access"], info["unit"]
        self.budget, self.vocab_size, self.horizon = int(info["budget"]), int(info["vocab_size"]), \
            int(info["horizon"])
        self.samples_per_query = int(info["samples_per_query"])
        self.learner_seed = int(info["learner_seed"])
        self._limit, self.n_eval = int(info["max_answer_floats"]), int(info["n_eval"])
        self._update(info)
        return self

    def __init__(self, url: str, task: str, seed: int = 0, *, learner: str, access: str | None = None,
                 budget: int | None = None):
        pass  # all done in __new__, which chose the class

    def _update(self, counts: dict[str, Any]) -> None:
        self.used, self.queries_used = int(counts["used"]), int(counts["queries_used"])

    @property
    def remaining(self) -> int:
        return self.budget - self.used

    @property
    def samples_used(self) -> int:
        return self.used

    def _post(self, what: str, body: dict[str, Any]) -> dict[str, Any]:
        # logits come back as float64 bytes: exact, and no float is written or parsed as text
        out = self._client.call("POST", f"/sessions/{self.session}/{what}?encoding=base64", body)
        self._update(out)
        return out

    # -- submitting --------------------------------------------------------------------------------
    def heldout(self) -> np.ndarray:
        """The held-out sequences ``(n_eval, T)``; ends the query phase of this learner, task and seed."""
        return np.asarray(self._client.call("POST", f"/sessions/{self.session}/heldout")["sequences"],
                          dtype=np.int64)

    def submit(self, model: SequenceModel, stopped_early: bool = False) -> dict[str, Any]:
        """Score ``model``: a :class:`~simulators.TimeVaryingISAN` by its parameters when they are fewer
        numbers than its logits along the held-out sequences, which score any other sequence model (the two
        give the same record); ``stopped_early``: the learner's ``stopped_early_``.  Returns
        ``{"record": ..., "scores": ...}``."""
        held_out_size = self.n_eval * self.horizon * self.vocab_size
        if isinstance(model, TimeVaryingISAN) and model.A.size + model.B.size < held_out_size:
            return self._client.call("POST", f"/sessions/{self.session}/submit/isan",
                                     {"x0": model.x0.tolist(), "A": model.A.tolist(), "B": model.B.tolist(),
                                      "stopped_early": stopped_early})
        ell = logits_along(model, self.heldout())
        return self._client.call("POST", f"/sessions/{self.session}/submit/logits",
                                 {"logits": ell.tolist(), "stopped_early": stopped_early})

    def give_up(self, error: str, status: str = "failed", traceback: str = "") -> dict[str, Any]:
        """Record a failed (or ``"over_budget"``) run with ``error``; ``traceback`` goes to the server's
        ``logs/`` folder, named in the leaderboard."""
        return self._client.call("POST", f"/sessions/{self.session}/submit/give_up",
                                 {"status": status, "error": error[-4000:],
                                  "traceback": traceback[-100_000:]})


class RemoteSampleAccess(RemoteAccess):
    """A session with sample access (see :class:`RemoteAccess`): ``sample(n)`` only, like ``SampleAccess``."""

    def sample(self, n: int) -> np.ndarray:
        """``n`` i.i.d. sequences, int64 ``(n, T)``; costs ``n``."""
        n = check_positive_int("n", n)
        out = self._post("sample", {"n": n})
        return np.asarray(out["sequences"], dtype=np.int64).reshape(n, self.horizon)


class RemoteQueryAccess(RemoteAccess):
    """A session with query access (see :class:`RemoteAccess`): ``logits``, ``extended_logits`` and
    ``sample``, like ``QueryAccess`` / ``SampledLogitAccess``."""

    def _chunks(self, name: str, rows: Sequence[Sequence[int]], per_row: int, cost: int
                ) -> list[list[list[int]]]:
        """Rows validated here and cut so that each answer fits the server's limit; a request that must be
        split is checked against the budget first, so that it is refused whole, as in-process."""
        checked = [list(r) for r in check_prefixes(name, rows, self.vocab_size, self.horizon - 1)]
        step = max(1, self._limit // max(per_row, 1))
        if len(checked) > step and cost > self.remaining:
            raise BudgetExceeded(f"RemoteAccess: asked for {cost} {self.unit} with {self.used} of the budget "
                                 f"{self.budget} already used ({self.remaining} left)")
        return [checked[i:i + step] for i in range(0, len(checked), step)]

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Logits of each prefix, ``(len(prefixes), V)`` (see ``QueryAccess.logits``)."""
        cost = len(prefixes) * max(self.samples_per_query, 1)
        parts = [_decode_floats(self._post("logits", {"prefixes": c})["logits"])
                 for c in self._chunks("prefixes", prefixes, self.vocab_size, cost)]
        return np.concatenate(parts).reshape(-1, self.vocab_size)

    def extended_logits(self, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]]
                        ) -> np.ndarray:
        """``out[i, j] = l(h_i . f_j)``, shape ``(|H|, |F|, V)`` (see ``QueryAccess.extended_logits``)."""
        fut = [list(f) for f in check_prefixes("futures", futures, self.vocab_size, self.horizon - 1)]
        longest = max(len(h) for h in check_prefixes("histories", histories, self.vocab_size, None)) + \
            max(len(f) for f in fut)
        if longest > self.horizon - 1:
            raise ValueError(f"histories/futures: len(h) + len(f) must be <= horizon - 1 = "
                             f"{self.horizon - 1}, got a longest concatenation of length {longest}")
        cost = len(histories) * len(fut) * max(self.samples_per_query, 1)
        parts = [_decode_floats(self._post("extended_logits", {"histories": c, "futures": fut})["logits"])
                 for c in self._chunks("histories", histories, len(fut) * self.vocab_size, cost)]
        return np.concatenate(parts).reshape(len(histories), len(fut), self.vocab_size)

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` sequences ``(n, T)`` drawn through queries, with the logits ``(n, T, V)`` that predicted
        each token."""
        n = check_positive_int("n", n)
        out = self._post("sample", {"n": n})
        seqs = np.asarray(out["sequences"], dtype=np.int64).reshape(n, self.horizon)
        return seqs, _decode_floats(out["logits"]).reshape(n, self.horizon, self.vocab_size)


def run_remote(learner: Any, url: str, task: str, seed: int = 0, budgets: Sequence[int] | None = None
               ) -> list[dict[str, Any]]:
    """Run ``learner`` (alias, import path, class/factory) through the server on ``task`` and ``seed`` at
    every rung of ``budgets`` (default: the task's ladder for the learner's access), as ``bench.run`` would
    in-process: every rung is fitted first, then each model submitted.  Returns the served records."""
    from .runner import instantiate, resolve_learner

    label, factory = resolve_learner(learner)
    view = _Client(url).call("GET", f"/tasks/{task}")
    kind = getattr(factory, "access_kind", None) or getattr(instantiate(factory, 0), "access_kind", None) \
        or view["access"]
    fitted: list[tuple[RemoteAccess, Any, tuple[str, ...]]] = []  # (access, fitted, failure)
    for budget in budgets or view[f"{kind}_budgets"]:
        access = RemoteAccess(url, task, seed, learner=label, access=kind, budget=int(budget))
        try:
            fitted.append((access, instantiate(factory, access.learner_seed).fit(access), ()))
        except BudgetExceeded as exc:
            fitted.append((access, None, ("over_budget", f"BudgetExceeded: {exc}", traceback.format_exc())))
        except Exception as exc:  # a crashing learner is a result, as in-process
            fitted.append((access, None, ("failed", f"{type(exc).__name__}: {exc}", traceback.format_exc())))
    records = []
    for access, fit, failure in fitted:
        if not failure:
            try:
                early = bool(getattr(fit, "stopped_early_", False))
                records.append(access.submit(getattr(fit, "model_", fit), early)["record"])
                continue
            except (ValueError, TypeError) as exc:  # a model the server cannot score: the learner failed
                failure = ("failed", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        records.append(access.give_up(failure[1], failure[0], failure[2])["record"])
    return records
