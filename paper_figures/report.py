"""``results.json`` and ``report.md``: one section per figure with its key numbers beside the paper's.

The paper's numbers (SPEC §1) are the one table :data:`logitrank.paper.PAPER`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from logitrank.results_io import CorruptFileError, atomic_write_text, load_json, save_json, sweep_tmp

__all__ = ["write_results", "write_report", "read_results", "fmt"]

def fmt(x: Any, digits: int = 3) -> str:
    """Compact number formatting for reports (``nan`` and non-numbers pass through)."""
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if x != x:
            return "nan"
        if x != 0 and (abs(x) < 10 ** -(digits - 1) or abs(x) >= 1e5):
            return f"{x:.{max(digits - 1, 1)}e}"
        return f"{x:.{digits}f}"
    return str(x)


def read_results(out_dir: str | Path) -> dict[str, Any]:
    """The ``results.json`` of ``out_dir`` (an empty skeleton when there is none yet).

    A truncated or foreign ``results.json`` (e.g. left by a full disk) does not abort the run: it is
    reported with a warning and replaced by the skeleton, and each figure's entry is rebuilt from its
    cached steps. The ``*.tmp`` files of a killed run in ``out_dir`` are swept (one run per folder).
    """
    out = Path(out_dir)
    if out.is_dir():
        sweep_tmp(out)
    path = out / "results.json"
    if path.exists():
        try:
            doc = load_json(path)
            if not isinstance(doc, dict) or not isinstance(doc.get("figures", {}), dict):
                raise CorruptFileError(path, "must hold a JSON object whose 'figures' is an object")
            return dict(doc)
        except CorruptFileError as exc:
            warnings.warn(f"{exc}; starting a new results.json (figures are rebuilt from the cache)",
                          RuntimeWarning, stacklevel=2)
    return {"figures": {}}


def write_results(out_dir: str | Path, results: Mapping[str, Any]) -> Path:
    """Write ``results.json`` atomically."""
    return save_json(results, Path(out_dir) / "results.json", indent=1)


def _cell(v: Any) -> str:
    if isinstance(v, Mapping):
        return "; ".join(f"{k} {fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x) for x in v)
    return fmt(v)


def write_report(out_dir: str | Path, results: Mapping[str, Any], order: list[str]) -> Path:
    """Write ``report.md``: a header with the run's configuration and timing, then one section per figure.

    Each figure entry of ``results["figures"]`` holds ``title``, ``status`` (``"ok"`` or ``"failed"``),
    ``files``, ``numbers`` (ours), ``paper`` (theirs), ``verdict`` (a sentence computed from the numbers),
    optional ``markdown`` (extra content such as tables) and ``error`` for a failed figure.
    """
    out_dir = Path(out_dir)
    figs = results.get("figures", {})
    lines = ["# logit-rank: reproduction report", ""]
    cfg = results.get("config", {})
    if cfg:
        lines.append(f"Preset `{cfg.get('preset', '?')}`, seed {cfg.get('seed', '?')}, "
                     f"device `{cfg.get('device', '?')}`.")
    timing = results.get("timing_s", {})
    if timing:
        lines.append("Wall time per figure (s, this run; cached steps cost ~0): "
                     + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()) + ".")
    done = [n for n in order if figs.get(n, {}).get("status") == "ok"]
    missing = [n for n in order if figs.get(n, {}).get("status") != "ok"]
    lines += ["", f"Figures complete: {len(done)}/{len(order)}"
              + (f"; missing or failed: {', '.join(missing)}" if missing else "") + ".", ""]
    for i, name in enumerate(order, 1):
        fig = figs.get(name)
        lines.append(f"## {i}. {fig.get('title', name) if fig else name}")
        lines.append("")
        if not fig or fig.get("status") != "ok":
            reason = fig.get("error", "not run") if fig else "not run"
            lines += [f"Not produced: {reason}", ""]
            continue
        pngs = [f for f in fig.get("files", []) if str(f).endswith(".png")]
        for png in pngs:
            rel = os.path.relpath(out_dir / png, out_dir)
            lines += [f"![{name}]({rel})", ""]
        if fig.get("markdown"):
            lines += [fig["markdown"], ""]
        numbers = fig.get("numbers", {})
        paper = fig.get("paper", {})
        if (numbers or paper) and not fig.get("markdown"):  # a figure's own markdown table replaces it
            lines += ["| quantity | ours | paper |", "|---|---|---|"]
            for key in list(numbers) + [k for k in paper if k not in numbers]:
                lines.append(f"| {key} | {_cell(numbers.get(key, '—'))} | {_cell(paper.get(key, '—'))} |")
            lines.append("")
        if fig.get("verdict"):
            lines += [f"**Agreement.** {fig['verdict']}", ""]
    return atomic_write_text(out_dir / "report.md", "\n".join(lines))
