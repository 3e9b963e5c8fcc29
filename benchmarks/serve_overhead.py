"""What answering over HTTP costs: the oracle server (``logitrank serve``) against in-process access.

Starts the server in a thread on a free loopback port and prints, each as a ratio to the in-process floor
measured in the same run: (1) logit queries asked one prefix per request and 10^4 prefixes per request, (2) a
bundled learner's whole fit-and-score at each rung of a task's ladder, with a check that the served records
equal the in-process ones.

Run: ``python benchmarks/serve_overhead.py [--task isan-v16-d8-t16] [--learner query]``.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import threading

import uvicorn
from _harness import timed

from simulators import bench
from simulators.bench.api import create_app
from simulators.bench.server import OracleService


def serve(task: str, out: str) -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    app = create_app(OracleService([task], out, [0, 1, 2]))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def run_in_process(learner: str, task: str, seed: int, rungs: list[int]) -> list[dict]:
    """The records of ``learner`` on ``task`` at each rung, fitted and scored in this process."""
    return [bench.run_one(learner, task, seed, b) for b in rungs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="isan-v16-d8-t16")
    parser.add_argument("--learner", default="query")
    args = parser.parse_args()
    url = serve(args.task, tempfile.mkdtemp())
    task = bench.get_task(args.task)
    local = bench.make_access(task, bench.build_target(args.task, 1), "query", 10**6, 0)
    remote = bench.RemoteAccess(url, args.task, 1, learner="probe", access="query")
    V, T = remote.vocab_size, remote.horizon
    for label, n, reps in (("1 prefix per request", 1, 200), ("10^4 prefixes per request", 10**4, 3)):
        prefixes = [[t % V] * (t % T) for t in range(n)]
        floor, _ = timed(lambda: [local.logits(prefixes) for _ in range(reps)])  # noqa: B023
        served, _ = timed(lambda: [remote.logits(prefixes) for _ in range(reps)])  # noqa: B023
        print(f"{label:28s} in-process {floor / reps * 1e3:8.2f} ms  served {served / reps * 1e3:8.2f} ms  "
              f"ratio {served / floor:6.1f}")
    for seed in (0, 2):  # not seed 1, whose query sessions the probe above holds
        t_served, records = timed(bench.run_remote, args.learner, url, args.task, seed)
        rungs = [r["budget"] for r in records]
        t_local, local_recs = timed(run_in_process, args.learner, args.task, seed, rungs)
        same = all(a.get(k) == b.get(k) for a, b in zip(records, local_recs)
                   for k in ("status", "used", "kl"))
        print(f"{args.learner} on {args.task} seed {seed}, rungs {rungs}: served {t_served:.1f} s, "
              f"in-process {t_local:.1f} s, ratio {t_served / t_local:.2f}; records equal: {same}")


if __name__ == "__main__":
    main()
