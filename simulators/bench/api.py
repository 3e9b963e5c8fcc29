"""The oracle server's HTTP protocol (FastAPI; the OpenAPI page is served at ``/docs``, the schema at
``/openapi.json``).  The state and the rules live in :mod:`simulators.bench.server`; this module only
validates JSON (pydantic models), maps errors to status codes and writes answers.

Status codes: 400 a request the task refuses (a prefix longer than ``T - 1``, a token outside ``[0, V)``, a
budget off the ladder, a submission of the wrong shape); 404 an unknown task, seed or session; 409 a request
the session's state forbids; 413 a body over the size limit or an answer over the per-request limit; 422 JSON
that does not parse or does not match the schema; 429 over the session's budget (nothing is answered or
charged); 503 a task whose target needs a dependency this server lacks.  Every error body is
``{"detail": "<one line naming the field, the rule and the value>"}``.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ..learners.access import BudgetExceeded
from .server import Conflict, NotFound, OracleService, TooLarge
from .tasks import MissingDependency

__all__ = ["MAX_REQUEST_BYTES", "create_app"]

MAX_REQUEST_BYTES = 64 * 2**20

Token = Annotated[StrictInt, Field(ge=0)]
Seq = Annotated[list[Token], Field(max_length=100_000)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenSession(_Body):
    learner: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:/@+\- ]+$",
                         description="the learner's name (its leaderboard label gets ' (served)')")
    task: str = Field(max_length=200)
    seed: StrictInt = Field(0, ge=0)
    access: Literal["query", "sample"] | None = Field(None, description="default: the task's access")
    budget: StrictInt | None = Field(None, gt=0, description="a rung of the ladder; default the top")


class Prefixes(_Body):
    prefixes: list[Seq] = Field(min_length=1, description="token sequences of length <= T-1")


class Extended(_Body):
    histories: list[Seq] = Field(min_length=1)
    futures: list[Seq] = Field(min_length=1, description="len(h) + len(f) <= T-1")


class SampleRequest(_Body):
    n: StrictInt = Field(gt=0, description="sequences of length T")


class HeldOutLogits(_Body):
    logits: list[list[list[Finite]]] = Field(description="(n_eval, T, V): logits along each held-out "
                                                         "sequence")
    stopped_early: bool = Field(False, description="the budget stopped the learner before it was done")


class IsanParameters(_Body):
    x0: list[Finite] = Field(description="(d,)")
    A: list[list[list[list[Finite]]]] = Field(description="(T-1, V, d, d)")
    B: list[list[list[Finite]]] = Field(description="(T, V, d)")
    stopped_early: bool = Field(False, description="the budget stopped the learner before it was done")


class GiveUp(_Body):
    status: Literal["failed", "over_budget"] = "failed"
    error: str = Field("", max_length=4000)
    traceback: str = Field("", max_length=100_000,
                           description="written to OUT/logs/, named in the leaderboard")


class SessionInfo(BaseModel):
    session: str
    learner: str
    task: str
    seed: int
    access: str
    budget: int
    used: int
    remaining: int
    queries_used: int
    unit: str
    vocab_size: int
    horizon: int
    samples_per_query: int
    learner_seed: int
    state: str
    max_answer_floats: int
    n_eval: int


Encoding = Annotated[Literal["json", "base64"], Query(
    description="json: nested lists; base64: {base64, dtype: '<f8', shape}, the float64 bytes (exact and "
                "much faster to write and read for large answers)")]
_FLOATS = "nested lists, or with ?encoding=base64 {base64, dtype, shape}"


class Answer(BaseModel):
    logits: Any = Field(description=f"(n, V) for logits, (|H|, |F|, V) for extended_logits: {_FLOATS}")
    used: int
    remaining: int
    queries_used: int


class Samples(BaseModel):
    sequences: list[list[int]] = Field(description="(n, T)")
    logits: Any = Field(None, description=f"query access: (n, T, V), the answers along the way: {_FLOATS}")
    used: int
    remaining: int
    queries_used: int


def _json(obj: Any, status: int = 200) -> Response:
    # numpy's tolist() + json.dumps: exact float round-trip, and far faster than FastAPI's encoder on big
    # arrays
    return Response(json.dumps(obj, allow_nan=False), status_code=status, media_type="application/json")


def _encode_floats(values: np.ndarray, encoding: str) -> Any:
    if encoding == "json":
        return values.tolist()
    arr = np.ascontiguousarray(values, dtype="<f8")
    return {"base64": base64.b64encode(arr.tobytes()).decode("ascii"), "dtype": "<f8",
            "shape": list(arr.shape)}


def _counts(sess: Any) -> dict[str, int]:
    info = sess.info()
    return {k: info[k] for k in ("used", "remaining", "queries_used")}


class _LimitBody:
    """ASGI middleware: refuse a request body over ``limit`` bytes (HTTP 413), declared or streamed.  The body
    is read here first (the application would buffer it anyway) and handed on whole."""

    def __init__(self, app: Any, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_big = JSONResponse({"detail": f"request: the body must be at most {self.limit} bytes"}, 413)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await too_big(scope, receive, send)
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            body += message.get("body", b"")
            if len(body) > self.limit:
                return await too_big(scope, receive, send)
            more = message.get("more_body", False)
        handed = False

        async def replay() -> Any:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        if err.get("type") == "json_invalid":
            why = err.get("ctx", {}).get("error", "")
            parts.append(f"request: must be valid JSON, got a parse error ({why})")
        else:
            parts.append(f"{loc}: {err.get('msg')}, got {str(err.get('input'))[:60]}")
    return "; ".join(parts)


def _add_error_handlers(app: FastAPI) -> None:
    codes: list[tuple[type[Exception], int]] = [
        (NotFound, 404), (Conflict, 409), (TooLarge, 413), (BudgetExceeded, 429), (ValueError, 400),
        (TypeError, 400), (MissingDependency, 503)]

    def handler(code: int) -> Any:
        async def respond(request: Request, exc: Exception) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=code)
        return respond

    for cls, code in codes:
        app.add_exception_handler(cls, handler(code))

    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid)  # type: ignore[arg-type]


def create_app(service: OracleService, *, max_request_bytes: int = MAX_REQUEST_BYTES) -> Any:
    """The FastAPI application over ``service``, wrapped in the request-size limit."""
    app = FastAPI(title="logit-rank oracle server", version="1",
                  description="Logit queries and samples of hidden benchmark targets under a budget per "
                              "(learner, task, seed, budget); submitted models are scored into the bench "
                              "leaderboard. See simulators/bench/server.py for the rules.")
    _add_error_handlers(app)
    _query_routes(app, service)
    _submit_routes(app, service)
    return _LimitBody(app, max_request_bytes)


def _query_routes(app: FastAPI, service: OracleService) -> None:
    @app.get("/tasks", summary="the participant view of every served task")
    def tasks() -> list[dict[str, Any]]:
        return [service.view(t) for t in service.tasks]

    @app.get("/tasks/{name}", summary="the participant view of one task")
    def task(name: str) -> dict[str, Any]:
        return service.view(name)

    @app.post("/sessions", summary="open (or resume) the session of (learner, task, seed, budget)")
    def open_session(body: OpenSession) -> SessionInfo:
        sess = service.open(body.learner, body.task, body.seed, body.access, body.budget)
        return SessionInfo(**sess.info())

    @app.get("/sessions/{sid}", summary="a session's budget and counts")
    def session(sid: str) -> SessionInfo:
        return SessionInfo(**service.session(sid).info())

    @app.post("/sessions/{sid}/logits", summary="logits of prefixes; costs one query per prefix",
              responses={200: {"model": Answer}})
    def logits(sid: str, body: Prefixes, encoding: Encoding = "json") -> Response:
        sess, ans = service.logits(sid, body.prefixes)
        return _json({"logits": _encode_floats(ans, encoding), **_counts(sess)})

    @app.post("/sessions/{sid}/extended_logits", summary="logits of every h.f; costs |H||F| queries",
              responses={200: {"model": Answer}})
    def extended_logits(sid: str, body: Extended, encoding: Encoding = "json") -> Response:
        sess, ans = service.extended_logits(sid, body.histories, body.futures)
        return _json({"logits": _encode_floats(ans, encoding), **_counts(sess)})

    @app.post("/sessions/{sid}/sample", summary="n sequences (query access: n T queries, with the logits)",
              responses={200: {"model": Samples}})
    def sample(sid: str, body: SampleRequest, encoding: Encoding = "json") -> Response:
        sess, seqs, ans = service.sample(sid, body.n)
        logits = None if ans is None else _encode_floats(ans, encoding)
        return _json({"sequences": seqs.tolist(), "logits": logits, **_counts(sess)})


def _submit_routes(app: FastAPI, service: OracleService) -> None:
    @app.post("/sessions/{sid}/heldout", summary="the held-out sequences; ends the query phase of "
              "(learner, task, seed)")
    def heldout(sid: str) -> Response:
        return _json({"sequences": service.heldout(sid).tolist()})

    @app.post("/sessions/{sid}/submit/logits", summary="score logits along the held-out sequences")
    def submit_logits(sid: str, body: HeldOutLogits) -> Response:
        return _json(service.submit_logits(sid, _array("logits", body.logits, 3), body.stopped_early))

    @app.post("/sessions/{sid}/submit/isan", summary="score a time-varying ISAN (x0, A, B)")
    def submit_isan(sid: str, body: IsanParameters) -> Response:
        return _json(service.submit_isan(sid, _array("x0", body.x0, 1), _array("A", body.A, 4),
                                         _array("B", body.B, 3), body.stopped_early))

    @app.post("/sessions/{sid}/submit/give_up", summary="record a failed or over-budget run")
    def give_up(sid: str, body: GiveUp) -> Response:
        return _json(service.give_up(sid, body.status, body.error, body.traceback))

    @app.get("/leaderboard", summary="the markdown leaderboard of the output directory",
             response_class=PlainTextResponse)
    def leaderboard() -> str:
        return service.leaderboard()


def _array(name: str, values: list[Any], ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except ValueError:
        raise ValueError(f"{name}: must be a rectangular {ndim}-D array, got ragged nested lists") from None
    if arr.ndim != ndim:
        raise ValueError(f"{name}: must be a {ndim}-D array, got {arr.ndim}-D with shape {arr.shape}")
    return arr
