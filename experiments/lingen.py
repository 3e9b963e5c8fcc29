"""LINGEN on a real transformer, next to the paper's baselines (SPEC section 1, LINGEN table).

For each target history ``h*`` (a corpus window never queried for generation), with basis histories ``H`` and
futures ``F`` (real corpus windows, or *nonsense*: each window's tokens permuted):

``lingen``
    ``v = argmin ||L_M(H, F)^T v - l_M(h*, F)||`` (min-norm least squares or ridge, as
    :func:`logitrank.lingen_fit`), then :func:`logitrank.lingen_generate`.
``single_token``
    the same, with ``v`` fit on the next-token matrix ``L_M(H, {empty})`` only, over the first
    ``single_token_basis`` histories of ``H``: the paper's regime, ``|H|`` below the rank of
    ``L_M(H, {empty})`` (at most ``d_model + 1``), where the fit is a least-squares compromise.
``single_token_full_basis``
    (when ``single_token_basis < n_basis``) the same over all of ``H``: once ``|H|`` reaches that rank the
    fit is exact and ill-conditioned, the coefficients are huge and cancel only on ``l(h*)`` itself, so the
    generated path leaves that cancellation after one token and the KL explodes — a different regime from
    the paper's, reported separately.
``short_history``
    the model itself, shown only the last ``short_history`` tokens of ``h*``.
``earlier_checkpoint``
    an earlier checkpoint of the model generating directly from ``h*``.

Every method samples its own continuation ``z_1..z_steps`` and is scored by the cumulative
``sum_t KL(Pr_M[. | h* z_<t] || method's distribution at t)`` along it (15 steps in the paper), averaged over
targets and samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import numpy as np
from tqdm.auto import tqdm

from llm_bridge.windows import (
    WindowSpec,
    disjoint_windows,
    draw_windows,
    permute_windows,
    prefix_closure,
    windows_to_tuples,
)
from logitrank import (
    as_rng,
    extended_logit_matrix,
    extended_logits,
    lingen_generate,
    log_softmax,
    model_logits,
)
from logitrank.lingen import lingen_coefficients
from logitrank.paper import LINGEN_METHODS, LINGEN_SETTINGS, PAPER
from logitrank.validation import RngLike, check_positive_int, spawn_seeds

from .base import ExperimentConfig, ModelInputs, Presets, ResultBase, as_model

__all__ = ["Config", "Result", "run", "LingenResult", "lingen_experiment", "direct_generation_kl"]

SETTINGS = LINGEN_SETTINGS


def direct_generation_kl(
    model: Any,
    approx: Any,
    target: Sequence[int],
    approx_prefix: Sequence[int],
    steps: int,
    n_samples: int,
    rng: RngLike = None,
) -> np.ndarray:
    """Cumulative ``KL(Pr_model[. | h* z_<t] || Pr_approx[. | p z_<t])`` while sampling ``z`` from ``approx``.

    Returns
    -------
    array, shape (n_samples, steps) — cumulative KL.
    """
    gen = as_rng(rng)
    target, prefix = tuple(target), tuple(approx_prefix)
    tokens = np.zeros((n_samples, steps), dtype=np.int64)
    kl = np.zeros((n_samples, steps))
    for t in range(steps):
        conts = [tuple(int(z) for z in row[:t]) for row in tokens]
        logp = log_softmax(model_logits(model, [target + c for c in conts]))
        logq = log_softmax(model_logits(approx, [prefix + c for c in conts]))
        kl[:, t] = np.maximum((np.exp(logp) * (logp - logq)).sum(axis=1), 0.0)
        cdf = np.cumsum(np.exp(logq), axis=1)
        u = gen.random(n_samples) * cdf[:, -1]
        tokens[:, t] = np.minimum((cdf < u[:, None]).sum(axis=1), model.vocab_size - 1)
    return np.cumsum(kl, axis=1)


@dataclass
class LingenResult(ResultBase):
    """Cumulative KL of LINGEN and its baselines in one setting.

    Attributes
    ----------
    setting : ``"in_distribution"`` or ``"nonsense"``
    cumulative_kl : dict method -> array, shape (n_targets, n_samples, steps)
    residual : dict method -> array, shape (n_targets,) — relative fit residuals (LINGEN variants)
    paper : dict method -> float — the paper's value for this setting
    n_fit_futures : int — ``|F|`` of the LINGEN fit (all prefixes of the windows when prefix-closed)
    single_token_rank : int — the numerical rank of ``L_M(H, {empty})`` over all of ``H``: singular values
        above :data:`RANK_RTOL` ``sigma_1`` (float32 logits carry ~1e-7 relative round-off; the largest log
        gap is no use here, it sits after sigma_1, the mean direction)
    single_token_basis : int — ``|H|`` of the single-token fit
    """

    setting: str
    cumulative_kl: dict[str, np.ndarray]
    residual: dict[str, np.ndarray]
    paper: dict[str, float]
    n_fit_futures: int = 0
    single_token_rank: int = 0
    single_token_basis: int = 0

    @property
    def table(self) -> dict[str, float]:
        """Mean cumulative KL at the last step, per method."""
        return {k: float(v[:, :, -1].mean()) for k, v in self.cumulative_kl.items()}


def _check_arguments(setting: str, counts: dict[str, int], single_token_basis: int | None,
                     history_length: int, future_length: int, horizon: int) -> int:
    """Validate :func:`lingen_experiment`'s arguments; return the single-token variant's basis size."""
    if setting not in SETTINGS:
        raise ValueError(f"setting: must be one of {SETTINGS}, got {setting!r}")
    for name, val in counts.items():
        check_positive_int(name, val)
    n_basis, steps = counts["n_basis"], counts["steps"]
    m_single = n_basis if single_token_basis is None else check_positive_int(
        "single_token_basis", single_token_basis, maximum=n_basis)
    if history_length + max(steps, future_length) > horizon - 1:
        raise ValueError(
            f"history_length: history_length + max(steps, future_length) must be <= horizon - 1 = "
            f"{horizon - 1}, got {history_length} + {max(steps, future_length)}"
        )
    return m_single


def lingen_experiment(
    model: Any,
    tokens: np.ndarray,
    config: Config | None = None,
    *,
    setting: str = "in_distribution",
    earlier_model: Any = None,
    rng: RngLike = None,
    progress: bool | None = None,
    **sizes: Any,
) -> LingenResult:
    """Run LINGEN and its baselines on ``n_targets`` corpus targets (see the module docstring).

    The sizes are ``config``'s (default :class:`Config`), with ``sizes`` (fields of :class:`Config`, e.g.
    ``n_targets=3``) replacing its values.

    All windows (targets, ``H``, ``F``) are pairwise disjoint in ``tokens``; in the ``"nonsense"`` setting
    ``H`` and ``F`` have their tokens permuted (targets stay real text).

    ``prefix_closed=True`` (default) fits ``v`` on every prefix of the ``n_futures`` future windows,
    the empty future included (at most ``n_futures * future_length + 1`` futures; :class:`HFModel` reads
    them all in one pass per history). Generation queries ``l(h . z_<t)`` for every ``t`` from 0 on, and a
    fit that has seen futures of every length transfers far better along that path: on a BPE-1024
    Shakespeare model (6 targets x 2 samples, |H| = 128) the cumulative KL over 15 steps fell from 2.43
    with 128 windows of length 8 to 1.30 with the prefixes of 32 such windows (``docs/emergence.md``).
    ``False`` uses the windows themselves as ``F``. ``single_token_basis`` (default: ``n_basis``) is the
    number of basis histories of the single-token variant (see the module docstring).

    Returns
    -------
    LingenResult
    """
    c = replace(config or Config(), **sizes)
    counts = {"n_targets": c.n_targets, "n_samples": c.n_samples, "steps": c.steps, "n_basis": c.n_basis,
              "n_futures": c.n_futures, "short_history": c.short_history}
    m = as_model(model)
    m_single = _check_arguments(setting, counts, c.single_token_basis, c.history_length, c.future_length,
                                m.horizon)
    gen = as_rng(rng)
    targets, H, F = _targets_and_basis(tokens, setting, [c.n_targets, c.n_basis, c.n_futures],
                                       [c.history_length, c.future_length], c.prefix_closed, gen)
    L = extended_logit_matrix(m, H, F, progress=False).values
    L0 = extended_logit_matrix(m, H, [()], progress=False).values
    early = None if earlier_model is None else as_model(earlier_model)
    fits = [("lingen", L, H, False), ("single_token", L0[:m_single], H[:m_single], True)]
    if m_single < c.n_basis:
        fits.append(("single_token_full_basis", L0, H, True))
    coef, res = _fit_all(m, targets, F, fits, c.ridge)
    show = progress if progress is not None else c.n_targets > 2
    bar = tqdm(targets, disable=not show, desc=f"LINGEN ({setting})", unit="target")
    ckl = _generate_all(m, early, bar, fits, coef, steps=c.steps, n_samples=c.n_samples,
                        short_history=c.short_history, gen=gen)
    return LingenResult(setting=setting, cumulative_kl=ckl, residual=res,
                        paper={k: PAPER["lingen"][k][setting] for k in LINGEN_METHODS}, n_fit_futures=len(F),
                        single_token_rank=_numerical_rank(L0),
                        single_token_basis=m_single)


def _generate_all(m: Any, early: Any, targets: Any, fits: list, coef: dict[str, np.ndarray], *, steps: int,
                  n_samples: int, short_history: int, gen: np.random.Generator) -> dict[str, np.ndarray]:
    """Cumulative KL, shape (n_targets, n_samples, steps), of each method: every fit's LINGEN generation,
    then the short history and the earlier checkpoint generating directly (one generator, in this order)."""
    methods = [name for name, *_ in fits] + ["short_history"] + (["earlier_checkpoint"] if early else [])
    ckl = {k: np.zeros((len(targets), n_samples, steps)) for k in methods}
    for i, target in enumerate(targets):
        for name, _mat, basis, _single in fits:
            out = lingen_generate(m, basis, coef[name][:, i], steps, rng=gen, target_history=target,
                                  n_samples=n_samples)
            assert out.cumulative_kl is not None
            ckl[name][i] = out.cumulative_kl
        short = target[-short_history:]
        ckl["short_history"][i] = direct_generation_kl(m, m, target, short, steps, n_samples, rng=gen)
        if early is not None:
            ckl["earlier_checkpoint"][i] = direct_generation_kl(m, early, target, target, steps, n_samples,
                                                                rng=gen)
    return ckl


def _fit_all(m: Any, targets: list, F: list, fits: list, ridge: float) -> tuple[dict[str, np.ndarray],
                                                                               dict[str, np.ndarray]]:
    """Coefficients (|H|, n_targets) and relative residuals (n_targets,) of every fit: each target's row,
    and one factorisation of each fit's matrix for all targets."""
    rows = {False: extended_logits(m, targets, F, progress=False).reshape(len(targets), -1).T}
    if any(single for *_, single in fits):  # single-token fits use the next-token logits only
        rows[True] = model_logits(m, targets).T
    coef: dict[str, np.ndarray] = {}
    res: dict[str, np.ndarray] = {}
    for name, mat, _basis, single in fits:
        coef[name], r = lingen_coefficients(mat, rows[single], ridge)
        res[name] = np.asarray(r)
    return coef, res


#: relative threshold of :func:`_numerical_rank` (100x the float32 round-off of logits over ~1e3 tokens)
RANK_RTOL = 1e-5


def _numerical_rank(M: np.ndarray) -> int:
    s = np.linalg.svd(np.asarray(M, dtype=np.float64), compute_uv=False)
    return int(np.count_nonzero(s > RANK_RTOL * s[0])) if s.size and s[0] > 0 else 0


def _targets_and_basis(tokens: np.ndarray, setting: str, counts: list[int], lengths: list[int],
                       prefix_closed: bool, gen: np.random.Generator) -> tuple[list, list, list]:
    """Pairwise disjoint target, basis-history and future windows (``H``, ``F`` permuted for nonsense)."""
    n_targets, n_basis, n_futures = counts
    wins, _ = disjoint_windows(tokens, [lengths[0]] * (n_targets + n_basis) + [lengths[1]] * n_futures,
                               rng=gen)
    targets = windows_to_tuples(np.stack(wins[:n_targets]))
    Hw, Fw = np.stack(wins[n_targets : n_targets + n_basis]), np.stack(wins[n_targets + n_basis :])
    if setting == "nonsense":
        Hw, Fw = permute_windows(Hw, rng=gen), permute_windows(Fw, rng=gen)
    H, F = windows_to_tuples(Hw), windows_to_tuples(Fw)
    return targets, H, prefix_closure(F) if prefix_closed else F


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Sizes of the LINGEN experiment (both settings) and of its continuation demo (``n_show`` targets).

    :attr:`PRESETS` is the one preset table of LINGEN (``measure`` and ``reproduce``'s table 5 both read it):
    the single-token variant fits over ``single_token_basis`` = 64 histories (6 in ``tiny``), the paper's
    regime below the rank of ``L(H, {empty})`` (at most ``d_model + 1``, 129 for the Shakespeare
    transformer), where over all ``|H|`` it would be exact and explode (reported apart as
    ``single_token_full_basis``). The field defaults (``single_token_basis`` None: all of ``H``) are those of
    :func:`lingen_experiment` called without a config."""

    n_targets: int = 8
    n_samples: int = 2
    steps: int = 15
    n_basis: int = 128
    n_futures: int = 32
    history_length: int = 32
    future_length: int = 8
    short_history: int = 5
    n_show: int = 3
    prefix_closed: bool = True
    ridge: float = 0.0
    single_token_basis: int | None = None
    PRESETS: ClassVar[Presets] = {
        "tiny": dict(n_targets=3, n_samples=1, steps=4, n_basis=16, n_futures=4, history_length=8,
                     future_length=3, single_token_basis=6),
        "quick": dict(n_targets=16, single_token_basis=64),
        "full": dict(n_targets=50, n_samples=5, n_basis=512, n_futures=128, single_token_basis=64)}


@dataclass
class Result(ResultBase):
    """LINGEN and its baselines in both settings, with a few continuations.

    Attributes
    ----------
    table, se : dict method -> setting -> float
        Mean cumulative KL at the last step over targets x samples, and its standard error.
    n_fit_futures : int — ``|F|`` of the fit
    per_step, per_step_se : dict method -> setting -> list (steps,)
        The KL at each generated step (increments of the cumulative KL), mean and standard error over
        targets x samples.
    paired : dict method -> setting -> {"diff", "se", "per_step_diff", "per_step_se"}
        ``method - lingen`` with each target's samples averaged first, mean and standard error over
        targets (paired by target): at the last step of the cumulative KL, and per step.
    single_token_rank : dict setting -> int — numerical rank of ``L(H, {empty})`` (all of ``H``)
    continuations : list of dict — ``history`` (its end), ``model`` and ``lingen`` continuations (text when
        a tokenizer is given, else token lists)
    config : Config
    """

    table: dict[str, dict[str, float]]
    se: dict[str, dict[str, float]]
    n_fit_futures: int
    config: Config
    continuations: list[dict[str, Any]] = field(default_factory=list)
    per_step: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    per_step_se: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    paired: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    single_token_rank: dict[str, int] = field(default_factory=dict)


def continuations(model: Any, tokens: np.ndarray, config: Config, *, rng: RngLike = None,
                  tokenizer: Any = None) -> list[dict[str, Any]]:
    """The model's own continuation and LINGEN's (``v`` fit on the target's row ``L({h*}, F)``, then
    generating from the other histories only) for ``config.n_show`` corpus targets."""
    seeds = spawn_seeds(rng, config.n_show + 1)
    spec = WindowSpec(config.n_basis + config.n_show, config.history_length, config.n_futures,
                      config.future_length, 1)
    H, F = draw_windows(tokens, spec, rng=seeds[-1])
    F = prefix_closure(F) if config.prefix_closed else F
    decode = tokenizer.decode if tokenizer is not None else (lambda t: [int(x) for x in t])
    basis, shown_histories = H[config.n_show:], H[:config.n_show]
    # one matrix and one factorisation for all shown targets (lingen_fit per target would redo both)
    L = extended_logit_matrix(model, basis, F, progress=False).values
    coef = _fit_all(model, shown_histories, F, [("lingen", L, basis, False)], config.ridge)[0]["lingen"]
    shown = []
    for j, (h, seed) in enumerate(zip(shown_histories, seeds, strict=False)):
        lin = lingen_generate(model, basis, coef[:, j], config.steps, rng=seed, n_samples=1)
        own = lingen_generate(model, [h], np.ones(1), config.steps, rng=seed, n_samples=1)
        shown.append({"history": decode(h[-24:]), "model": decode(own.tokens[0]),
                      "lingen": decode(lin.tokens[0])})
    return shown


def run(inputs: ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`lingen_experiment` of ``inputs.model`` on ``inputs.tokens`` in both settings (each from the same
    ``rng`` seed), then :func:`continuations` (decoded by ``inputs.tokenizer`` when given).
    ``inputs.earlier`` adds the earlier-checkpoint baseline."""
    tokens, tokenizer, earlier_model = inputs.tokens, inputs.tokenizer, inputs.earlier
    seed = rng if isinstance(rng, int) else spawn_seeds(rng, 1)[0]
    model = as_model(inputs.model)
    early = None if earlier_model is None else as_model(earlier_model)
    table: dict[str, dict[str, float]] = {}
    se: dict[str, dict[str, float]] = {}
    per_step: dict[str, dict[str, list[float]]] = {}
    per_step_se: dict[str, dict[str, list[float]]] = {}
    paired: dict[str, dict[str, dict[str, Any]]] = {}
    ranks: dict[str, int] = {}
    for setting in SETTINGS:
        r = lingen_experiment(model, tokens, config, setting=setting, earlier_model=early, rng=seed,
                              progress=False)
        for method, ckl in r.cumulative_kl.items():
            last = ckl[:, :, -1].reshape(-1)
            table.setdefault(method, {})[setting] = float(last.mean())
            se.setdefault(method, {})[setting] = _se(last)
            inc = np.diff(ckl, axis=2, prepend=0.0).reshape(-1, ckl.shape[2])
            per_step.setdefault(method, {})[setting] = inc.mean(axis=0).tolist()
            per_step_se.setdefault(method, {})[setting] = [_se(c) for c in inc.T]
        ref = r.cumulative_kl["lingen"]
        for method, ckl in r.cumulative_kl.items():
            if method != "lingen":
                paired.setdefault(method, {})[setting] = _paired(ckl, ref)
        ranks[setting] = r.single_token_rank
    shown = continuations(model, tokens, config, rng=seed, tokenizer=tokenizer)
    return Result(table=table, se=se, n_fit_futures=r.n_fit_futures, config=config, continuations=shown,
                  per_step=per_step, per_step_se=per_step_se, paired=paired, single_token_rank=ranks)


def _se(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0


def _paired(ckl: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """``ckl - ref`` (arrays (n_targets, n_samples, steps)), samples averaged per target, over targets."""
    d_cum = (ckl - ref).mean(axis=1)
    d_inc = (np.diff(ckl, axis=2, prepend=0.0) - np.diff(ref, axis=2, prepend=0.0)).mean(axis=1)
    return {"diff": float(d_cum[:, -1].mean()), "se": _se(d_cum[:, -1]),
            "per_step_diff": d_inc.mean(axis=0).tolist(), "per_step_se": [_se(c) for c in d_inc.T]}
