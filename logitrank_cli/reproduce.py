"""``logitrank reproduce``: regenerate the paper's figures and tables and write ``report.md``."""

from __future__ import annotations

import argparse

from .options import SEED, names, positive_real, progress

NAME = "reproduce"
HELP = "regenerate the paper's figures and tables and write report.md"


def add_arguments(p: argparse.ArgumentParser) -> None:
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="preset", action="store_const", const="quick",
                      help="small matrices and ~8 min of training (default; 25-35 min on 2 idle CPU "
                           "cores, 13 of them the real-LLM section)")
    mode.add_argument("--full", dest="preset", action="store_const", const="full",
                      help="larger matrices and longer training (hours on CPU, faster on a GPU)")
    mode.add_argument("--tiny", dest="preset", action="store_const", const="tiny",
                      help="seconds: untrained tiny transformer (smoke test only)")
    p.set_defaults(preset="quick")
    p.add_argument("--out", default="logitrank-results/reproduce", help="output directory (figures, cache)")
    p.add_argument("--only", default=None, type=names,
                   help="comma-separated figures to (re)make from the cache (the names of "
                        "paper_figures.FIGURES: spectra, kl_scales, emergence, angles, lingen, ...)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="device for the transformers: training, logit matrices, LINGEN")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--max-minutes", type=positive_real, default=None,
                   help="stop each transformer training after this wall time (opt-in: numbers then depend on "
                        "the machine's speed; by default training runs its fixed step count)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()  # before torch is imported (SPEC section 4)
    from paper_figures.pipeline import FIGURES, ReproduceConfig, ReproduceRequest, parse_only, run_reproduce

    only = None if args.only is None else parse_only(args.only)
    config = ReproduceConfig.preset_named(args.preset, device=args.device, seed=args.seed,
                                          progress=progress(args), max_minutes=args.max_minutes)
    results = run_reproduce(ReproduceRequest(config, args.out, only=only))
    figs = results["figures"]
    failed = [n for n in (only or list(FIGURES)) if figs.get(n, {}).get("status") != "ok"]
    print(f"wrote {args.out}/report.md and {args.out}/results.json "
          f"({len(figs) - len(failed)} figures ok{', failed: ' + ', '.join(failed) if failed else ''})")
    return 1 if failed else 0
