"""Experiment: the singular values of a transformer's ``L_{M,k}(H, F)`` and their power law.

``H`` and ``F`` are disjoint corpus windows (:func:`llm_bridge.draw_windows`, seeded); the matrix is the
top-k extended logit matrix (SPEC §1), its spectrum :func:`logitrank.singular_values` and the fit
``sigma_i ~ C i^(-alpha)`` :func:`logitrank.fit_power_law` with its bootstrap interval.

The bootstrap interval is the uncertainty of the fit on *one* spectrum. Two more sources are measured
here: :func:`alpha_over_draws` refits on independent draws of ``(H, F)`` (the sampling spread of the
windows), and :func:`fit_range_sensitivity` refits one spectrum over the ranges of :data:`FIT_RANGES`
(the analyst's choice of where the power law holds). :func:`logit_spectrum`'s ``token_rule`` and
``windows`` give the paper's ablations (k uniformly random tokens per future; ``F = H``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from llm_bridge.windows import WindowSpec, draw_windows
from logitrank import PowerLawFit, as_rng, fit_power_law, singular_values
from logitrank.power_law import ZERO_RTOL
from logitrank.validation import RngLike, check_positive_int, spawn_seeds

from .base import ExperimentConfig, ModelInputs, Presets, ResultBase, as_model, logit_matrix

__all__ = ["Config", "Result", "run", "logit_spectrum", "alpha_over_draws", "fit_range_sensitivity",
           "FIT_RANGES", "ABLATIONS", "ablation_spectrum"]

#: fit ranges ``name -> (lo, hi)`` as functions of ``r``, the number of numerically non-zero singular
#: values; ``"2..r/2"`` is :func:`logitrank.power_law.default_index_range`
FIT_RANGES: dict[str, Any] = {
    "2..r/4": lambda r: (2, r // 4),
    "2..r/2": lambda r: (2, r // 2),
    "5..r/2": lambda r: (5, r // 2),
    "2..3r/4": lambda r: (2, (3 * r) // 4),
}


DEFAULT_SPEC = WindowSpec()


@dataclass(frozen=True)
class Config(WindowSpec, ExperimentConfig):
    """The window sizes (:class:`llm_bridge.WindowSpec`: ``|H|``, ``|h|``, ``|F|``, ``|f|``, top-k); the
    defaults are the quick preset."""

    PRESETS: ClassVar[Presets] = {"tiny": dict(n_histories=48, history_length=12, n_futures=48,
                                               future_length=4, top_k=8),
                                  "full": dict(n_histories=1024, n_futures=1024)}


@dataclass
class Result(ResultBase):
    """Singular values of ``L_{M,k}(H, F)`` and their power-law fit.

    Attributes
    ----------
    singular_values : array, shape (min(|H|, |F| k),)
    fit : PowerLawFit — ``sigma_i ~ C i^(-alpha)``
    shape : (int, int)
    spec : WindowSpec
    """

    singular_values: np.ndarray
    fit: PowerLawFit
    shape: tuple[int, int]
    spec: WindowSpec

    @property
    def alpha(self) -> float:
        return float(self.fit.alpha)


def logit_spectrum(
    model: Any,
    tokens: np.ndarray,
    spec: WindowSpec = DEFAULT_SPEC,
    *,
    rng: RngLike = None,
    windows: tuple[list, list] | None = None,
    token_rule: str = "mean",
) -> Result:
    """Spectrum and power-law exponent ``alpha`` of ``L_{M,k}(H, F)`` with ``H, F`` drawn from ``tokens``.

    Parameters
    ----------
    model : SequenceModel, transformers model or checkpoint directory
    tokens : int array, shape (N,) — the corpus (e.g. the validation split)
    spec : WindowSpec
    rng : Generator or seed (windows, top-k rule, bootstrap)
    windows : (H, F), optional — reuse given windows instead of drawing (``(H, H)``: futures = histories)
    token_rule : ``"mean"`` (the top-k tokens) or ``"random"`` (k uniformly random tokens per future)

    Returns
    -------
    Result
    """
    gen = as_rng(rng)
    model = as_model(model)
    H, F = windows if windows is not None else draw_windows(tokens, spec, gen)
    L = logit_matrix(model, H, F, spec.top_k, gen, token_rule=token_rule)
    s = singular_values(L)
    return Result(singular_values=s, fit=fit_power_law(s, rng=gen), shape=L.shape, spec=spec)


def alpha_over_draws(model: Any, tokens: np.ndarray, spec: WindowSpec, n_draws: int, *,
                     rng: RngLike = None) -> dict[str, Any]:
    """``alpha`` of ``L_{M,k}(H, F)`` on ``n_draws`` independent draws of ``(H, F)`` (sub-seeds spawned
    from ``rng``).

    Returns
    -------
    dict with ``alpha`` (shape (n_draws,)), ``ci`` (shape (n_draws, 2), each draw's bootstrap interval),
    ``mean``, ``sd`` (ddof 1, the spread of the draws), ``se`` (``sd / sqrt(n_draws)``) and
    ``bootstrap_half_width`` (the mean half-width of the draws' own intervals, for comparison).
    """
    n_draws = check_positive_int("n_draws", n_draws, minimum=2)
    model = as_model(model)
    fits = [logit_spectrum(model, tokens, spec, rng=seed).fit for seed in spawn_seeds(rng, n_draws)]
    a = np.array([f.alpha for f in fits])
    ci = np.array([f.alpha_ci for f in fits], dtype=float)
    sd = float(a.std(ddof=1))
    return {"alpha": a, "ci": ci, "mean": float(a.mean()), "sd": sd, "se": sd / np.sqrt(n_draws),
            "bootstrap_half_width": float(np.mean((ci[:, 1] - ci[:, 0]) / 2)),
            "n_histories": spec.n_histories}


def fit_range_sensitivity(s: np.ndarray, *, rng: RngLike = None) -> dict[str, dict[str, Any]]:
    """:func:`logitrank.fit_power_law` of one spectrum over each range of :data:`FIT_RANGES` that holds at
    least 3 points (``lo < hi``); ``name -> {"range": [lo, hi], "alpha", "ci", "r_squared"}``."""
    s = np.asarray(s, dtype=np.float64)
    r = int(np.count_nonzero(s > ZERO_RTOL * s[0])) if s.size and s[0] > 0 else 0
    gen = as_rng(rng)
    out = {}
    for name, rule in FIT_RANGES.items():
        lo, hi = rule(r)
        if hi - lo + 1 < 3:
            continue
        fit = fit_power_law(s, index_range=(lo, hi), rng=gen)
        out[name] = {"range": [lo, hi], "alpha": float(fit.alpha), "ci": [float(c) for c in fit.alpha_ci],
                     "r_squared": float(fit.r_squared)}
    return out


#: the paper's ablations of the top-k matrix (SPEC §1, "Further empirical claims")
ABLATIONS = ("random_tokens", "futures_eq_histories")


def ablation_spectrum(model: Any, tokens: np.ndarray, kind: str, n_histories: int, history_length: int,
                      future_length: int, top_k: int, *, rng: RngLike = None) -> Result:
    """The paper's ablations of ``L_k(H, F)``: ``kind="random_tokens"`` keeps ``k`` uniformly random tokens
    per future (the same ``H, F`` as :func:`logit_spectrum` with the same seed and sizes);
    ``"futures_eq_histories"`` uses ``F = H`` (futures as long as the histories) with the top ``k`` tokens."""
    if kind == "random_tokens":
        cfg = Config(n_histories, history_length, n_histories, future_length, top_k)
        return logit_spectrum(model, tokens, cfg, rng=rng, token_rule="random")
    if kind == "futures_eq_histories":
        cfg = Config(n_histories, history_length, n_histories, history_length, top_k)
        H, _ = draw_windows(tokens, cfg, rng)
        return logit_spectrum(model, tokens, cfg, rng=rng, windows=(H, H))
    raise ValueError(f"kind: must be one of {ABLATIONS}, got {kind!r}")


def run(inputs: ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`logit_spectrum` of ``inputs.model`` on ``inputs.tokens`` with ``config`` as the window sizes."""
    return logit_spectrum(inputs.model, inputs.tokens, config, rng=rng)
