"""The shared trained transformer of the LLM figures: trained once per output folder, then cached.

:func:`train` runs :func:`llm_bridge.train_shakespeare` into ``<out>/cache/transformer/run-<key>/`` (a
killed training resumes) and caches its summary as one step; figures reach it through
:meth:`paper_figures.pipeline.FigureCache.transformer`. The second model (``second=True``: the next
seed, ``second_steps`` steps) serves model-vs-model comparisons. Training runs a fixed number of steps;
``max_seconds`` (``reproduce --max-minutes``) is an opt-in cap that makes the numbers depend on the
machine's speed.
"""

from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from typing import Any, ClassVar

from experiments.store import StepCache
from logitrank.results_io import dumps_json
from logitrank.validation import spawn_seeds

from .config import FigureConfig, Presets

__all__ = ["Config", "Trained", "train"]


@dataclass(frozen=True)
class Config(FigureConfig):
    """The shared transformer: ``llm_bridge`` preset and tokenizer (``"bpe-N"`` subword tokens, as the
    paper's models have), training steps and checkpoints; the checkpoints the emergence figure measures."""

    model: str = "shakespeare-char"
    tokenizer: str = "bpe-1024"
    steps: int = 1200
    checkpoint_every: int = 50
    checkpoints: tuple[int, ...] = (0, 50, 100, 200, 400, 800, 1200)
    second_steps: int = 600
    max_seconds: float | None = None
    progress: bool | None = None
    PRESETS: ClassVar[Presets] = {
        "tiny": {"model": "tiny", "tokenizer": "bpe-300", "steps": 2, "checkpoint_every": 1,
                 "checkpoints": (0, 1, 2), "second_steps": 1},
        "full": {"steps": 8000, "checkpoint_every": 100, "second_steps": 8000,
                 "checkpoints": (0, 100, 200, 400, 800, 1600, 3200, 6400, 8000)},
    }


@dataclass(frozen=True)
class Trained:
    """A trained run: its cache ``key``, checkpoint paths by step, validation loss by step."""

    key: str
    paths: dict[int, str]
    val_by_step: dict[int, float]
    device: str

    @property
    def final_step(self) -> int:
        return max(self.paths)

    def path(self, step: int | str = "final") -> str:
        """The checkpoint directory at ``step`` (``"final"``: the last one)."""
        return self.paths[self.final_step if step == "final" else int(step)]



def _train(run_dir: str, *, preset: str, tokenizer: str, steps: int, checkpoint_every: int,
           max_seconds: float | None, seed: int, progress: bool | None, device: str) -> dict[str, Any]:
    from llm_bridge import train_shakespeare

    res = train_shakespeare(run_dir, preset=preset, steps=steps, checkpoint_every=checkpoint_every, seed=seed,
                            max_seconds=max_seconds, progress=progress, device=device, tokenizer=tokenizer)
    return {"step": res.step, "completed": res.completed, "n_params": res.n_params,
            "val_losses": [list(v) for v in res.val_losses],
            "checkpoints": [[int(s), p.name] for s, p in res.checkpoints],
            "train_seconds": res.seconds, "tokens_per_second": res.tokens_per_second}


def train(config: Config, cache: StepCache, *, second: bool = False) -> Trained:
    """Train (or read back) the shared transformer into ``cache.directory / run-<key>``.

    The cache key covers what determines the weights (preset, tokenizer, steps, checkpoint spacing, time
    cap, seed); not the device, so a model trained on either device serves both. ``second=True`` trains
    the second model (a seed spawned from ``config.seed``, ``config.second_steps`` steps).
    """
    seed = spawn_seeds(config.seed, 1)[0] if second else config.seed
    params = {"preset": config.model, "tokenizer": config.tokenizer,
              "steps": config.second_steps if second else config.steps,
              "checkpoint_every": config.checkpoint_every, "max_seconds": config.max_seconds, "seed": seed}
    key = f"seed{seed}-{zlib.crc32(dumps_json(params, sort_keys=True).encode()):08x}"
    run_dir = cache.directory / f"run-{key}"
    fn = functools.partial(_train, str(run_dir), progress=config.progress, device=config.device)
    info = cache.step(f"train-{key}", fn, **params)
    return Trained(key=key, paths={int(s): str(run_dir / name) for s, name in info["checkpoints"]},
                   val_by_step={int(s): float(v) for s, v in info["val_losses"]}, device=config.device)
