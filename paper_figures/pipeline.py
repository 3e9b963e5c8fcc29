"""``logitrank reproduce``: the figure registry and the runner of the figures.

A figure is a *view* of one experiment (:mod:`experiments`): ``paper_figures/fig_<name>.py`` has this shape::

    NAME = "example"
    TITLE = "What the figure shows"
    EXPERIMENT = "example"        # a name of experiments.EXPERIMENTS: its Config presets size the figure
    INPUTS = "none"               # what it reads: "none", "training", "transformer", "final", "checkpoints",
                                  # "transformer_early", "builtin:<name>"

    def plot(result: dict, out_dir) -> list[Path]:     # result: the experiment's Result.to_dict()
    def summarize(result: dict) -> dict:               # "numbers", "paper", "verdict" (optional "markdown")
    def context(out_dir) -> dict:    # optional: added to the result before plot/summarize (other figures'
                                     # numbers of this run, e.g. real_llm's Shakespeare column)

and one line in :data:`FIGURES`; the experiment is one module plus one line in
:data:`experiments.EXPERIMENTS`. :func:`compute_figure` runs the experiment through
:class:`experiments.Runner` in ``<out>/cache/<name>/`` (key: experiment, config, inputs identity, seed,
code version), with the inputs :func:`view_inputs` builds (``"transformer"``: the shared trained transformer,
trained once per output folder by :mod:`paper_figures.transformer`, its second seed as ``earlier``;
``"final"``: its final checkpoint alone; ``"checkpoints"``: its checkpoint series).

Every figure is a view: no figure computes, owns sizes or a cache of its own (the shared transformer's
``Config`` in :mod:`paper_figures.transformer` is the one configuration here, the inputs of several views).

:func:`reproduce` (typed entry: :func:`run_reproduce` of a :class:`ReproduceRequest`) sizes each figure from
the run's preset (``tiny``, ``quick`` or ``full``) plus :attr:`ReproduceConfig.overrides`, writes
``<out>/<name>.png|pdf``, ``<out>/results.json`` (each entry records its config and the key it was computed
with; entries of another configuration are dropped) and ``<out>/report.md``; caches live in
``<out>/cache/<name>/`` and the transformer in ``<out>/cache/transformer/``.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from tqdm.auto import tqdm

from experiments.base import BuiltinInputs, ExperimentConfig, ExperimentInputs, NoInputs, TrainingInputs
from experiments.checkpoints import checkpoint_inputs, checkpoint_series
from experiments.registry import experiment
from experiments.runner import Job, Runner
from experiments.store import StepCache
from logitrank.results_io import to_jsonable
from logitrank.run_folder import owns_out
from logitrank.validation import check_choice, check_float, check_int

from .config import PRESET_NAMES, Presets, merge_presets
from .report import read_results, write_report, write_results

__all__ = ["FIGURES", "PRESET_NAMES", "FigureCache", "Presets", "ReproduceConfig",
           "ReproduceRequest", "run_reproduce", "merge_presets", "reproduce", "figure_module", "figure_cache",
           "parse_only", "early_step"]

#: Figure name -> module, in report order.
FIGURES: dict[str, str] = {
    "spectra": "paper_figures.fig_spectra",
    "kl_scales": "paper_figures.fig_kl_scales",
    "emergence": "paper_figures.fig_emergence",
    "angles": "paper_figures.fig_angles",
    "lingen": "paper_figures.table_lingen",
    "phase_transition": "paper_figures.fig_phase_transition",
    "learning": "paper_figures.fig_learning",
    "provable_learning": "paper_figures.fig_provable_learning",
    "cost_to_eps": "paper_figures.fig_cost_to_eps",
    "equivalence": "paper_figures.fig_equivalence",
    "hidden_dim": "paper_figures.fig_hidden_dim",
    "real_llm": "paper_figures.fig_real_llm",
}

class FigureCache(StepCache):
    """A figure's step cache (``<out>/cache/<figure>/``) that also reaches the output folder's shared
    trained transformer (:meth:`transformer`)."""

    def __init__(self, directory: str | Path, progress: Any = None, transformer_config: Any = None):
        super().__init__(directory, progress=progress)
        if transformer_config is None:
            from .transformer import Config

            transformer_config = Config()
        self.transformer_config = transformer_config

    def transformer(self, *, second: bool = False) -> Any:
        """The shared transformer (:class:`paper_figures.transformer.Trained`), trained on first use."""
        from .transformer import train

        tcache = StepCache(self.directory.parent / "transformer", progress=self.progress)
        return train(self.transformer_config, tcache, second=second)


@dataclass(frozen=True)
class ReproduceConfig:
    """One run of ``logitrank reproduce``: the preset, the seed and device every figure shares, and
    per-figure overrides.

    Attributes
    ----------
    preset : ``"tiny"`` (smoke tests, seconds), ``"quick"`` (default, 25-35 minutes on 2 CPU cores, the real
        LLM included) or ``"full"`` (an hour or more on CPU); each figure's ``Config.PRESETS`` says what it
        changes
    seed, device : passed to every figure's config
    progress : bool or None — progress bars (None: tqdm's default)
    max_minutes : float, optional — opt-in wall-clock cap on each transformer training; without it
        training runs its fixed step count, so the numbers do not depend on the machine's load
    overrides : mapping figure name (or ``"transformer"``) -> {field: value} applied after the preset
    """

    preset: str = "quick"
    seed: int = 0
    device: str = "cpu"
    progress: bool | None = None
    max_minutes: float | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("preset", self.preset, PRESET_NAMES)
        check_int("seed", self.seed, minimum=0)
        if self.max_minutes is not None:
            check_float("max_minutes", self.max_minutes, low=0.0, low_inclusive=False)
        for name in self.overrides:
            check_choice("overrides", name, [*FIGURES, "transformer"])

    @classmethod
    def quick(cls, **changes: Any) -> ReproduceConfig:
        """The default: every figure on 2 CPU cores in 25-35 minutes including training and the real LLM."""
        return cls(**{**changes, "preset": "quick"})

    @classmethod
    def full(cls, **changes: Any) -> ReproduceConfig:
        """Larger matrices and longer training (an hour or more on CPU, minutes on a GPU)."""
        return cls(**{**changes, "preset": "full"})

    @classmethod
    def tiny(cls, **changes: Any) -> ReproduceConfig:
        """Seconds per figure, for smoke tests: a barely trained tiny transformer, small matrices."""
        return cls(**{"progress": False, **changes, "preset": "tiny"})

    @classmethod
    def preset_named(cls, name: str, **changes: Any) -> ReproduceConfig:
        check_choice("preset", name, PRESET_NAMES)
        return {"quick": cls.quick, "full": cls.full, "tiny": cls.tiny}[name](**changes)

    def figure_config(self, name: str) -> ExperimentConfig:
        """The ``Config`` of figure ``name`` (its experiment's preset: the experiment's own table) or of
        ``"transformer"`` (the shared transformer: the run's seed, device and progress) for this run."""
        common: dict[str, Any] = {"seed": self.seed, "device": self.device}
        changes = dict(self.overrides.get(name, {}))
        if name == "transformer":
            from .transformer import Config

            max_seconds = None if self.max_minutes is None else 60.0 * self.max_minutes
            common.update(progress=self.progress, max_seconds=max_seconds)
            return Config.preset(self.preset, **{**common, **changes})
        mod = figure_module(name)
        return experiment(mod.EXPERIMENT).Config.preset(self.preset, **changes)  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        return to_jsonable(dataclasses.asdict(self))  # type: ignore[no-any-return]


def figure_module(name: str) -> ModuleType:
    """The module of figure ``name`` (see :data:`FIGURES`)."""
    if name not in FIGURES:
        raise ValueError(f"figure: must be one of {list(FIGURES)}, got {name!r}")
    return importlib.import_module(FIGURES[name])


def figure_cache(out_dir: str | Path, name: str, config: ReproduceConfig | None = None) -> FigureCache:
    """The cache of figure ``name`` under ``out_dir`` (``<out>/cache/<name>/``)."""
    show = None
    if config is not None and config.progress is not False:
        def show(step: str) -> None:
            tqdm.write(f"  [{name}] computing {step}")
    transformer = None if config is None else config.figure_config("transformer")
    return FigureCache(Path(out_dir) / "cache" / name, progress=show, transformer_config=transformer)


def parse_only(only: str | Sequence[str] | None) -> list[str]:
    """Figure names from ``--only`` (comma-separated names; module names such as ``fig_spectra`` work too)."""
    if only is None:
        return list(FIGURES)
    items = [s.strip() for s in only.split(",")] if isinstance(only, str) else [str(s) for s in only]
    aliases = {mod.rsplit(".", 1)[-1]: name for name, mod in FIGURES.items()}
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


def view_inputs(kind: str, cache: FigureCache, config: ReproduceConfig) -> ExperimentInputs:
    """The inputs a view's experiment reads (its module's ``INPUTS``): ``"training"`` (a folder for its own
    training runs), ``"transformer"`` (the shared trained transformer, the second seed as ``earlier``),
    ``"final"`` (its final checkpoint alone), ``"checkpoints"`` (its checkpoints at the transformer config's
    ``checkpoints`` steps and the final one, with their validation losses), ``"transformer_early"`` (the
    shared transformer, its last checkpoint at or before half of training as ``earlier``),
    ``"builtin:<name>"`` (a built-in pretrained model, :class:`experiments.base.BuiltinInputs`) or
    ``"none"``."""
    if kind == "training":
        return TrainingInputs(cache.directory / "runs", config.device)
    if kind == "transformer":
        lm, lm2 = cache.transformer(), cache.transformer(second=True)
        return checkpoint_inputs(lm.path("final"), config.device, {"model": lm.key, "earlier": lm2.key},
                                 earlier=lm2.path("final"))
    if kind == "final":
        lm = cache.transformer()
        return checkpoint_inputs(lm.path("final"), config.device, {"model": lm.key})
    if kind == "checkpoints":
        lm = cache.transformer()
        steps = {s for s in cache.transformer_config.checkpoints if s in lm.paths} | {lm.final_step}
        return checkpoint_series({s: lm.path(s) for s in steps}, lm.val_by_step, config.device,
                                 {"model": lm.key})
    if kind == "transformer_early":  # its own checkpoint at (or before) half of training as ``earlier``
        lm = cache.transformer()
        early = early_step(lm.paths, lm.final_step)
        return checkpoint_inputs(lm.path("final"), config.device, {"model": lm.key, "early_step": early},
                                 earlier=lm.path(early))
    if kind.startswith("builtin:"):  # a built-in pretrained model (llm_bridge.sources.BUILTIN), optional
        return BuiltinInputs(kind.removeprefix("builtin:"), cache.directory, config.device)
    if kind == "none":
        return NoInputs()
    raise ValueError(f"INPUTS: must be one of 'training', 'transformer', 'final', 'checkpoints', "
                     f"'transformer_early', 'builtin:<name>', 'none', got {kind!r}")


def early_step(steps: Iterable[int], final_step: int) -> int:
    """The last of the shared transformer's checkpoint ``steps`` at or before half of training."""
    steps = sorted(steps)
    early = [s for s in steps if s <= final_step // 2]
    if not early:
        raise ValueError(f"checkpoints: the transformer config's `checkpoints` must hold a step at or before "
                         f"half of training ({final_step // 2} of {final_step}) for 'transformer_early', "
                         f"got {steps}")
    return max(early)


def compute_figure(name: str, config: ReproduceConfig, cache: FigureCache) -> tuple[ModuleType, Any]:
    """The figure's module and its results: its experiment through the runner (``Result.to_dict()``)."""
    mod = figure_module(name)
    fig_config = config.figure_config(name)
    job = Job(mod.EXPERIMENT, fig_config, view_inputs(mod.INPUTS, cache, config), seed=config.seed)
    return mod, Runner(cache.directory, cache=cache).run(job)


def run_figure(name: str, config: ReproduceConfig, out_dir: str | Path) -> dict[str, Any]:
    """Compute (from cache where possible), plot and summarise one figure; returns its results entry."""
    out_dir = Path(out_dir)
    cache = figure_cache(out_dir, name, config)
    fig_config = config.figure_config(name)
    mod, results = compute_figure(name, config, cache)
    if hasattr(mod, "context"):  # a view that sets other figures' numbers of this run beside its own
        results = {**results, **mod.context(out_dir)}
    files = [str(Path(p).relative_to(out_dir)) for p in mod.plot(results, out_dir)]
    summary = mod.summarize(results)
    return {"title": mod.TITLE, "status": "ok", "files": files, "computed_steps": list(cache.computed),
            "cached_steps": list(cache.loaded), "step_seconds": dict(cache.seconds),
            "config": to_jsonable(dataclasses.asdict(fig_config)), **summary}


@dataclass(frozen=True)
class ReproduceRequest:
    """One ``logitrank reproduce`` run, typed: the run's ``config``, the ``out`` folder, ``only`` (figure
    names; None: all) and ``raise_errors`` (stop at a failing figure instead of recording it)."""

    config: ReproduceConfig = field(default_factory=ReproduceConfig.quick)
    out: str | Path = "logitrank-results/reproduce"
    only: str | Sequence[str] | None = None
    raise_errors: bool = False


def run_reproduce(request: ReproduceRequest) -> dict[str, Any]:
    """:func:`reproduce` of a :class:`ReproduceRequest`."""
    return reproduce(request.config, request.out, only=request.only, raise_errors=request.raise_errors)


def entry_key(config: ReproduceConfig, name: str) -> dict[str, Any]:
    """What a figure's numbers depend on in a run of ``config``: its own config and the shared
    transformer's (a stored entry with another key is stale)."""
    try:
        own = to_jsonable(dataclasses.asdict(config.figure_config(name)))
    except ValueError:  # a figure this version no longer has
        return {}
    transformer = to_jsonable(dataclasses.asdict(config.figure_config("transformer")))
    return {"config": own, "seed": config.seed, "device": config.device, "transformer": transformer}


def current_entries(results: dict[str, Any], config: ReproduceConfig) -> dict[str, Any]:
    """The figure entries of ``results`` computed with ``config``'s configuration; the others (another
    seed, preset, device, ...) are dropped with a note, so the report never mixes runs."""
    kept = {}
    for name, entry in results.get("figures", {}).items():
        if name in FIGURES and entry.get("key") == entry_key(config, name):
            kept[name] = entry
        else:
            tqdm.write(f"  [{name}] dropped from results.json: computed with another configuration")
    return kept


@owns_out("reproduce", "out_dir")  # one run per folder at a time, never another command's folder
def reproduce(config: ReproduceConfig | None = None, out_dir: str | Path = "logitrank-results/reproduce", *,
              only: str | Sequence[str] | None = None, raise_errors: bool = False) -> dict[str, Any]:
    """Run the figures (all, or ``only``), write figures, ``results.json`` and ``report.md``.

    A figure that raises is recorded as ``failed`` with the error and the others still run (unless
    ``raise_errors``); ``KeyboardInterrupt`` stops the run, and re-running resumes from the cache. Entries
    of ``results.json`` left by a run with another configuration (seed, preset, ...) are dropped.

    Returns
    -------
    dict — the content of ``results.json`` (``config``, ``timing_s``, ``figures``).
    """
    config = config or ReproduceConfig.quick()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = parse_only(only)
    old = read_results(out_dir)
    figures = current_entries(old, config)
    results = {"config": config.to_dict(), "figures": figures,
               "timing_s": {k: v for k, v in old.get("timing_s", {}).items() if k in figures}}
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
        entry["key"] = entry_key(config, name)
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
