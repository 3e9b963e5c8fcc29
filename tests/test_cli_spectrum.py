"""`logitrank spectrum` end to end, and the helpers it stands on (random index sets, JSON results)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import tol

from logitrank import LogitMatrix, load_json, random_futures, random_histories, save_json, singular_values
from logitrank.index_sets import spread_lengths
from logitrank.shards import open_shards
from logitrank_cli.main import main


def test_spectrum_with_no_arguments_runs_on_defaults(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["spectrum", "--no-progress"]) == 0
    out = tmp_path / "logitrank-results" / "spectrum"
    summary = load_json(out / "summary.json")
    assert summary["shape"] == [256, 256 * 16]
    assert summary["numerical_rank"] == summary["rank_bound"] == 8  # a random ISAN of dimension 8
    L = LogitMatrix.load(out / "matrix.npz")
    np.testing.assert_allclose(singular_values(L), summary["singular_values"], **tol())
    text = capsys.readouterr().out
    assert "numerical rank" in text and "alpha =" in text and "eps=0.01" in text


def test_spectrum_options(tmp_path, capsys):
    args = ["spectrum", "--vocab", "6", "--dim", "3", "--horizon", "7", "--histories", "30",
            "--futures", "30", "--top-k", "2", "--history-length", "2", "--seed", "3", "--method", "gram",
            "--out", str(tmp_path)]
    assert main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["shape"] == [30, 60] and summary["numerical_rank"] == 3 and summary["history_length"] == 2
    assert summary["power_law"] is not None and summary["approx_rank"]["0.1"] <= 3
    assert summary["method"] == "gram" and summary["rtol"] == 1e-6
    L = LogitMatrix.load(tmp_path / "matrix.npz")
    assert all(len(h) == 2 for h in L.histories) and max(len(f) for f in L.futures) == 4


def test_spectrum_of_other_families(tmp_path):
    # a planted power-law spectrum through the family registry and a family keyword
    args = ["spectrum", "--model", "planted", "--set", "alpha=0.7", "--dim", "32", "--horizon", "10",
            "--history-length", "4", "--histories", "512", "--futures", "128", "--out", str(tmp_path / "p")]
    assert main(args) == 0
    summary = load_json(tmp_path / "p" / "summary.json")
    fit = summary["power_law"]
    assert summary["numerical_rank"] == 32 and abs(fit["alpha"] - 0.7) <= 0.03
    assert fit["alpha_ci"][0] <= 0.7 <= fit["alpha_ci"][1]
    # a binary family gets V = 2 when --vocab is not given
    assert main(["spectrum", "--model", "noisy-parity", "--histories", "16", "--futures", "16",
                 "--out", str(tmp_path / "n")]) == 0
    summary = load_json(tmp_path / "n" / "summary.json")
    assert summary["shape"][1] == 16 * 2 and summary["numerical_rank"] == summary["rank_bound"] == 1


def test_spectrum_and_extract_of_a_binary_family_run_on_defaults(tmp_path, monkeypatch, capsys):
    """noisy-parity (V = 2, T = 12, t = 6) has 64 histories and 63 futures of lengths 0..5: the default
    |H| = |F| = 256 is clipped to all of them (with a note), and the two commands draw the same sets."""
    monkeypatch.chdir(tmp_path)
    assert main(["spectrum", "--model", "noisy-parity", "--no-progress"]) == 0
    summary = load_json(tmp_path / "logitrank-results" / "spectrum" / "summary.json")
    assert (summary["n_histories"], summary["n_futures"], summary["shape"]) == (64, 63, [64, 126])
    assert summary["numerical_rank"] == summary["rank_bound"] == 1  # the label's logit is one parity
    err = capsys.readouterr().err
    assert "|H| = 64 instead of the default 256" in err and "|F| = 63 instead of the default 256" in err
    assert main(["extract", "--model", "noisy-parity", "--out", "D", "--no-progress"]) == 0
    sm = open_shards(tmp_path / "D")
    assert sm.shape == (64, 126)
    L = LogitMatrix.load(tmp_path / "logitrank-results" / "spectrum" / "matrix.npz")
    np.testing.assert_allclose(sm.singular_values(method="gram", progress=False)[:1], singular_values(L)[:1],
                               rtol=1e-5)
    # an explicit size the family cannot take stays an error naming the rule and the value
    assert main(["extract", "--model", "noisy-parity", "--histories", "100", "--out", "E"]) == 2
    assert "histories: must be <= 64 (the number of distinct histories of length 6 over 2 tokens), got 100" \
        in capsys.readouterr().err


@pytest.mark.parametrize("extra,message", [(["--history-length", "12"], "history-length"),
                                           (["--top-k", "20"], "--top-k: must be <= 16"),
                                           (["--model", "no-such-model"], "model"),
                                           (["--histories", "5000", "--history-length", "3"], "histories"),
                                           (["--set", "alpha"], "set: must look like KEY=VALUE")])
def test_spectrum_bad_input_exits_2(tmp_path, capsys, extra, message):
    assert main(["spectrum", "--out", str(tmp_path), "--histories", "8", "--futures", "8", *extra]) == 2
    assert message in capsys.readouterr().err


def test_random_index_sets():
    H = random_histories(3, 27, 3, rng=0)  # every sequence of length 3, in random order
    assert sorted(H) == sorted({h for h in H}) and len(H) == 27 and all(len(h) == 3 for h in H)
    F = random_futures(4, 40, 3, rng=1)
    assert len(set(F)) == 40 and [len(f) for f in F] == sorted(len(f) for f in F)
    counts = spread_lengths(4, 40, 0, 3)
    assert counts == {0: 1, 1: 4, 2: 16, 3: 19} and sum(counts.values()) == 40
    assert random_futures(4, 40, 3, rng=1) == F  # reproducible from the seed
    with pytest.raises(ValueError, match="n: must be <= 27"):
        random_histories(3, 28, 3, rng=0)
    with pytest.raises(ValueError, match="n: must be <= 6"):
        random_futures(2, 7, 2, min_length=1, rng=0)


@dataclass
class Point:
    x: np.ndarray
    n: np.int64


def test_json_round_trip_is_numpy_aware_and_atomic(tmp_path):
    obj = {"a": np.arange(3), "b": np.float32(0.5), "c": (1, 2), "p": Point(np.ones(2), np.int64(4)),
           "ok": np.bool_(True), "nan": float("nan")}
    path = save_json(obj, tmp_path / "sub" / "r.json")
    back = load_json(path)
    assert back["a"] == [0, 1, 2] and back["b"] == 0.5 and back["c"] == [1, 2] and back["ok"] is True
    assert back["p"] == {"x": [1.0, 1.0], "n": 4} and np.isnan(back["nan"])
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["r.json"]  # no temporary file left
    with pytest.raises(TypeError, match="obj: cannot encode a object as JSON: <object object"):
        save_json({"f": object()}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()
    with pytest.raises(FileNotFoundError, match=r"path: no JSON file at .*missing\.json"):
        load_json(tmp_path / "missing.json")


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    from logitrank.results_io import atomic_write, atomic_write_text, dumps_json

    path = atomic_write_text(tmp_path / "a.txt", "old")

    def dies_halfway(fh):  # type: ignore[no-untyped-def]
        fh.write(b"new, half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies_halfway)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    # one NaN policy: non-finite floats stay floats (NaN / Infinity), read back as such
    assert dumps_json({"x": [np.float32(np.inf), -np.inf, np.nan]}) == '{"x": [Infinity, -Infinity, NaN]}'

