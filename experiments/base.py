"""What every experiment shares: a ``Config`` with its presets, a ``Result`` that round-trips through JSON,
the inputs an experiment reads, models from paths and top-k matrices.

An experiment module ``experiments.<name>`` has

- ``Config(ExperimentConfig)``: a frozen dataclass of its sizes whose defaults are the ``quick`` preset;
  its class attribute ``PRESETS`` holds the ``tiny`` / ``full`` overrides (the one preset table of the
  experiment: ``measure`` and ``reproduce`` both read it), reached through ``Config.tiny()``,
  ``Config.quick()``, ``Config.full()`` or ``Config.preset(name)``;
- ``Result(ResultBase)``: numbers and arrays; ``to_dict()`` is JSON-ready and ``Result.from_dict`` reads
  it back (arrays as float/int arrays, nested dataclasses rebuilt);
- ``run(inputs, config, *, rng) -> Result``: ``inputs`` names what it needs (:class:`ModelInputs`: a model
  and the corpus tokens; :class:`CheckpointInputs`: the checkpoints of one training run; :class:`NoInputs`
  for a synthetic experiment that builds its own models; :class:`TrainingInputs` for one that trains them).
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from llm_bridge.windows import WindowSpec
from logitrank import LogitMatrix, extended_logit_matrix
from logitrank.results_io import to_jsonable
from logitrank.validation import RngLike, check_choice

__all__ = ["PRESET_NAMES", "Presets", "ExperimentConfig", "merge_presets", "ResultBase", "ModelInputs",
           "NoInputs", "TrainingInputs", "CheckpointInputs", "BuiltinInputs", "ExperimentInputs", "as_model",
           "logit_matrix", "window_spec"]

PRESET_NAMES = ("tiny", "quick", "full")
#: preset name -> {field: value}: overrides of a Config's defaults (which are the quick preset)
Presets = dict[str, dict[str, Any]]
C = TypeVar("C", bound="ExperimentConfig")
R = TypeVar("R", bound="ResultBase")


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of every experiment's ``Config`` (no fields of its own): presets and a JSON view."""

    PRESETS: ClassVar[Presets] = {}

    @classmethod
    def preset(cls: type[C], name: str, **changes: Any) -> C:
        """The config of preset ``name`` (``tiny``, ``quick``, ``full``) with ``changes`` on top."""
        check_choice("preset", name, PRESET_NAMES)
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"overrides: each key must be a field of {cls.__module__}.{cls.__name__} "
                             f"({sorted(known)}), got {unknown}")
        return cls(**{**cls.PRESETS.get(name, {}), **changes})

    @classmethod
    def tiny(cls: type[C], **changes: Any) -> C:
        """Seconds on a toy model (smoke tests)."""
        return cls.preset("tiny", **changes)

    @classmethod
    def quick(cls: type[C], **changes: Any) -> C:
        """Minutes on 2 CPU cores (the default)."""
        return cls.preset("quick", **changes)

    @classmethod
    def full(cls: type[C], **changes: Any) -> C:
        """The paper's sizes where a CPU allows them."""
        return cls.preset("full", **changes)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


def merge_presets(base: Presets, **extra: dict[str, Any]) -> Presets:
    """``base``'s presets with ``extra[name]`` added on top (for a Config that extends another)."""
    return {name: {**base.get(name, {}), **extra.get(name, {})} for name in {*base, *extra}}


def _restore(value: Any, hint: Any) -> Any:
    """``value`` (read from JSON) as the type ``hint`` names: arrays, tuples and nested dataclasses."""
    if value is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if args and typing.get_origin(hint) is not tuple and typing.get_origin(hint) is not dict:
        hint = args[0]  # X | None
    if hint is np.ndarray:
        return np.asarray(value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        if hasattr(hint, "from_dict"):
            return hint.from_dict(value)  # type: ignore[union-attr]
        return _from_fields(hint, value)  # type: ignore[arg-type]
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def _from_fields(cls: type, d: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(**{f.name: _restore(d[f.name], hints.get(f.name)) for f in dataclasses.fields(cls)
                  if f.name in d})


class ResultBase:
    """Mixin of the experiments' ``Result`` dataclasses: ``to_dict()`` is the JSON-ready view
    (:func:`logitrank.results_io.to_jsonable` of every field; arrays become lists) and ``from_dict`` its
    inverse (lists typed ``np.ndarray`` become arrays; nested dataclasses are rebuilt)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: to_jsonable(v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls: type[R], d: dict[str, Any]) -> R:
        return _from_fields(cls, d)  # type: ignore[no-any-return]


@dataclass
class ModelInputs:
    """What an experiment on a language model reads: ``model`` (a :class:`logitrank.SequenceModel`, e.g.
    :class:`llm_bridge.HFModel`), the corpus ``tokens`` its windows come from, optionally an ``earlier``
    checkpoint of it (baselines, model-vs-model angles) and its ``tokenizer`` (LINGEN's demo text).

    ``identity`` describes the inputs for a result cache (the weights, the text hash, ...): two inputs with
    the same identity give the same numbers. ``load``, when given, builds ``(model, tokens, earlier,
    tokenizer)`` on first use, so a cache hit never loads a model."""

    identity: dict[str, Any]
    load: Any = None
    _loaded: tuple[Any, ...] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, model: Any, tokens: np.ndarray, *, earlier: Any = None, tokenizer: Any = None,
           identity: dict[str, Any] | None = None) -> ModelInputs:
        """Inputs of an already loaded model."""
        return cls(identity=identity or {}, _loaded=(model, tokens, earlier, tokenizer))

    def _get(self, i: int) -> Any:
        if self._loaded is None:
            self._loaded = tuple(self.load())
        return self._loaded[i]

    @property
    def model(self) -> Any:
        return self._get(0)

    @property
    def tokens(self) -> np.ndarray:
        return self._get(1)  # type: ignore[no-any-return]

    @property
    def earlier(self) -> Any:
        return self._get(2)

    @property
    def tokenizer(self) -> Any:
        return self._get(3)


@dataclass
class NoInputs:
    """The inputs of an experiment that builds its own models (synthetic families, trained widths)."""

    identity: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingInputs:
    """The inputs of an experiment that trains its own models: the ``directory`` its training runs live in
    (they resume there) and the torch ``device``."""

    directory: str | Path
    device: str = "cpu"

    @property
    def identity(self) -> dict[str, Any]:
        return {"device": self.device}


@dataclass
class CheckpointInputs:
    """The saved checkpoints of one training run, for an experiment along training: ``steps`` (ascending),
    the validation loss ``val_loss`` by step (where it was measured), ``load(step)`` building the model of a
    step and ``load_tokens()`` the corpus tokens (both called on first use, so a cache hit loads nothing);
    ``identity`` names the run's weights for a result cache."""

    identity: dict[str, Any]
    steps: tuple[int, ...]
    val_loss: dict[int, float]
    load: Callable[[int], Any]
    load_tokens: Callable[[], np.ndarray]
    _tokens: np.ndarray | None = field(default=None, repr=False)

    @property
    def final_step(self) -> int:
        return max(self.steps)

    @property
    def tokens(self) -> np.ndarray:
        if self._tokens is None:
            self._tokens = self.load_tokens()
        return self._tokens

    def model(self, step: int) -> Any:
        """The model at ``step`` (loaded anew on each call)."""
        check_choice("step", step, self.steps)
        return self.load(step)

    def at(self, step: int) -> ModelInputs:
        """:class:`ModelInputs` of the checkpoint at ``step`` on the same tokens."""
        check_choice("step", step, self.steps)
        return ModelInputs(identity={**self.identity, "step": step},
                           load=lambda: (self.model(step), self.tokens, None, None))


@dataclass
class BuiltinInputs:
    """The inputs of an experiment on a built-in pretrained model (``llm_bridge.sources.BUILTIN``, e.g.
    ``"smollm2-135m"``, whose package is optional): its ``name``, the ``directory`` its resumable steps live
    in and the torch ``device``. :attr:`problem` is None when the model can be loaded, else the one line
    saying why not and how to fix it; the identity records which, so a result computed without the model
    is not served once it is installed."""

    name: str
    directory: str | Path
    device: str = "cpu"

    @functools.cached_property
    def problem(self) -> str | None:
        from llm_bridge.sources import builtin_gguf

        try:
            builtin_gguf(self.name)
        except (ImportError, ValueError) as exc:  # not installed, or a damaged file: say which and how to fix
            return str(exc)
        return None

    @property
    def identity(self) -> dict[str, Any]:
        return {"model": self.name, "device": self.device, "available": self.problem is None}


#: what an experiment's ``run`` reads
ExperimentInputs = ModelInputs | NoInputs | TrainingInputs | CheckpointInputs | BuiltinInputs


def as_model(model: Any, **kwargs: Any) -> Any:
    """An :class:`llm_bridge.HFModel` from a checkpoint path or transformers model; others pass through."""
    if isinstance(model, str | Path) or (hasattr(model, "forward") and hasattr(model, "config")):
        from llm_bridge.hf_model import HFModel

        return HFModel(model, **kwargs)
    return model


def logit_matrix(model: Any, H: list, F: list, top_k: int | None, rng: RngLike,
                 token_rule: str = "mean") -> LogitMatrix:
    """``L_{M,k}(H, F)`` with ``k = min(top_k, V)`` (the full matrix when ``top_k`` is None); ``token_rule``
    as :func:`logitrank.extended_logit_matrix` (``"mean"``: the top-k tokens, ``"random"``: k uniformly
    random tokens per future)."""
    k = None if top_k is None else min(top_k, model.vocab_size)
    return extended_logit_matrix(model, H, F, top_k=k, token_rule=token_rule, rng=rng, progress=False)


def window_spec(config: WindowSpec) -> WindowSpec:
    """The plain :class:`llm_bridge.WindowSpec` of a ``Config`` that extends it: the window sizes alone,
    without the experiment's own fields, as the window functions take (and their results record) them."""
    return WindowSpec(**{f.name: getattr(config, f.name) for f in dataclasses.fields(WindowSpec)})
