"""Device and dtype, resolved once at the boundary of ``llm_bridge``.

``device=None`` means ``"cuda"`` when a CUDA device is available, else ``"cpu"``; ``dtype=None`` means
float32. Everything downstream of :class:`llm_bridge.HFModel` receives float64 numpy arrays, whatever the
device and dtype.

CPU threads: torch uses OpenMP. On a machine whose cores are shared with other work, OpenMP's default
spin-waiting can make multi-threaded torch 10-15x slower; set ``OMP_WAIT_POLICY=PASSIVE`` in the
environment *before* torch is imported (the ``logitrank train`` command does this) or use one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["resolve_device", "resolve_dtype", "DTYPE_NAMES", "set_threads", "quiet_transformers"]

DTYPE_NAMES = {
    "fp32": "float32", "float32": "float32", "float": "float32",
    "bf16": "bfloat16", "bfloat16": "bfloat16",
    "fp16": "float16", "float16": "float16", "half": "float16",
}
"""Accepted dtype spellings and the torch dtype each means."""


def resolve_device(device: Any = None) -> Any:
    """A ``torch.device``: ``None`` -> cuda if available else cpu; strings/devices are checked.

    Raises
    ------
    ValueError
        ``device`` names CUDA but none is available, or is not a device at all.
    """
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: must be None, 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: CUDA was requested ({device!r}) but torch.cuda.is_available() is False")
    return dev


def resolve_dtype(dtype: Any = None) -> Any:
    """A floating ``torch.dtype`` from ``None`` (float32), a name in :data:`DTYPE_NAMES` or a torch dtype."""
    import torch

    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise ValueError(f"dtype: must be float32, bfloat16 or float16, got {dtype}")
        return dtype
    name = DTYPE_NAMES.get(str(dtype).lower())
    if name is None:
        raise ValueError(f"dtype: must be one of {sorted(DTYPE_NAMES)} or a torch dtype, got {dtype!r}")
    return getattr(torch, name)


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op thread count (``None`` leaves it) and return the previous count."""
    import torch

    previous = int(torch.get_num_threads())
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads: must be an integer >= 1 or None, got {threads!r}")
        torch.set_num_threads(threads)
    return previous


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence the own progress bars of ``transformers`` ("Loading weights", "Writing model shards").

    Our loops carry their own (optional) tqdm bars; the library's per-file bars would otherwise interleave
    with them at every checkpoint and ignore ``progress=False``. The previous setting is restored on exit.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
