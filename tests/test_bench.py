"""The benchmark suite: tasks from seeds through the family registry, budget ladders, references and the
score, failures kept, reproducibility, export, bad input, CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import tol

import simulators.learners.access as access_module
from llm_bridge.bench_task import FrozenTransformer  # registers the transformer task of the hard suite
from logitrank_cli.main import main
from simulators import TimeVaryingISAN, bench, load_model
from simulators.learners import LogitQueryLearner

FAST = ["noisy-parity-n20", "copy-n6-v4"]
LADDER = [10**3, 10**5]  # the smallest rung is too small for the query learner to finish on both tasks


def strip_timing(results):
    return [{k: v for k, v in r.items() if k != "timing"} for r in results]


def runs(results):
    return [r for r in results if r["kind"] == "run"]


class Crashy:
    """Crashes on the copying task only."""

    access_kind = "query"

    def __init__(self, rng=None):
        self.rng = rng

    def fit(self, access):
        if access.vocab_size == 4:
            raise RuntimeError("boom")
        return LogitQueryLearner(rng=self.rng).fit(access)


class WrongShape:
    """Returns a model with one token too many, or one position too few."""

    access_kind = "sample"

    def __init__(self, extra_token=True):
        self.extra_token = extra_token

    def fit(self, access):
        V, T = access.vocab_size + self.extra_token, access.horizon - (not self.extra_token)
        self.model_ = TimeVaryingISAN.random(V, 2, T, rng=0)
        return self


def test_every_synthetic_task_is_built_by_the_family_registry_reproducibly_from_its_seed():
    assert set(bench.suite("core")) | set(bench.suite("hard")) == set(bench.TASKS)
    for name, task in bench.TASKS.items():
        if isinstance(task.build, FrozenTransformer):
            continue  # the frozen transformer is tested in test_bench_transformer.py
        assert isinstance(task.build, bench.FamilyTarget), name
        a, b, c = bench.build_target(name, 0), bench.build_target(name, 0), bench.build_target(name, 1)
        seqs = a.sample(3, rng=0)
        np.testing.assert_array_equal(a.logits_along_sequences(seqs), b.logits_along_sequences(seqs))
        if name != "copy-n6-v4":  # the copying task has no random parameters
            assert not np.array_equal(a.logits_along_sequences(seqs), c.logits_along_sequences(seqs)), name


def test_hard_suite_spans_the_issue_targets():
    hard = [bench.TASKS[n] for n in bench.suite("hard")]
    fams = [t.build.describe() for t in hard if isinstance(t.build, bench.FamilyTarget)]
    assert {f["family"] for f in fams} >= {"perturbed", "hmm", "isan", "planted", "noisy-parity"}
    assert {t.oracle for t in hard} == {"exact", "fixed-noise", "sampled-logits"}
    sample_only = [t for t in hard if t.offers == ("sample",)]
    assert len(sample_only) >= 3 and all(t.sample_budgets == (10**3, 10**4, 10**5) for t in sample_only)
    assert any(isinstance(t.build, FrozenTransformer) for t in hard)
    assert all(len(t.ladder(t.access)) >= 3 for t in hard)
    # the misspecified targets sit at the advertised average misspecification (SPEC: eps_avg)
    for name, want in (("hard-perturbed-isan-eavg1e-3", 1e-3), ("hard-perturbed-isan-eavg1e-1", 1e-1)):
        est, _ = bench.build_target(name, 0).estimate_eps_avg(200, rng=0)
        assert want / 1.5 < est < want * 1.5, (name, est)


@pytest.mark.slow
def test_bench_is_reproducible_bit_for_bit(tmp_path):
    r1 = bench.run("query", FAST, [3], budgets=LADDER, out=tmp_path / "a", progress=False)
    r2 = bench.run("query", FAST, [3], budgets=LADDER, out=tmp_path / "b", progress=False)
    assert strip_timing(r1) == strip_timing(r2)
    board_a, board_b = ((tmp_path / d / "leaderboard.md").read_bytes() for d in "ab")
    assert board_a == board_b
    by = {(r["task"], r["budget"]): r for r in runs(r1)}
    assert len(by) == 4 and all(by[t, 10**5]["kl"] < 1e-6 for t in FAST)
    # anytime: the small rung stops early with the best model at hand, within its budget
    assert all(by[t, 10**3]["status"] == "ok" and by[t, 10**3]["stopped_early"] for t in FAST)
    assert all(by[t, 10**3]["used"] <= 10**3 for t in FAST)
    # sample learners on hard tasks: the same samples, the same model, the same numbers
    hard = ["hard-sample-hmm-s8-v8", "hard-perturbed-isan-eavg1e-1", "hard-sampled-logits-isan"]
    s1 = bench.run("ngram", hard, [5], budgets=[200, 600], progress=False)
    s2 = bench.run("ngram", hard, [5], budgets=[200, 600], progress=False)
    assert strip_timing(s1) == strip_timing(s2) and all(r["status"] == "ok" for r in runs(s1))
    assert [r["used"] for r in runs(s1)] == [200, 600] * 3


def test_reference_rows_are_exact_on_noisy_parity():
    """Bits are uniform and the label is Bernoulli(0.9) on its parity: KL(P || uniform) = log 2 - h(0.1)
    for every sequence, and the entropy per sequence is 20 log 2 + h(0.1)."""
    h = -(0.1 * math.log(0.1) + 0.9 * math.log(0.9))
    task = bench.get_task("noisy-parity-n20")
    target = bench.build_target(task.name, 0)
    ref = bench.reference_record(task, 0, target, bench.streams(task.name, 0))
    np.testing.assert_allclose(ref["uniform"]["kl"], math.log(2) - h, **tol())
    np.testing.assert_allclose(ref["entropy"], 20 * math.log(2) + h, **tol())
    # the unigram's label marginal is 1/2 as well (parity of uniform bits), up to Monte-Carlo error
    assert abs(ref["unigram"]["kl"] - ref["uniform"]["kl"]) < 0.01


def test_score_is_the_fraction_of_decades_removed_with_failures_at_the_uniform_kl():
    base = {"kind": "run", "learner": "L", "task": "t", "seed": 0, "used": 1, "error": None,
            "access": "query"}
    records = [
        {"kind": "reference", "task": "t", "seed": 0, "vocab_size": 2, "horizon": 3, "entropy": 1.0,
         "entropy_se": 0.0, "uniform": {"kl": 10.0, "kl_se": 0, "tv": 0.5, "tv_se": 0},
         "unigram": {"kl": 1.0, "kl_se": 0, "tv": 0.4, "tv_se": 0}},
        {**base, "budget": 10, "status": "over_budget", "error": "BudgetExceeded: x"},
        {**base, "budget": 100, "status": "ok", "kl": 0.1, "kl_se": 0.0, "tv": 0.2, "tv_se": 0.0},
        {**base, "budget": 1000, "status": "ok", "kl": 1e-9, "kl_se": 0.0, "tv": 0.0, "tv_se": 0.0},
    ]
    # uniform 10 nats -> floor 1e-3 is 4 decades: over budget 0, 0.1 nats 2/4, 1e-9 (below the floor) 1
    want = (0 + 0.5 + 1) / 3
    sc = bench.scores(records)
    np.testing.assert_allclose(sc["query"]["L"]["t"], want, **tol())
    np.testing.assert_allclose(sc["query"]["L"]["overall"], want, **tol())
    assert bench.budget_to_tv(records)["query"]["L"]["t"] == 1000  # TV 0.2 > 0.1 at 100, 0 at 1000
    board = bench.leaderboard(records)
    assert "| (uniform) | – | – | 10 ± 0 |" in board and "over_budget: BudgetExceeded: x" in board
    assert f"| 1 | L | {want:.3f} | 1/1 | in-process |" in board
    assert f"| t | {want:.3f} (TV at 1e+03) |" in board
    # headroom: best at the top rung (KL 1e-9 < 1e-2) and at the bottom rung (over budget = uniform KL 10)
    room = bench.headroom(records)
    assert room["top"] == {"t": ("L", 1e-9)} and room["bottom"] == {"t": ("L", 10.0)}
    assert room["bottom_below_1e-6"] == {"L": []}
    assert "stays at KL >= 1e-2: 0 of 1" in board and "per learner: L 0/1" in board


def test_crashing_learner_is_recorded_and_other_tasks_kept(tmp_path):
    results = bench.run(Crashy, FAST, [0], budgets=[10**5], out=tmp_path, progress=False)
    by_task = {r["task"]: r for r in runs(results)}
    assert by_task["copy-n6-v4"]["status"] == "failed"
    assert by_task["copy-n6-v4"]["error"] == "RuntimeError: boom"
    assert by_task["noisy-parity-n20"]["status"] == "ok" and by_task["noisy-parity-n20"]["kl"] < 1e-6
    lines = [json.loads(x) for x in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["kind"], r["task"]) for r in lines] == [("reference", "noisy-parity-n20"),
                                                      ("run", "noisy-parity-n20"),
                                                      ("reference", "copy-n6-v4"), ("run", "copy-n6-v4")]
    board = (tmp_path / "leaderboard.md").read_text()
    assert "failed: RuntimeError: boom (traceback: logs/Crashy/copy-n6-v4-seed0-budget100000.log)" in board
    assert "| Crashy | query | 1e+05 | " in board
    log = (tmp_path / "logs" / "Crashy" / "copy-n6-v4-seed0-budget100000.log").read_text()
    assert 'raise RuntimeError("boom")' in log and "Traceback (most recent call last)" in log


def test_query_learner_on_a_sample_only_task_is_unsupported_not_scored():
    rec = bench.run_one("query", "hard-sample-isan-v8-d4-t12", 0, 1000)
    assert rec["status"] == "unsupported"
    assert "access_kind: task 'hard-sample-isan-v8-d4-t12' offers sample access only, got a learner " \
           "needing 'query'" == rec["error"]
    assert bench.scores([rec]) == {}


def test_wrong_vocabulary_or_horizon_is_a_clear_failure():
    rec = bench.run_one(WrongShape, "ngram3-v8", 0, 100)
    assert rec["status"] == "failed"
    assert "learned model vocab_size: must equal task 'ngram3-v8''s 8, got 9" in rec["error"]
    rec = bench.run_one(lambda: WrongShape(extra_token=False), "ngram3-v8", 0, 100)
    assert "learned model horizon: must equal task 'ngram3-v8''s 10, got 9" in rec["error"]
    target = bench.build_target("ngram3-v8", 0)
    with pytest.raises(ValueError, match="learned model vocab_size: must equal task 'ngram3-v8''s 8, got 9"):
        bench.check_learned_model(TimeVaryingISAN.random(9, 2, 10, rng=0), bench.get_task("ngram3-v8"),
                                  target)


def test_sampled_logit_task_uses_sampled_logit_access_and_says_so_when_it_is_missing(monkeypatch):
    task = bench.get_task("hard-sampled-logits-isan")
    target = bench.build_target(task.name, 0)
    acc = bench.make_access(task, target, "query", 10**4, 0)
    assert type(acc).__name__ == "SampledLogitAccess" and acc.budget == 10**4
    acc.logits([()])
    assert acc.used == task.samples_per_query  # a query is charged as m samples
    monkeypatch.delattr(access_module, "SampledLogitAccess")
    rec = bench.run_one("query", task.name, 0, 10**6)
    assert rec["status"] == "failed" and "needs SampledLogitAccess" in rec["error"]


def test_fixed_noise_oracle_repeats_its_answers():
    task = bench.get_task("hard-fixed-noise-isan")
    target = bench.build_target(task.name, 0)
    acc = bench.make_access(task, target, "query", 100, 0)
    a, b = acc.logits([(1, 2)]), acc.logits([(1, 2)])
    np.testing.assert_array_equal(a, b)
    err = np.abs(a - target.logits([(1, 2)])).max()
    assert 0 < err <= task.noise


def test_bad_inputs_give_clear_errors():
    with pytest.raises(ValueError, match="task: must be a registered task name, got 'nope'; known tasks: "):
        bench.run("query", ["nope"], 1)
    with pytest.raises(ValueError, match="suite: must be a known suite name, got 'nope'"):
        bench.suite("nope")
    with pytest.raises(ValueError, match=r"budgets: must be strictly increasing, got \[1000, 1000\]"):
        bench.run("query", FAST, 1, budgets=[1000, 1000])
    with pytest.raises(ValueError, match=r"budgets: must be strictly increasing, got \[10000, 1000\]"):
        bench.run("query", FAST, 1, budgets=[1e4, 1e3])
    with pytest.raises(ValueError, match=r"budgets: every budget must be a positive integer, got -5"):
        bench.run("query", FAST, 1, budgets=[-5, 10])
    with pytest.raises(ValueError, match=r"budgets: every budget must be a positive integer, got 1.5"):
        bench.run("query", FAST, 1, budgets=[1.5])
    with pytest.raises(ValueError, match="budgets: must name at least one budget, got an empty ladder"):
        bench.run("query", FAST, 1, budgets=[])
    with pytest.raises(ValueError, match=r"query_budgets: must be strictly increasing, got \[100, 10\]"):
        bench.Task("t", "d", bench.family("isan", 4, 2, 4), query_budgets=(100, 10))
    with pytest.raises(ValueError, match="cannot import 'no_such_module:Learner': No module named "
                                         "'no_such_module'; a learner in a file is given by its path, e.g. "
                                         "path/to/no_such_module.py:Learner"):
        bench.run("no_such_module:Learner", FAST, 1)
    with pytest.raises(ValueError, match="cannot import 'simulators.learners:Nope': AttributeError"):
        bench.resolve_learner("simulators.learners:Nope")
    with pytest.raises(ValueError, match="alias .*, an import path .* or a file path"):
        bench.resolve_learner("querry")
    with pytest.raises(ValueError, match="seeds: a count must be >= 1, got 0"):
        bench.run("query", FAST, 0)
    with pytest.raises(ValueError, match="noise: the 'fixed-noise' oracle needs noise > 0, got 0.0"):
        bench.Task("t", "d", bench.family("isan", 4, 2, 4), oracle="fixed-noise")
    with pytest.raises(ValueError, match="oracle: must be one of"):
        bench.Task("t", "d", bench.family("isan", 4, 2, 4), oracle="psychic")
    with pytest.raises(ValueError, match="already registered"):
        bench.register_task(bench.TASKS["copy-n6-v4"])


def test_export_writes_every_new_synthetic_target_and_it_round_trips(tmp_path):
    for name in bench.suite("hard"):
        if isinstance(bench.TASKS[name].build, FrozenTransformer):
            continue  # exported in test_bench_transformer.py
        npz, js = bench.export_task(name, 2, tmp_path)
        desc = json.loads(js.read_text())
        assert desc["name"] == name and desc["seed"] == 2 and desc["oracle"] == bench.TASKS[name].oracle
        assert desc["query_budgets"] == list(bench.TASKS[name].query_budgets)
        loaded, built = load_model(npz), bench.build_target(name, 2)
        seqs = built.sample(5, rng=0)
        np.testing.assert_array_equal(loaded.logits_along_sequences(seqs), built.logits_along_sequences(seqs))


def test_run_learners_counts_the_runs_of_every_learner_and_the_failed_ones(tmp_path):
    class Quick:  # fits at once: the uniform model (a run that succeeds, cheaply)
        access_kind = "query"

        def fit(self, access):
            self.model_ = bench.UniformModel(access.vocab_size, access.horizon)
            return self

    outcome = bench.run_learners([Quick, Crashy], ["copy-n6-v4"], [0], budgets=[10**5], out=tmp_path,
                                 progress=False)
    assert outcome == bench.LearnersOutcome(runs=2, failed=1) and not outcome.all_failed  # Crashy on copy
    labels = {r["learner"] for r in json.loads((tmp_path / "results.json").read_text()) if r["kind"] == "run"}
    assert len(labels) == 2  # both learners' runs are in the one leaderboard directory
    crashed = bench.run_learners([Crashy], ["copy-n6-v4"], [0], budgets=[10**5], progress=False)
    assert crashed == bench.LearnersOutcome(1, 1) and crashed.all_failed
    over = bench.run_learners(["query"], ["copy-n6-v4"], [0], budgets=[10], progress=False)
    assert over == bench.LearnersOutcome(1, 0) and not over.all_failed  # over budget is not a failure
    assert not bench.LearnersOutcome(0, 0).all_failed


def test_export_tasks_writes_every_task_and_seed_in_order(tmp_path):
    names = ["copy-n6-v4", "ngram3-v8"]
    written = list(bench.export_tasks(names, range(2), tmp_path / "answers", with_answers=True))
    assert [p.name for p, _ in written] == ["copy-n6-v4-seed0.npz", "copy-n6-v4-seed1.npz",
                                            "ngram3-v8-seed0.npz", "ngram3-v8-seed1.npz"]
    assert all(p.is_file() and js == p.with_suffix(".json") and js.is_file() for p, js in written)
    public = list(bench.export_tasks(names, range(2), tmp_path / "public"))
    assert [len(files) for files in public] == [1, 1, 1, 1] and all(f.is_file() for (f,) in public)
    assert not list((tmp_path / "public").glob("*.npz"))  # the view holds no target
    assert [json.loads(f.read_text()) for (f,) in public] == [bench.participant_view(n, s)
                                                              for n in names for s in (0, 1)]
    assert list(bench.export_tasks(["copy-n6-v4"], range(0), tmp_path / "none")) == []


def test_cli_bench_list_ladder_and_errors(tmp_path, capsys):
    assert main(["bench", "--list", "--suite", "hard"]) == 0
    listed = capsys.readouterr().out
    for name in bench.suite("hard"):
        assert name in listed and bench.TASKS[name].hardness in listed
    out = tmp_path / "res"
    assert main(["bench", "--learner", "ngram,spectral", "--tasks", "ngram3-v8", "--budgets", "1e2,3e2",
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "| ngram | sample | 1e+02 | " in printed and "| spectral | sample | 3e+02 | " in printed
    assert "| (position unigram) |" in printed
    assert (out / "leaderboard.md").read_text() in printed
    assert all(r["status"] == "ok" for r in json.loads((out / "results.json").read_text())
               if r["kind"] == "run")
    assert main(["bench", "--learner", "nope:Nope", "--tasks", "ngram3-v8", "--out", str(out)]) == 2
    assert "cannot import" in capsys.readouterr().err
    assert main(["bench", "--tasks", "ngram3-v8", "--budgets", "1e3,1e2", "--out", str(out)]) == 2
    assert "--budgets: must be strictly increasing, got [1000, 100]" in capsys.readouterr().err
    assert main(["bench", "--tasks", "ngram3-v8", "--budgets", "1e3,lots", "--out", str(out)]) == 2
    assert "--budgets: must be comma-separated numbers such as 1e3,1e4,1e5, got '1e3,lots'" in \
        capsys.readouterr().err
    assert main(["bench", "--suite", "nope", "--out", str(out)]) == 2
    assert "suite: must be a known suite name, got 'nope'" in capsys.readouterr().err


def test_cli_export_writes_each_task_target(tmp_path, capsys):
    names = ["hard-perturbed-isan-eavg1e-3", "hard-sampled-logits-isan", "copy-n6-v4"]
    assert main(["bench", "--export", str(tmp_path), "--tasks", ",".join(names), "--seeds", "2",
                 "--with-answers"]) == 0
    printed = capsys.readouterr().out
    for name in names:
        for seed in (0, 1):
            assert (tmp_path / f"{name}-seed{seed}.npz").is_file() and f"{name}-seed{seed}.json" in printed
            desc = json.loads((tmp_path / f"{name}-seed{seed}.json").read_text())
            assert desc["streams"] == bench.streams(name, seed)
            assert desc["load"] == "simulators.load_model(path)"
    sampled = json.loads((tmp_path / "hard-sampled-logits-isan-seed0.json").read_text())
    assert sampled["oracle"] == "sampled-logits" and sampled["samples_per_query"] == 100
