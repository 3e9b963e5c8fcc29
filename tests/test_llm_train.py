"""Training small transformers: learning, checkpoints, resume after a kill, synthetic data, CLI, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from safetensors.numpy import load_file  # noqa: E402

import simulators  # noqa: E402
from llm_bridge import (  # noqa: E402
    HFModel,
    list_checkpoints,
    resolve_config,
    train_on_synthetic,
    train_tiny_lm,
)
from logitrank import sequence_log_prob  # noqa: E402
from logitrank_cli.main import main  # noqa: E402

STREAM = np.random.default_rng(0).integers(0, 12, size=4000)
VAL = np.random.default_rng(1).integers(0, 12, size=600)


def weights(ckpt) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    return load_file(str(ckpt / "model.safetensors"))


def same_weights(a, b) -> bool:  # type: ignore[no-untyped-def]
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_learns_a_periodic_stream(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stream = np.tile(np.arange(7), 600)
    cfg = resolve_config("tiny", lr=1e-2, warmup_steps=5)
    res = train_tiny_lm(stream, cfg, 40, 20, tmp_path, seed=0, validation_tokens=stream[:300])
    assert res.completed and res.step == 40
    assert res.val_losses[0][1] > 1.8  # ~log 7 at initialisation
    assert res.final_val_loss < 0.5 * res.val_losses[0][1]  # the next token is deterministic
    assert [s for s, _ in res.checkpoints] == [0, 20, 40]
    for name in ("model.safetensors", "config.json", "train_state.json", "optimizer.pt"):
        assert (tmp_path / "checkpoint-000040" / name).is_file()
    assert json.loads((tmp_path / "latest.json").read_text())["step"] == 40


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tiny", "tiny-llama"])
def test_resume_after_kill_is_bitwise_identical(tmp_path, preset, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    real_load, loads = torch.load, []

    def safe_load(*args, **kwargs):  # type: ignore[no-untyped-def]
        assert kwargs.get("weights_only") is True  # resuming never unpickles arbitrary objects
        loads.append(1)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", safe_load)
    straight = train_tiny_lm(STREAM, preset, 6, 3, tmp_path / "a", seed=3, validation_tokens=VAL)
    train_tiny_lm(STREAM, preset, 6, 3, tmp_path / "b", seed=3, validation_tokens=VAL)
    # the kill: everything after the step-3 checkpoint is lost
    shutil.rmtree(tmp_path / "b" / "checkpoint-000006")
    (tmp_path / "b" / "latest.json").write_text(json.dumps({"step": 3, "checkpoint": "checkpoint-000003"}))
    resumed = train_tiny_lm(STREAM, preset, 6, 3, tmp_path / "b", seed=3, validation_tokens=VAL)
    assert loads == [1]
    assert same_weights(tmp_path / "a" / "checkpoint-000006", tmp_path / "b" / "checkpoint-000006")
    assert resumed.train_losses == straight.train_losses and resumed.val_losses == straight.val_losses


@pytest.mark.slow
def test_kill_while_writing_a_checkpoint(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    train_tiny_lm(STREAM, "tiny", 6, 2, tmp_path / "a", seed=4)
    real_save, calls = torch.save, []

    def dying_save(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 3:  # steps 0 and 2 are written; die in the middle of step 4's checkpoint
            raise KeyboardInterrupt
        return real_save(*args, **kwargs)

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        train_tiny_lm(STREAM, "tiny", 6, 2, tmp_path / "b", seed=4)
    monkeypatch.setattr(torch, "save", real_save)
    assert (tmp_path / "b" / "checkpoint-000004.partial").exists()
    assert [s for s, _ in list_checkpoints(tmp_path / "b")] == [0, 2]
    res = train_tiny_lm(STREAM, "tiny", 6, 2, tmp_path / "b", seed=4)
    assert res.step == 6 and not (tmp_path / "b" / "checkpoint-000004.partial").exists()
    assert same_weights(tmp_path / "a" / "checkpoint-000006", tmp_path / "b" / "checkpoint-000006")


@pytest.mark.slow
def test_max_seconds_stops_with_a_checkpoint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = train_tiny_lm(STREAM, "tiny", 10_000, 5000, tmp_path, seed=0, max_seconds=0.3)
    assert not res.completed and 0 < res.step < 10_000
    assert list_checkpoints(tmp_path)[-1][0] == res.step


@pytest.mark.slow
def test_checkpoints_print_no_transformers_progress_bars(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()
    train_tiny_lm(STREAM, "tiny", 2, 1, tmp_path, seed=0, progress=False)
    HFModel(tmp_path / "checkpoint-000002")
    captured = capsys.readouterr()
    assert "Writing model shards" not in captured.err + captured.out
    assert "Loading weights" not in captured.err + captured.out
    assert hf_logging.is_progress_bar_enabled()  # the library's own setting is restored


CUDA = torch.cuda.is_available()


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="needs CUDA")])])
def test_trains_and_resumes_on_a_device(tmp_path, device) -> None:  # type: ignore[no-untyped-def]
    """Training on ``device`` learns, and its checkpoints load on the CPU (weights and optimizer state)."""
    stream = np.tile(np.arange(7), 600)
    cfg = resolve_config("tiny", lr=1e-2, warmup_steps=5)
    res = train_tiny_lm(stream, cfg, 20, 10, tmp_path, seed=0, validation_tokens=stream[:300], device=device,
                        progress=False)
    assert res.final_val_loss < 0.5 * res.val_losses[0][1]
    more = train_tiny_lm(stream, cfg, 20, 10, tmp_path, seed=0, validation_tokens=stream[:300], device="cpu",
                         progress=False)
    assert more.step == 20 and more.completed  # the finished run is found, whatever device wrote it
    assert HFModel(tmp_path / "checkpoint-000020").logits([(1, 2, 3)]).shape == (1, 7)
    with pytest.raises(ValueError, match="device: must be None, 'cpu', 'cuda' or 'cuda:N', got 'tpu'"):
        train_tiny_lm(stream, cfg, 2, 1, tmp_path / "bad", device="tpu")


@pytest.mark.slow
@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not CUDA, reason="needs CUDA")])])
def test_resuming_on_the_cpu_trains_further_steps_from_a_device_checkpoint(tmp_path, device) -> None:  # type: ignore[no-untyped-def]
    """A run written on ``device`` and cut back to its step-10 checkpoint resumes on the CPU and trains
    steps 11..20: bit for bit the uninterrupted run when it was written on the CPU, within float32
    round-off of it (other kernels) when written on CUDA."""
    from logitrank import save_json

    stream = np.tile(np.arange(7), 600)
    cfg = resolve_config("tiny", lr=1e-2, warmup_steps=5)
    train_tiny_lm(stream, cfg, 20, 10, tmp_path / "a", seed=0, device=device, progress=False)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "checkpoint-000020")
    save_json({"step": 10, "checkpoint": "checkpoint-000010"}, tmp_path / "b" / "latest.json")
    more = train_tiny_lm(stream, cfg, 20, 10, tmp_path / "b", seed=0, device="cpu", progress=False)
    assert more.step == 20 and more.completed and more.seconds > 0 and more.tokens_per_second > 0
    assert [s for s, _ in more.train_losses] == list(range(1, 21))  # the history is restored, then extended
    trained = more.tokens_per_second * more.seconds / (cfg.batch_size * cfg.context)
    assert trained == pytest.approx(10)  # this call trained steps 11..20 only, not a restart from 0
    ref = load_file(str(tmp_path / "a" / "checkpoint-000020" / "model.safetensors"))
    got = load_file(str(tmp_path / "b" / "checkpoint-000020" / "model.safetensors"))
    before = load_file(str(tmp_path / "b" / "checkpoint-000010" / "model.safetensors"))
    assert any(not np.array_equal(got[k], before[k]) for k in got)  # the weights moved after step 10
    for k in ref:
        if device == "cpu":
            np.testing.assert_array_equal(got[k], ref[k])
        else:  # ten AdamW steps from the same state on other kernels: float32 round-off, amplified a little
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_synthetic_generator_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    isan = simulators.TimeVaryingISAN.random(3, 2, 5, rng=0)
    res = train_on_synthetic(isan, 400, "tiny", 30, tmp_path, seed=0, n_validation=64)
    model = HFModel(res.checkpoints[-1][1])  # BOS id and alphabet are read from the checkpoint
    assert (model.vocab_size, model.horizon, model.bos_token_id) == (3, 5, 3)
    seqs = isan.sample(64, rng=1)
    # the transformer's log-likelihood of the generator's samples beats the uniform model's
    assert sequence_log_prob(model, seqs).mean() > 5 * np.log(1 / 3)
    assert res.final_val_loss < res.val_losses[0][1]


@pytest.mark.slow
def test_cli_train_and_resume(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = str(tmp_path / "run")
    args = ["train", "--preset", "tiny", "--steps", "2", "--checkpoint-every", "1", "--out", out,
            "--no-progress"]
    assert main(args) == 0
    assert "step 2/2 (done)" in capsys.readouterr().out
    assert main(args) == 2  # an existing run needs --resume
    assert "already holds a run" in capsys.readouterr().err
    assert main(args + ["--resume"]) == 0
    char_tokenizer = json.loads((tmp_path / "run" / "checkpoint-000002" / "char_tokenizer.json").read_text())
    assert char_tokenizer["type"] == "char"


def test_bad_training_input(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="too short for windows of context \\+ 1 = 33 tokens"):
        train_tiny_lm(np.arange(20) % 5, "tiny", 2, 1, tmp_path / "a")
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        train_tiny_lm(STREAM, "huge", 2, 1, tmp_path / "b")
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 5\)"):
        train_tiny_lm(STREAM, {"n_layer": 1, "n_embd": 8, "n_head": 2, "context": 8, "vocab_size": 5}, 2, 1,
                      tmp_path / "c")
    train_tiny_lm(STREAM, "tiny", 2, 1, tmp_path / "d")
    with pytest.raises(ValueError, match="resume: the run .* used steps=2, this call passes 3"):
        train_tiny_lm(STREAM, "tiny", 3, 1, tmp_path / "d")


def test_checkpoint_names_and_the_latest_pointer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from llm_bridge.checkpoints import (
        checkpoint_metadata,
        checkpoint_name,
        checkpoint_step,
        latest_checkpoint,
    )

    assert checkpoint_name(12) == "checkpoint-000012" and checkpoint_step("runs/checkpoint-000012") == 12
    assert checkpoint_step("checkpoint-12x") is None and checkpoint_step("latest.json") is None
    assert latest_checkpoint(tmp_path) is None and checkpoint_metadata(tmp_path) == {}
    res = train_tiny_lm(STREAM, "tiny", 2, 1, tmp_path / "r", seed=0, extra_metadata={"corpus": "x"})
    step, path = latest_checkpoint(tmp_path / "r")  # type: ignore[misc]
    assert (step, path) == res.checkpoints[-1] == (2, tmp_path / "r" / "checkpoint-000002")
    assert checkpoint_metadata(path)["corpus"] == "x" and checkpoint_metadata(path)["steps"] == 2
    (path / "optimizer.pt").unlink()  # latest.json names an incomplete checkpoint: the previous one is used
    missing = r"checkpoint-000002: named by latest.json but missing \['optimizer.pt'\]; falling back to " \
              r"checkpoint-000001"
    with pytest.warns(RuntimeWarning, match=missing):
        assert latest_checkpoint(tmp_path / "r") == (1, tmp_path / "r" / "checkpoint-000001")

