"""Sharded resumable extraction, the shard reader, spectra from shards and the single-pass sketch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import tol
from scipy.linalg import svdvals

from logitrank import extended_logit_matrix, random_futures, random_histories
from logitrank.shards import extract, open_shards
from logitrank.sketch import single_pass_svd
from simulators import TimeVaryingISAN

V, D, T, TH = 8, 6, 8, 3
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup():
    model = TimeVaryingISAN.random(V, D, T, rng=0)
    H = random_histories(V, 50, TH, rng=1)
    F = random_futures(V, 40, T - 1 - TH, rng=2)
    return model, H, F


def snapshot(path: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(path.iterdir())}


@pytest.mark.parametrize(("top_k", "rule"), [(None, "mean"), (3, "mean"), (3, "random")])
def test_shards_equal_extended_logit_matrix(setup, tmp_path, top_k, rule):
    model, H, F = setup
    L = extended_logit_matrix(model, H, F, top_k=top_k, token_rule=rule, rng=7)
    sm = extract(model, H, F, tmp_path / "a", shard_rows=16, top_k=top_k, token_rule=rule, dtype="float64",
                 rng=7)
    M = sm.to_logit_matrix()
    assert sm.n_shards == 4 and sm.shape == L.shape and sm.complete
    np.testing.assert_array_equal(M.values, L.values)  # same arithmetic on the same rows: bit-identical
    np.testing.assert_array_equal(M.tokens, L.tokens)
    assert M.histories == L.histories and M.futures == L.futures
    # float32 shards are the float64 matrix rounded once
    s32 = extract(model, H, F, tmp_path / "b", shard_rows=16, top_k=top_k, token_rule=rule, rng=7)
    np.testing.assert_array_equal(np.concatenate(list(s32.row_blocks())), L.values.astype(np.float32))
    # column blocks from memory-mapped shards reassemble the matrix
    np.testing.assert_array_equal(np.concatenate(list(sm.column_blocks(37)), axis=1), L.values)
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["shape"] == list(L.shape) and manifest["vocab_size"] == V
    assert [s["rows"] for s in manifest["shards"]] == [[0, 16], [16, 32], [32, 48], [48, 50]]


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from logitrank import random_futures, random_histories
    from logitrank.shards import extract
    from simulators import TimeVaryingISAN

    class Slow:  # the same model, slowed down so that the test can kill it mid-way
        def __init__(self, m):
            self.m, self.vocab_size, self.horizon = m, m.vocab_size, m.horizon
        def logits(self, prefixes):
            return self.m.logits(prefixes)
        def extended_logits(self, H, F):
            time.sleep(0.25)
            return self.m.extended_logits(H, F)

    model = TimeVaryingISAN.random({V}, {D}, {T}, rng=0)
    H = random_histories({V}, 50, {TH}, rng=1)
    F = random_futures({V}, 40, {T} - 1 - {TH}, rng=2)
    extract(Slow(model), H, F, sys.argv[1], shard_rows=7, top_k=3, model_id="isan-0", progress=False)
""").format(V=V, D=D, T=T, TH=TH)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["token-means", "shards"])
def test_kill_and_resume_is_bit_identical(setup, tmp_path, stage):
    model, H, F = setup
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(out)], cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if stage == "token-means" and (out / "token-means.partial.npz").exists():
                break
            if stage == "shards" and len(list(out.glob("shard-*.npy"))) >= 2:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "extraction finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    done = len(list(out.glob("shard-*.npy")))
    assert done < 8  # killed mid-way: 8 shards of 7 rows
    (out / "shard-00007.npy.abc.tmp").write_bytes(b"partial garbage of a killed write")
    resumed = extract(model, H, F, out, shard_rows=7, top_k=3, model_id="isan-0")
    clean = extract(model, H, F, tmp_path / "clean", shard_rows=7, top_k=3, model_id="isan-0")
    assert resumed.complete and not list(out.glob("*.tmp")) and not (out / "token-means.partial.npz").exists()
    for i in range(8):
        name = f"shard-{i:05d}.npy"
        assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes()
    assert resumed.manifest == clean.manifest
    np.testing.assert_array_equal(resumed.to_logit_matrix().values,
                                  extended_logit_matrix(model, H, F, top_k=3).values.astype(np.float32))


def test_rerun_skips_finished_shards(setup, tmp_path):
    model, H, F = setup
    extract(model, H, F, tmp_path, shard_rows=16)
    os.remove(tmp_path / "shard-00002.npy")
    before = snapshot(tmp_path)
    extract(model, H, F, tmp_path, shard_rows=16)
    after = snapshot(tmp_path)
    rewritten = ("shard-00002.npy", "shard-00002.npy.sum.json")  # the shard and its checksum file
    assert {k: v for k, v in after.items() if k not in rewritten} == \
        {k: v for k, v in before.items() if k not in rewritten}  # untouched, not rewritten


def test_manifest_mismatch_is_refused_and_nothing_is_written(setup, tmp_path):
    model, H, F = setup
    extract(model, H, F, tmp_path, shard_rows=16, top_k=3)
    os.remove(tmp_path / "shard-00001.npy")  # an unfinished directory: a mixed run would fill this in
    before = snapshot(tmp_path)
    other = TimeVaryingISAN.random(V, D, T, rng=99)
    for kwargs, field in [({"model": other}, "model_id"), ({"H": H[:-1]}, "histories_sha256"),
                          ({"F": F[::-1]}, "futures_sha256"), ({"top_k": 4}, "top_k"),
                          ({"dtype": "float64"}, "dtype"), ({"token_rule": "random"}, "token_rule")]:
        args = {"model": model, "H": H, "F": F, "top_k": 3, "dtype": "float32", "token_rule": "mean"}
        args.update(kwargs)
        with pytest.raises(ValueError, match=f"refusing to mix results.*{field}"):
            extract(args["model"], args["H"], args["F"], tmp_path, shard_rows=16, top_k=args["top_k"],
                    dtype=args["dtype"], token_rule=args["token_rule"])
        assert snapshot(tmp_path) == before
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "shard-00000.npy").write_bytes(b"x")
    with pytest.raises(ValueError, match="no manifest.json"):
        extract(model, H, F, stray)


def test_unwritable_output_directory_fails_before_any_work(setup, tmp_path):
    model, H, F = setup
    calls = []

    class Counting:
        vocab_size, horizon = model.vocab_size, model.horizon

        def logits(self, prefixes):
            calls.append(len(prefixes))
            return model.logits(prefixes)

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(PermissionError, match="out: .*cannot be created or written"):
        extract(Counting(), H, F, blocker / "shards", model_id="m")
    with pytest.raises(PermissionError, match="out: must be a directory"):
        extract(Counting(), H, F, blocker, model_id="m")
    assert calls == []


def test_bad_arguments_and_incomplete_reads(setup, tmp_path):
    model, H, F = setup
    with pytest.raises(ValueError, match="dtype: must be one of"):
        extract(model, H, F, tmp_path / "x", dtype="float16")
    with pytest.raises(ValueError, match="top_k: must be <= 8, got 9"):
        extract(model, H, F, tmp_path / "x", top_k=9)
    sm = extract(model, H, F, tmp_path / "y", shard_rows=20)
    os.remove(tmp_path / "y" / "shard-00001.npy")
    with pytest.raises(ValueError, match="incomplete"):
        sm.singular_values()
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        open_shards(tmp_path / "x")


def test_gram_from_shards_matches_exact_svd(setup, tmp_path):
    model, H, F = setup
    L = extended_logit_matrix(model, H, F).values
    exact = svdvals(L)
    sm = extract(model, H, F, tmp_path / "64", shard_rows=16, dtype="float64")
    s = sm.singular_values(block_columns=37)
    assert s.shape == exact.shape
    # rank D: the top D agree to round-off; the rest are Gram round-off, below sqrt(eps) sigma_1
    np.testing.assert_allclose(s[:D], exact[:D], rtol=tol(np.float64)["rtol"])
    assert s[D:].max() < 1e-7 * s[0] and exact[D:].max() < 1e-12 * s[0]
    s32 = extract(model, H, F, tmp_path / "32", shard_rows=16).singular_values(block_columns=100)
    np.testing.assert_allclose(s32[:D], svdvals(L.astype(np.float32).astype(np.float64))[:D],
                               rtol=tol(np.float64)["rtol"])
    np.testing.assert_allclose(sm.singular_values(method="sketch", rank=D, rng=0), exact[:D],
                               rtol=tol(np.float64)["rtol"])


def planted(m: int, n: int, top: np.ndarray, tail_scale: float, rng: int) -> tuple[np.ndarray, np.ndarray]:
    """``U diag(s) V^T`` with the given top values and a geometric tail ``tail_scale 0.7^i``."""
    gen = np.random.default_rng(rng)
    q = min(m, n)
    s = np.concatenate([top, tail_scale * 0.7 ** np.arange(q - len(top))])
    U = np.linalg.qr(gen.standard_normal((m, q)))[0]
    W = np.linalg.qr(gen.standard_normal((n, q)))[0]
    return (U * s) @ W.T, s


def row_blocks(A: np.ndarray, size: int):
    for i in range(0, A.shape[0], size):
        yield A[i : i + size]


def test_single_pass_sketch_exact_on_low_rank():
    A, s = planted(150, 900, np.array([10.0, 8, 6, 4, 2]), 0.0, rng=3)
    U, sk, Vt = single_pass_svd(row_blocks(A, 40), 900, 5, rng=0, oversample=3)
    np.testing.assert_allclose(sk, s[:5], rtol=tol(np.float64)["rtol"])
    np.testing.assert_allclose((U * sk) @ Vt, A, atol=tol(np.float64)["atol"])
    np.testing.assert_allclose(U.T @ U, np.eye(5), atol=tol(np.float64)["atol"])


@pytest.mark.slow
def test_single_pass_sketch_planted_decay():
    top = np.array([10.0, 8, 6, 4, 3])
    A, s = planted(200, 1200, top, 1e-4, rng=4)
    _, sk, Vt = single_pass_svd(row_blocks(A, 64), 1200, 5, rng=1, oversample=10)
    # error ~ tail energy (Tropp et al. 2017): sqrt(sum_{i>5} s_i^2) ~ 1.4e-4, i.e. < 1e-4 relative to 3
    np.testing.assert_allclose(sk, top, rtol=1e-4)
    assert not np.allclose(sk, top, rtol=1e-12)  # the tail is there: this is not a trivially exact case
    exact_vt = np.linalg.svd(A, full_matrices=False)[2][:5]
    cosines = np.linalg.svd(Vt @ exact_vt.T, compute_uv=False)
    assert cosines.min() > 1 - 1e-6
    with pytest.raises(ValueError, match="row_blocks\\[0\\]: must have shape"):
        single_pass_svd([A[:, :10]], 1200, 5, rng=0)
    with pytest.raises(ValueError, match="rank: must be <= min"):
        single_pass_svd([A[:3]], 1200, 5, rng=0)


def test_sketch_vectors_from_shards(setup, tmp_path):
    model, H, F = setup
    L = extended_logit_matrix(model, H, F).values
    U, s, Vt = extract(model, H, F, tmp_path, shard_rows=16, dtype="float64").sketch_svd(D, rng=0)
    np.testing.assert_allclose((U * s) @ Vt, L, atol=tol(np.float64, scale=100)["atol"] * np.abs(L).max())


def test_cli_extract_then_spectrum_from(tmp_path, capsys):
    from logitrank_cli.main import main

    out = tmp_path / "shards"
    common = ["--vocab", "6", "--dim", "4", "--horizon", "6", "--histories", "40", "--futures", "12",
              "--shard-rows", "16", "--out", str(out)]
    assert main(["extract", *common]) == 0
    assert main(["extract", *common]) == 0  # resumes: nothing to do
    assert main(["extract", *common[:-2], "--top-k", "3", "--out", str(out)]) == 2  # mismatch refused
    assert "refusing to mix results" in capsys.readouterr().err
    assert main(["spectrum", "--from", str(out), "--out", str(tmp_path / "spec")]) == 0
    summary = json.loads((tmp_path / "spec" / "summary.json").read_text())
    assert summary["numerical_rank"] == 4 and summary["shape"] == [40, 72]
