"""Shared matplotlib helpers (Agg backend, one style, PNG + PDF output)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from logitrank.results_io import atomic_write  # noqa: E402

__all__ = ["subplots", "save", "legend_below", "plt", "COLORS"]

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]

_STYLE: dict[str, Any] = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 7.5,
    "legend.framealpha": 0.85,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def subplots(ncols: int = 1, nrows: int = 1, *, width: float = 4.2, height: float = 3.4,
             **kwargs: Any) -> tuple[Figure, Any]:
    """A figure of ``nrows x ncols`` panels, each ``width x height`` inches, constrained layout."""
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                                 layout="constrained", squeeze=False, **kwargs)
    fig.set_layout_engine("constrained")
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
    return fig, axes


def legend_below(ax: Any, ncols: int = 1, **kwargs: Any) -> Any:
    """A legend under the axes (outside the data; constrained layout makes room for it)."""
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=ncols, markerscale=kwargs.pop(
        "markerscale", 2.5), frameon=False, **kwargs)


def save(fig: Figure, out_dir: str | Path, name: str, formats: Sequence[str] = ("png", "pdf")) -> list[Path]:
    """Write ``<out_dir>/<name>.<fmt>`` for each format (atomically) and close the figure."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    with plt.rc_context(_STYLE):  # type: ignore[arg-type]
        for fmt in formats:
            path = out_dir / f"{name}.{fmt}"
            atomic_write(path, functools.partial(fig.savefig, format=fmt))
            paths.append(path)
    plt.close(fig)
    return paths
