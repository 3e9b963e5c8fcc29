"""``logitrank spectrum``: spectrum, rank and power-law fit of a synthetic model's logit matrix, or
(``--from DIR``) the Gram-streamed spectrum of the shards ``logitrank extract`` wrote."""

from __future__ import annotations

import argparse
from typing import Any

from .options import add_model_arguments, positive_real, progress, synthetic_inputs

NAME = "spectrum"
HELP = "spectrum, rank and power-law fit of a synthetic model's logit matrix"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--method", default="exact", choices=["exact", "gram"],
                   help="dense SVD, or sqrt eig(L L^T) accumulated over column blocks")
    p.add_argument("--rtol", type=positive_real, default=None,
                   help="relative tolerance of the numerical rank (default 1e-10 exact, 1e-6 gram)")
    p.add_argument("--from", dest="from_dir", default=None,
                   help="shard directory of `logitrank extract`: Gram-streamed spectrum of those shards")
    p.add_argument("--out", default="logitrank-results/spectrum", help="output directory")


def run(args: argparse.Namespace) -> int:
    if args.from_dir is not None:
        return _from_shards(args)
    from simulators.synthetic_spectrum import synthetic_spectrum

    recipe, model, t, H, F, rng = synthetic_inputs(args)
    done = synthetic_spectrum(recipe, model, t, H, F, rng, out=args.out, top_k=args.top_k,
                              token_rule=args.token_rule, method=args.method, rtol=args.rtol,
                              progress=progress(args))
    summary, shape, T = done.summary, done.matrix.shape, model.horizon
    print(f"{summary['model']}: L(H, F) is {shape[0]} x {shape[1]} ({len(H)} histories of length {t}, "
          f"{len(F)} futures of length 0..{T - 1 - t}{'' if args.top_k is None else f', top-{args.top_k}'})")
    print(f"numerical rank (sigma_i > {done.rtol:g} sigma_1): {summary['numerical_rank']}"
          + ("" if summary["rank_bound"] is None else f"   (ground-truth bound {summary['rank_bound']})"))
    print("approx rank (relative squared Frobenius error): "
          + ", ".join(f"eps={e} -> {r}" for e, r in summary["approx_rank"].items()))
    _print_fit(summary)
    print(f"wrote {', '.join(str(f) for f in done.files)}")
    return 0


def _print_fit(summary: dict[str, Any]) -> None:
    fit = summary["power_law"]
    if fit is None:
        print(f"power law: not fitted ({summary['power_law_error']})")
    else:
        lo, hi = fit["alpha_ci"]
        print(f"power law sigma_i ~ C i^-alpha: alpha = {fit['alpha']:.3f} [{lo:.3f}, {hi:.3f}] "
              f"({fit['confidence']:.0%} {fit['bootstrap']} bootstrap), R^2 = {fit['r_squared']:.3f}, "
              f"indices {fit['index_range'][0]}..{fit['index_range'][1]}")


def _from_shards(args: argparse.Namespace) -> int:
    from pathlib import Path

    from logitrank import shard_spectrum

    sm, summary = shard_spectrum(args.from_dir, args.out, rtol=args.rtol, rng=args.seed,
                                 progress=progress(args))
    print(f"{sm.manifest['model_id']}: L(H, F) is {sm.shape[0]} x {sm.shape[1]} from {sm.n_shards} shards")
    print(f"numerical rank (sigma_i > {summary['rtol']:g} sigma_1): {summary['numerical_rank']}")
    fit = summary["power_law"]
    print("power law: " + (f"not fitted ({summary['power_law_error']})" if fit is None
                           else f"alpha = {fit['alpha']:.3f}, R^2 = {fit['r_squared']:.3f}"))
    print(f"wrote {Path(args.out) / 'summary.json'}")
    return 0
