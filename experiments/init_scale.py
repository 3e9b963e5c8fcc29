"""The logit spectrum of *untrained* transformers as a function of the initialisation scale.

The paper reads alpha ~ 0.374 off the untrained OLMo-1b checkpoint (SPEC section 1) and contrasts it with
alpha > 1/2 after training. For a small model the step-0 exponent is not a property of the architecture
alone: it depends on the standard deviation ``sigma`` of the normal initialisation relative to the width.
With ``transformers``' default ``sigma = 0.02`` (tuned for GPT-2's width 768) a width-128 network has
near-uniform attention and nearly linear blocks, so its final state is roughly the last token plus an
*average* of the history's token embeddings; the history-dependent part of ``L(H, F)`` then lives in the few
directions along which token frequencies vary and its spectrum decays fast (alpha ~ 1.6 on Shakespeare
characters). At the fan-in scale ``sigma = 1/sqrt(d_model)`` the untrained network mixes its history
nonlinearly and the spectrum is much flatter (alpha ~ 0.57-0.65), below the trained value as in the paper.
:func:`init_scale_sweep` measures this curve; ``docs/emergence.md`` has the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llm_bridge.windows import WindowSpec, draw_windows
from logitrank.validation import RngLike, as_rng, spawn_seeds

from .base import ExperimentConfig, ModelInputs, ResultBase, window_spec
from .spectrum import Result as SpectrumResult
from .spectrum import logit_spectrum

__all__ = ["Config", "Result", "run", "init_scale_sweep"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("experiments.spectrum",)


@dataclass(frozen=True)
class Config(WindowSpec, ExperimentConfig):
    """The window sizes (:class:`llm_bridge.WindowSpec`), the initialisation scales, the models'
    vocabulary and the weight seed (the same for every scale)."""

    init_stds: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2)
    vocab_size: int = 1024
    seed: int = 0


@dataclass
class Result(ResultBase):
    """Power-law exponent of ``L_k(H, F)`` for untrained models, one per initialisation scale.

    Attributes
    ----------
    init_stds : array, shape (n,)
    alpha, alpha_lo, alpha_hi : arrays, shape (n,) — fit and bootstrap interval
    r_squared : array, shape (n,) — of the log-log fit (low values: not a power law)
    spectra : list of SpectrumResult
    """

    init_stds: np.ndarray
    alpha: np.ndarray
    alpha_lo: np.ndarray
    alpha_hi: np.ndarray
    r_squared: np.ndarray
    spectra: list[SpectrumResult] = field(default_factory=list)


def init_scale_sweep(
    init_stds: Sequence[float],
    tokens: np.ndarray,
    vocab_size: int,
    spec: WindowSpec | None = None,
    *,
    config: Any = "shakespeare-char",
    seed: int = 0,
    rng: RngLike = None,
) -> Result:
    """``alpha`` of randomly initialised models of ``config`` at each ``init_std``, on the same ``H, F``.

    Parameters
    ----------
    init_stds : sequence of float, each ``> 0``
        Standard deviations of the normal initialisation (``initializer_range``).
    tokens : int array, shape (N,) — corpus the windows are drawn from
    vocab_size : int — the models' vocabulary (at least ``max(tokens) + 1``)
    spec : WindowSpec, optional (default ``WindowSpec()``)
    config : preset name, :class:`llm_bridge.TinyLMConfig` or dict (its ``init_std`` is replaced)
    seed : int — weight seed, the same for every scale (so only the scale changes)
    rng : Generator or seed — windows, top-k rule and bootstrap

    Returns
    -------
    Result
    """
    from llm_bridge.hf_model import HFModel
    from llm_bridge.lm_config import init_transformer, resolve_config

    stds = [float(s) for s in init_stds]
    if not stds or not all(np.isfinite(s) and s > 0 for s in stds):
        raise ValueError(f"init_stds: must be a non-empty sequence of positive numbers, "
                         f"got {list(init_stds)}")
    tokens = np.asarray(tokens)
    if tokens.size and int(tokens.max()) >= vocab_size:
        raise ValueError(f"vocab_size: must exceed every token id (max {int(tokens.max())}), "
                         f"got {vocab_size}")
    spec = WindowSpec() if spec is None else spec
    gen = as_rng(rng)
    windows = draw_windows(tokens, spec, gen)
    fit_seed = spawn_seeds(gen, 1)[0]
    results = []
    for std in stds:
        model = init_transformer(resolve_config(config, init_std=std), vocab_size, seed=seed)
        results.append(logit_spectrum(HFModel(model, progress=False), tokens, spec, rng=fit_seed,
                                      windows=windows))
    return Result(
        init_stds=np.array(stds),
        alpha=np.array([r.alpha for r in results]),
        alpha_lo=np.array([r.fit.alpha_ci[0] for r in results]),
        alpha_hi=np.array([r.fit.alpha_ci[1] for r in results]),
        r_squared=np.array([r.fit.r_squared for r in results]),
        spectra=results,
    )


def run(inputs: ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`init_scale_sweep`; ``inputs.model`` is the architecture (preset name, TinyLMConfig or dict)."""
    spec = window_spec(config)
    return init_scale_sweep(config.init_stds, inputs.tokens, config.vocab_size, spec, config=inputs.model,
                            seed=config.seed, rng=rng)
