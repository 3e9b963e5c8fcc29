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

``checksums.json`` (written last inside the checkpoint, before the rename) records the size and SHA-256
of every other file of the checkpoint. Resuming verifies them: a checkpoint that is truncated, overwritten
(even with the same size) or has an unreadable ``train_state.json`` is skipped with a warning naming the
file, and training resumes from the previous intact checkpoint (then rewrites the later ones, bit for bit
as the uninterrupted run). An unreadable ``latest.json`` is reported the same way and the newest intact
checkpoint is used. :func:`load_causal_lm` verifies the checksums of a checkpoint directory too.
Checkpoints written before checksums were recorded are used with a warning.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from logitrank.results_io import (
    CorruptFileError,
    checksum_problem,
    file_checksum,
    load_json,
    replace_dir,
    save_json,
)

__all__ = ["PREFIX", "STATE_FILE", "LATEST_FILE", "checkpoint_name", "checkpoint_step", "save_checkpoint",
           "list_checkpoints", "latest_checkpoint", "checkpoint_metadata", "restore_checkpoint",
           "load_causal_lm", "verify_checkpoint", "CHECKSUM_FILE"]

PREFIX = "checkpoint-"
STATE_FILE = "train_state.json"
LATEST_FILE = "latest.json"
CHECKSUM_FILE = "checksums.json"
NEEDED = ("model.safetensors", "config.json", STATE_FILE, "optimizer.pt")
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
    sums = {p.relative_to(tmp).as_posix(): file_checksum(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    save_json(sums, tmp / CHECKSUM_FILE, indent=1)
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


def _pointer(out_dir: Path) -> int | None:
    """The step ``latest.json`` names (``None`` with a warning when it is unreadable or malformed)."""
    pointer = out_dir / LATEST_FILE
    try:
        doc = load_json(pointer)
        step = checkpoint_step(doc["checkpoint"]) if isinstance(doc, dict) else None
        if step is None or (out_dir / doc["checkpoint"]).name != doc["checkpoint"]:
            raise CorruptFileError(pointer, f"must name a {PREFIX}NNNNNN directory, got {str(doc)[:80]!r}")
        return step
    except (CorruptFileError, KeyError, TypeError) as exc:
        warnings.warn(f"{pointer}: unreadable ({exc}); using the newest complete checkpoint instead",
                      RuntimeWarning, stacklevel=3)
        return None


def latest_checkpoint(out_dir: str | Path) -> tuple[int, Path] | None:
    """The checkpoint to continue from: the one ``latest.json`` names, ``None`` when there is no run.

    When ``latest.json`` is unreadable, or names a checkpoint that is missing files, the newest complete
    checkpoint before it is returned with a warning naming the problem; ``ValueError`` when there is none.
    Contents are not verified here (see :func:`verify_checkpoint`; :func:`restore_checkpoint` does).
    """
    out = Path(out_dir)
    if not (out / LATEST_FILE).is_file():
        return None
    step = _pointer(out)
    complete = [(s, p) for s, p in list_checkpoints(out) if step is None or s <= step]
    if step is not None:
        ckpt = out / checkpoint_name(step)
        missing = [n for n in NEEDED if not (ckpt / n).is_file()]
        if not missing:
            return step, ckpt
        complete = [(s, p) for s, p in complete if s < step]
        if complete:
            warnings.warn(f"{ckpt}: named by {LATEST_FILE} but missing {missing}; falling back to "
                          f"{complete[-1][1].name}", RuntimeWarning, stacklevel=2)
        else:
            raise ValueError(f"out_dir: checkpoint {str(ckpt)!r} named by {LATEST_FILE} is missing {missing} "
                             f"and there is no earlier complete checkpoint; use a new out_dir")
    if not complete:
        raise ValueError(f"out_dir: {out / LATEST_FILE} is unreadable and {str(out)!r} holds no complete "
                         f"checkpoint; delete it or use a new out_dir")
    return complete[-1]


def _read_state(ckpt: Path) -> dict[str, Any]:
    """``train_state.json`` of a checkpoint, checked to hold what resuming needs."""
    path = ckpt / STATE_FILE
    state = load_json(path)
    keys = ("step", "run", "numpy_rng", "train_losses", "val_losses")
    if not isinstance(state, dict) or any(k not in state for k in keys) or not isinstance(state["run"], dict):
        raise CorruptFileError(path, f"must be a JSON object with {list(keys)} (the run it resumes)")
    return state


def verify_checkpoint(path: str | Path) -> str | None:
    """``None`` when checkpoint ``path`` is intact: its files exist, match the sizes and SHA-256 of
    ``checksums.json`` and ``train_state.json`` reads back; else what is wrong, naming the file. A checkpoint
    written before checksums were recorded is accepted with a warning when its files read back."""
    ckpt = Path(path)
    missing = [n for n in NEEDED if not (ckpt / n).is_file()]
    if missing:
        return f"{ckpt}: missing {missing}"
    sums_path = ckpt / CHECKSUM_FILE
    if sums_path.is_file():
        try:
            sums = load_json(sums_path)
            if not isinstance(sums, dict) or any(n not in sums for n in NEEDED):
                raise CorruptFileError(sums_path, f"must record {list(NEEDED)}")
        except CorruptFileError as exc:
            return str(exc)
        for name, record in sums.items():
            problem = checksum_problem(ckpt / name, record)
            if problem is not None:
                return problem
    else:
        warnings.warn(f"{ckpt}: no {CHECKSUM_FILE} (written before checksums were recorded); its contents "
                      f"cannot be verified", RuntimeWarning, stacklevel=2)
    try:
        _read_state(ckpt)
    except CorruptFileError as exc:
        return str(exc)
    return None


def checkpoint_metadata(path: str | Path) -> dict[str, Any]:
    """The ``run`` metadata saved in a checkpoint directory (empty when ``path`` is not one);
    :class:`logitrank.results_io.CorruptFileError` naming ``train_state.json`` when it is unreadable."""
    state = Path(path) / STATE_FILE
    if not state.is_file():
        return {}
    doc = load_json(state)
    run = doc.get("run", {}) if isinstance(doc, dict) else None
    if not isinstance(run, dict):
        raise CorruptFileError(state, "must be a JSON object whose 'run' is an object")
    return dict(run)


def _intact_checkpoint(out_dir: str | Path, load: Callable[[Path], Any] | None = None) -> Path:
    """The newest intact checkpoint at or before the one :func:`latest_checkpoint` names, warning for
    each damaged one skipped; with ``load``, also one that ``load`` reads without a
    :class:`~logitrank.results_io.CorruptFileError` (a file whose checksum matches but whose content cannot be
    restored: a forged ``optimizer.pt``)."""
    found = latest_checkpoint(out_dir)
    if found is None:
        raise ValueError(f"out_dir: no {LATEST_FILE} in {str(out_dir)!r}, nothing to resume")
    candidates = [p for s, p in reversed(list_checkpoints(out_dir)) if s <= found[0]]
    problems = []
    for i, ckpt in enumerate(candidates):
        problem = verify_checkpoint(ckpt)
        if problem is None and load is not None:
            try:
                load(ckpt)
            except CorruptFileError as exc:
                problem = str(exc)
        if problem is None:
            return ckpt
        problems.append(problem)
        after = f"falling back to {candidates[i + 1].name}" if i + 1 < len(candidates) else "none is left"
        warnings.warn(f"resume: checkpoint {ckpt.name} is damaged ({problem}); {after}", RuntimeWarning,
                      stacklevel=3)
    raise ValueError(f"out_dir: no intact checkpoint to resume from in {str(out_dir)!r} "
                     f"({'; '.join(problems)[:400]}); use a new out_dir")


def _load_tensors(ckpt: Path, model: Any, optimizer: Any, scheduler: Any) -> None:
    """Weights, optimizer, scheduler and torch RNG state of ``ckpt`` into the objects; a file that cannot be
    restored (checksums can be forged along with it) is a :class:`CorruptFileError` naming it."""
    import torch
    from safetensors.torch import load_file

    try:
        weights = load_file(str(ckpt / "model.safetensors"))
    except Exception as exc:  # SafetensorError, OSError: whatever the bytes are, the file is unusable
        raise CorruptFileError(ckpt / "model.safetensors", f"cannot be read ({type(exc).__name__}: {exc})"
                               ) from exc
    missing_keys, unexpected = model.load_state_dict(weights, strict=False)
    missing_keys = [k for k in missing_keys if "lm_head" not in k]  # tied to the embedding
    if missing_keys or unexpected:
        raise ValueError(f"checkpoint: {str(ckpt)!r} does not match the model (missing {missing_keys[:3]}, "
                         f"unexpected {unexpected[:3]})")
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    path = ckpt / "optimizer.pt"
    try:  # weights_only: a forged pickle runs no code, it raises (UnpicklingError) instead
        blob = torch.load(path, weights_only=True, map_location="cpu")
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(blob["scheduler"])
        torch.set_rng_state(blob["torch_rng"])
    except Exception as exc:  # unpickling refused, wrong structure or types: the file is not a state
        raise CorruptFileError(path, f"cannot be restored as the optimizer, scheduler and RNG state "
                                     f"({type(exc).__name__}: {str(exc)[:200]})") from exc


def restore_checkpoint(out_dir: str | Path, run: dict[str, Any], model: Any, optimizer: Any,
                       scheduler: Any) -> tuple[dict[str, Any], np.random.Generator]:
    """Load the latest intact checkpoint of ``out_dir`` into ``model``, ``optimizer`` and ``scheduler``
    (and torch's RNG); returns the training state (``step``, losses) and the batch sampler's generator.

    A damaged latest checkpoint (see :func:`verify_checkpoint`) is skipped with a warning for the previous
    intact one. Raises ``ValueError`` when the saved run's settings (:data:`RESUME_KEYS`) differ from
    ``run``, or when no intact checkpoint is left. A checkpoint whose checksums match but whose weights or
    ``optimizer.pt`` cannot be restored (forged along with ``checksums.json``) is skipped the same way,
    the warning naming the file."""
    saved: dict[str, Any] = {}

    def load(ckpt: Path) -> None:
        saved.clear()
        saved.update(_read_state(ckpt))
        old = saved["run"]
        for key in RESUME_KEYS:
            if old.get(key) != run.get(key):
                raise ValueError(f"resume: the run in {str(out_dir)!r} used {key}={old.get(key)!r}, this "
                                 f"call passes {run.get(key)!r}; use the same settings or a new out_dir")
        _load_tensors(ckpt, model, optimizer, scheduler)

    _intact_checkpoint(out_dir, load)
    gen = np.random.default_rng()
    gen.bit_generator.state = saved["numpy_rng"]
    state = {"step": int(saved["step"]), "train_losses": [tuple(v) for v in saved["train_losses"]],
             "val_losses": [tuple(v) for v in saved["val_losses"]]}
    return state, gen


def _hub_unreachable(source: str) -> str | None:
    """One quick request to the hub (no retries): a message when the name is unknown there or the hub
    cannot be reached, ``None`` when it answers (or the check itself is unavailable)."""
    try:
        from huggingface_hub import model_info
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError
    except ImportError:
        return None
    try:
        model_info(source, timeout=10)
    except RepositoryNotFoundError:
        return "is not an existing local directory, and the hub has no model of that name"
    except HfHubHTTPError:  # gated, auth, ...: let from_pretrained give its own message
        return None
    except Exception as exc:  # connection refused, name resolution, timeout (httpx / OSError)
        return (f"is not an existing local directory, not in the local hub cache, and the hub cannot be "
                f"reached ({type(exc).__name__}: {exc})")
    return None


def load_causal_lm(source: str | Path, *, dtype: Any = None) -> Any:
    """Load a causal LM from a local checkpoint directory (safetensors only), a ``.gguf`` file or built-in
    name (through its safetensors cache folder, :func:`llm_bridge.sources.resolve_source`) or a hub name.

    Raises
    ------
    ValueError
        The directory lacks ``config.json`` or safetensors weights, holds only pickled weights, or the name
        is neither a local directory nor loadable from the hub.
    """
    from transformers import AutoModelForCausalLM

    from .device import quiet_transformers, resolve_dtype
    from .sources import BUILTIN, hub_name_problem, resolve_source
    from .weight_files import check_weights

    torch_dtype = resolve_dtype(dtype)
    if str(source) in BUILTIN or (Path(source).suffix == ".gguf" and Path(source).is_file()):
        source = resolve_source(source).path
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
        if (path / CHECKSUM_FILE).is_file():  # a checkpoint of train_tiny_lm: verify what it recorded
            sums = load_json(path / CHECKSUM_FILE)
            for name in ("config.json", "model.safetensors"):
                problem = checksum_problem(path / name, sums.get(name) if isinstance(sums, dict) else None)
                if problem is not None:
                    raise CorruptFileError(path / name, f"does not match {CHECKSUM_FILE} ({problem})")
        check_weights(path)  # readable weight files of the shapes config.json gives (no checksums needed)
        with quiet_transformers():
            return AutoModelForCausalLM.from_pretrained(str(path), use_safetensors=True, dtype=torch_dtype)
    name = str(source)
    problem = hub_name_problem(name)
    if problem is None:
        try:  # the local hub cache first: no network
            return AutoModelForCausalLM.from_pretrained(name, use_safetensors=True, dtype=torch_dtype,
                                                        local_files_only=True)
        except Exception:
            problem = _hub_unreachable(name)
    if problem is not None:  # fail fast instead of minutes of hub retries
        raise ValueError(f"model: {name!r} {problem}; pass a checkpoint directory (config.json + "
                         f"model.safetensors), a hub name, or a model object")
    try:
        return AutoModelForCausalLM.from_pretrained(name, use_safetensors=True, dtype=torch_dtype)
    except Exception as err:  # network errors, unknown names, ... all mean the same to the caller
        raise ValueError(f"model: {str(source)!r} is neither a local checkpoint directory nor loadable from "
                         f"the hub ({type(err).__name__}: {err})") from err
