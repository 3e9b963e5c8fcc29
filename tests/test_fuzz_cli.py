"""Fuzz the command line as a careless user would (issue 24): every bad value ends as exit 2 with a
message naming the option as it was typed, never a traceback, a silent default or a run of everything."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import forbid_the_hub, fuzz_checkpoints, refused

from logitrank_cli.main import main


# -------------------------------------------------------------------------- F09: "" is not "not given"
@pytest.mark.parametrize("command", ["measure", "reproduce"])
@pytest.mark.parametrize("only", ["", ",", " ", "spectrum,"])
def test_empty_only_is_refused_not_read_as_everything(capsys, tmp_path, command: str, only: str) -> None:  # type: ignore[no-untyped-def]
    argv = [command, "--only", only, "--out", str(tmp_path / "o"), "--no-progress"]
    if command == "measure":
        argv += ["--model", str(tmp_path / "none"), "--corpus", "shakespeare"]
    refused(capsys, argv, "--only", "none empty")
    assert not (tmp_path / "o").exists()


# -------------------------------------------------------------------------- F10: TypeError of validation
@pytest.mark.parametrize("value", ["abc", "true", "nan", "inf", "[1]"])
def test_set_value_of_the_wrong_kind_exits_2_naming_set(capsys, tmp_path, value: str) -> None:  # type: ignore[no-untyped-def]
    refused(capsys, ["spectrum", "--model", "planted", "--set", f"alpha={value}", "--out", str(tmp_path),
                     "--no-progress"], "--set alpha: must be")


def test_a_type_error_that_is_a_bug_keeps_its_traceback(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Negative control: only validation messages become exit 2; a TypeError deep in numpy is a bug."""
    import logitrank_cli.main as cli

    def broken(args):  # type: ignore[no-untyped-def]
        return np.zeros(3) + "x"  # numpy's own TypeError-like failure (UFuncTypeError is a TypeError)

    monkeypatch.setitem(cli.SUBCOMMANDS, "verify", (cli.SUBCOMMANDS["verify"][0], broken))
    with pytest.raises(TypeError):
        main(["verify", "--list"])


def test_option_names_replace_parameter_names() -> None:
    from logitrank_cli.main import name_the_option

    options = {"--init-std": 1, "--histories": 1, "--futures": 1, "--scheduler": 1, "--seed": 1}
    assert name_the_option("init_std: must be <= 1, got 1e+30", options) == \
        "--init-std: must be <= 1, got 1e+30"
    assert name_the_option("(histories, futures): too big", options) == "(--histories, --futures): too big"
    assert name_the_option("scheduler_address: bad", options) == "--scheduler: bad"
    assert name_the_option("rng: a seed must be >= 0", options) == "--seed: a seed must be >= 0"
    assert name_the_option("alpha: must be a number", options) == "alpha: must be a number"
    assert name_the_option("no parameter here: x", options) == "no parameter here: x"


# -------------------------------------------------------------------------- F11: the dense matrix's size
def test_dense_spectrum_too_large_is_refused_before_allocating(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    refused(capsys, ["spectrum", "--histories", "100000", "--futures", "100000", "--out", str(tmp_path),
                     "--no-progress"], "(--histories, --futures): the dense extended logits", "TiB")


# -------------------------------------------------------------------------- F12, F22: sizes and seeds
@pytest.mark.parametrize("argv, option", [
    (["--histories", "0"], "--histories"), (["--futures", "0"], "--futures"), (["--seed", "-1"], "--seed"),
    (["--history-length", "-1"], "--history-length"), (["--top-k", "0"], "--top-k"),
    (["--dim", "x"], "--dim"),
])
def test_sizes_and_seeds_name_the_option(capsys, tmp_path, argv: list[str], option: str) -> None:  # type: ignore[no-untyped-def]
    for command in ("spectrum", "extract"):
        refused(capsys, [command, *argv, "--out", str(tmp_path / command), "--no-progress"],
                f"argument {option}")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """A tiny random GPT-2 (context 32) and the same with context 8, with a character tokenizer and text."""
    root = tmp_path_factory.mktemp("ckpt")
    text = fuzz_checkpoints(root, {"model": 32, "short": 8})
    return {"text": str(text), "root": str(root), "model": str(root / "model"), "short": str(root / "short")}


@pytest.mark.parametrize("argv, option", [
    (["--histories", "0"], "argument --histories"), (["--futures", "0"], "argument --futures"),
    (["--vocab", "40"], "--vocab: is for the synthetic families only"),
    (["--dim", "4"], "--dim: is for the synthetic families only"),
    (["--horizon", "4"], "--horizon: is for the synthetic families only"),
    (["--set", "alpha=1"], "--set: is for the synthetic families only"),
])
def test_extract_from_a_checkpoint_refuses_zero_sizes_and_synthetic_options(capsys, tmp_path, checkpoint,
                                                                             argv: list[str], option: str
                                                                             ) -> None:  # type: ignore[no-untyped-def]
    refused(capsys, ["extract", "--model", checkpoint["model"], "--text", checkpoint["text"], *argv, "--out",
                     str(tmp_path / "o"), "--no-progress"], option)
    assert not (tmp_path / "o").exists()


def test_extract_history_length_zero_is_not_the_default(capsys, tmp_path, checkpoint) -> None:  # type: ignore[no-untyped-def]
    """``--history-length 0`` is a value (refused: a checkpoint needs a history), never silently 32."""
    refused(capsys, ["extract", "--model", checkpoint["model"], "--text", checkpoint["text"],
                     "--history-length", "0", "--histories", "2", "--futures", "3",
                     "--out", str(tmp_path / "o"), "--no-progress"],
            "--history-length: must be >= 1, got 0")


def test_synthetic_extract_refuses_text(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    refused(capsys, ["extract", "--model", "isan", "--text", str(tmp_path), "--out", str(tmp_path / "o"),
                     "--no-progress"], "--text: is for checkpoints")


# -------------------------------------------------------------------------- F13 (the option), F22
@pytest.mark.parametrize("value, fragment", [
    ("inf", "argument --init-std"), ("nan", "argument --init-std"), ("0", "argument --init-std"),
    ("1e30", "--init-std: must be <= 1")])
def test_train_refuses_a_non_finite_or_absurd_init_std(capsys, tmp_path, value: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    refused(capsys, ["train", "--preset", "tiny", "--steps", "1", "--init-std", value, "--out",
                     str(tmp_path / "r"), "--no-progress"], fragment)


def test_bogus_scheduler_names_the_option(capsys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("distributed")
    refused(capsys, ["extract", "--histories", "4", "--futures", "4", "--scheduler", "bogus",
                     "--connect-timeout", "2", "--out", str(tmp_path / "o"), "--no-progress"],
            "--scheduler: must be a dask scheduler address", "'bogus'")


def test_earlier_with_a_shorter_context_names_the_earlier_model(capsys, tmp_path, checkpoint) -> None:  # type: ignore[no-untyped-def]
    refused(capsys, ["measure", "--model", checkpoint["model"], "--earlier", checkpoint["short"], "--text",
                     checkpoint["text"], "--preset", "tiny", "--only", "lingen", "--out", str(tmp_path / "o"),
                     "--no-progress"], "--earlier model", checkpoint["short"])


# -------------------------------------------------------------------------- F17: a mistyped path
@pytest.mark.parametrize("name", ["gpt2/typo", "./nowhere/ckpt"])
def test_measure_refuses_a_path_like_model_at_once(capsys, tmp_path, monkeypatch, name: str) -> None:  # type: ignore[no-untyped-def]
    forbid_the_hub(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gpt2").mkdir()
    err = refused(capsys, ["measure", "--model", name, "--corpus", "shakespeare", "--preset", "tiny", "--out",
                           str(tmp_path / "o"), "--no-progress"], f"model: {name!r}")
    assert re.search("not an existing (path|checkpoint directory)", err)
    assert Path(tmp_path / "o").exists() is False
