"""Output folders shared by accident (issue 24: F06, F15, F18), with real processes: two identical runs at
once on one ``--out`` end correct or refused, never with duplicated records; a command is refused in another
command's folder, naming it; stale ``*.tmp`` files are swept when a run starts; a killed run leaves no
lock."""

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
from conftest import fuzz_checkpoints

from logitrank.run_folder import LOCK_FILE, OWNER_FILE, FolderBusyError, claim, owner_of
from logitrank_cli.main import main

ROOT = Path(__file__).resolve().parents[1]

SLOW_LEARNER = textwrap.dedent('''
    import os, time
    from simulators.bench import UniformModel

    class SlowUniform:
        access_kind = "sample"

        def fit(self, access):
            access.sample(access.budget)
            time.sleep(float(os.environ.get("BENCH_SLEEP", "0")))
            self.model_ = UniformModel(access.vocab_size, access.horizon)
            return self
''')


def start(args: list[str], cwd: Path, **env: str) -> subprocess.Popen:
    """``python -m logitrank_cli args`` in ``cwd`` (this checkout's code first on the path)."""
    path = os.pathsep.join([str(cwd), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "logitrank_cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": path, "MPLBACKEND": "Agg", **env})


def finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_FILE}


def run_keys(out: Path) -> Counter:
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines() if line.strip()]
    return Counter((r["learner"], r["task"], r["seed"], r["budget"]) for r in records if r["kind"] == "run")


BENCH = ["bench", "--learner", "slow_learner:SlowUniform", "--tasks", "ngram3-v8", "--budgets", "10,20,30",
         "--no-progress"]


# -------------------------------------------------------------------------- F06: two bench runs at once
@pytest.mark.slow
def test_a_second_bench_run_on_a_busy_folder_is_refused_and_nothing_is_duplicated(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "slow_learner.py").write_text(SLOW_LEARNER)
    out = tmp_path / "res"
    first = start([*BENCH, "--out", str(out)], tmp_path, BENCH_SLEEP="1.5")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the first run holds the folder
        marker = out / OWNER_FILE
        if marker.is_file() and json.loads(marker.read_text())["last_run"]["pid"] == first.pid:
            break
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    code, err = finish(start([*BENCH, "--out", str(out)], tmp_path))
    assert code == 2 and "is in use by another `logitrank` run" in err and str(out) in err, err
    assert finish(first)[0] == 0
    assert set(run_keys(out).values()) == {1} and len(run_keys(out)) == 3
    code, err = finish(start([*BENCH, "--out", str(out)], tmp_path))  # afterwards: resumes, adds nothing
    assert code == 0, err
    assert set(run_keys(out).values()) == {1} and len(run_keys(out)) == 3
    assert "1/1" in (out / "leaderboard.md").read_text() and "2/2" not in (out / "leaderboard.md").read_text()


@pytest.mark.slow
def test_two_identical_bench_runs_started_together_end_correct_or_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "slow_learner.py").write_text(SLOW_LEARNER)
    out = tmp_path / "res"
    procs = [start([*BENCH, "--out", str(out)], tmp_path, BENCH_SLEEP="0.5") for _ in range(2)]
    outcomes = [finish(p) for p in procs]
    assert sorted(code for code, _ in outcomes)[0] == 0 and {code for code, _ in outcomes} <= {0, 2}, outcomes
    assert all("in use" in err for code, err in outcomes if code == 2)
    assert set(run_keys(out).values()) == {1} and len(run_keys(out)) == 3


@pytest.mark.slow
def test_a_killed_run_leaves_the_folder_free(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``flock`` dies with its process: a SIGKILLed run never leaves the folder locked."""
    code = ("import os, signal; from logitrank.run_folder import claim\n"
            f"with claim({str(tmp_path / 'o')!r}, 'bench'):\n    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -signal.SIGKILL
    with claim(tmp_path / "o", "bench"):
        pass


# -------------------------------------------------------------------------- measure and reproduce folders
@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """Real folders of each command: two identical ``measure`` runs started together on one folder (the
    acceptance test of issue 24), one ``bench`` and one ``reproduce --tiny`` run."""
    root = tmp_path_factory.mktemp("folders")
    fuzz_checkpoints(root, {"ck": None})
    measure = ["measure", "--model", str(root / "ck"), "--text", str(root / "text.txt"), "--preset", "tiny",
               "--only", "angles", "--out", str(root / "measure"), "--no-progress"]
    procs = [start(measure, root) for _ in range(2)]
    outcomes = [finish(p) for p in procs]
    reproduce = start(["reproduce", "--tiny", "--only", "equivalence", "--out", str(root / "reproduce"),
                       "--no-progress"], root)
    bench = start(["bench", "--learner", "ngram", "--tasks", "ngram3-v8", "--budgets", "100", "--out",
                   str(root / "bench"), "--no-progress"], root)
    for name, proc in (("reproduce", reproduce), ("bench", bench)):
        code, err = finish(proc)
        assert code == 0, (name, err)
    return {"root": root, "measure": root / "measure", "bench": root / "bench",
            "reproduce": root / "reproduce", "measure_argv": measure, "outcomes": outcomes}  # type: ignore[dict-item]


@pytest.mark.slow
def test_two_identical_measure_runs_on_one_folder_end_correct_or_refused(folders) -> None:  # type: ignore[no-untyped-def]
    outcomes = folders["outcomes"]
    assert sorted(code for code, _ in outcomes)[0] == 0 and {code for code, _ in outcomes} <= {0, 2}, outcomes
    assert all("in use" in err for code, err in outcomes if code == 2)
    results = json.loads((folders["measure"] / "results.json").read_text())
    assert results["figures"]["angles"]["status"] == "ok"
    assert owner_of(folders["measure"]) == "measure"


COMMANDS = {
    "bench": ["bench", "--learner", "ngram", "--tasks", "ngram3-v8", "--budgets", "100", "--no-progress"],
    "reproduce": ["reproduce", "--tiny", "--only", "equivalence", "--no-progress"],
}


@pytest.mark.slow
@pytest.mark.parametrize("command, owner", [(c, o) for c in ("bench", "measure", "reproduce")
                                            for o in ("bench", "measure", "reproduce") if c != o])
def test_a_command_is_refused_in_another_commands_folder(folders, command: str, owner: str) -> None:  # type: ignore[no-untyped-def]
    folder = folders[owner]
    argv = (folders["measure_argv"][:-3] + ["--no-progress"] if command == "measure" else COMMANDS[command])
    before = snapshot(folder)
    code, err = finish(start([*argv, "--out", str(folder)], folders["root"]))
    assert code == 2, err
    assert f"{str(folder)!r} belongs to `logitrank {owner}`, not `logitrank {command}`" in err
    assert snapshot(folder) == before  # nothing replaced, appended or swept


# -------------------------------------------------------------------------- F18: stale temporaries
@pytest.mark.slow
def test_stale_tmp_files_are_removed_when_a_run_starts(folders, capsys) -> None:  # type: ignore[no-untyped-def]
    out = folders["measure"]
    stale = [out / "results.json.abc123.tmp", out / "steps" / "angles.json.def456.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    assert main(folders["measure_argv"]) == 0, capsys.readouterr().err
    assert not any(path.exists() for path in stale)
    assert not list(out.rglob("*.tmp"))


# -------------------------------------------------------------------------- the marker and the claim
def test_folders_written_before_markers_are_recognised(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for command, name in (("measure", "measure.json"), ("bench", "results.jsonl"), ("reproduce", "report.md"),
                          ("train", "latest.json"), ("extract", "manifest.json")):
        folder = tmp_path / command
        folder.mkdir()
        (folder / name).write_text("{}")
        assert owner_of(folder) == command
        other = "reproduce" if command == "bench" else "bench"
        with pytest.raises(ValueError, match=f"belongs to `logitrank {command}`, not `logitrank {other}`"):
            with claim(folder, other):
                pass
        assert not (folder / OWNER_FILE).exists()  # refused before writing anything
    with claim(tmp_path / "measure", "measure"):  # its own command adopts it
        assert owner_of(tmp_path / "measure") == "measure"


def test_a_damaged_owner_marker_is_named(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / OWNER_FILE).write_text('{"command": 3}')
    code = main([*COMMANDS["bench"], "--out", str(tmp_path / "o")])
    assert code == 2 and OWNER_FILE in capsys.readouterr().err


def test_claims_nest_in_one_process_but_never_across_commands(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with claim(tmp_path / "o", "bench"):
        with claim(tmp_path / "o", "bench"):  # the CLI around bench.run
            pass
        with pytest.raises(ValueError, match="is being written by `logitrank bench` in this process"):
            with claim(tmp_path / "o", "measure"):
                pass
        (tmp_path / "o" / "results.jsonl").write_text("")
    assert owner_of(tmp_path / "o") == "bench"


def test_another_process_is_refused_while_the_folder_is_held(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (f"from logitrank.run_folder import claim\nwith claim({str(tmp_path / 'o')!r}, 'bench'):\n"
            "    pass\n")
    with claim(tmp_path / "o", "bench"):
        proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                              capture_output=True, text=True)
    assert proc.returncode == 1 and FolderBusyError.__name__ in proc.stderr and "is in use" in proc.stderr


def test_a_refused_run_leaves_no_folder(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = main(["bench", "--learner", "no-such-learner", "--tasks", "ngram3-v8", "--budgets", "100", "--out",
                 str(tmp_path / "o"), "--no-progress"])
    assert code == 2, capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command, owner", [("train", "bench"), ("extract", "measure"), ("bench", "train"),
                                            ("measure", "extract")])
def test_train_and_extract_folders_are_owned_too(tmp_path, capsys, command: str, owner: str) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "o"
    folder.mkdir()
    with claim(folder, owner):
        pass
    argv = {"train": ["train", "--preset", "tiny", "--steps", "1"],
            "extract": ["extract", "--histories", "4", "--futures", "4"],
            "bench": COMMANDS["bench"],
            "measure": ["measure", "--model", str(tmp_path / "none"), "--corpus", "shakespeare"]}[command]
    assert main([*argv, "--out", str(folder), "--no-progress"]) == 2
    assert f"belongs to `logitrank {owner}`, not `logitrank {command}`" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == sorted([LOCK_FILE, OWNER_FILE])


def test_a_file_system_without_locks_runs_with_a_warning_and_sweeps_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import filelock

    def no_flock(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise NotImplementedError("FileSystem does not appear to support flock")

    monkeypatch.setattr(filelock.FileLock, "acquire", no_flock)
    (tmp_path / "o").mkdir()
    other = tmp_path / "o" / "results.json.abc.tmp"  # maybe another run's write in progress: kept
    other.write_text("{")
    with pytest.warns(RuntimeWarning, match="has no file locks"):
        with claim(tmp_path / "o", "bench"):
            pass
    assert other.exists() and owner_of(tmp_path / "o") == "bench"
