"""A killed benchmark resumes: finished runs are read back from results.jsonl, never redone; a half-written
last line is dropped with a warning; any other unreadable line is an error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest

from simulators import bench

LADDER = [10, 20, 30, 40, 50, 60]

SLOW_LEARNER = textwrap.dedent('''
    import os, time
    from simulators.bench import UniformModel

    class SlowUniform:
        """Writes a marker for every fit, waits, answers uniform."""
        access_kind = "sample"

        def fit(self, access):
            with open(os.environ["BENCH_MARKERS"], "a") as fh:
                fh.write(f"{access.budget}\\n")
            access.sample(access.budget)
            time.sleep(float(os.environ.get("BENCH_SLEEP", "0")))
            self.model_ = UniformModel(access.vocab_size, access.horizon)
            return self
''')


def _env(tmp_path: Path, sleep: float) -> dict[str, str]:
    return {**os.environ, "BENCH_MARKERS": str(tmp_path / "markers.txt"), "BENCH_SLEEP": str(sleep),
            "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}


def _run_lines(log: Path) -> list[dict]:
    records = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    return [r for r in records if r["kind"] == "run"]


@pytest.mark.slow
def test_a_killed_bench_run_resumes_without_redoing_finished_runs(tmp_path, monkeypatch):
    (tmp_path / "slow_learner.py").write_text(SLOW_LEARNER)
    out = tmp_path / "res"
    cmd = [sys.executable, "-m", "logitrank_cli", "bench", "--learner", "slow_learner:SlowUniform", "--tasks",
           "ngram3-v8", "--budgets", ",".join(map(str, LADDER)), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=_env(tmp_path, 0.4), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.exists() or len(_run_lines(log)) < 2):
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = {r["budget"] for r in _run_lines(log)}
    assert 2 <= len(finished) < len(LADDER)  # killed part-way
    monkeypatch.setenv("BENCH_MARKERS", str(tmp_path / "markers.txt"))
    monkeypatch.setenv("BENCH_SLEEP", "0")
    monkeypatch.syspath_prepend(str(tmp_path))
    results = bench.run("slow_learner:SlowUniform", ["ngram3-v8"], 1, budgets=LADDER, out=out, progress=False)
    fits = Counter(int(x) for x in (tmp_path / "markers.txt").read_text().split())
    assert all(fits[b] == 1 for b in finished)  # finished before the kill: never refitted
    assert all(fits[b] >= 1 for b in LADDER) and sum(fits.values()) <= len(LADDER) + 1  # at most the one
    assert sorted(r["budget"] for r in results if r["kind"] == "run") == LADDER  # in flight ran twice
    assert sorted(r["budget"] for r in _run_lines(log)) == LADDER  # each recorded exactly once
    assert json.loads((out / "results.json").read_text())[0]["kind"] == "reference"


def test_a_half_written_last_line_is_dropped_with_a_warning_and_redone(tmp_path):
    first = bench.run("ngram", ["ngram3-v8"], 1, budgets=[100, 200], out=tmp_path, progress=False)
    log = tmp_path / "results.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # killed mid-append
    with pytest.warns(RuntimeWarning, match=r"dropping a half-written last line \(\d+ bytes"):
        again = bench.run("ngram", ["ngram3-v8"], 1, budgets=[100, 200], out=tmp_path, progress=False)
    strip = [{k: v for k, v in r.items() if k not in ("timing", "format")} for r in first]
    assert strip == [{k: v for k, v in r.items() if k not in ("timing", "format")} for r in again]
    assert len(log.read_text().splitlines()) == len(lines)
    assert all(json.loads(x) for x in log.read_text().splitlines())


def test_a_corrupt_line_inside_the_log_is_an_error_not_skipped(tmp_path):
    bench.run("ngram", ["ngram3-v8"], 1, budgets=[100, 200], out=tmp_path, progress=False)
    log = tmp_path / "results.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text(lines[0] + '{"kind": "run", "learner"\n' + "".join(lines[1:]))
    with pytest.raises(ValueError, match=r"jsonl: line 2 must be a bench record \(logitrank-bench/2\)"):
        bench.run("ngram", ["ngram3-v8"], 1, budgets=[100, 200], out=tmp_path, progress=False)
    log.write_text(json.dumps({"kind": "run", "task": "x"}) + "\n")  # an old or foreign log
    with pytest.raises(ValueError, match=r"line 1 must be a bench .*\(format must be 'logitrank-bench/2'\)"):
        bench.read_log(log)
