"""``logitrank measure`` killed (SIGKILL, a real subprocess) in the middle of its shard extraction resumes to
the numbers of an uninterrupted run; a 2-worker dask LocalCluster gives the local run's matrix and alpha."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import make_text, save_checkpoint, tol  # noqa: E402

from logitrank import load_json  # noqa: E402
from logitrank.shards import open_shards  # noqa: E402


@pytest.fixture(scope="module")
def llama(tmp_path_factory):  # type: ignore[no-untyped-def]
    from llm_bridge.corpus import CharTokenizer

    root = tmp_path_factory.mktemp("resume")
    text = make_text(1500, seed=1)
    (root / "text.txt").write_text(text)
    return str(save_checkpoint(root / "llama", "tiny-llama", CharTokenizer.from_text(text), seed=1)), \
        str(root / "text.txt")


def spectrum_config():  # type: ignore[no-untyped-def]
    from experiments.measure import Config

    # two histories per shard: 24 shards of the token-mean pass, then 24 of the matrix
    return Config.preset("tiny", only=("spectrum", "kl_scales"), shard_rows=2, progress=False)


@pytest.mark.slow
def test_killed_measure_resumes_to_the_uninterrupted_numbers(llama, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from experiments.measure import MeasureRequest, run_measure

    model, text = llama
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "logitrank_cli", "measure", "--model", model, "--text", text, "--preset",
           "tiny", "--only", "spectrum,kl_scales", "--shard-rows", "2", "--out", str(killed), "--no-progress"]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shards = killed / "shards" / "spectrum"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (shards / "token-means.partial.npz").exists() or any(shards.glob("shard-*.npy")):
            break
        time.sleep(0.002)
    assert proc.poll() is None, f"measure ended before it could be killed: {proc.stderr.read()!r}"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert not (killed / "steps" / "spectrum.json").exists()  # killed mid-extraction
    manifest = load_json(shards / "manifest.json")
    assert manifest["tokens"] is None or open_shards(shards).missing()

    resumed = run_measure(MeasureRequest(model, killed, spectrum_config(), text=text))
    fresh = run_measure(MeasureRequest(model, tmp_path / "fresh", spectrum_config(), text=text))
    a = open_shards(shards).to_logit_matrix()
    b = open_shards(tmp_path / "fresh" / "shards" / "spectrum").to_logit_matrix()
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.values, b.values)  # bit for bit
    assert resumed.measurements["spectrum"]["alpha"] == fresh.measurements["spectrum"]["alpha"]
    np.testing.assert_array_equal(resumed.measurements["kl_scales"]["kl"],
                                  fresh.measurements["kl_scales"]["kl"])


@pytest.mark.slow
def test_local_cluster_gives_the_local_matrix_and_alpha(llama, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("distributed")
    from experiments.measure import Config, MeasureRequest, run_measure

    model, text = llama
    config = Config.preset("tiny", only=("spectrum",), progress=False)
    local = run_measure(MeasureRequest(model, tmp_path / "local", config, text=text))
    dask = run_measure(MeasureRequest(model, tmp_path / "dask", config, text=text, local_cluster=True,
                                      workers=2))
    a = open_shards(tmp_path / "local" / "shards" / "spectrum").to_logit_matrix()
    b = open_shards(tmp_path / "dask" / "shards" / "spectrum").to_logit_matrix()
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_allclose(a.values, b.values, **tol(np.float64))
    sl, sd = local.measurements["spectrum"], dask.measurements["spectrum"]
    assert sd["alpha"] == pytest.approx(sl["alpha"], abs=1e-9)
    assert sd["alpha_ci"] == pytest.approx(sl["alpha_ci"], abs=1e-9)
    assert Path(sd["shards"]).name == "spectrum" and sd["n_shards"] == sl["n_shards"] == 6
