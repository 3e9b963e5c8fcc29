"""LINGEN on a real transformer, next to the paper's baselines (SPEC section 1, LINGEN table).

For each target history ``h*`` (a corpus window never queried for generation), with basis histories ``H`` and
futures ``F`` (real corpus windows, or *nonsense*: each window's tokens permuted):

``lingen``
    ``v = argmin ||L_M(H, F)^T v - l_M(h*, F)||`` (min-norm least squares or ridge, as
    :func:`logitrank.lingen_fit`), then :func:`logitrank.lingen_generate`.
``single_token``
    the same, with ``v`` fit on the next-token matrix ``L_M(H, {empty})`` only.
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
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from logitrank import (
    as_rng,
    extended_logit_matrix,
    extended_logits,
    lingen_generate,
    log_softmax,
    model_logits,
)
from logitrank.lingen import lingen_coefficients
from logitrank.validation import RngLike, check_positive_int

from .experiments import _Result, as_model
from .windows import disjoint_windows, permute_windows, prefix_closure, windows_to_tuples

__all__ = [
    "LingenResult",
    "lingen_experiment",
    "fit_coefficients",
    "direct_generation_kl",
    "PAPER_LINGEN_TABLE",
]

PAPER_LINGEN_TABLE = {
    "in-distribution": {
        "lingen": 2.85,
        "single_token": 10.79,
        "short_history": 17.77,
        "earlier_checkpoint": 6.46,
    },
    "nonsense": {"lingen": 4.95, "single_token": 14.41, "short_history": 17.56, "earlier_checkpoint": 6.55},
}
"""Cumulative KL over 15 steps reported in the paper (OLMo-1b, 50 targets x 5 samples)."""

SETTINGS = ("in-distribution", "nonsense")


fit_coefficients = lingen_coefficients
"""The core's ridge least squares for LINGEN (:func:`logitrank.lingen.lingen_coefficients`)."""


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
class LingenResult(_Result):
    """Cumulative KL of LINGEN and its baselines.

    Attributes
    ----------
    setting : ``"in-distribution"`` or ``"nonsense"``
    cumulative_kl : dict method -> array, shape (n_targets, n_samples, steps)
    residual : dict method -> array, shape (n_targets,) — relative fit residuals (LINGEN variants)
    paper : dict method -> float — the paper's value for this setting
    n_fit_futures : int — ``|F|`` of the LINGEN fit (all prefixes of the windows when prefix-closed)
    """

    setting: str
    cumulative_kl: dict[str, np.ndarray]
    residual: dict[str, np.ndarray]
    paper: dict[str, float]
    n_fit_futures: int = 0

    @property
    def table(self) -> dict[str, float]:
        """Mean cumulative KL at the last step, per method."""
        return {k: float(v[:, :, -1].mean()) for k, v in self.cumulative_kl.items()}


def lingen_experiment(
    model: Any,
    tokens: np.ndarray,
    *,
    setting: str = "in-distribution",
    n_targets: int = 8,
    n_samples: int = 2,
    steps: int = 15,
    n_basis: int = 128,
    n_futures: int = 128,
    history_length: int = 32,
    future_length: int = 8,
    short_history: int = 5,
    earlier_model: Any = None,
    ridge: float = 0.0,
    prefix_closed: bool = True,
    rng: RngLike = None,
    progress: bool | None = None,
) -> LingenResult:
    """Run LINGEN and its baselines on ``n_targets`` corpus targets (see the module docstring).

    All windows (targets, ``H``, ``F``) are pairwise disjoint in ``tokens``; in the ``"nonsense"`` setting
    ``H`` and ``F`` have their tokens permuted (targets stay real text).

    ``prefix_closed=True`` (default) fits ``v`` on every prefix of the ``n_futures`` future windows,
    the empty future included (at most ``n_futures * future_length + 1`` futures; :class:`HFModel` reads
    them all in one pass per history). Generation queries ``l(h . z_<t)`` for every ``t`` from 0 on, and a
    fit that has seen futures of every length transfers far better along that path: on a BPE-1024
    Shakespeare model (6 targets x 2 samples, |H| = 128) the cumulative KL over 15 steps fell from 2.43
    with 128 windows of length 8 to 1.30 with the prefixes of 32 such windows (``docs/emergence.md``).
    ``False`` uses the windows themselves as ``F``.

    Returns
    -------
    LingenResult
    """
    if setting not in SETTINGS:
        raise ValueError(f"setting: must be one of {SETTINGS}, got {setting!r}")
    for name, val in (
        ("n_targets", n_targets),
        ("n_samples", n_samples),
        ("steps", steps),
        ("n_basis", n_basis),
        ("n_futures", n_futures),
        ("short_history", short_history),
    ):
        check_positive_int(name, val)
    gen = as_rng(rng)
    m = as_model(model)
    if history_length + max(steps, future_length) > m.horizon - 1:
        raise ValueError(
            f"history_length: history_length + max(steps, future_length) must be <= horizon - 1 = "
            f"{m.horizon - 1}, got {history_length} + {max(steps, future_length)}"
        )
    lengths = [history_length] * (n_targets + n_basis) + [future_length] * n_futures
    wins, _ = disjoint_windows(tokens, lengths, rng=gen)
    targets = windows_to_tuples(np.stack(wins[:n_targets]))
    Hw, Fw = np.stack(wins[n_targets : n_targets + n_basis]), np.stack(wins[n_targets + n_basis :])
    if setting == "nonsense":
        Hw, Fw = permute_windows(Hw, rng=gen), permute_windows(Fw, rng=gen)
    H, F = windows_to_tuples(Hw), windows_to_tuples(Fw)
    if prefix_closed:
        F = prefix_closure(F)
    L = extended_logit_matrix(m, H, F, progress=False).values
    L0 = extended_logit_matrix(m, H, [()], progress=False).values
    early = None if earlier_model is None else as_model(earlier_model)
    methods = ["lingen", "single_token", "short_history"] + (["earlier_checkpoint"] if early else [])
    ckl = {k: np.zeros((n_targets, n_samples, steps)) for k in methods}
    res = {k: np.zeros(n_targets) for k in ("lingen", "single_token")}
    show = progress if progress is not None else n_targets > 2
    for i, target in enumerate(tqdm(targets, disable=not show, desc=f"LINGEN ({setting})", unit="target")):
        star = extended_logits(m, [target], F, progress=False)[0].reshape(-1)
        for name, mat, y in (("lingen", L, star), ("single_token", L0, model_logits(m, [target])[0])):
            v, res[name][i] = fit_coefficients(mat, y, ridge)
            out = lingen_generate(m, H, v, steps, rng=gen, target_history=target, n_samples=n_samples)
            assert out.cumulative_kl is not None
            ckl[name][i] = out.cumulative_kl
        ckl["short_history"][i] = direct_generation_kl(
            m, m, target, target[-short_history:], steps, n_samples, rng=gen
        )
        if early is not None:
            ckl["earlier_checkpoint"][i] = direct_generation_kl(
                m, early, target, target, steps, n_samples, rng=gen
            )
    return LingenResult(
        setting=setting, cumulative_kl=ckl, residual=res, paper=dict(PAPER_LINGEN_TABLE[setting]),
        n_fit_futures=len(F),
    )
