"""Experiment: emergence of low rank in training — ``alpha`` and low-rank KL at each checkpoint.

The same ``H, F`` (and the same top-k token rule seed) serve every checkpoint, so only the weights change.
The paper: ``alpha ~ 0.374`` at step 0 (untrained OLMo-1b) vs ``> 1/2`` trained, and the low-rank KL
"drops sharply early, then drifts up slowly"; :func:`emergence_shape` tests that shape from the
per-checkpoint KL and its standard error over histories. The inputs are a run's checkpoints
(:class:`experiments.base.CheckpointInputs`: each step's model loaded in turn, the validation losses carried
into the Result) or a :class:`experiments.base.ModelInputs` whose ``model`` is a sequence of
``(step, checkpoint)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from llm_bridge.windows import WindowSpec, draw_windows
from logitrank import as_rng, block_softmax_kl, fit_power_law, singular_values
from logitrank.validation import RngLike, check_float, spawn_seeds

from .base import (
    CheckpointInputs,
    ExperimentConfig,
    ModelInputs,
    Presets,
    ResultBase,
    as_model,
    logit_matrix,
    window_spec,
)
from .runner import part

__all__ = ["Config", "Result", "run", "emergence_across_checkpoints", "truncation_kl_with_se",
           "emergence_shape"]


DEFAULT_SPEC = WindowSpec()


@dataclass(frozen=True)
class Config(WindowSpec, ExperimentConfig):
    """The window sizes (:class:`llm_bridge.WindowSpec`, ``|F| = |H|`` in every preset) and the truncation
    ranks of the KL (one per preset: the figure's)."""

    n_histories: int = 96
    n_futures: int = 96
    top_k: int | None = 16
    ranks: tuple[int, ...] = (8,)
    PRESETS: ClassVar[Presets] = {
        "tiny": {"n_histories": 16, "history_length": 8, "n_futures": 16, "future_length": 3, "top_k": 8,
                 "ranks": (2,)},
        "full": {"n_histories": 512, "n_futures": 512, "top_k": 32, "ranks": (16,)}}


@dataclass
class Result(ResultBase):
    """Spectral exponent and low-rank KL along training.

    Attributes
    ----------
    steps : int array, shape (n_ckpt,)
    alpha, alpha_lo, alpha_hi : arrays, shape (n_ckpt,) — fit and bootstrap interval
    kl : array, shape (n_ckpt, n_ranks) — ``D_avg`` of rank-r truncations
    kl_se : array, shape (n_ckpt, n_ranks) — its standard error over histories (the rows' mean KLs as a
        sample; the truncation couples the rows, so this is approximate)
    ranks : int array
    singular_values : list of arrays
    val_loss : list of (float or None), optional — each checkpoint's validation loss where the run measured it
    """

    steps: np.ndarray
    alpha: np.ndarray
    alpha_lo: np.ndarray
    alpha_hi: np.ndarray
    kl: np.ndarray
    ranks: np.ndarray
    singular_values: list[np.ndarray] = field(default_factory=list)
    kl_se: np.ndarray | None = None
    val_loss: list[float | None] | None = None


def truncation_kl_with_se(L: Any, ranks: np.ndarray,
                          block: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``D_avg(L, L_r)`` for each ``r`` (as :func:`logitrank.kl_vs_rank`) and its standard error
    ``sd_h(mean_f KL[h, f]) / sqrt(|H|)`` over the histories' mean KLs. Ranks above ``min(L.shape)`` give
    NaN. ``block``: columns per block (default ``L.k`` for a LogitMatrix)."""
    M = np.asarray(L.values if hasattr(L, "values") else L, dtype=np.float64)
    U, s, Wt = np.linalg.svd(M, full_matrices=False)
    kl, se = np.full(len(ranks), np.nan), np.full(len(ranks), np.nan)
    for j, r in enumerate(ranks):
        if r > min(M.shape):
            continue
        rows = block_softmax_kl(L, (U[:, :r] * s[:r]) @ Wt[:r], block).mean(axis=1)
        kl[j] = rows.mean()
        se[j] = rows.std(ddof=1) / np.sqrt(rows.size) if rows.size > 1 else 0.0
    return kl, se


def emergence_shape(steps: np.ndarray, kl: np.ndarray, se: np.ndarray, *, z: float = 2.0) -> dict[str, Any]:
    """Test the paper's shape of the low-rank KL along training: a sharp early drop, then a slow rise.

    With ``m`` the checkpoint of least KL: ``drop = kl[0] - kl[m]`` and ``rise = kl[-1] - kl[m]``, each
    against ``z`` times its standard error ``sqrt(se_a^2 + se_b^2)``. The shape holds when the drop is
    significant, ``m`` lies in the first half of training (``steps[m] <= steps[-1] / 2``) and before the
    last checkpoint, the rise is significant and smaller than the drop (slow drift).

    Returns
    -------
    dict with ``min_step``, ``drop``, ``drop_se``, ``rise``, ``rise_se``, the booleans ``drops``, ``early``,
    ``rises``, ``slower`` and ``shape_holds``.
    """
    z = check_float("z", z, low=0.0, low_inclusive=False)
    steps, kl, se = (np.asarray(a, dtype=np.float64) for a in (steps, kl, se))
    m = int(np.nanargmin(kl))
    drop, rise = float(kl[0] - kl[m]), float(kl[-1] - kl[m])
    drop_se, rise_se = float(np.hypot(se[0], se[m])), float(np.hypot(se[-1], se[m]))
    out = {"min_step": int(steps[m]), "drop": drop, "drop_se": drop_se, "rise": rise, "rise_se": rise_se,
           "drops": bool(m > 0 and drop > z * drop_se),
           "early": bool(0 < m < steps.size - 1 and steps[m] <= steps[-1] / 2),
           "rises": bool(m < steps.size - 1 and rise > z * rise_se), "slower": bool(rise < drop), "z": z}
    out["shape_holds"] = all(out[k] for k in ("drops", "early", "rises", "slower"))
    return out


def emergence_across_checkpoints(
    checkpoints: Iterable[tuple[int, Any]],
    tokens: np.ndarray,
    spec: WindowSpec = DEFAULT_SPEC,
    *,
    ranks: Iterable[int] = (1, 4, 16, 64),
    rng: RngLike = None,
    load: Callable[[Any], Any] | None = None,
    **model_kwargs: Any,
) -> Result:
    """``alpha`` and ``D_avg`` of rank-r truncations for each ``(step, checkpoint)``, on the same ``H, F``
    (``checkpoints`` is iterated once: a generator loads one model at a time).  ``load(checkpoint)``, when
    given, builds the model of a checkpoint handle (else :func:`as_model` with ``model_kwargs``); each
    checkpoint is one resumable :func:`~experiments.runner.part`, so a resumed run loads only the models of
    the checkpoints it has not finished."""
    gen = as_rng(rng)
    H, F = draw_windows(tokens, spec, gen)
    seed = spawn_seeds(gen, 1)[0]  # the top-k rule's seed, the same for every checkpoint
    r_arr = np.asarray(list(ranks), dtype=np.int64)
    build = load if load is not None else functools.partial(as_model, **model_kwargs)
    steps, rows = [], []
    for step, ckpt in checkpoints:
        steps.append(int(step))
        rows.append(part(f"step-{int(step)}", functools.partial(checkpoint_row, build, ckpt, H, F, spec.top_k,
                                                                seed, r_arr), step=int(step)))
    ci = np.array([r["ci"] for r in rows], dtype=np.float64).reshape(-1, 2)
    return Result(steps=np.array(steps, dtype=np.int64), alpha=np.array([r["alpha"] for r in rows]),
                  alpha_lo=ci[:, 0], alpha_hi=ci[:, 1], kl=np.array([r["kl"] for r in rows]), ranks=r_arr,
                  singular_values=[np.asarray(r["s"]) for r in rows],
                  kl_se=np.array([r["kl_se"] for r in rows]))


def checkpoint_row(build: Callable[[Any], Any], ckpt: Any, H: Any, F: Any, top_k: int | None, seed: int,
                   ranks: np.ndarray) -> dict[str, Any]:
    """One checkpoint's spectrum, power-law fit and truncation KLs (with their standard errors)."""
    L = logit_matrix(build(ckpt), H, F, top_k, seed)  # the same token rule seed for every checkpoint
    s = singular_values(L)
    fit = fit_power_law(s, rng=seed)
    kl, se = truncation_kl_with_se(L, ranks)
    return {"alpha": fit.alpha, "ci": list(fit.alpha_ci), "kl": kl, "kl_se": se, "s": s}


def run(inputs: CheckpointInputs | ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`emergence_across_checkpoints` over ``inputs``: every step of a :class:`CheckpointInputs` (its
    validation losses in ``Result.val_loss``), or the sequence of ``(step, checkpoint)`` that is a
    :class:`ModelInputs`' ``model``."""
    spec = window_spec(config)
    if not isinstance(inputs, CheckpointInputs):
        return emergence_across_checkpoints(inputs.model, inputs.tokens, spec, ranks=config.ranks, rng=rng)
    series = ((step, step) for step in inputs.steps)  # a model is loaded only for a part not yet stored
    res = emergence_across_checkpoints(series, inputs.tokens, spec, ranks=config.ranks, rng=rng,
                                       load=inputs.model)
    res.val_loss = [inputs.val_loss.get(step) for step in inputs.steps]
    return res
