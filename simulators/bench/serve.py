"""``logitrank serve``: its options (:func:`add_arguments`) and the command (:func:`run`), which puts an
:class:`~simulators.bench.server.OracleService` behind uvicorn on a socket it binds itself (so ``--port 0``
picks a free port, printed) and stops cleanly on SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .server import OracleService

__all__ = ["EPILOG", "add_arguments", "run"]


EPILOG = """protocol (JSON; OpenAPI page at /docs, schema at /openapi.json):
  GET  /tasks                                   what a participant may see of every task
  GET  /tasks/{name}                            ... of one (V, T, access, oracle, budgets)
  POST /sessions                                {learner, task, seed, access?, budget?}: open or resume
  GET  /sessions/{id}                           the session's budget and counts
  POST /sessions/{id}/logits                    {prefixes}: one query per prefix
  POST /sessions/{id}/extended_logits           {histories, futures}: |H| |F| queries
  POST /sessions/{id}/sample                    {n}: n sequences
  POST /sessions/{id}/heldout                   the held-out sequences (ends the query phase)
  POST /sessions/{id}/submit/logits             {logits}: (n_eval, T, V) along them
  POST /sessions/{id}/submit/isan               {x0, A, B}: a time-varying ISAN
  POST /sessions/{id}/submit/give_up            {status, error, traceback?}
  GET  /leaderboard                             the markdown leaderboard of --out
Python: simulators.bench.RemoteAccess(url, task, learner=...) is an access object for any learner;
bench.run_remote(learner, url, task) runs one over the ladder. Shell: docs/oracle_client.sh."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``logitrank serve`` (and its protocol summary as the epilog)."""
    parser.description = ("An HTTP oracle server: budgeted logit queries and samples of hidden benchmark "
                          "targets; submitted models are scored into the bench leaderboard of --out.")
    parser.epilog, parser.formatter_class = EPILOG, argparse.RawDescriptionHelpFormatter
    parser.add_argument("--suite", default=None, help="serve this suite's tasks (default: quick)")
    parser.add_argument("--tasks", default=None, help="comma-separated task names (instead of --suite)")
    parser.add_argument("--seeds", default="0", metavar="S1,S2,...",
                        help="the seeds served (default 0; an organiser may serve seeds nobody else knows)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8765, help="port (0: any free port; default 8765)")
    parser.add_argument("--out", default="logitrank-results/bench",
                        help="bench output directory the served runs join (results.jsonl, leaderboard.md)")
    parser.add_argument("--max-request-mb", type=float, default=64.0,
                        help="largest request body accepted, in MiB (default 64)")


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise ValueError(f"--seeds: must be comma-separated integers >= 0, got {text!r}") from None
    if any(s < 0 for s in seeds):
        raise ValueError(f"--seeds: must be comma-separated integers >= 0, got {text!r}")
    return seeds


def run(*, suite: str | None = None, tasks: str | None = None, seeds: str = "0", host: str = "127.0.0.1",
        port: int = 8765, out: str | Path = "logitrank-results/bench", max_request_mb: float = 64.0,
        ready: Callable[[str], None] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, then return 0 (``logitrank serve``; see the module docstring).

    ``out`` is claimed as a ``bench`` folder while serving (:func:`logitrank.run_folder.claim`): served runs
    join a bench leaderboard, and no ``logitrank bench`` appends to the same log meanwhile.  ``ready`` is
    called with the base URL once the socket listens (default: print it)."""
    from logitrank.run_folder import claim

    from .api import create_app
    from .tasks import resolve_tasks
    from .tasks import suite as suite_tasks

    if not 0 <= port <= 65535:
        raise ValueError(f"--port: must be in [0, 65535], got {port}")
    if not max_request_mb > 0:
        raise ValueError(f"--max-request-mb: must be > 0, got {max_request_mb}")
    # "" is refused, not read as "not given"
    names = resolve_tasks(tasks.split(",")) if tasks is not None else suite_tasks(
        "quick" if suite is None else suite)
    seed_list = _seeds(seeds)
    sock = _listen(host, port)
    where = f"{'[' + host + ']' if sock.family == socket.AF_INET6 else host}:{sock.getsockname()[1]}"
    try:
        with claim(out, "bench", {"serve": where, "tasks": names}):
            service = OracleService(names, out, seed_list)
            url = f"http://{where}"
            (ready or (lambda u: print(f"logitrank serve: {len(names)} tasks on {u} (protocol: {u}/docs); "
                                       f"writing {service.out}", flush=True)))(url)
            _serve(create_app(service, max_request_bytes=int(max_request_mb * 2**20)), sock)
    finally:
        sock.close()
    print("logitrank serve: stopped", flush=True)
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``0``: a free port)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ValueError(f"--host/--port: cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(128)  # from here a client's connection waits in the backlog until uvicorn serves it
    return sock


def _serve(app: Any, sock: socket.socket) -> None:
    """uvicorn on ``sock`` until SIGTERM or SIGINT."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
    # uvicorn re-raises the signal that stopped it once it is done, through the handler it found: a quiet
    # one here, so that SIGTERM ends the command with status 0 after the graceful shutdown
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)} \
        if threading.current_thread() is threading.main_thread() else {}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
