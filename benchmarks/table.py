"""Every speed benchmark of the README and SPEC in one run, printed as one markdown table.

Each row times the package's way, the naive way (what the fast path replaces) and a floor measured in the
same run (defined in the row), and prints ``naive / ours`` and ``ours / floor``:

* ISAN extended matrix (``benchmarks/extended_matrix.py``);
* HF extended matrix with key/value reuse on the Shakespeare-size GPT-2 and on SmolLM2-135M
  (``benchmarks/hf_extended.py``), and SmolLM2's top-k matrix by the hidden-state fast path
  (``benchmarks/hf_hidden_path.py``);
* continuations, LINGEN's generation loop (``benchmarks/hf_continuations.py``);
* the Gram-streamed spectrum of a wide matrix from shards and its peak memory
  (``benchmarks/spectrum_streaming.py``);
* the provable learner's tracking steps per second (:class:`simulators.learners.SpannerLPLearner`).

Run: ``OMP_WAIT_POLICY=PASSIVE python benchmarks/table.py [--quick] [--skip smollm2,gram]`` (``--quick``:
about a minute, smaller sizes, SmolLM2 skipped).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

import numpy as np
from _harness import Row, skipped_row

ROWS = ("isan", "hf", "smollm2", "hidden", "continuations", "gram", "lp")


def cpu_name() -> str:
    """The CPU's model name and its widest vector units (from /proc/cpuinfo on Linux)."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    units = [u for u, f in (("AVX-512", "avx512f"), ("AVX-512 BF16", "avx512_bf16"), ("AVX2", "avx2"))
             if f in flags]
    return f"{name} ({', '.join(units[:1] + units[1:2]) or 'no AVX2'})"


def fmt_s(t: float) -> str:
    return "–" if not np.isfinite(t) else (f"{t:.3g} s" if t < 100 else f"{t:.0f} s")


def cell(text: str) -> str:
    """Markdown-table-safe text (``|H|`` would end the cell)."""
    return str(text).replace("|", "\\|")


def row_line(r: Row) -> str:
    ours, naive, floor = r["ours"], r.get("naive", np.nan), r["floor"]
    speedup = f"{naive / ours:.1f}×" if np.isfinite(naive) else "–"
    return (f"| {cell(r['name'])} | {cell(r['size'])} | {fmt_s(ours)} | {fmt_s(naive)} | {speedup} | "
            f"{fmt_s(floor)} | **{ours / floor:.2f}×** | {cell(r['floor_def'])} | "
            f"{cell(r.get('note', ''))} |")


def print_table(rows: list[Row], header: str) -> None:
    print(header)
    print()
    print("| path | size | ours | naive | naive / ours | floor | ours / floor | floor = | notes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        skipped = f"| {cell(r['name'])} |" + " – |" * 7 + f" {cell(r['note'])} |"
        print(row_line(r) if "ours" in r else skipped)


def machine_header(quick: bool) -> str:
    load = os.getloadavg()[0]
    state = "idle" if load < 0.5 else f"measured under load (load average {load:.1f} at start)"
    return (f"{cpu_name()}, {os.cpu_count()} cores, numpy {np.__version__}, "
            f"{'--quick' if quick else 'full'} run, {state}")


def run_rows(names: list[str], quick: bool) -> list[Row]:
    from extended_matrix import isan_row
    from hf_continuations import continuations_row
    from hf_extended import hf_row
    from hf_hidden_path import hidden_row
    from lp_steps import lp_row
    from smollm2_speed import smollm2_row
    from spectrum_streaming import gram_rows

    makers: dict[str, Callable[[bool], list[Row]]] = {
        "isan": lambda q: [isan_row(q)], "hf": lambda q: [hf_row(q)], "smollm2": lambda q: [smollm2_row(q)],
        "hidden": lambda q: [hidden_row(q)],
        "continuations": lambda q: [continuations_row(q)], "gram": gram_rows, "lp": lambda q: [lp_row(q)]}
    rows: list[Row] = []
    for name in names:
        t0 = time.perf_counter()
        try:
            rows += makers[name](quick)
        except Exception as exc:  # a row that cannot run says why; speed is not a test
            rows.append(skipped_row(name, f"not measured: {type(exc).__name__}: {exc}"))
        print(f"  [{name}: {time.perf_counter() - t0:.0f} s]", file=sys.stderr)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="about a minute: smaller sizes, SmolLM2 skipped")
    p.add_argument("--skip", default="", help=f"comma-separated rows to leave out, of {','.join(ROWS)}")
    p.add_argument("--only", default="", help="comma-separated rows to run (default: all)")
    a = p.parse_args()
    skip = {s for s in a.skip.split(",") if s}
    names = [n for n in (a.only.split(",") if a.only else ROWS) if n not in skip]
    header = machine_header(a.quick)
    rows = run_rows(names, a.quick)
    print_table(rows, header)


if __name__ == "__main__":
    main()
