"""The checkpoint format of :func:`llm_bridge.train_tiny_lm`: one place that writes, lists and reads it.

A training directory holds::

    out_dir/checkpoint-000000/  model.safetensors, config.json  (``save_pretrained(safe_serialization=True)``)
                                char_tokenizer.json (or a transformers tokenizer), train_state.json,
                                optimizer.pt  (optimizer, scheduler and torch RNG state: tensors and plain
                                               containers only, read with ``torch.load(weights_only=True)``)
    out_dir/latest.json         {"step": ..., "checkpoint": "checkpoint-..."} (written last, atomically)

``train_state.json`` is the one checkpoint dict (nanoGPT-style): ``step``, ``train_losses``,
``val_losses``, ``run`` (the run's settings and metadata, :func:`checkpoint_metadata`) and ``numpy_rng``
(the batch sampler's state). A checkpoint is written under ``<name>.partial`` and renamed when complete
(:func:`logitrank.results_io.replace_dir`), then ``latest.json`` is replaced atomically, so a run killed at
any moment resumes from the last complete checkpoint. Nothing is unpickled when reading: weights come from
safetensors, optimizer state through ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from logitrank.results_io import replace_dir, save_json

__all__ = ["PREFIX", "STATE_FILE", "LATEST_FILE", "checkpoint_name", "checkpoint_step", "save_checkpoint",
           "list_checkpoints", "latest_checkpoint", "checkpoint_metadata", "restore_checkpoint",
           "load_causal_lm"]

PREFIX = "checkpoint-"
STATE_FILE = "train_state.json"
LATEST_FILE = "latest.json"
#: settings a resumed run must share with the run it continues
RESUME_KEYS = ("config", "steps", "seed", "checkpoint_every", "corpus_shape", "validation_shape")


def checkpoint_name(step: int) -> str:
    """The directory name of the checkpoint at ``step`` (``checkpoint-000123``)."""
    return f"{PREFIX}{int(step):06d}"


def checkpoint_step(path: str | Path) -> int | None:
    """The step of a checkpoint directory name, or ``None`` when ``path`` is not named like one."""
    name = Path(path).name
    digits = name[len(PREFIX):] if name.startswith(PREFIX) else ""
    return int(digits) if digits.isdigit() else None


def save_checkpoint(out_dir: str | Path, step: int, *, model: Any, optimizer: Any, scheduler: Any,
                    state: dict[str, Any], tokenizer: Any = None) -> Path:
    """Write the checkpoint of ``step`` (weights, tokenizer, optimizer and RNG state, ``state``) and point
    ``latest.json`` at it. Returns the checkpoint directory."""
    import torch

    from .device import quiet_transformers

    out = Path(out_dir)
    name = checkpoint_name(step)
    final, tmp = out / name, out / (name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    with quiet_transformers():
        model.save_pretrained(tmp, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state()}, tmp / "optimizer.pt")
    save_json({**state, "step": int(step)}, tmp / STATE_FILE, indent=1)
    replace_dir(tmp, final)
    save_json({"step": int(step), "checkpoint": name}, out / LATEST_FILE, indent=1)
    return final


def list_checkpoints(out_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints ``(step, path)`` of a training directory, sorted by step (a directory counts
    once its ``train_state.json`` exists)."""
    out = []
    for p in Path(out_dir).glob(PREFIX + "*"):
        step = checkpoint_step(p)
        if step is not None and p.is_dir() and (p / STATE_FILE).is_file():
            out.append((step, p))
    return sorted(out)


def latest_checkpoint(out_dir: str | Path) -> tuple[int, Path] | None:
    """The checkpoint ``latest.json`` names, ``None`` when there is no run; ``ValueError`` when it names
    an incomplete checkpoint."""
    pointer = Path(out_dir) / LATEST_FILE
    if not pointer.is_file():
        return None
    ckpt = Path(out_dir) / json.loads(pointer.read_text())["checkpoint"]
    needed = ["model.safetensors", "config.json", STATE_FILE, "optimizer.pt"]
    missing = [n for n in needed if not (ckpt / n).is_file()]
    if missing:
        raise ValueError(f"out_dir: checkpoint {str(ckpt)!r} named by latest.json is missing {missing}")
    step = checkpoint_step(ckpt)
    if step is None:
        raise ValueError(f"out_dir: latest.json must name a {PREFIX}NNNNNN directory, got {ckpt.name!r}")
    return step, ckpt


def checkpoint_metadata(path: str | Path) -> dict[str, Any]:
    """The ``run`` metadata saved in a checkpoint directory (empty when ``path`` is not one)."""
    state = Path(path) / STATE_FILE
    if not state.is_file():
        return {}
    try:
        return dict(json.loads(state.read_text()).get("run", {}))
    except (json.JSONDecodeError, AttributeError):
        return {}


def restore_checkpoint(out_dir: str | Path, run: dict[str, Any], model: Any, optimizer: Any,
                       scheduler: Any) -> tuple[dict[str, Any], np.random.Generator]:
    """Load the latest complete checkpoint of ``out_dir`` into ``model``, ``optimizer`` and ``scheduler``
    (and torch's RNG); returns the training state (``step``, losses) and the batch sampler's generator.

    Raises ``ValueError`` when the saved run's settings (:data:`RESUME_KEYS`) differ from ``run``."""
    import torch
    from safetensors.torch import load_file

    found = latest_checkpoint(out_dir)
    if found is None:
        raise ValueError(f"out_dir: no {LATEST_FILE} in {str(out_dir)!r}, nothing to resume")
    ckpt = found[1]
    saved = json.loads((ckpt / STATE_FILE).read_text())
    old = saved["run"]
    for key in RESUME_KEYS:
        if old.get(key) != run.get(key):
            raise ValueError(f"resume: the run in {str(out_dir)!r} used {key}={old.get(key)!r}, this call "
                             f"passes {run.get(key)!r}; use the same settings or a new out_dir")
    weights = load_file(str(ckpt / "model.safetensors"))
    missing_keys, unexpected = model.load_state_dict(weights, strict=False)
    missing_keys = [k for k in missing_keys if "lm_head" not in k]  # tied to the embedding
    if missing_keys or unexpected:
        raise ValueError(f"checkpoint: {str(ckpt)!r} does not match the model (missing {missing_keys[:3]}, "
                         f"unexpected {unexpected[:3]})")
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    blob = torch.load(ckpt / "optimizer.pt", weights_only=True, map_location="cpu")
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    gen = np.random.default_rng()
    gen.bit_generator.state = saved["numpy_rng"]
    state = {"step": int(saved["step"]), "train_losses": [tuple(v) for v in saved["train_losses"]],
             "val_losses": [tuple(v) for v in saved["val_losses"]]}
    return state, gen


def load_causal_lm(source: str | Path, *, dtype: Any = None) -> Any:
    """Load a causal LM from a local checkpoint directory (safetensors only) or a hub name.

    Raises
    ------
    ValueError
        The directory lacks ``config.json`` or safetensors weights, holds only pickled weights, or the name
        is neither a local directory nor loadable from the hub.
    """
    from transformers import AutoModelForCausalLM

    from .device import quiet_transformers, resolve_dtype

    torch_dtype = resolve_dtype(dtype)
    path = Path(source)
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"model: {str(path)!r} is a file; pass a checkpoint directory (config.json + "
                             f"model.safetensors) or a model object")
        missing = []
        if not (path / "config.json").is_file():
            missing.append("config.json")
        has_weights = any((path / n).is_file() for n in ("model.safetensors", "model.safetensors.index.json"))
        if not has_weights:
            if any((path / n).is_file() for n in ("pytorch_model.bin", "pytorch_model.bin.index.json")):
                raise ValueError(f"model: {str(path)!r} holds only pickled weights (pytorch_model.bin); "
                                 f"refusing to unpickle - convert them to model.safetensors")
            missing.append("model.safetensors")
        if missing:
            raise ValueError(f"model: checkpoint directory {str(path)!r} is missing {missing}")
        with quiet_transformers():
            return AutoModelForCausalLM.from_pretrained(str(path), use_safetensors=True, dtype=torch_dtype)
    try:
        return AutoModelForCausalLM.from_pretrained(str(source), use_safetensors=True, dtype=torch_dtype)
    except Exception as err:  # network errors, unknown names, ... all mean the same to the caller
        raise ValueError(f"model: {str(source)!r} is neither a local checkpoint directory nor loadable from "
                         f"the hub ({type(err).__name__}: {err})") from err
