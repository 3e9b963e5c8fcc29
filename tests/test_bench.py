"""The benchmark suite: tasks from seeds, learners by path, failures kept, reproducibility, export, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from logitrank.cli import main
from simulators import TimeVaryingISAN, bench, load_model
from simulators.learners import LogitQueryLearner

FAST = ["noisy-parity-n20", "copy-n6-v4"]


def strip_timing(results):
    return [{k: v for k, v in r.items() if k != "timing"} for r in results]


class Crashy:
    """Crashes on the copying task only."""

    access_kind = "query"

    def __init__(self, rng=None):
        self.rng = rng

    def fit(self, access):
        if access.vocab_size == 4:
            raise RuntimeError("boom")
        return LogitQueryLearner(rng=self.rng).fit(access)


class WrongVocab:
    access_kind = "sample"

    def fit(self, access):
        self.model_ = TimeVaryingISAN.random(access.vocab_size + 1, 2, access.horizon, rng=0)
        return self


class CountingLearner:
    fits = 0

    def __init__(self, rng=None):
        self.rng = rng

    def fit(self, access):
        CountingLearner.fits += 1
        return LogitQueryLearner(rng=self.rng).fit(access)


def test_every_named_task_builds_reproducibly_from_its_seed():
    assert set(bench.suite("core")) == set(bench.TASKS) and set(bench.suite("quick")) <= set(bench.TASKS)
    for name in bench.TASKS:
        a, b, c = bench.build_target(name, 0), bench.build_target(name, 0), bench.build_target(name, 1)
        seqs = a.sample(3, rng=0)
        np.testing.assert_array_equal(a.logits_along_sequences(seqs), b.logits_along_sequences(seqs))
        if name not in ("copy-n6-v4",):  # the copying task has no random parameters
            assert not np.array_equal(a.logits_along_sequences(seqs), c.logits_along_sequences(seqs)), name


def test_bench_is_reproducible_bit_for_bit(tmp_path):
    r1 = bench.run("query", FAST, 2, out=tmp_path / "a", progress=False)
    r2 = bench.run("query", FAST, 2, out=tmp_path / "b", progress=False)
    assert strip_timing(r1) == strip_timing(r2) and all(r["status"] == "ok" for r in r1)
    board_a, board_b = ((tmp_path / d / "leaderboard.md").read_bytes() for d in "ab")
    assert board_a == board_b
    assert all(r["kl"] < 1e-6 for r in r1)
    s1 = bench.run("ngram", ["ngram3-v8"], [5], progress=False)
    s2 = bench.run("ngram", ["ngram3-v8"], [5], progress=False)
    assert strip_timing(s1) == strip_timing(s2)
    assert s1[0]["samples_used"] == bench.TASKS["ngram3-v8"].sample_budget


def test_crashing_learner_is_recorded_and_other_tasks_kept(tmp_path):
    results = bench.run(Crashy, FAST, [0], out=tmp_path, progress=False)
    by_task = {r["task"]: r for r in results}
    assert by_task["copy-n6-v4"]["status"] == "failed"
    assert by_task["copy-n6-v4"]["error"] == "RuntimeError: boom"
    assert by_task["noisy-parity-n20"]["status"] == "ok" and by_task["noisy-parity-n20"]["kl"] < 1e-6
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["task"] == "noisy-parity-n20"
    board = (tmp_path / "leaderboard.md").read_text()
    assert "failed: RuntimeError: boom" in board and "| noisy-parity-n20 | Crashy | query | 1/1 |" in board


def test_results_are_written_incrementally_and_resumed(tmp_path):
    CountingLearner.fits = 0
    first = bench.run(CountingLearner, ["noisy-parity-n20"], [0], out=tmp_path, progress=False)
    again = bench.run(CountingLearner, ["noisy-parity-n20", "copy-n6-v4"], [0], out=tmp_path, progress=False)
    assert CountingLearner.fits == 2  # the finished run was read back, only the new task ran
    assert strip_timing(again[:1]) == strip_timing(first)


def test_wrong_vocabulary_is_a_clear_failure():
    rec = bench.run_one(WrongVocab, "ngram3-v8", 0)
    assert rec["status"] == "failed"
    assert "vocab_size must equal task 'ngram3-v8''s 8, got 9" in rec["error"]


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="unknown task 'nope'; known tasks: isan-v16-d8-t16, "):
        bench.run("query", ["nope"], 1)
    with pytest.raises(ValueError, match="unknown suite"):
        bench.suite("nope")
    with pytest.raises(ValueError, match="cannot import 'no_such_module:Learner': ModuleNotFoundError"):
        bench.run("no_such_module:Learner", FAST, 1)
    with pytest.raises(ValueError, match="cannot import 'simulators.learners:Nope': AttributeError"):
        bench.resolve_learner("simulators.learners:Nope")
    with pytest.raises(ValueError, match="alias .* or an import path"):
        bench.resolve_learner("querry")
    with pytest.raises(ValueError, match="seeds: a count must be >= 1, got 0"):
        bench.run("query", FAST, 0)
    with pytest.raises(ValueError, match="query_budget: must be a positive integer, got 0"):
        bench.Task("t", "d", bench.TASKS["copy-n6-v4"].build, query_budget=0)
    with pytest.raises(ValueError, match="already registered"):
        bench.register_task(bench.TASKS["copy-n6-v4"])


def test_export_round_trips_the_target(tmp_path):
    npz, js = bench.export_task("sparse-poly-n16-m4", 2, tmp_path)
    desc = json.loads(js.read_text())
    assert desc["name"] == "sparse-poly-n16-m4" and desc["seed"] == 2 and desc["vocab_size"] == 2
    loaded, built = load_model(npz), bench.build_target("sparse-poly-n16-m4", 2)
    seqs = built.sample(5, rng=0)
    np.testing.assert_array_equal(loaded.logits_along_sequences(seqs), built.logits_along_sequences(seqs))


def test_cli_bench_writes_json_and_leaderboard(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["bench", "--learner", "ngram", "--tasks", "ngram3-v8", "--seeds", "1", "--out", str(out),
                 "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| ngram3-v8 | ngram | sample | 1/1 |" in printed
    assert (out / "leaderboard.md").read_text() in printed
    assert json.loads((out / "results.json").read_text())[0]["status"] == "ok"
    assert main(["bench", "--learner", "nope:Nope", "--tasks", "ngram3-v8", "--out", str(out)]) == 2
    assert "cannot import" in capsys.readouterr().err
