"""The paper's measurements on real transformers: spectra, KL vs rank across scales, emergence in
training, principal angles, hidden dimension, and the logit rank of a transformer trained on a
synthetic generator.

Each function draws its histories ``H`` and futures ``F`` as disjoint corpus windows
(:func:`llm_bridge.history_future_windows`, seeded), builds ``L_M(H, F)`` (or its top-k variant ``L_{M,k}``,
SPEC section 1) through :func:`logitrank.extended_logit_matrix` and hands it to the core estimators
(:func:`logitrank.singular_values`, :func:`logitrank.fit_power_law`, :func:`logitrank.kl_vs_rank`,
:func:`logitrank.principal_angles`, :func:`logitrank.estimate_hidden_dim`). Results are dataclasses of
numbers and numpy arrays (``to_dict()`` gives JSON-ready dicts for :func:`logitrank.save_json`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from logitrank import (
    KLCurve,
    LogitMatrix,
    PowerLawFit,
    as_rng,
    estimate_hidden_dim,
    extended_logit_matrix,
    fit_power_law,
    kl_vs_rank,
    principal_angles,
    random_subspace_cosines,
    singular_values,
)
from logitrank.validation import RngLike, check_int, check_positive_int

from .windows import history_future_windows, permute_windows, windows_to_tuples

__all__ = [
    "SpectrumResult",
    "KLScalesResult",
    "EmergenceResult",
    "AnglesResult",
    "HiddenDimResult",
    "SyntheticRankResult",
    "WindowSpec",
    "draw_windows",
    "logit_spectrum",
    "kl_across_scales",
    "emergence_across_checkpoints",
    "subspace_angles",
    "hidden_dim_recovery",
    "synthetic_rank_comparison",
    "as_model",
]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


class _Result:
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (arrays become lists; power-law fits their ``to_dict()``)."""
        out = {}
        for k, v in self.__dict__.items():
            out[k] = (
                v.to_dict()
                if hasattr(v, "to_dict")
                else asdict(v)
                if hasattr(v, "__dataclass_fields__")
                else _jsonable(v)
            )
        return _jsonable(out)


def as_model(model: Any, **kwargs: Any) -> Any:
    """An :class:`llm_bridge.HFModel` from a checkpoint path or transformers model; others pass through."""
    if isinstance(model, str | Path) or (hasattr(model, "forward") and hasattr(model, "config")):
        from .hf_model import HFModel

        return HFModel(model, **kwargs)
    return model


@dataclass(frozen=True)
class WindowSpec:
    """Sizes of the history/future windows of an experiment: ``|H|``, ``|h|``, ``|F|``, ``|f|``, top-k."""

    n_histories: int = 256
    history_length: int = 32
    n_futures: int = 256
    future_length: int = 8
    top_k: int | None = 50


def draw_windows(
    tokens: np.ndarray,
    spec: WindowSpec,
    rng: RngLike = None,
) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Disjoint corpus windows ``(H, F)`` as lists of token tuples."""
    H, F = history_future_windows(
        tokens, spec.n_histories, spec.history_length, spec.n_futures, spec.future_length, rng=rng
    )
    return windows_to_tuples(H), windows_to_tuples(F)


def _matrix(model: Any, H: list, F: list, top_k: int | None, rng: RngLike) -> LogitMatrix:
    k = None if top_k is None else min(top_k, model.vocab_size)
    return extended_logit_matrix(model, H, F, top_k=k, rng=rng, progress=False)


@dataclass
class SpectrumResult(_Result):
    """Singular values of ``L_{M,k}(H, F)`` and their power-law fit.

    Attributes
    ----------
    singular_values : array, shape (min(|H|, |F| k),)
    fit : PowerLawFit
        ``sigma_i ~ C i^(-alpha)``.
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
    spec: WindowSpec = WindowSpec(),
    *,
    rng: RngLike = None,
    windows: tuple[list, list] | None = None,
) -> SpectrumResult:
    """Spectrum and power-law exponent ``alpha`` of ``L_{M,k}(H, F)`` with ``H, F`` drawn from ``tokens``.

    Parameters
    ----------
    model : SequenceModel, transformers model or checkpoint directory
    tokens : int array, shape (N,) — the corpus (e.g. the validation split)
    spec : WindowSpec
    rng : Generator or seed (windows, top-k rule, bootstrap)
    windows : (H, F), optional — reuse given windows instead of drawing

    Returns
    -------
    SpectrumResult
    """
    gen = as_rng(rng)
    model = as_model(model)
    H, F = windows if windows is not None else draw_windows(tokens, spec, gen)
    L = _matrix(model, H, F, spec.top_k, gen)
    s = singular_values(L)
    return SpectrumResult(singular_values=s, fit=fit_power_law(s, rng=gen), shape=L.shape, spec=spec)


@dataclass
class KLScalesResult(_Result):
    """``D_avg`` of rank-r truncations of sub-matrices of sizes ``|H| = |F| = n / s``.

    Attributes
    ----------
    sizes : int array, shape (n_scales,)
        ``n, n/2, n/4, ...``
    ranks : int array, shape (n_ranks,)
    kl : array, shape (n_scales, n_ranks)
        ``kl[i, j] = D_avg(L_i, (L_i)_{r_j})``; NaN where ``r_j > min(L_i.shape)``.
    frobenius_bound : array, shape (n_scales, n_ranks)
    """

    sizes: np.ndarray
    ranks: np.ndarray
    kl: np.ndarray
    frobenius_bound: np.ndarray


def kl_across_scales(
    model: Any,
    tokens: np.ndarray,
    n: int,
    ranks: Sequence[int],
    *,
    scales: Sequence[int] = (1, 2, 4, 8),
    history_length: int = 32,
    future_length: int = 8,
    top_k: int | None = 50,
    rng: RngLike = None,
) -> KLScalesResult:
    """KL of rank-r truncations vs r for ``|H| = |F| = n/s``, ``s`` in ``scales`` (nested sub-matrices).

    One ``L_{M,k}(H, F)`` with ``|H| = |F| = n`` is built; the smaller ones keep its first ``n/s`` histories
    and futures (their top-k token columns stay those chosen on the full matrix). The paper finds the curves
    ``r -> D_avg`` nearly independent of the scale.
    """
    gen = as_rng(rng)
    n = check_positive_int("n", n)
    model = as_model(model)
    spec = WindowSpec(n, history_length, n, future_length, top_k)
    H, F = draw_windows(tokens, spec, gen)
    L = _matrix(model, H, F, top_k, gen)
    r_arr = np.asarray(list(ranks), dtype=np.int64)
    sizes, kls, bounds = [], [], []
    for s in scales:
        m = n // check_positive_int("scales", s)
        if m < 1:
            raise ValueError(f"scales: n / s must be >= 1, got n={n}, s={s}")
        sub = L.values[:m, : m * L.k]
        ok = r_arr <= min(sub.shape)
        curve: KLCurve = kl_vs_rank(sub, r_arr[ok], block=L.k)
        row, brow = np.full(r_arr.size, np.nan), np.full(r_arr.size, np.nan)
        row[ok], brow[ok] = curve.kl, curve.frobenius_bound
        sizes.append(m)
        kls.append(row)
        bounds.append(brow)
    return KLScalesResult(
        sizes=np.array(sizes), ranks=r_arr, kl=np.array(kls), frobenius_bound=np.array(bounds)
    )


@dataclass
class EmergenceResult(_Result):
    """Spectral exponent and low-rank KL along training.

    Attributes
    ----------
    steps : int array, shape (n_ckpt,)
    alpha, alpha_lo, alpha_hi : arrays, shape (n_ckpt,) — fit and bootstrap interval
    kl : array, shape (n_ckpt, n_ranks) — ``D_avg`` of rank-r truncations
    ranks : int array
    singular_values : list of arrays
    """

    steps: np.ndarray
    alpha: np.ndarray
    alpha_lo: np.ndarray
    alpha_hi: np.ndarray
    kl: np.ndarray
    ranks: np.ndarray
    singular_values: list[np.ndarray] = field(default_factory=list)


def emergence_across_checkpoints(
    checkpoints: Sequence[tuple[int, Any]],
    tokens: np.ndarray,
    spec: WindowSpec = WindowSpec(),
    *,
    ranks: Sequence[int] = (1, 4, 16, 64),
    rng: RngLike = None,
    **model_kwargs: Any,
) -> EmergenceResult:
    """``alpha`` and ``D_avg`` of rank-r truncations for each ``(step, checkpoint)``, on the same ``H, F``.

    The paper: ``alpha ~ 0.374`` at step 0 (untrained OLMo-1b) vs ``> 1/2`` trained.
    """
    gen = as_rng(rng)
    H, F = draw_windows(tokens, spec, gen)
    seed = int(gen.integers(2**31))
    steps, alphas, los, his, kls, spectra = [], [], [], [], [], []
    r_arr = np.asarray(list(ranks), dtype=np.int64)
    for step, ckpt in checkpoints:
        model = as_model(ckpt, **model_kwargs)
        L = _matrix(model, H, F, spec.top_k, seed)  # same token rule seed for every checkpoint
        s = singular_values(L)
        fit = fit_power_law(s, rng=seed)
        ok = r_arr <= min(L.shape)
        row = np.full(r_arr.size, np.nan)
        row[ok] = kl_vs_rank(L, r_arr[ok]).kl
        steps.append(int(step))
        alphas.append(fit.alpha)
        los.append(fit.alpha_ci[0])
        his.append(fit.alpha_ci[1])
        kls.append(row)
        spectra.append(s)
    return EmergenceResult(
        steps=np.array(steps),
        alpha=np.array(alphas),
        alpha_lo=np.array(los),
        alpha_hi=np.array(his),
        kl=np.array(kls),
        ranks=r_arr,
        singular_values=spectra,
    )


@dataclass
class AnglesResult(_Result):
    """Principal-angle cosines between column spaces of rank-r truncations, against a random baseline.

    Attributes
    ----------
    rank : int
    real_vs_nonsense : array, shape (rank,)
        ``L_M(H, F)`` vs ``L_M(H, F_nonsense)`` (futures' tokens permuted).
    model_vs_model : array, shape (rank,) or None
        ``L_M(H, F)`` vs ``L_M'(H, F)`` for a second model.
    random_baseline : array, shape (rank,)
        Mean cosines of two uniformly random rank-dim subspaces of ``R^|H|``.
    """

    rank: int
    real_vs_nonsense: np.ndarray
    model_vs_model: np.ndarray | None
    random_baseline: np.ndarray


def subspace_angles(
    model: Any,
    tokens: np.ndarray,
    rank: int,
    spec: WindowSpec = WindowSpec(),
    *,
    other_model: Any = None,
    rng: RngLike = None,
) -> AnglesResult:
    """Cosines of principal angles between column spaces (in ``R^|H|``): real vs nonsense futures, and
    model vs a second model (e.g. another seed), each next to random subspaces of the same dimension."""
    gen = as_rng(rng)
    model = as_model(model)
    H, F = draw_windows(tokens, spec, gen)
    F_non = windows_to_tuples(permute_windows(np.array(F), rng=gen))
    seed = int(gen.integers(2**31))
    L = _matrix(model, H, F, spec.top_k, seed)
    cos_nonsense = principal_angles(L, _matrix(model, H, F_non, spec.top_k, seed), rank)
    cos_models = None
    if other_model is not None:
        cos_models = principal_angles(L, _matrix(as_model(other_model), H, F, spec.top_k, seed), rank)
    base = random_subspace_cosines(len(H), rank, rng=gen, n_draws=50).mean(axis=0)
    return AnglesResult(
        rank=int(rank), real_vs_nonsense=cos_nonsense, model_vs_model=cos_models, random_baseline=base
    )


@dataclass
class HiddenDimResult(_Result):
    """Hidden dimension estimated from the single-token matrix ``L(H, {empty})``.

    Attributes
    ----------
    estimate : int
        Position of the largest gap in ``log sigma`` (Carlini et al. 2024).
    true_dim : int or None
        ``d_model`` from the model's config.
    gap : float
        The log-gap at the estimate.
    singular_values : array
    """

    estimate: int
    true_dim: int | None
    gap: float
    singular_values: np.ndarray


def hidden_dim_recovery(
    model: Any, histories: Sequence[Sequence[int]], *, floor_rtol: float = 1e-7, **model_kwargs: Any
) -> HiddenDimResult:
    """Estimate ``d_model`` from ``L_M(H, {empty})`` (needs ``|H| > d`` and ``V > d + 1``).

    The centered single-token matrix has rank ``<= d`` (RMSNorm, no output bias); LayerNorm's mean removal
    takes one direction away and its shift ``beta`` gives one back, so a fresh GPT-2 (``beta = 0``) shows
    ``d - 1`` and a trained one ``d``. ``floor_rtol`` ~ the float32 round-off of the logits.
    """
    m = as_model(model, **model_kwargs)
    V = m.vocab_size
    L = extended_logit_matrix(m, histories, [()], progress=False)
    s = singular_values(L)
    if len(s) < 2:
        raise ValueError(
            f"histories: need at least 2 histories (and V >= 3), got |H|={len(histories)}, V={V}"
        )
    est = estimate_hidden_dim(s, floor_rtol=floor_rtol)
    cfg = getattr(getattr(m, "model", None), "config", None)
    true = getattr(cfg, "n_embd", None) or getattr(cfg, "hidden_size", None)
    return HiddenDimResult(
        estimate=est.dim, true_dim=None if true is None else int(true), gap=est.gap, singular_values=s
    )


@dataclass
class SyntheticRankResult(_Result):
    """Logit rank of a generator (known) vs a transformer trained on its samples, at history length ``t``.

    Attributes
    ----------
    t : int
    rank_bound : int
        ``generator.rank_bound(t)``.
    generator_singular_values, model_singular_values : arrays
    generator_rank, model_rank : int
        Largest-gap estimates.
    kl_at_bound : float
        ``D_avg`` of the transformer's matrix truncated to rank ``rank_bound``.
    """

    t: int
    rank_bound: int
    generator_singular_values: np.ndarray
    model_singular_values: np.ndarray
    generator_rank: int
    model_rank: int
    kl_at_bound: float


def synthetic_rank_comparison(
    generator: Any, model: Any, t: int, *, n_histories: int = 256, n_futures: int = 64, rng: RngLike = None
) -> SyntheticRankResult:
    """Compare ``L(H, F)`` of a synthetic generator and of a transformer trained on its samples.

    ``H``: distinct histories of length ``t`` sampled from the generator; ``F``: distinct futures of lengths
    ``0 .. T-1-t`` sampled from it (the empty one included).
    """
    gen = as_rng(rng)
    m = as_model(model)
    T = int(generator.horizon)
    t = check_int("t", t, minimum=0, maximum=T - 1)
    seqs = generator.sample(4 * n_histories, rng=gen)
    H = list(dict.fromkeys(tuple(int(x) for x in row[:t]) for row in seqs))[:n_histories]
    futs = [()] + [
        tuple(int(x) for x in row[t : t + gen.integers(1, T - t)]) for row in seqs if T - 1 - t > 0
    ]
    F = [f for f in dict.fromkeys(futs) if len(f) <= T - 1 - t][:n_futures]
    Lg = extended_logit_matrix(generator, H, F, progress=False)
    Lm = extended_logit_matrix(m, H, F, progress=False)
    sg, sm = singular_values(Lg), singular_values(Lm)
    bound = int(generator.rank_bound(t))
    r = min(bound, min(Lm.shape))
    return SyntheticRankResult(
        t=t,
        rank_bound=bound,
        generator_singular_values=sg,
        model_singular_values=sm,
        generator_rank=estimate_hidden_dim(sg).dim,
        model_rank=estimate_hidden_dim(sm, floor_rtol=1e-7).dim,
        kl_at_bound=float(kl_vs_rank(Lm, [r]).kl[0]),
    )
