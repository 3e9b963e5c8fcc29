"""``logitrank reproduce``: configuration presets, the cached step runner and the report.

Every figure module ``paper_figures.<module>`` provides

- ``NAME`` and ``TITLE``;
- ``compute(config, cache) -> dict``: the numbers, each expensive part a cached step
  (:meth:`paper_figures.store.StepCache.step`) so a finished step is never recomputed;
- ``make(results_or_config, out_dir) -> list[Path]``: PNG and PDF files;
- ``summarize(results) -> dict`` with ``numbers``, ``paper``, ``verdict`` (and optional ``markdown``).

:func:`reproduce` runs them in order, writes ``<out>/<name>.png|pdf``, ``<out>/results.json`` and
``<out>/report.md``; caches live in ``<out>/cache/<name>/`` and the shared trained transformer in
``<out>/cache/transformer/``.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tqdm.auto import tqdm

from logitrank.results_io import to_jsonable

from .report import read_results, write_report, write_results
from .store import StepCache

__all__ = ["FIGURES", "ReproduceConfig", "reproduce", "figure_module", "figure_cache", "parse_only"]

#: Figure name -> module, in report order.
FIGURES: dict[str, str] = {
    "spectra": "paper_figures.fig_spectra",
    "kl_scales": "paper_figures.fig_kl_scales",
    "emergence": "paper_figures.fig_emergence",
    "angles": "paper_figures.fig_angles",
    "lingen": "paper_figures.table_lingen",
    "phase_transition": "paper_figures.fig_phase_transition",
    "learning": "paper_figures.fig_learning",
    "equivalence": "paper_figures.fig_equivalence",
    "hidden_dim": "paper_figures.fig_hidden_dim",
}


@dataclass(frozen=True)
class ReproduceConfig:
    """Sizes of every experiment of ``logitrank reproduce``.

    Presets (``|H| = |F|`` counts; ``k`` = tokens kept per future):

    ============================  =====================  =====================  ======================
    experiment                    ``tiny()`` (tests)     ``quick()`` (default)  ``full()``
    ============================  =====================  =====================  ======================
    transformer tokens            BPE, 300               BPE, 1024              BPE, 1024
    transformer training          "tiny" model, 2 steps  <= 1200 steps, 420 s  8000 steps, no limit
    second model (other seed)     1 step                 <= 600 steps, 150 s   8000 steps
    transformer spectrum |H|, k   24, 8                  160, 16               1024, 32
    KL-vs-rank scales n           16, 8                  192, 96, 48, 24       1024 .. 64
    checkpoints (emergence), |H|  3, 16                  <= 7, 96              <= 9, 512
    synthetic matrices |H|, |F|   27, 13 (V=3)           256, 256 (V=8)        1024, 1024 (V=16)
    LINGEN targets x samples      2 x 1, 4 steps         8 x 2, 15 steps       50 x 5, 15 steps
    phase transition N            10 .. 1e3              1e2 .. 1e6            1e2 .. 1e7
    learning: ISAN V, d, T        2, 2, 4                4, 3, 6               4, 3, 6
    noisy parity n, |S|           4, 2                   20, 10                20, 10
    equivalence V, T, d           2, 4, 2                3, 6, 3               4, 6, 4
    hidden dims n_embd            8, 12                  32, 48, 64            16, 32, 48, 64
    ============================  =====================  =====================  ======================

    Quick mode takes about 12 minutes on 2 uncontended CPU cores (training about 5 of them); on a machine
    shared with other jobs the training time limit keeps the wall time bounded but the model is then
    trained for fewer steps (the report states how many).
    """

    preset: str = "quick"
    seed: int = 0
    device: str = "cpu"
    progress: bool | None = None
    # shared transformer (llm_bridge.train_shakespeare); training stops at lm_steps or lm_max_seconds
    lm_preset: str = "shakespeare-char"
    # subword tokens as the paper's models have: the 5-token short-history baseline and |H| < V of LINGEN
    # then mean what they mean there (llm_bridge.load_shakespeare: "char" or "bpe-N")
    lm_tokenizer: str = "bpe-1024"
    lm_steps: int = 1200
    lm_max_seconds: float | None = 420.0
    lm_checkpoint_every: int = 50
    lm_checkpoints: tuple[int, ...] = (0, 50, 100, 200, 400, 800, 1200)
    second_model_steps: int = 600
    second_model_max_seconds: float | None = 150.0
    # transformer logit matrices
    lm_histories: int = 160
    lm_futures: int = 160
    lm_history_len: int = 32
    lm_future_len: int = 8
    lm_top_k: int = 16
    kl_scales: tuple[int, ...] = (192, 96, 48, 24)
    kl_ranks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128)
    emergence_histories: int = 96
    angle_rank: int = 16
    # LINGEN
    lingen_targets: int = 8
    lingen_samples: int = 2
    lingen_steps: int = 15
    lingen_basis: int = 128
    lingen_futures: int = 32
    # synthetic models
    syn_vocab: int = 8
    syn_dim: int = 16
    syn_horizon: int = 8
    syn_histories: int = 256
    syn_futures: int = 256
    # phase transition (theory)
    pt_alphas: tuple[float, ...] = (0.3, 0.45, 0.5, 0.536, 0.6, 0.75, 1.0)
    pt_eps: float = 0.09
    pt_sizes: tuple[int, ...] = (10**2, 10**3, 10**4, 10**5, 10**6)
    # learning
    learn_vocab: int = 4
    learn_dim: int = 3
    learn_horizon: int = 6
    learn_scaling_dims: tuple[int, ...] = (2, 4, 8)
    learn_scaling_vocabs: tuple[int, ...] = (4, 8, 16)
    learn_scaling_horizons: tuple[int, ...] = (4, 8, 16)
    parity_bits: int = 20
    parity_subset: int = 10
    parity_noise: float = 0.1
    parity_samples: tuple[int, ...] = (1000, 10000)
    parity_mle_steps: int = 400
    learn_eval: int = 400
    # equivalence
    eq_vocab: int = 3
    eq_horizon: int = 6
    eq_dim: int = 3
    # hidden dimension
    hd_dims: tuple[int, ...] = (32, 48, 64)  # < 80: L(H, {empty}) has V = 81 char columns
    hd_steps: int = 60
    hd_histories: int = 256
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def quick(cls, **changes: Any) -> ReproduceConfig:
        """The default: every figure on 2 CPU cores in about 12 minutes including training."""
        return dataclasses.replace(cls(), **changes)

    @classmethod
    def full(cls, **changes: Any) -> ReproduceConfig:
        """Larger matrices and longer training (an hour or more on CPU, minutes on a GPU)."""
        base = cls(preset="full", lm_steps=8000, lm_max_seconds=None, lm_checkpoint_every=100,
                   lm_checkpoints=(0, 100, 200, 400, 800, 1600, 3200, 6400, 8000),
                   second_model_max_seconds=None,
                   lm_histories=1024, lm_futures=1024, lm_top_k=32, kl_scales=(1024, 512, 256, 128, 64),
                   kl_ranks=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512), emergence_histories=512,
                   angle_rank=32, second_model_steps=8000, lingen_targets=50, lingen_samples=5,
                   lingen_basis=512, lingen_futures=128,
                   syn_vocab=16, syn_dim=32, syn_horizon=8, syn_histories=1024,
                   syn_futures=1024, pt_sizes=(10**2, 10**3, 10**4, 10**5, 10**6, 10**7),
                   learn_scaling_dims=(2, 4, 8, 16), learn_scaling_vocabs=(4, 8, 16, 32),
                   learn_scaling_horizons=(4, 8, 16, 32), parity_samples=(10**3, 10**4, 10**5),
                   eq_vocab=4, eq_horizon=6, eq_dim=4,
                   hd_dims=(16, 32, 48, 64), hd_steps=300, hd_histories=512)
        return dataclasses.replace(base, **changes)

    @classmethod
    def tiny(cls, **changes: Any) -> ReproduceConfig:
        """Seconds per figure, for smoke tests: a randomly initialised tiny transformer, small matrices."""
        base = cls(preset="tiny", progress=False, lm_preset="tiny", lm_tokenizer="bpe-300", lm_steps=2,
                   lm_max_seconds=None,
                   lm_checkpoint_every=1, lm_checkpoints=(0, 1, 2), second_model_steps=1,
                   second_model_max_seconds=None, lm_histories=24, lm_futures=24, lm_history_len=8,
                   lm_future_len=3, lm_top_k=8, kl_scales=(16, 8), kl_ranks=(1, 2, 4, 8),
                   emergence_histories=16, angle_rank=4, lingen_targets=2,
                   lingen_samples=1, lingen_steps=4, lingen_basis=16, lingen_futures=4,
                   syn_vocab=3, syn_dim=3, syn_horizon=5,
                   syn_histories=27, syn_futures=13, pt_sizes=(10, 100, 1000),
                   pt_alphas=(0.3, 0.5, 0.536, 0.75),
                   learn_vocab=2, learn_dim=2, learn_horizon=4, learn_scaling_dims=(1, 2),
                   learn_scaling_vocabs=(2, 3), learn_scaling_horizons=(3, 4), parity_bits=4,
                   parity_subset=2, parity_samples=(50, 200), parity_mle_steps=10, learn_eval=50,
                   eq_vocab=2, eq_horizon=4, eq_dim=2,
                   hd_dims=(8, 12), hd_steps=2, hd_histories=40)
        return dataclasses.replace(base, **changes)

    @classmethod
    def preset_named(cls, name: str, **changes: Any) -> ReproduceConfig:
        presets = {"quick": cls.quick, "full": cls.full, "tiny": cls.tiny}
        if name not in presets:
            raise ValueError(f"preset: must be one of {sorted(presets)}, got {name!r}")
        return presets[name](**changes)

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(dataclasses.asdict(self))  # type: ignore[no-any-return]


def figure_module(name: str) -> ModuleType:
    """The module of figure ``name`` (see :data:`FIGURES`)."""
    if name not in FIGURES:
        raise ValueError(f"figure: must be one of {list(FIGURES)}, got {name!r}")
    return importlib.import_module(FIGURES[name])


def figure_cache(out_dir: str | Path, name: str, config: ReproduceConfig | None = None) -> StepCache:
    """The cache of figure ``name`` under ``out_dir`` (``<out>/cache/<name>/``)."""
    show = None
    if config is not None and config.progress is not False:
        def show(step: str) -> None:
            tqdm.write(f"  [{name}] computing {step}")
    return StepCache(Path(out_dir) / "cache" / name, progress=show)


def parse_only(only: str | Sequence[str] | None) -> list[str]:
    """Figure names from ``--only`` (comma-separated names; module names such as ``fig_spectra`` work too)."""
    if only is None:
        return list(FIGURES)
    items = [s.strip() for s in only.split(",")] if isinstance(only, str) else [str(s) for s in only]
    aliases = {mod.rsplit(".", 1)[1]: name for name, mod in FIGURES.items()}
    names = []
    for item in items:
        if not item:
            continue
        name = aliases.get(item, item)
        if name not in FIGURES:
            raise ValueError(f"only: each name must be one of {list(FIGURES)}, got {item!r}")
        names.append(name)
    if not names:
        raise ValueError(f"only: must name at least one figure, got {only!r}")
    return names


def run_figure(name: str, config: ReproduceConfig, out_dir: str | Path) -> dict[str, Any]:
    """Compute (from cache where possible), plot and summarise one figure; returns its results entry."""
    out_dir = Path(out_dir)
    mod = figure_module(name)
    cache = figure_cache(out_dir, name, config)
    results = mod.compute(config, cache)
    files = [str(Path(p).relative_to(out_dir)) for p in mod.make(results, out_dir)]
    summary = mod.summarize(results)
    return {"title": mod.TITLE, "status": "ok", "files": files, "computed_steps": list(cache.computed),
            "cached_steps": list(cache.loaded),
            "step_seconds": dict(cache.seconds), **summary}


def reproduce(config: ReproduceConfig | None = None, out_dir: str | Path = "logitrank-results/reproduce", *,
              only: str | Sequence[str] | None = None, raise_errors: bool = False) -> dict[str, Any]:
    """Run the figures (all, or ``only``), write figures, ``results.json`` and ``report.md``.

    A figure that raises is recorded as ``failed`` with the error and the others still run (unless
    ``raise_errors``); ``KeyboardInterrupt`` stops the run, and re-running resumes from the cache.

    Returns
    -------
    dict — the content of ``results.json`` (``config``, ``timing_s``, ``figures``).
    """
    config = config or ReproduceConfig.quick()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = parse_only(only)
    results = read_results(out_dir)
    if results.get("config", {}).get("preset") not in (None, config.preset):
        results = {"figures": {}}  # another preset's numbers must not be mixed into this report
    results["config"] = config.to_dict()
    results.setdefault("figures", {})
    timing: dict[str, float] = {}
    bar = tqdm(names, desc="reproduce", unit="figure", disable=config.progress is False)
    for name in bar:
        bar.set_postfix_str(name)
        start = time.perf_counter()
        try:
            entry = run_figure(name, config, out_dir)
        except Exception as exc:  # one failing figure must not lose the others
            if raise_errors:
                raise
            entry = {"title": figure_title(name), "status": "failed",
                     "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc(limit=6)}
            tqdm.write(f"  [{name}] FAILED: {type(exc).__name__}: {exc}")
        timing[name] = time.perf_counter() - start
        entry["wall_s"] = timing[name]
        results["figures"][name] = entry
        results["timing_s"] = {**results.get("timing_s", {}), **timing}
        write_results(out_dir, results)
        write_report(out_dir, results, list(FIGURES))
    return results


def figure_title(name: str) -> str:
    try:
        return str(figure_module(name).TITLE)
    except Exception:  # the module itself may be what failed to import
        return name
