"""Device and dtype, resolved once at the boundary of ``llm_bridge``.

``device=None`` means ``"cuda"`` when a CUDA device is available, else ``"cpu"``; ``dtype=None`` means
float32. Everything downstream of :class:`llm_bridge.HFModel` receives float64 numpy arrays, whatever the
device and dtype.

CPU threads: torch uses OpenMP. On a machine whose cores are shared with other work, OpenMP's default
spin-waiting can make multi-threaded torch 1.5-15x slower; ``OMP_WAIT_POLICY=PASSIVE`` in the environment
*before* torch is imported avoids it, at a price of about 15% on idle cores (two-thread training of the
quick preset's model: 11.6k against 13.5k tokens/s idle, 6.8k against 4.6k with the other core busy).
:func:`choose_openmp_wait_policy` (called by the CLI's torch commands) picks one from the cores' current
use. The policy changes only the speed, never a number.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["resolve_device", "resolve_dtype", "DTYPE_NAMES", "set_threads", "quiet_transformers",
           "choose_openmp_wait_policy"]

DTYPE_NAMES = {
    "fp32": "float32", "float32": "float32", "float": "float32",
    "bf16": "bfloat16", "bfloat16": "bfloat16",
    "fp16": "float16", "float16": "float16", "half": "float16",
    "fp64": "float64", "float64": "float64", "double": "float64",
}
"""Accepted dtype spellings and the torch dtype each means (float64: a slow, exact reference for tests)."""


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
        if dtype not in (torch.float32, torch.bfloat16, torch.float16, torch.float64):
            raise ValueError(f"dtype: must be float32, bfloat16, float16 or float64, got {dtype}")
        return dtype
    name = DTYPE_NAMES.get(str(dtype).lower())
    if name is None:
        raise ValueError(f"dtype: must be one of {sorted(DTYPE_NAMES)} or a torch dtype, got {dtype!r}")
    return getattr(torch, name)


BUSY_CORES = 0.5
"""Other work using at least this many cores (summed over cores) makes :func:`choose_openmp_wait_policy`
choose ``PASSIVE``."""


def busy_cores(interval: float = 0.25) -> float | None:
    """Cores' worth of CPU time used by everything on the machine over ``interval`` seconds (from the
    machine-wide line of ``/proc/stat``; ``None`` where it cannot be read)."""
    import time

    from logitrank.validation import check_float

    interval = check_float("interval", interval, low=0, low_inclusive=False)

    def read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                # user nice system idle iowait irq softirq steal (guest time is already inside user)
                fields = [int(x) for x in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        if len(fields) < 4:
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    first = read()
    time.sleep(interval)
    second = read()
    if first is None or second is None or second[0] <= first[0]:
        return None
    total, idle = second[0] - first[0], second[1] - first[1]
    return (total - idle) / total * (os.cpu_count() or 1)


def choose_openmp_wait_policy() -> str:
    """Set ``OMP_WAIT_POLICY`` for torch, before torch is imported, unless the user has set it: ``PASSIVE``
    (waiting threads sleep) when other work uses at least :data:`BUSY_CORES` cores now or the use cannot be
    read, else OpenMP's default (a short spin). Returns the policy in force (``"default"`` when unset).

    The choice is made once, at start: OpenMP reads the variable when torch loads. Work that arrives on
    idle cores later slows the spinning default by about 1.5x (measured with one busy core), which is the
    price of its 15% gain on idle cores; set ``OMP_WAIT_POLICY=PASSIVE`` when sharing is expected."""
    if "OMP_WAIT_POLICY" not in os.environ:
        used = busy_cores()
        if used is None or used >= BUSY_CORES:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    return os.environ.get("OMP_WAIT_POLICY", "default")


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
