"""``logitrank reproduce``: the figure registry, per-figure configurations with presets, and the runner.

A figure module ``paper_figures/fig_<name>.py`` is self-contained and has this shape::

    NAME = "example"
    TITLE = "What the figure shows"

    @dataclass(frozen=True)
    class Config(FigureConfig):            # seed and device come from FigureConfig
        n: int = 100                       # defaults are the quick preset
        PRESETS: ClassVar[Presets] = {"tiny": {"n": 10}, "full": {"n": 1000}}   # overrides of the defaults

(a figure on the shared transformer's matrix extends :class:`paper_figures.transformer.Windows` instead and
adds its own presets with :func:`merge_presets`)

    def compute(config: Config, cache: FigureCache) -> dict:
        # each expensive part a cached step: a finished step is never recomputed
        return {"curve": cache.step("curve", some_library_function, n=config.n, seed=config.seed)}

    def make(results: dict, out_dir) -> list[Path]:      # plots (paper_figures.plotting.save: PNG + PDF)
    def summarize(results: dict) -> dict:                # "numbers", "paper", "verdict" (optional "markdown")

and one line in :data:`FIGURES`. Library calls do the work (``logitrank`` estimators, ``simulators``
models, ``theory`` checks, ``llm_bridge.experiments``); a module only wires them into cached steps and
plots. Figures on the shared trained transformer call ``cache.transformer()`` (and
``cache.transformer(second=True)`` for a second seed), which trains it once per output folder
(:mod:`paper_figures.transformer`, configured by its own ``Config`` and presets).

:func:`reproduce` builds each figure's ``Config`` from the run's preset (``tiny``, ``quick`` or ``full``),
seed and device plus :attr:`ReproduceConfig.overrides`, writes ``<out>/<name>.png|pdf``,
``<out>/results.json`` (each figure's entry records its config) and ``<out>/report.md``; caches live in
``<out>/cache/<name>/`` and the transformer in ``<out>/cache/transformer/``.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, TypeVar

from tqdm.auto import tqdm

from logitrank.results_io import to_jsonable
from logitrank.run_folder import owns_out
from logitrank.validation import check_choice, check_float, check_int

from .report import read_results, write_report, write_results
from .store import StepCache

__all__ = ["FIGURES", "PRESET_NAMES", "FigureConfig", "FigureCache", "Presets", "ReproduceConfig",
           "merge_presets", "reproduce", "figure_module", "figure_cache", "parse_only"]

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

PRESET_NAMES = ("tiny", "quick", "full")
#: preset name -> {field: value}: a figure's overrides of its Config defaults (the quick preset)
Presets = dict[str, dict[str, Any]]
T = TypeVar("T", bound="FigureConfig")


@dataclass(frozen=True)
class FigureConfig:
    """Base of every figure's ``Config``: the run's ``seed`` and ``device``; ``PRESETS`` (a class
    attribute) holds the ``tiny`` / ``full`` overrides of the defaults, which are the ``quick`` preset."""

    seed: int = 0
    device: str = "cpu"
    PRESETS: ClassVar[Presets] = {}

    @classmethod
    def preset(cls: type[T], name: str, **changes: Any) -> T:
        """The config of preset ``name`` with ``changes`` applied on top."""
        check_choice("preset", name, PRESET_NAMES)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"overrides: each key must be a field of {cls.__module__}.{cls.__name__} "
                             f"({sorted(known)}), got {unknown}")
        return dataclasses.replace(cls(), **{**cls.PRESETS.get(name, {}), **changes})


def merge_presets(base: Presets, **extra: dict[str, Any]) -> Presets:
    """``base``'s presets with ``extra[name]`` added on top (for a Config that extends another)."""
    return {name: {**base.get(name, {}), **extra.get(name, {})} for name in {*base, *extra}}


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

    def figure_config(self, name: str) -> FigureConfig:
        """The ``Config`` of figure ``name`` (or of ``"transformer"``) for this run."""
        common: dict[str, Any] = {"seed": self.seed, "device": self.device}
        if name == "transformer":
            from .transformer import Config

            max_seconds = None if self.max_minutes is None else 60.0 * self.max_minutes
            common.update(progress=self.progress, max_seconds=max_seconds)
            return Config.preset(self.preset, **{**common, **self.overrides.get(name, {})})
        cls = figure_module(name).Config
        return cls.preset(self.preset, **{**common, **self.overrides.get(name, {})})  # type: ignore[no-any-return]

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


def run_figure(name: str, config: ReproduceConfig, out_dir: str | Path) -> dict[str, Any]:
    """Compute (from cache where possible), plot and summarise one figure; returns its results entry."""
    out_dir = Path(out_dir)
    mod = figure_module(name)
    cache = figure_cache(out_dir, name, config)
    fig_config = config.figure_config(name)
    results = mod.compute(fig_config, cache)
    files = [str(Path(p).relative_to(out_dir)) for p in mod.make(results, out_dir)]
    summary = mod.summarize(results)
    return {"title": mod.TITLE, "status": "ok", "files": files, "computed_steps": list(cache.computed),
            "cached_steps": list(cache.loaded), "step_seconds": dict(cache.seconds),
            "config": to_jsonable(dataclasses.asdict(fig_config)), **summary}


@owns_out("reproduce", "out_dir")  # one run per folder at a time, never another command's folder
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
