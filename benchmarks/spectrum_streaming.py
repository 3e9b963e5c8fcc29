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

import numpy as np
from scipy.linalg import svdvals

from logitrank import random_futures, random_histories
from logitrank.shards import ShardedMatrix, extract, open_shards


def gemm_rate(dtype: type, n: int = 4096, repeats: int = 3) -> float:
    """Best-of-``repeats`` FLOP/s of an ``n x n`` matrix product in ``dtype``."""
    gen = np.random.default_rng(0)
    a: np.ndarray = gen.standard_normal((n, n)).astype(dtype)
    b: np.ndarray = gen.standard_normal((n, n)).astype(dtype)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", choices=["all", "spectrum", "fullsvd"], default="all")
    p.add_argument("--dir", default=None, help="where to write shards (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the shard directories")
    p.add_argument("--histories", type=int, default=4096)
    p.add_argument("--futures", type=int, default=4096)
    p.add_argument("--small-histories", type=int, default=1024)
    p.add_argument("--small-futures", type=int, default=400)
    p.add_argument("--vocab", type=int, default=50)
    p.add_argument("--dim", type=int, default=256, help="planted rank")
    p.add_argument("--alpha", type=float, default=0.6)
    p.add_argument("--horizon", type=int, default=8)
    p.add_argument("--shard-rows", type=int, default=256)
    p.add_argument("--block-columns", type=int, default=8192,
                   help="columns per Gram block (memory ~ 3 |H| c 8 bytes); 8192: ~7%% less CPU than 4096")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
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
    _, sm = write_shards(root / "small", args.small_histories, args.small_futures, args)
    child = run_child(root / "small", args.block_columns)
    full = run_child(root / "small", args.block_columns, stage="fullsvd")
    s_gram = np.load(root / "small" / "spectrum.npy")
    s_full = np.load(root / "small" / "spectrum-full.npy")
    k = int(np.count_nonzero(s_full > 1e-6 * s_full[0]))
    err = float(np.max(np.abs(s_gram[:k] / s_full[:k] - 1)))
    m, n = sm.shape
    g_s, g_mb, f_s, f_mb = child["seconds"], child["peak_rss_mb"], full["seconds"], full["peak_rss_mb"]
    print(f"small {m} x {n}: Gram-from-shards {g_s:.2f} s and {g_mb:.0f} MB peak RSS; full SVD {f_s:.2f} s "
          f"and {f_mb:.0f} MB (time ratio {f_s / g_s:.1f}x, memory ratio {f_mb / g_mb:.1f}x); max relative "
          f"difference over the {k} values above 1e-6 sigma_1: {err:.1e}")

    # large case
    t_ext, sm = write_shards(root / "large", args.histories, args.futures, args)
    size_gb = sum(f.stat().st_size for f in (root / "large").glob("shard-*.npy")) / 1e9
    m, n = sm.shape
    print(f"large {m} x {n} float32: extraction to {size_gb:.2f} GB of shards in {t_ext:.1f} s")
    child = run_child(root / "large", args.block_columns)
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
