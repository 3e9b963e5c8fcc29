"""Shared matplotlib helpers (Agg backend, one style, PNG + PDF output)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from logitrank.results_io import atomic_write  # noqa: E402

__all__ = ["subplots", "save", "legend_below", "plain_log_ticks", "plt", "COLORS"]

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


def plain_log_ticks(axis: Any) -> None:
    """Plain-number ticks on a log ``axis`` (``ax.xaxis`` or ``ax.yaxis``, called once its data are drawn)
    whose view spans less than a decade, where matplotlib shows one decade label or none, or labels every
    minor tick ("6x10^2 7x10^2 ...") until they collide: the multiples 1, 1.5, 2, 3, ..., 9 of powers of
    ten inside the view, thinned to 1, 2, 3, 5 or 1, 2, 5 until at most six remain. The view itself is
    not changed; over a decade or more the default labels stay."""
    axis.axes.autoscale_view()
    lo, hi = sorted(axis.get_view_interval())
    if not 0 < lo <= hi < 10 * lo:
        return
    powers = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    ticks: list[float] = []
    for subs in ((1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 5), (1, 2, 5)):
        ticks = [m * 10.0**k for k in powers for m in subs if lo <= m * 10.0**k <= hi]
        if len(ticks) <= 6:
            break
    axis.set_minor_formatter(mticker.NullFormatter())
    axis.set_ticks(ticks, [f"{t:g}" for t in ticks])
