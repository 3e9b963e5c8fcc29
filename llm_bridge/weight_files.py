"""Check a user's checkpoint folder before ``transformers`` loads it (issue 24: F01, F02).

A checkpoint of :func:`llm_bridge.train_tiny_lm` carries ``checksums.json`` and is verified against it; a
folder from elsewhere has none, and its damage used to surface as ``transformers``' own words: a
``SafetensorError`` traceback for a truncated, random or empty ``model.safetensors``, or ``You set
ignore_mismatched_sizes to False`` for a ``config.json`` that disagrees with the weights. Here:

* every weight file (``model.safetensors``, or each shard ``model.safetensors.index.json`` lists) must have a
  readable safetensors header whose tensors fit the file (``safetensors.safe_open`` reads the header only,
  and refuses offsets beyond the file's end) -- else a :class:`~logitrank.results_io.CorruptFileError`
  naming the file;
* every tensor the file holds must have the shape the model ``config.json`` describes has for it: the
  model is built on the ``meta`` device (no memory, no weights) and the shapes compared; the first
  disagreement is reported with the ``config.json`` field that gives that size and both sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from logitrank.results_io import CorruptFileError, load_json

__all__ = ["SIZE_FIELDS", "weight_files", "tensor_shapes", "check_weights"]

SIZE_FIELDS = ("vocab_size", "n_embd", "hidden_size", "intermediate_size", "n_inner", "num_key_value_heads",
               "num_attention_heads", "n_head", "n_positions", "max_position_embeddings", "n_layer",
               "num_hidden_layers")
"""``config.json`` fields that set tensor sizes, most telling first (a width of 32 that is also the context
is reported as ``n_embd``)."""


def weight_files(folder: str | Path) -> list[Path]:
    """The safetensors files of a checkpoint folder: the shards its index lists, else model.safetensors."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return [folder / "model.safetensors"]
    doc = load_json(index)
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CorruptFileError(index, "must be a JSON object whose weight_map maps tensor names to files")
    return [folder / name for name in sorted(set(weight_map.values()))]


def tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in a safetensors file, from its header (no data is read)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CorruptFileError(path, "is missing (a weight file of the checkpoint)")
    try:
        with safe_open(str(path), framework="numpy") as f:
            return {name: tuple(int(n) for n in f.get_slice(name).get_shape()) for name in f.keys()}
    except Exception as exc:  # SafetensorError for truncated, random or empty bytes, whatever the cause
        raise CorruptFileError(path, f"is not a readable safetensors file ({type(exc).__name__}: {exc}); "
                                     f"{path.stat().st_size} bytes") from exc


def _expected_shapes(folder: Path) -> tuple[dict[str, tuple[int, ...]], dict[str, Any]]:
    """The tensor shapes ``config.json`` implies (the model built on the meta device) and the config."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from .device import quiet_transformers

    with quiet_transformers():
        config = AutoConfig.from_pretrained(str(folder))
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}, config.to_dict()


def _size_field(config: dict[str, Any], size: int) -> str:
    """The ``config.json`` field(s) whose value is ``size``, most telling first."""
    names = [k for k in SIZE_FIELDS if config.get(k) == size and not isinstance(config.get(k), bool)]
    names += [k for k, v in config.items() if k not in SIZE_FIELDS and isinstance(v, int)
              and not isinstance(v, bool) and v == size]
    return names[0] if names else "a size"


def check_weights(folder: str | Path) -> None:
    """Refuse a checkpoint folder whose weight files are unreadable (:class:`CorruptFileError` naming the
    file) or whose ``config.json`` gives a tensor another shape than the file holds (``ValueError`` naming
    the field and both sizes)."""
    folder = Path(folder)
    shapes: dict[str, tuple[int, ...]] = {}
    where: dict[str, Path] = {}
    for path in weight_files(folder):
        for name, shape in tensor_shapes(path).items():
            shapes[name], where[name] = shape, path
    try:
        expected, config = _expected_shapes(folder)
    except Exception:  # a config transformers cannot build: from_pretrained then says why, in its words
        return
    bad = [(name, shape, expected[name]) for name, shape in shapes.items()
           if expected.get(name) not in (None, shape)]
    if not bad:
        return
    for name, shape, want in bad:
        if len(want) != len(shape):
            raise ValueError(f"model: {folder / 'config.json'} disagrees with {where[name]}: tensor {name} "
                             f"has shape {shape} in the weights, {want} by the config")
    # report a tensor whose wrong size is a config field itself (the embedding's n_embd, not 3 * n_embd)
    named = [(name, shape, want, i) for name, shape, want in bad for i in range(len(want))
             if want[i] != shape[i] and _size_field(config, want[i]) != "a size"]
    name, shape, want, axis = named[0] if named else next(
        (n, s, w, i) for n, s, w in bad for i in range(len(w)) if w[i] != s[i])
    field = _size_field(config, want[axis])
    raise ValueError(f"model: {folder / 'config.json'} disagrees with {where[name]}: {field} = "
                     f"{want[axis]} in config.json, but the weights hold {shape[axis]} (tensor {name} "
                     f"has shape {shape}, the config gives {want}); fix config.json or use the weights "
                     f"it belongs to")
