"""``logitrank train``: train a small transformer on the Shakespeare corpus (resumable)."""

from __future__ import annotations

import argparse

from .options import SEED, count, positive_real, progress

NAME = "train"
HELP = "train a small transformer on the Shakespeare corpus (resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="shakespeare-char", help="model preset (llm_bridge.PRESETS)")
    p.add_argument("--steps", type=count(1), default=1200, help="total optimisation steps")
    p.add_argument("--minutes", type=positive_real, default=None,
                   help="stop (checkpointed) after this wall time")
    p.add_argument("--out", default="logitrank-results/shakespeare-char", help="checkpoint directory")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--checkpoint-every", type=count(1), default=200, help="steps between checkpoints")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--threads", type=count(1), default=None, help="torch threads (default: torch's)")
    p.add_argument("--n-embd", type=count(1), default=None, help="override the preset's width")
    p.add_argument("--n-layer", type=count(1), default=None, help="override the preset's depth")
    p.add_argument("--arch", choices=("gpt2", "llama"), default=None, help="override the architecture")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--tokenizer", default="char",
                   help="'char' or 'bpe-N' (byte-level BPE with N tokens, trained on the training plays)")
    p.add_argument("--init-std", type=positive_real, default=None,
                   help="override the initialisation std (default: the preset's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()  # before torch is imported (SPEC section 4)
    from llm_bridge.train import train_shakespeare

    result = train_shakespeare(args.out, preset=args.preset, steps=args.steps,
                               checkpoint_every=args.checkpoint_every, seed=args.seed,
                               max_seconds=None if args.minutes is None else 60.0 * args.minutes,
                               resume=args.resume, threads=args.threads, tokenizer=args.tokenizer,
                               device=args.device, progress=progress(args), n_embd=args.n_embd,
                               n_layer=args.n_layer, arch=args.arch, init_std=args.init_std)
    last = f"{result.final_val_loss:.4f}" if result.val_losses else "n/a"
    print(f"step {result.step}/{args.steps} ({'done' if result.completed else 'stopped on time'}), "
          f"validation loss {last} nats/token, {result.tokens_per_second:.0f} tokens/s, "
          f"{result.n_params} parameters; checkpoints in {result.out_dir}")
    return 0
