"""The oracle server (``logitrank serve``): bundled learners run through it unchanged and score exactly as
in-process, budgets are enforced on the server, bad requests get a 4xx with a clear message, targets never
leave it, and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from logitrank_cli.main import main
from simulators import bench
from simulators.bench.remote import RemoteError, RemoteQueryAccess, RemoteSampleAccess
from simulators.bench.server import OracleService
from simulators.learners import BudgetExceeded, QueryAccess

uvicorn = pytest.importorskip("uvicorn", reason="the [serve] extra")  # CI installs it with [all]
from simulators.bench.api import create_app  # noqa: E402  (needs fastapi, after the importorskip)

TINY = "t-srv-isan"
NOISY = "t-srv-noisy"


@pytest.fixture(scope="module", autouse=True)
def tiny_tasks():
    made = [bench.register_task(bench.Task(TINY, "tiny ISAN V=4, d=2, T=6", bench.family("isan", 4, 2, 6),
                                           query_budgets=(300, 3000), sample_budgets=(50, 200), n_eval=40)),
            bench.register_task(bench.Task(NOISY, "tiny ISAN behind a fixed-error oracle",
                                           bench.family("isan", 4, 2, 6), oracle="fixed-noise", noise=0.1,
                                           offers=("query",), query_budgets=(400, 4000), n_eval=40))]
    yield
    for task in made:
        del bench.TASKS[task.name]


@contextmanager
def serving(out: Path, tasks=(TINY, NOISY), **kw):
    """An oracle server on a free loopback port in a thread; yields ``(url, service)``."""
    service = OracleService(list(tasks), out, [0, 1], **{k: v for k, v in kw.items() if k != "max_bytes"})
    app = create_app(service, max_request_bytes=kw.get("max_bytes", 2**20))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", service
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def http(url: str, method: str = "GET", body: object = None, raw: bytes | None = None) -> tuple[int, object]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def open_session(url: str, **kw) -> dict:
    status, info = http(url + "/sessions", "POST", {"learner": "probe", "task": TINY, **kw})
    assert status == 200, info
    return info


@pytest.mark.filterwarnings("ignore:WFAModel", "ignore:SpannerLPLearner")  # alike, served or not
def test_bundled_learners_run_through_the_server_and_score_exactly_as_in_process(tmp_path):
    plan = [("query", 0, (300, 3000)), ("ngram", 1, (50, 200)), ("spectral", 1, (50, 200)),
            ("spanner", 1, (300, 3000))]  # query and sample learners, ISAN and held-out submissions
    with serving(tmp_path / "res", tasks=(TINY,)) as (url, _):
        served = [r for learner, seed, _ in plan for r in bench.run_remote(learner, url, TINY, seed)]
        status, board = 200, urllib.request.urlopen(url + "/leaderboard").read().decode()
    local = [bench.run_one(learner, TINY, seed, b) for learner, seed, ladder in plan for b in ladder]
    assert [r["status"] for r in local] == ["ok"] * 8 and local[0]["stopped_early"]  # anytime at 300
    for s, r in zip(served, local, strict=True):
        assert s["learner"] == r["learner"] + " (served)" and s["served"] is True
        assert (s["isolation"], r["isolation"]) == ("server", "in-process")
        for key in ("task", "seed", "budget", "access", "status", "used", "vocab_size", "horizon"):
            assert s[key] == r[key], key
        for key in ("kl", "kl_se", "tv", "tv_se", "perplexity", "kl_per_position", "stopped_early"):
            assert s.get(key) == r.get(key), key  # the same answers, model and evaluation: equal exactly
    assert served[0]["error"] == local[0]["error"]  # the server's refusal reads like the in-process one
    how = [s["submission"] for s in served]
    assert how[:6] == ["isan"] * 2 + ["heldout-logits"] * 4 and set(how[6:]) <= {"isan", "heldout-logits"}
    refs = [r for r in bench.read_log(tmp_path / "res" / "results.jsonl") if r["kind"] == "reference"]
    assert {(r["task"], r["seed"]) for r in refs} == {(TINY, 0), (TINY, 1)}
    mine, theirs = bench.scores(refs + served), bench.scores(refs + local)
    assert mine["query"]["query (served)"] == theirs["query"]["query"]
    assert mine["sample"]["ngram (served)"] == theirs["sample"]["ngram"]
    assert mine["sample"]["spectral (served)"] == theirs["sample"]["spectral"]
    assert status == 200 and "| query (served) | query | 3e+03 |" in board
    assert "| ngram (served) | sample | 2e+02 |" in board and "1/1 ok; server |" in board


def test_remote_answers_equal_the_in_process_oracle_also_when_split(tmp_path):
    target = bench.build_target(NOISY, 0)
    local = QueryAccess(target, noise=0.1, noise_mode="fixed", budget=4000,
                        rng=bench.streams(NOISY, 0)["access"])
    H, F, P = [[0], [1, 2], [3, 3, 1]], [[], [2], [0, 1]], [[], [1], [2, 3], [0, 0, 0, 0, 0]]
    with serving(tmp_path, max_answer_floats=12) as (url, _):  # 12 floats: every request is cut
        remote = bench.RemoteAccess(url, NOISY, 0, learner="probe", budget=4000)
        np.testing.assert_array_equal(remote.extended_logits(H, F), local.extended_logits(H, F))
        np.testing.assert_array_equal(remote.logits(P), local.logits(P))
        assert remote.used == local.used == 13 and remote.remaining == 4000 - 13
        with pytest.raises(BudgetExceeded, match="3987 left"):
            remote.logits([[0]] * 3988)  # a split request is refused whole, before any piece is asked
        assert remote.used == 13
        with pytest.raises(ValueError, match=r"token ids must lie in \[0, 4\)"):
            remote.logits([[0], [4]])
        again = bench.RemoteAccess(url, NOISY, 0, learner="probe", budget=4000)
        assert again.used == 13 and again.session == remote.session  # resumed, not reset
        status, plain = http(url + f"/sessions/{remote.session}/logits", "POST", {"prefixes": P[:3]})  # lists
        assert status == 200 and plain["used"] == 16
        np.testing.assert_array_equal(np.array(plain["logits"]), local.logits(P[:3]))  # = the float64 bytes
    assert not np.array_equal(local.logits([[1]]), bench.build_target(NOISY, 0).logits([(1,)]))  # noisy


def test_remote_access_is_of_the_session_kind(tmp_path):
    with serving(tmp_path) as (url, _):
        query = bench.RemoteAccess(url, TINY, 0, learner="probe", budget=300)
        sample = bench.RemoteAccess(url, TINY, 0, learner="probe", access="sample", budget=50)
        assert isinstance(query, RemoteQueryAccess) and isinstance(sample, RemoteSampleAccess)
        assert not hasattr(sample, "logits") and not hasattr(sample, "extended_logits")  # as SampleAccess
        seqs, logits = query.sample(2)
        assert seqs.shape == (2, 6) and logits.shape == (2, 6, 4) and query.used == 12
        assert sample.sample(3).shape == (3, 6) and sample.used == sample.samples_used == 3


def test_budgets_are_enforced_by_the_server(tmp_path):
    with serving(tmp_path) as (url, _):
        sid = open_session(url, budget=300)["session"]
        ask = url + f"/sessions/{sid}/logits"
        status, body = http(ask, "POST", {"prefixes": [[0]] * 301})
        assert status == 429 and "asked for 301 logit queries with 0 of the budget 300" in body["detail"]
        assert http(ask, "POST", {"prefixes": [[1]] * 300})[0] == 200
        status, body = http(ask, "POST", {"prefixes": [[]]})
        assert status == 429 and "(0 left)" in body["detail"]
        assert open_session(url, budget=300)["used"] == 300  # opening again does not reset the budget
        status, body = http(url + f"/sessions/{sid}/sample", "POST", {"n": 1})
        assert status == 429  # a sequence through queries costs T = 6
        other = open_session(url, budget=300, seed=1)  # another seed: its own budget
        assert other["used"] == 0 and other["session"] != sid


@pytest.mark.parametrize("path, body, code, message", [
    ("logits", {"prefixes": [[0, 1, 2, 3, 0, 1]]}, 400, "length must be <= 5"),
    ("logits", {"prefixes": [[0, 4]]}, 400, r"token ids must lie in [0, 4), got 4"),
    ("logits", {"prefixes": [[0, -1]]}, 422, "prefixes.0.1: Input should be greater than or equal to 0"),
    ("logits", {"prefixes": [[0.5]]}, 422, "prefixes.0.0: Input should be a valid integer"),
    ("logits", {"prefixes": []}, 422, "prefixes: List should have at least 1 item"),
    ("logits", {"prefix": [[0]]}, 422, "prefix: Extra inputs are not permitted"),
    ("logits", b'{"prefixes": [[0]', 422, "request: must be valid JSON"),
    ("extended_logits", {"histories": [[0, 1, 2]], "futures": [[0, 1, 2]]}, 400,
     "len(h) + len(f) must be <= horizon - 1 = 5"),
    ("sample", {"n": 0}, 422, "n: Input should be greater than 0"),
    ("logits", {"prefixes": [[0]] * 20_000}, 413, "the body must be at most 65536 bytes"),
    ("submit/logits", {"logits": [[[0.0] * 4] * 6] * 40}, 409, "ask for the held-out sequences"),
    ("submit/isan", {"x0": [1.0], "A": [], "B": [[[1.0]]]}, 400, "A: must be a 4-D array"),
    ("submit/isan", b'{"x0": [NaN], "A": [], "B": []}', 422, "x0.0: Input should be a finite number"),
])
def test_bad_requests_get_a_4xx_with_a_clear_message_and_cost_nothing(tmp_path, path, body, code, message):
    with serving(tmp_path, max_bytes=65536) as (url, _):
        sid = open_session(url, budget=300)["session"]
        status, answer = http(url + f"/sessions/{sid}/{path}", "POST", *(
            (None, body) if isinstance(body, bytes) else (body,)))
        assert status == code and message in answer["detail"], answer
        assert http(url + f"/sessions/{sid}")[1]["used"] == 0


@pytest.mark.parametrize("body, code, message", [
    ({"task": "nope"}, 404, "task: must be one of the served tasks (t-srv-isan, t-srv-noisy), got 'nope'"),
    ({"task": TINY, "seed": 7}, 404, "seed: must be one of the served seeds [0, 1], got 7"),
    ({"task": TINY, "budget": 1000}, 400,
     "budget: must be a rung of task 't-srv-isan''s query ladder [300, 3000], got 1000"),
    ({"task": NOISY, "access": "sample"}, 400, "offers query access, got 'sample'"),
    ({"task": TINY, "learner": "a|b"}, 422, "learner: String should match pattern"),
    ({"task": TINY, "seed": "0"}, 422, "seed: Input should be a valid integer"),
])
def test_opening_a_bad_session_names_the_field(tmp_path, body, code, message):
    with serving(tmp_path) as (url, _):
        status, answer = http(url + "/sessions", "POST", {"learner": "probe", **body})
        assert status == code and message in answer["detail"], answer
        assert http(url + "/sessions/nope")[0] == 404


def test_held_out_release_ends_the_query_phase_and_one_record_per_key(tmp_path):
    with serving(tmp_path / "res") as (url, _):
        low, high = (bench.RemoteAccess(url, TINY, 0, learner="probe", budget=b) for b in (300, 3000))
        model = bench.build_target(TINY, 0)  # the target itself: a perfect submission
        low.logits([[0]])
        rec = low.submit(bench.UniformModel(4, 6))["record"]  # not an ISAN: by held-out logits
        assert rec["submission"] == "heldout-logits" and rec["status"] == "ok" and rec["used"] == 1
        with pytest.raises(RemoteError, match="HTTP 409: .* answers no more queries"):
            high.logits([[0]])  # the held-out sequences are out: every session of (probe, task, 0) stops
        with pytest.raises(RemoteError, match="were released; fit every rung before"):
            bench.RemoteAccess(url, TINY, 0, learner="probe", access="sample", budget=50)
        best = high.submit(model)["record"]
        assert best["submission"] == "isan" and best["kl"] == 0.0 and best["timing"]["fit_seconds"] > 0
        with pytest.raises(RemoteError, match="already submitted"):
            high.give_up("twice")
    with serving(tmp_path / "res") as (url, _):  # a restarted server reads the log: no second record
        with pytest.raises(RemoteError, match="HTTP 409: .*already in"):
            bench.RemoteAccess(url, TINY, 0, learner="probe", budget=300)
        assert bench.RemoteAccess(url, TINY, 0, learner="probe2", budget=300).used == 0


def test_targets_never_leave_the_server(tmp_path):
    target = bench.build_target(TINY, 0)
    secrets_ = {str(v) for v in (*target.B.ravel()[:20], bench.streams(TINY, 0)["target"])}
    with serving(tmp_path) as (url, _):
        texts = [urllib.request.urlopen(url + p).read().decode() for p in ("/tasks", f"/tasks/{TINY}",
                                                                             "/openapi.json")]
        info = open_session(url)
        texts.append(json.dumps(info))
        view = json.loads(texts[1])
    assert not any(s in t for s in secrets_ for t in texts)
    assert set(view) == {"format", "name", "description", "hardness", "vocab_size", "horizon", "access",
                         "offers", "oracle", "samples_per_query", "query_budgets", "sample_budgets", "n_eval"}
    assert info["learner_seed"] == bench.streams(TINY, 0)["learner"] and "noise" not in json.dumps(info)
    assert view["vocab_size"] == 4 and view["horizon"] == 6 and view["query_budgets"] == [300, 3000]


def test_cli_export_gives_the_participant_view_and_answers_only_when_asked(tmp_path, capsys):
    assert main(["bench", "--export", str(tmp_path / "pub"), "--tasks", TINY]) == 0
    assert sorted(p.name for p in (tmp_path / "pub").iterdir()) == [f"{TINY}-seed0.json"]
    desc = json.loads((tmp_path / "pub" / f"{TINY}-seed0.json").read_text())
    assert desc == bench.participant_view(TINY, 0) and "streams" not in desc and "target" not in desc
    assert main(["bench", "--export", str(tmp_path / "all"), "--tasks", TINY, "--with-answers"]) == 0
    assert (tmp_path / "all" / f"{TINY}-seed0.npz").is_file()
    assert "streams" in json.loads((tmp_path / "all" / f"{TINY}-seed0.json").read_text())


def test_cli_serve_refuses_bad_options(capsys):
    assert main(["serve", "--tasks", "nope", "--port", "0"]) == 2
    assert "task: must be a registered task name, got 'nope'" in capsys.readouterr().err
    assert main(["serve", "--tasks", "copy-n6-v4", "--port", "70000"]) == 2
    assert "--port: must be in [0, 65535], got 70000" in capsys.readouterr().err
    assert main(["serve", "--tasks", "copy-n6-v4", "--seeds", "0,x"]) == 2
    assert "--seeds: must be comma-separated integers >= 0, got '0,x'" in capsys.readouterr().err
    assert main(["serve", "--suite", ""]) == 2  # "" is not "not given": no server of the default suite
    assert "--suite: must be a known suite name, got ''" in capsys.readouterr().err
    assert main(["serve", "--tasks", ""]) == 2
    assert "must be a registered task name, got ''" in capsys.readouterr().err


@pytest.mark.slow
def test_sigterm_stops_the_served_command_cleanly(tmp_path, capsys):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "logitrank_cli", "serve", "--tasks", "copy-n6-v4",
                             "--port", "0", "--out", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        url = line.split(" on ")[1].split()[0]
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 30
        while True:  # the socket listens already; uvicorn answers once it is up
            try:
                status, tasks = http(url + "/tasks")
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and [t["name"] for t in tasks] == ["copy-n6-v4"]
        # the served folder is a bench folder held by the server: no bench appends to its log meanwhile
        assert main(["bench", "--tasks", "copy-n6-v4", "--out", str(tmp_path), "--no-progress"]) == 2
        assert "is in use by another `logitrank` run" in capsys.readouterr().err
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "logitrank serve: stopped" in out and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")), reason="the example needs curl and jq")
def test_the_shell_client_in_docs_is_ranked(tmp_path):
    script = Path(__file__).resolve().parents[1] / "docs" / "oracle_client.sh"
    with serving(tmp_path / "res", tasks=(TINY,)) as (url, _):
        done = subprocess.run(["bash", str(script), url, TINY, "1"], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        board = urllib.request.urlopen(url + "/leaderboard").read().decode()
    printed = json.loads(done.stdout)
    log = bench.read_log(tmp_path / "res" / "results.jsonl")
    ref = next(r for r in log if r["kind"] == "reference")
    run = next(r for r in log if r["kind"] == "run")
    assert run["learner"] == printed["learner"] == "unigram-sh (served)" and run["status"] == "ok"
    assert run["used"] == 300 and run["budget"] == 300 and run["kl"] == printed["kl"]  # 50 sequences x T=6
    assert 0 < run["kl"] < ref["uniform"]["kl"]  # a position-wise unigram from 50 samples beats uniform
    assert "| unigram-sh (served) | query | 3e+02 |" in board


class _NeedsTorch:
    vocab_size, horizon = 4, 3

    def __call__(self, rng):  # type: ignore[no-untyped-def]
        raise bench.MissingDependency("task t-srv-missing: needs torch (the [llm] extra)")


def test_a_target_this_server_cannot_build_is_a_503_naming_the_dependency(tmp_path):
    task = bench.register_task(bench.Task("t-srv-missing", "needs torch", _NeedsTorch(), n_eval=10))
    try:
        with serving(tmp_path, tasks=(task.name, TINY)) as (url, _):
            status, view = http(url + f"/tasks/{task.name}")
            assert status == 200 and view["vocab_size"] == 4  # the public view needs no target
            status, body = http(url + "/sessions", "POST", {"learner": "probe", "task": task.name})
            assert status == 503 and "needs torch (the [llm] extra)" in body["detail"]
            assert open_session(url)["used"] == 0  # the other tasks are served on
    finally:
        del bench.TASKS[task.name]


def test_a_streamed_body_over_the_limit_is_a_413_too(tmp_path):
    import http.client

    with serving(tmp_path, max_bytes=65536) as (url, _):
        sid = open_session(url, budget=300)["session"]
        conn = http.client.HTTPConnection(*url.removeprefix("http://").split(":"))
        chunks = iter([b'{"prefixes": [', b"[0], " * 20_000, b"[0]]}"])  # no Content-Length: chunked
        conn.request("POST", f"/sessions/{sid}/logits", body=chunks, encode_chunked=True,
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        assert resp.status == 413 and "at most 65536 bytes" in json.loads(resp.read())["detail"]
        conn.close()
        conn = http.client.HTTPConnection(*url.removeprefix("http://").split(":"))
        conn.request("POST", f"/sessions/{sid}/logits", body=iter([b'{"prefixes": ', b"[[0], [1]]}"]),
                     encode_chunked=True, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()  # a small streamed body is read whole and answered
        assert resp.status == 200 and json.loads(resp.read())["used"] == 2


class _Crashes:
    """A learner that asks one query, then fails."""

    access_kind = "query"

    def fit(self, access):  # type: ignore[no-untyped-def]
        access.logits([[0]])
        raise RuntimeError("boom after one query")


def test_a_failing_learner_is_recorded_as_in_process_with_its_traceback_in_a_log(tmp_path):
    with serving(tmp_path / "res", tasks=(TINY,)) as (url, _):
        served = bench.run_remote(_Crashes, url, TINY, 0, budgets=[300])
    local = bench.run_one(_Crashes, TINY, 0, 300)
    (rec,) = served
    for key in ("status", "error", "used", "budget", "access"):
        assert rec[key] == local[key], key
    assert rec["status"] == "failed" and rec["error"] == "RuntimeError: boom after one query"
    log = (tmp_path / "res" / rec["log"]).read_text()
    assert "Traceback" in log and "boom after one query" in log and "_Crashes" in rec["log"]
    board = (tmp_path / "res" / "leaderboard.md").read_text()
    assert f"(traceback: {rec['log']})" in board


def test_the_help_names_every_endpoint_the_server_has(tmp_path):
    from simulators.bench.serve import EPILOG

    paths = set(create_app(OracleService([TINY], tmp_path, [0])).app.openapi()["paths"])
    named = {line.split()[1].replace("{id}", "{sid}") for line in EPILOG.splitlines()
             if line.startswith(("  GET ", "  POST "))}
    assert named == paths
