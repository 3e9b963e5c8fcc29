"""``logitrank measure`` end to end on random tiny GPT-2 and Llama checkpoints (and one trained by
``logitrank train``), ``extract --model PATH``, and every refusal (parameter, rule and value)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from conftest import make_text, save_checkpoint, tol  # noqa: E402

from logitrank import extended_logit_matrix, load_json  # noqa: E402
from logitrank.shards import open_shards  # noqa: E402
from logitrank_cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):  # type: ignore[no-untyped-def]
    from llm_bridge.corpus import CharTokenizer

    root = tmp_path_factory.mktemp("measure")
    text = make_text(1500)
    (root / "text.txt").write_text(text)
    tok = CharTokenizer.from_text(text)
    return {"text": str(root / "text.txt"), "root": root, "V": tok.vocab_size,
            "gpt2": str(save_checkpoint(root / "gpt2", "tiny", tok)),
            "llama": str(save_checkpoint(root / "llama", "tiny-llama", tok)),
            "gpt2-beta": str(save_checkpoint(root / "gpt2-beta", "tiny", tok, beta=True))}


def width(model_dir: str) -> int:
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    return int(cfg.get("n_embd") or cfg["hidden_size"])


def measure(model: str, out: Path, *extra: str, text: str | None = None) -> int:
    args = ["measure", "--model", model, "--preset", "tiny", "--out", str(out), "--no-progress"]
    return main(args + (["--text", text] if text else []) + list(extra))


@pytest.mark.slow
@pytest.mark.parametrize("arch, offset", [("gpt2", -1), ("llama", 0)])
def test_measure_end_to_end(models, tmp_path, capsys, arch, offset) -> None:  # type: ignore[no-untyped-def]
    """Fresh GPT-2 (LayerNorm, beta = 0) shows d - 1, Llama (RMSNorm, no bias) d: SPEC's rule."""
    assert measure(models[arch], tmp_path, text=models["text"]) == 0
    d = width(models[arch])
    res = load_json(tmp_path / "results.json")
    figs = res["figures"]
    assert list(figs) == ["spectrum", "kl_scales", "hidden_dim", "angles", "lingen"]
    assert all(f["status"] == "ok" for f in figs.values())
    hd = figs["hidden_dim"]["numbers"]
    assert hd["config hidden size d"] == d == res["model"]["hidden_size"]
    assert hd["expected by SPEC's rule"] == d + offset
    assert hd["estimate (largest log-gap)"] == d + offset
    kl = figs["kl_scales"]["numbers"]  # GLS2's average L1 error of the truncations, in the report too
    assert kl["L1 error at r = 1"] and isinstance(kl["L1 error slope (largest size)"], float)
    assert "L1 error at r = 1" in (tmp_path / "report.md").read_text()
    spec = load_json(tmp_path / "steps" / "spectrum.json")["result"]
    lo, hi = spec["alpha_ci"]
    assert lo <= spec["alpha"] <= hi and spec["shape"] == [48, 48 * 8]
    assert spec["n_shards"] == 6  # 48 rows in shards of 8 (tiny preset)
    report = (tmp_path / "report.md").read_text()
    assert report.startswith(f"# logit-rank: measurements of `{models[arch]}`")
    assert f"Estimate {d + offset} vs {d + offset} expected" in report
    for name in ("spectrum", "kl_scales", "hidden_dim", "angles"):
        assert (tmp_path / f"measure_{name}.png").stat().st_size > 1000
    assert "| lingen |" in report
    out = capsys.readouterr().out
    assert f"d = {d}" in out and "wrote" in out


@pytest.mark.slow
def test_gpt2_with_layernorm_shift_shows_full_width(models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Negative control of the d - 1 above: the same GPT-2 with beta != 0 has rank d."""
    assert measure(models["gpt2-beta"], tmp_path, "--only", "hidden_dim", text=models["text"]) == 0
    hd = load_json(tmp_path / "results.json")["figures"]["hidden_dim"]["numbers"]
    d = width(models["gpt2-beta"])
    assert hd["expected by SPEC's rule"] == hd["estimate (largest log-gap)"] == d


@pytest.mark.slow
def test_sharded_spectrum_equals_the_experiment(models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The shard path gives the windows, matrix and fit of experiments.spectrum.run."""
    from experiments import spectrum
    from experiments.measure import Config, MeasureRequest, prepare, run_measure
    from logitrank.validation import spawn_seeds

    config = Config.preset("tiny", only=("spectrum",), progress=False)
    res = run_measure(MeasureRequest(models["llama"], tmp_path, config, text=models["text"]))
    inp, _ = prepare(models["llama"], config, text=models["text"])
    ref = spectrum.run(inp.experiment_inputs(), config.spectrum, rng=spawn_seeds(config.seed, 5)[0])
    got = res.measurements["spectrum"]
    np.testing.assert_allclose(got["singular_values"], ref.singular_values, **tol(np.float64))
    assert got["alpha"] == pytest.approx(ref.alpha, abs=1e-9)
    assert got["alpha_ci"] == pytest.approx(list(ref.fit.alpha_ci), abs=1e-9)


@pytest.mark.slow
def test_measure_a_checkpoint_trained_by_logitrank_train(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A trained GPT-2 (beta moved off 0) shows its full width d on the Shakespeare validation plays."""
    run_dir = tmp_path / "run"
    assert main(["train", "--preset", "tiny", "--steps", "3", "--checkpoint-every", "3",
                 "--out", str(run_dir), "--no-progress"]) == 0
    ckpt = run_dir / "checkpoint-000003"
    assert measure(str(ckpt), tmp_path / "m", "--corpus", "shakespeare", "--earlier",
                   str(run_dir / "checkpoint-000000")) == 0
    res = load_json(tmp_path / "m" / "results.json")
    hd = res["figures"]["hidden_dim"]["numbers"]
    assert hd["estimate (largest log-gap)"] == hd["expected by SPEC's rule"] == width(str(ckpt)) == 16
    assert "earlier_checkpoint" in res["figures"]["lingen"]["numbers"]
    assert "mean cosine model vs earlier" in res["figures"]["angles"]["numbers"]
    assert "shakespeare validation plays" in res["model"]["text"]


@pytest.mark.slow
def test_extract_hf_checkpoint_matches_in_memory_matrix(models, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from llm_bridge import HFModel

    out = tmp_path / "shards"
    assert main(["extract", "--model", models["gpt2"], "--text", models["text"], "--histories", "20",
                 "--futures", "12", "--history-length", "10", "--future-length", "4", "--top-k", "5",
                 "--shard-rows", "6", "--out", str(out), "--no-progress"]) == 0
    sm = open_shards(out)
    assert sm.shape == (20, 12 * 5) and sm.n_shards == 4
    H, F = sm.sets()
    ref = extended_logit_matrix(HFModel(models["gpt2"], device="cpu"), H, F, top_k=5, progress=False)
    got = sm.to_logit_matrix()
    np.testing.assert_array_equal(got.tokens, ref.tokens)
    np.testing.assert_allclose(got.values, ref.values, **tol(np.float32))  # stored in float32


# ------------------------------------------------------------------------------------------- refusals


def refused(capsys, code: int, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    err = capsys.readouterr().err
    assert code == 2, err
    for f in fragments:
        assert f in err, (f, err)


def test_refuses_a_directory_that_is_not_a_causal_lm(models, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty"
    empty.mkdir()
    refused(capsys, measure(str(empty), tmp_path / "o1", text=models["text"]),
            "model: must be a causal-LM checkpoint directory holding config.json", str(empty),
            "no config.json")
    vit = tmp_path / "vit"
    vit.mkdir()
    (vit / "config.json").write_text(json.dumps({"model_type": "vit"}))
    refused(capsys, measure(str(vit), tmp_path / "o2", text=models["text"]),
            "model: must be a causal language model", "model_type 'vit'")
    weightless = tmp_path / "weightless"
    weightless.mkdir()
    for f in ("config.json", "char_tokenizer.json"):
        (weightless / f).write_text((Path(models["gpt2"]) / f).read_text())
    refused(capsys, measure(str(weightless), tmp_path / "o3", text=models["text"]),
            "model: checkpoint directory", "is missing ['model.safetensors']")


def test_refuses_top_k_above_the_vocabulary(models, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    V = models["V"]
    refused(capsys, measure(models["gpt2"], tmp_path, "--top-k", "500", text=models["text"]),
            f"top-k: must be <= the vocabulary size V = {V}", "got 500")
    refused(capsys, main(["extract", "--model", models["gpt2"], "--text", models["text"], "--top-k", "99",
                          "--out", str(tmp_path / "x")]),
            f"top-k: must be <= the vocabulary size V = {V}", "got 99")


def test_top_k_is_checked_only_against_the_measurements_that_run(models, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """F04: ``--only lingen`` does not read k, so a k above V is not refused there; with ``angles`` it is."""
    V = models["V"]
    assert measure(models["gpt2"], tmp_path / "lingen", "--only", "lingen", "--top-k", "500",
                   text=models["text"]) == 0
    assert load_json(tmp_path / "lingen" / "results.json")["figures"]["lingen"]["status"] == "ok"
    refused(capsys, measure(models["gpt2"], tmp_path / "angles", "--only", "angles", "--top-k", "500",
                            text=models["text"]), f"top-k: must be <= the vocabulary size V = {V}", "angles")


def test_refuses_text_too_short_for_the_windows(models, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    short = tmp_path / "short.txt"
    short.write_text(make_text(40))  # same alphabet, a few hundred characters
    n = len(short.read_text())
    need = 48 * 12 + 48 * 4  # the tiny preset's spectrum windows
    refused(capsys, measure(models["gpt2"], tmp_path / "o", "--only", "spectrum", text=str(short)),
            f"text: must hold at least {need} tokens for the disjoint windows of spectrum", f"got {n} tokens")


def test_refuses_a_tokenizer_that_does_not_match(models, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    wider = tmp_path / "wider.txt"
    text = make_text(1500) + "0123456789"  # 10 characters the model's alphabet lacks
    wider.write_text(text)
    V = models["V"]
    refused(capsys, measure(models["gpt2"], tmp_path / "o1", "--tokenizer", "char", text=str(wider)),
            "tokenizer: its vocabulary must match the model's output vocabulary",
            f"got V_tokenizer={V + 10} for a model with V_model={V}")
    bare = tmp_path / "bare"  # weights without a saved tokenizer: auto has nothing to use
    bare.mkdir()
    for f in ("config.json", "model.safetensors"):
        (bare / f).write_bytes((Path(models["gpt2"]) / f).read_bytes())
    refused(capsys, measure(str(bare), tmp_path / "o2", text=models["text"]),
            "tokenizer: 'auto' needs a tokenizer saved with the model", f"got 'auto' for {str(bare)!r}")


def test_refuses_cuda_without_cuda(models, tmp_path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    refused(capsys, measure(models["gpt2"], tmp_path, "--device", "cuda", text=models["text"]),
            "device: 'cuda' needs a CUDA device visible to torch", "got 'cuda'")


def test_refuses_text_and_corpus_together_or_neither(models, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    refused(capsys, measure(models["gpt2"], tmp_path / "a", "--corpus", "shakespeare", text=models["text"]),
            "text: give exactly one of", f"text={models['text']!r}, corpus='shakespeare'")
    refused(capsys, measure(models["gpt2"], tmp_path / "b"), "text: give exactly one of",
            "text=None, corpus=None")


@pytest.mark.slow
def test_refuses_to_mix_two_runs_in_one_directory(models, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert measure(models["llama"], tmp_path, "--only", "hidden_dim", text=models["text"]) == 0
    capsys.readouterr()
    refused(capsys, measure(models["llama"], tmp_path, "--only", "hidden_dim", "--seed", "1",
                            text=models["text"]),
            "holds measurements of a different run (differences: config)")
