"""Whole spectrum of a 4096 x 204800 float32 logit matrix streamed from shards on disk (Gram path).

Pipeline: :func:`logitrank.shards.extract` writes ``L(H, F)`` of a :class:`simulators.PlantedSpectrum`
model (planted power law ``sigma_i ~ i^-alpha`` of rank ``dim``; ``V = 50`` so ``|F| = 4096`` futures give
``4096 * 50 = 204800`` columns) as float32 row shards; then, **in a fresh process** (so its peak resident
memory is the spectrum's alone), ``ShardedMatrix.singular_values()`` accumulates ``G = sum_b L_b L_b^T`` in
float64 over column blocks gathered from memory-mapped shards and takes ``sqrt(eig(G))``
(:func:`logitrank.spectra.gram_singular_values`).

Printed: the GEMM rate of this machine (4096^2 float64 and float32 ``@``, best of 3); a smaller case
(default 1024 x 20000) with the Gram path against a dense full SVD (``scipy.linalg.svdvals``): agreement
and the time ratio; the large case: extraction time, spectrum wall time, peak RSS of the spectrum
process, and the Gram's achieved FLOP rate (``m^2 n`` for the symmetric product) as a fraction of the
measured float64 GEMM rate. Acceptance target (issue 7): under 60 s on 2 cores with peak memory < 1 GB.

Run: ``python benchmarks/spectrum_streaming.py [--dir /tmp/ls-bench] [--keep]``
(``--stage spectrum --dir D`` is the child process; the shards need ~3.4 GB of disk).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _harness import Row, best_rate, row
from _harness import parser as shared_parser
from scipy.linalg import svdvals

from logitrank import random_futures, random_histories
from logitrank.shards import ShardedMatrix, extract, open_shards


def gemm_rate(dtype: type, n: int = 4096, repeats: int = 3) -> float:
    """Best-of-``repeats`` FLOP/s of an ``n x n`` matrix product in ``dtype``, and of every earlier call in
    this process (other jobs only ever slow it down)."""
    gen = np.random.default_rng(0)
    a: np.ndarray = gen.standard_normal((n, n)).astype(dtype)
    b: np.ndarray = gen.standard_normal((n, n)).astype(dtype)
    return best_rate(f"{np.dtype(dtype)}-{n}", 2 * n**3, lambda: a @ b, repeats)


def write_shards(out: Path, n_histories: int, n_futures: int,
                 args: argparse.Namespace) -> tuple[float, ShardedMatrix]:
    from simulators import PlantedSpectrum

    model = PlantedSpectrum.random(args.vocab, args.dim, args.horizon, alpha=args.alpha, rng=args.seed)
    t = args.horizon // 2
    H = random_histories(args.vocab, n_histories, t, rng=args.seed + 1)
    F = random_futures(args.vocab, n_futures, args.horizon - 1 - t, rng=args.seed + 2)
    t0 = time.perf_counter()
    sm = extract(model, H, F, out, shard_rows=args.shard_rows, dtype="float32", progress=False)
    return time.perf_counter() - t0, sm


def reset_peak_rss() -> None:
    """Reset the kernel's resident-memory high-water mark (a forked child inherits its parent's)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """VmHWM from /proc/self/status (Linux), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def spectrum_stage(path: str, block_columns: int) -> None:
    """Child process: time the Gram spectrum and report peak RSS as one JSON line."""
    reset_peak_rss()
    sm = open_shards(path)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    s = sm.singular_values(block_columns=block_columns)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    peak_mb = peak_rss_mb()
    np.save(Path(path) / "spectrum.npy", s)
    report = {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_mb, "shape": list(sm.shape)}
    print(json.dumps(report))


def full_svd_stage(path: str) -> None:
    """Child process: dense float64 matrix and ``scipy.linalg.svdvals``; time and peak RSS as JSON."""
    reset_peak_rss()
    t0 = time.perf_counter()
    s = svdvals(open_shards(path).to_logit_matrix(max_bytes=1 << 34).values)
    seconds = time.perf_counter() - t0
    np.save(Path(path) / "spectrum-full.npy", s)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def run_child(path: Path, block_columns: int, stage: str = "spectrum") -> dict:
    cmd = [sys.executable, __file__, "--stage", stage, "--dir", str(path),
           "--block-columns", str(block_columns)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def parser() -> argparse.ArgumentParser:
    p = shared_parser(__doc__, histories=4096, futures=4096, vocab=50, dim=256, horizon=8, seed=0)
    p.add_argument("--stage", choices=["all", "spectrum", "fullsvd"], default="all")
    p.add_argument("--dir", default=None, help="where to write shards (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the shard directories")
    p.add_argument("--small-histories", type=int, default=1024)
    p.add_argument("--small-futures", type=int, default=400)
    p.add_argument("--alpha", type=float, default=0.6)
    p.add_argument("--shard-rows", type=int, default=256)
    p.add_argument("--block-columns", type=int, default=8192,
                   help="columns per Gram block (memory ~ 3 |H| c 8 bytes); 8192: ~7%% less CPU than 4096")
    return p


def gram_case(root: Path, n_histories: int, n_futures: int, args: argparse.Namespace,
              naive: bool) -> dict[str, Any]:
    """Shards of ``n_histories x n_futures V`` under ``root``, then the Gram spectrum in a fresh process
    (time, peak RSS) and, with ``naive``, the dense full SVD in another (time, peak RSS, largest relative
    difference over the values above ``1e-6 sigma_1``)."""
    t_ext, sm = write_shards(root, n_histories, n_futures, args)
    out: dict[str, Any] = {"extract_s": t_ext, "shape": sm.shape, "gram": run_child(root, args.block_columns)}
    if naive:
        out["full"] = run_child(root, args.block_columns, stage="fullsvd")
        s_gram, s_full = np.load(root / "spectrum.npy"), np.load(root / "spectrum-full.npy")
        k = int(np.count_nonzero(s_full > 1e-6 * s_full[0]))
        out["err"], out["k"] = float(np.max(np.abs(s_gram[:k] / s_full[:k] - 1))), k
    return out


def gram_rows(quick: bool) -> list[Row]:
    """The benchmark table's rows (``benchmarks/table.py``): the small case against the dense SVD, and (not
    with ``quick``) the 4096 x 204,800 case against its float64 GEMM floor and the 1 GB target."""
    args = parser().parse_args([])
    rows = []
    cases = [(512, 200, True) if quick else (1024, 400, True)]
    cases += [] if quick else [(args.histories, args.futures, False)]
    with tempfile.TemporaryDirectory(prefix="ls-bench-") as tmp:
        for i, (nh, nf, naive) in enumerate(cases):
            r = gram_case(Path(tmp) / str(i), nh, nf, args, naive)
            m, n = r["shape"]
            g = r["gram"]
            f64 = gemm_rate(np.float64)  # beside each case: the machine's load changes
            floor = m * m * n / f64
            note = (f"{floor / g['seconds']:.0%} of float64 GEMM ({f64 / 1e9:.0f} GFLOP/s); peak RSS "
                    f"{g['peak_rss_mb']:.0f} MB")
            if naive:
                note += (f"; naive: dense float64 SVD (scipy svdvals), peak "
                         f"{r['full']['peak_rss_mb']:.0f} MB, max rel. diff {r['err']:.0e}")
            else:
                note += " [targets ≥ 80 %, < 1024 MB]; naive: dense SVD not run (the float64 matrix alone: " \
                        f"{m * n * 8 / 1e9:.1f} GB)"
            rows.append(row("Gram-streamed spectrum from float32 shards", f"{m} × {n:,}", ours=g["seconds"],
                            naive=r["full"]["seconds"] if naive else np.nan, floor=floor,
                            floor_def="|H|² · columns FLOPs (the symmetric product) at the float64 GEMM rate "
                                      "measured now", note=note))
    return rows


def main() -> None:
    args = parser().parse_args()
    if args.stage == "spectrum":
        spectrum_stage(args.dir, args.block_columns)
        return
    if args.stage == "fullsvd":
        full_svd_stage(args.dir)
        return

    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="ls-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    import os

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start (> 0 means other jobs "
          "compete for the cores: every time below is inflated accordingly)")
    f64, f32 = gemm_rate(np.float64), gemm_rate(np.float32)
    print(f"GEMM 4096^2: float64 {f64 / 1e9:.0f} GFLOP/s, float32 {f32 / 1e9:.0f} GFLOP/s")

    # small case: Gram from shards vs dense full SVD
    small = gram_case(root / "small", args.small_histories, args.small_futures, args, naive=True)
    (m, n), g, f = small["shape"], small["gram"], small["full"]
    print(f"small {m} x {n}: Gram-from-shards {g['seconds']:.2f} s and {g['peak_rss_mb']:.0f} MB peak RSS; "
          f"full SVD {f['seconds']:.2f} s and {f['peak_rss_mb']:.0f} MB (time ratio "
          f"{f['seconds'] / g['seconds']:.1f}x, "
          f"memory ratio {f['peak_rss_mb'] / g['peak_rss_mb']:.1f}x); max relative difference over the "
          f"{small['k']} values above 1e-6 sigma_1: {small['err']:.1e}")

    # large case
    large = gram_case(root / "large", args.histories, args.futures, args, naive=False)
    (m, n), child = large["shape"], large["gram"]
    size_gb = sum(f.stat().st_size for f in (root / "large").glob("shard-*.npy")) / 1e9
    print(f"large {m} x {n} float32: extraction to {size_gb:.2f} GB of shards in {large['extract_s']:.1f} s")
    s = np.load(root / "large" / "spectrum.npy")
    rate = m * m * n / child["seconds"]
    print(f"large: Gram spectrum (all {m} singular values) {child['seconds']:.1f} s "
          f"[target < 60 s], peak RSS {child['peak_rss_mb']:.0f} MB [target < 1024 MB]; "
          f"Gram rate {rate / 1e9:.0f} GFLOP/s = {rate / f64:.0%} of the measured float64 GEMM rate; "
          f"CPU time {child['cpu_seconds']:.1f} s (all threads; on 2 idle cores the wall time would be "
          f"about half of it)")
    top = s[: args.dim]
    slope = np.polyfit(np.log(np.arange(1, args.dim + 1)), np.log(top), 1)[0]
    print(f"large: sigma_1 = {s[0]:.4g}, planted rank {args.dim} -> sigma_{args.dim + 1}/sigma_1 = "
          f"{s[args.dim] / s[0]:.1e}, log-log slope over 1..{args.dim} = {slope:.3f} (planted -{args.alpha})")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    if not args.keep and not args.dir:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
