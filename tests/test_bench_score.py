"""The fair score (one task set per access kind, excess KL over the irreducible error, ties), learners plugged
in by file path, tracebacks in log files, and issue 24's bench findings (F05, F07, F08, F09, F20)."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest
from conftest import tol

from logitrank_cli.main import main
from simulators import TimeVaryingISAN, bench

TASK = "ngram3-v8"  # V=8, T=10: fast for every access


def reference(task, kl_u, base_kl=None, tv_u=0.9):
    rec = {"kind": "reference", "task": task, "seed": 0, "vocab_size": 2, "horizon": 3, "entropy": 1.0,
           "entropy_se": 0.0, "uniform": {"kl": kl_u, "kl_se": 0.0, "tv": tv_u, "tv_se": 0.0},
           "unigram": {"kl": kl_u, "kl_se": 0.0, "tv": tv_u, "tv_se": 0.0}}
    if base_kl is not None:
        rec["base"] = {"kl": base_kl, "kl_se": 0.0, "tv": 0.3, "tv_se": 0.0}
    return rec


def run(learner, task, kl, budget=100, access="query", tv=0.5, status="ok"):
    return {"kind": "run", "learner": learner, "task": task, "seed": 0, "budget": budget, "access": access,
            "status": status, "kl": kl, "kl_se": 0.0, "tv": tv, "tv_se": 0.0, "used": budget,
            "error": None if status == "ok" else "X: y", "isolation": "in-process"}


def test_rung_score_counts_decades_from_uniform_to_the_floor_over_the_irreducible_error():
    assert bench.rung_score(10.0, 10.0) == 0.0 and bench.rung_score(50.0, 10.0) == 0.0
    np.testing.assert_allclose(bench.rung_score(1.0, 10.0), 0.25, **tol())  # 1 of 4 decades to 1e-3
    assert bench.rung_score(1e-3, 10.0) == 1.0 and bench.rung_score(1e-12, 10.0) == 1.0  # no prize for digits
    # a misspecified target: the base model's KL 0.5 is irreducible; excess 0.05 of a gap of 9.5 nats
    np.testing.assert_allclose(bench.rung_score(0.55, 10.0, 0.5), math.log10(9.5 / 0.05) / math.log10(9.5e3),
                               **tol())
    assert bench.rung_score(0.4, 10.0, 0.5) == 1.0 and bench.rung_score(float("inf"), 10.0) == 0.0


def test_every_learner_is_scored_on_the_same_task_set_and_a_missing_task_is_uniform():
    """The issue's case: B is worse than A on every task both ran, but ran only the task it is good at;
    averaging over the tasks each could run ranked B first.  Now the missing task scores 0, shown."""
    records = [reference("t1", 10.0), reference("t2", 10.0),
               run("A", "t1", 1e-2), run("A", "t2", 1.0), run("B", "t1", 1e-1)]
    sc = bench.scores(records)["query"]
    np.testing.assert_allclose(sc["A"]["overall"], (0.75 + 0.25) / 2, **tol())
    np.testing.assert_allclose(sc["B"]["overall"], (0.5 + 0.0) / 2, **tol())
    board = bench.leaderboard(records)
    assert board.index("| 1 | A |") < board.index("| 2 | B |")
    assert "| t2 | 0.250 | 0 (not run: uniform) |" in board


def test_query_and_sample_learners_get_separate_tables():
    records = [reference("t1", 10.0), run("Q", "t1", 1e-2), run("S", "t1", 1.0, access="sample")]
    tables = bench.score_tables(records)
    assert [st.learner for st in tables["query"]] == ["Q"]
    assert [st.learner for st in tables["sample"]] == ["S"]
    board = bench.leaderboard(records)
    assert "## Query access: 1 tasks" in board and "## Sample access: 1 tasks" in board


def test_ties_are_broken_by_the_budget_to_tv_or_shown_as_ties():
    records = [reference("t1", 10.0), run("A", "t1", 10.0, tv=0.05), run("B", "t1", 10.0, tv=0.5),
               run("C", "t1", 10.0, tv=0.5)]
    table = bench.score_tables(records)["query"]
    # all score 0 (no better than uniform); A reached the TV target, B and C tie and are not called best
    assert [(st.learner, st.rank, st.tie) for st in table] == [("A", 1, False), ("B", 2, True),
                                                                ("C", 2, True)]
    assert "| =2 | B |" in bench.leaderboard(records)


def test_misspecified_task_has_a_base_model_reference_and_excess_kl_is_over_it():
    task = bench.get_task("hard-perturbed-isan-eavg1e-1")
    target = bench.build_target(task.name, 0)
    ref = bench.reference_record(task, 0, target, bench.streams(task.name, 0))
    assert ref["base_dim"] == 8 and 0 < ref["base"]["kl"] < ref["unigram"]["kl"] < ref["uniform"]["kl"]
    plain = bench.reference_record(bench.get_task(TASK), 0, bench.build_target(TASK, 0),
                                   bench.streams(TASK, 0))
    assert "base" not in plain
    board = bench.leaderboard([ref], bench.TASKS)
    assert "| (base rank-d model) |" in board and "irreducible error: the base rank-8 model's KL" in board


def test_the_trigram_control_is_not_called_an_exact_oracle_task():
    assert "exact oracle" not in bench.get_task(TASK).hardness and "sample" in bench.get_task(TASK).hardness


# ---- plug-in by path, tracebacks ---------------------------------------------------------------------

MINE = textwrap.dedent('''
    import numpy as np
    from simulators import TimeVaryingISAN

    class Mine:
        access_kind = "sample"

        def __init__(self, rng=None):
            self.rng = rng

        def fit(self, access):
            V, T = access.vocab_size, access.horizon
            seqs = access.sample(access.remaining)
            counts = np.stack([np.bincount(seqs[:, t], minlength=V) for t in range(T)]) + 0.5
            logp = np.log(counts / counts.sum(axis=1, keepdims=True))
            self.model_ = TimeVaryingISAN(np.ones(1), np.ones((T - 1, V, 1, 1)), logp[:, :, None])
            return self

    class Broken:
        access_kind = "sample"

        def fit(self, access):
            return deep_failure("x" * 200)

    def deep_failure(message):
        raise RuntimeError(message)
''')


def test_a_learner_in_a_file_outside_the_package_runs_by_path_and_is_ranked(tmp_path, capsys):
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "my_learner.py").write_text(MINE)
    out = tmp_path / "res"
    assert main(["bench", "--learner", f"{folder}/my_learner.py:Mine,ngram", "--tasks", TASK, "--budgets",
                 "100,300", "--out", str(out), "--no-progress"]) == 0
    board = capsys.readouterr().out
    assert f"| {folder}/my_learner.py:Mine | sample | 1e+02 | " in board
    table = bench.score_tables(bench.read_log(out / "results.jsonl"))["sample"]
    assert {st.learner for st in table} == {f"{folder}/my_learner.py:Mine", "ngram"}
    assert all(st.rank >= 1 for st in table)


def test_a_module_name_that_is_not_importable_hints_at_the_path_form(capsys):
    assert main(["bench", "--learner", "my_learner:Mine", "--tasks", TASK, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "No module named 'my_learner'" in err
    assert "path/to/my_learner.py:Mine (no PYTHONPATH needed)" in err


def test_a_failing_learners_traceback_goes_to_a_log_named_in_the_leaderboard_uncut(tmp_path):
    (tmp_path / "mine.py").write_text(MINE)
    out = tmp_path / "res"
    recs = bench.run(f"{tmp_path}/mine.py:Broken", [TASK], [0], budgets=[50], out=out, progress=False)
    rec = [r for r in recs if r["kind"] == "run"][0]
    assert rec["status"] == "failed" and rec["log"].startswith("logs/")
    text = (out / rec["log"]).read_text()
    assert "in deep_failure" in text and "Traceback (most recent call last)" in text
    board = (out / "leaderboard.md").read_text()
    assert f"failed: RuntimeError: {'x' * 200} (traceback: {rec['log']})" in board


# ---- issue 24 -----------------------------------------------------------------------------------------

class InitRaises:
    access_kind = "sample"

    def __init__(self, rng=None):
        raise RuntimeError("bad init")


def test_f05_a_learner_whose_init_raises_leaves_a_complete_record_and_later_benches_run(tmp_path, capsys):
    recs = bench.run(InitRaises, [TASK], [0], budgets=[50], out=tmp_path, progress=False)
    rec = [r for r in recs if r["kind"] == "run"][0]
    assert rec["status"] == "failed" and rec["budget"] == 50 and rec["access"] == "sample"
    assert main(["bench", "--learner", "ngram", "--tasks", TASK, "--budgets", "50", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    # a log written before the fix (a failed run without a budget) no longer stops every later bench
    line = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[1])
    del line["budget"]
    with open(tmp_path / "results.jsonl", "a") as fh:
        fh.write(json.dumps(line) + "\n")
    with pytest.warns(RuntimeWarning, match="failed run without a budget"):
        assert main(["bench", "--learner", "ngram", "--tasks", TASK, "--budgets", "50", "--out",
                     str(tmp_path), "--no-progress"]) == 0


class Huge:
    access_kind = "sample"

    def fit(self, access):
        V, T = access.vocab_size, access.horizon
        B = np.zeros((T, V, 1))
        B[:, 0, 0], B[:, 1, 0] = 1e308, -1e308
        self.model_ = TimeVaryingISAN(np.ones(1), np.ones((T - 1, V, 1, 1)), B)
        return self


@pytest.mark.filterwarnings("ignore:overflow encountered", "ignore:invalid value encountered")
def test_f07_finite_but_huge_logits_rank_worst_with_a_numeric_score():
    recs = bench.run(Huge, [TASK], [0], budgets=[1000], progress=False)
    recs += bench.run("ngram", [TASK], [0], budgets=[1000], progress=False)
    huge = [r for r in recs if r.get("learner") == "Huge"][0]
    assert huge["status"] == "failed" and "must be finite" in huge["error"]
    table = bench.score_tables(recs)["sample"]
    assert [st.learner for st in table] == ["ngram", "Huge"] and table[0].overall > table[1].overall == 0.0
    assert "nan" not in bench.leaderboard(recs).split("## Tasks")[0]


@pytest.mark.parametrize("value", ["1e30", "1e400", "nan", "inf", "0", "-3", "2.5"])
def test_f08_budgets_out_of_range_name_the_option_the_rule_and_the_value(value, capsys):
    assert main(["bench", "--tasks", TASK, "--budgets", value, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--budgets: every budget must be a whole number in [1, 1e+12], got '{value}'" in err


@pytest.mark.parametrize("value", ["", ",", "ngram3-v8,"])
def test_f09_empty_task_lists_are_refused(value, capsys):
    assert main(["bench", "--tasks", value, "--no-progress"]) == 2
    assert f"--tasks: must be comma-separated non-empty names, got {value!r}" in capsys.readouterr().err


def test_f20_leaderboard_rows_are_marked_in_process(tmp_path):
    bench.run("ngram", [TASK], [0], budgets=[50], out=tmp_path, progress=False)
    board = (tmp_path / "leaderboard.md").read_text()
    assert "| 1 | ngram | " in board and "| in-process |" in board and "1/1 ok; in-process |" in board


def test_a_rung_of_the_task_ladder_that_was_not_run_counts_as_uniform_and_is_shown():
    ladder = bench.get_task(TASK).ladder("sample")  # (1e3, 1e4)
    records = [reference(TASK, 10.0), run("A", TASK, 1e-2, budget=ladder[0], access="sample")]
    entry = bench.score_tables(records)["sample"][0].tasks[TASK]
    np.testing.assert_allclose(entry["score"], 0.75 / 2, **tol())
    assert f"{ladder[1]:.0e} not run: uniform" in bench.leaderboard(records, bench.TASKS)
    # a ladder of one's own (--budgets) is scored on the budgets run
    records[1]["budget"] = 77
    np.testing.assert_allclose(bench.score_tables(records)["sample"][0].tasks[TASK]["score"], 0.75, **tol())
