"""Argument types (argparse then exits 2 naming the option), the defaults of the sizes, and the option
groups that several subcommands share: the model and its index sets (``spectrum``, ``extract``) and the
text of a HuggingFace checkpoint (``extract --model PATH``, ``measure``)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from logitrank import SequenceModel
    from simulators.synthetic_spectrum import SyntheticModel

Sequences = list[tuple[int, ...]]
SyntheticInputs = tuple["SyntheticModel", "SequenceModel", int, Sequences, Sequences, "np.random.Generator"]

DEFAULT_INDEX_SET = 256  # |H| and |F| when not given (synthetic families and HF checkpoints)
DEFAULT_DIM, DEFAULT_HORIZON = 8, 12  # synthetic families: d and T when not given
DEFAULT_HF_HISTORY_LENGTH = 32  # HuggingFace checkpoints: t when not given
SYNTHETIC_ONLY = ("vocab", "dim", "horizon", "set")  # options a checkpoint has no use for


def count(minimum: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer ``>= minimum`` (argparse then exits 2 naming the option)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def names(text: str) -> str:
    """An argparse ``type``: a comma-separated list of names, none empty (``""`` and ``","`` are refused
    rather than read as "not given")."""
    if not text.strip() or any(not item.strip() for item in text.split(",")):
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of names, none empty, got {text!r}")
    return text


def positive_real(text: str) -> float:
    """An argparse ``type``: a finite number ``> 0`` (``inf``, ``nan`` and ``0`` are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


positive_real.__name__ = "finite number > 0"
SEED = count(0)


def progress(args: argparse.Namespace) -> bool | None:
    """``--no-progress`` as the library's ``progress``: False, else None (bars only on a terminal)."""
    return False if args.no_progress else None


def load_bench_tasks() -> None:
    """What ``bench`` and ``serve`` do before they touch a task: choose the OpenMP wait policy (the
    transformer task runs torch) and register the hard suite's transformer task
    (:mod:`llm_bridge.bench_task`)."""
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()
    import llm_bridge.bench_task  # noqa: F401  (registers itself on import)


def or_default(value: int | None, default: int) -> int:
    """``value`` unless it was not given (``0`` is a value, refused where it is wrong, never the default)."""
    return default if value is None else value


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The argument group ``spectrum`` and ``extract`` share: the model and its index sets."""
    g = p.add_argument_group("model and index sets")
    g.add_argument("--model", default="isan",
                   help="model family: isan (random time-varying ISAN) or one of simulators.families")
    g.add_argument("--vocab", type=count(1), default=None,
                   help="vocabulary size V (default: the family's, 16 or 2 for binary families)")
    g.add_argument("--dim", type=count(1), default=None,
                   help=f"hidden dimension d (or the family's size parameter; default {DEFAULT_DIM})")
    g.add_argument("--horizon", type=count(1), default=None, help=f"horizon T (default {DEFAULT_HORIZON})")
    g.add_argument("--histories", type=count(1), default=None,
                   help=f"number of random histories |H| (default {DEFAULT_INDEX_SET}, or all V^t if fewer)")
    g.add_argument("--futures", type=count(1), default=None,
                   help=f"number of random futures |F| (default {DEFAULT_INDEX_SET}, or all of lengths "
                        "0..T-1-t if fewer)")
    g.add_argument("--history-length", type=count(0), default=None,
                   help=f"history length t (default: horizon // 2, or {DEFAULT_HF_HISTORY_LENGTH} for "
                        "checkpoints)")
    g.add_argument("--top-k", type=count(1), default=None, help="keep k token columns per future")
    g.add_argument("--token-rule", default="mean", choices=["mean", "random"], help="top-k token rule")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a family keyword, e.g. --set alpha=0.7 for planted (repeatable)")
    g.add_argument("--seed", type=SEED, default=0)
    g.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_text_arguments(g: argparse._ArgumentGroup) -> None:
    """Text, tokenizer and device of a HuggingFace checkpoint (``extract --model PATH`` and ``measure``)."""
    g.add_argument("--text", default=None, help="text file, or a directory of .txt/.md files")
    g.add_argument("--corpus", default=None, choices=["shakespeare"],
                   help="built-in text instead of --text: the validation plays of the Shakespeare corpus")
    g.add_argument("--tokenizer", default="auto",
                   help="auto (the model's own), char or bpe-N (built from the text; must match the model)")
    g.add_argument("--device", default="cpu", help="cpu or cuda")
    g.add_argument("--bos", default="auto", choices=["auto", "always", "never"],
                   help="prepend the model's BOS token: auto (its own convention: GGUF metadata, tokenizer "
                   "config, train_state.json), always, never")


def synthetic_inputs(args: argparse.Namespace) -> SyntheticInputs:
    """The options of :func:`add_model_arguments` as library calls: the recipe
    (:class:`simulators.synthetic_spectrum.SyntheticModel`), the model it builds, ``t``, ``H``, ``F`` and the
    generator that drew them (:func:`simulators.synthetic_spectrum.index_sets`)."""
    from simulators.synthetic_spectrum import SyntheticModel, index_sets, parse_settings

    settings = parse_settings(args.set)
    recipe = SyntheticModel(args.model, args.vocab, or_default(args.dim, DEFAULT_DIM),
                            or_default(args.horizon, DEFAULT_HORIZON), tuple(settings.items()), args.seed)
    try:
        model = recipe()
    except (ValueError, TypeError) as exc:  # name the option the user typed: --set KEY=VALUE
        if str(exc).partition(":")[0] in settings:
            raise type(exc)(f"--set {exc}") from exc
        raise
    t, H, F, rng = index_sets(model, history_length=args.history_length, n_histories=args.histories,
                              n_futures=args.futures, default_size=DEFAULT_INDEX_SET, seed=args.seed,
                              name=args.model)
    return recipe, model, t, H, F, rng
