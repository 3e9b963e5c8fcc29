"""How close a learned sequence model is to its target, measured on sequences sampled from the target.

For ``x ~ P`` (the target) of length ``T`` with next-token distributions ``p_t = P[. | x_<t]`` and the
learned ``q_t = Q[. | x_<t]``:

- KL per sequence: ``KL(P || Q) = E_x sum_t KL(p_t || q_t)`` (chain rule).  Each term ``KL(p_t || q_t)`` is
  computed exactly over the vocabulary; only the expectation over ``x`` is a Monte-Carlo mean, reported
  with its standard error ``std / sqrt(n)``.
- TV: ``TV(P, Q) = E_x max(0, 1 - Q(x) / P(x))`` — an unbiased estimate (with standard error).
- Perplexity of the learned model on target samples, ``exp(-E log Q(x) / T)``, beside the target's own
  ``exp(-E log P(x) / T)`` (the floor a perfect learner reaches).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from logitrank import SequenceModel, log_softmax, logits_along, sample_sequences
from logitrank.validation import RngLike, as_rng, check_model, check_positive_int

__all__ = ["Evaluation", "evaluate", "step_kl"]


def step_kl(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    """``KL(softmax p || softmax q)`` over the last axis (nats), clipped at 0 against rounding.

    Parameters
    ----------
    p_logits, q_logits : arrays, shape (..., V)

    Returns
    -------
    array, shape (...)
    """
    lp, lq = log_softmax(p_logits), log_softmax(q_logits)
    p = np.exp(lp)
    with np.errstate(invalid="ignore"):  # 0 log 0 = 0, never 0 * inf = nan
        return np.maximum(np.sum(np.where(p > 0, p * (lp - lq), 0.0), axis=-1), 0.0)


@dataclass
class Evaluation:
    """Result of :func:`evaluate` (all in nats; ``*_se`` are standard errors of the Monte-Carlo means).

    ``kl_per_position[t]`` is the mean of ``KL(p_t || q_t)``; its sum is ``kl``.
    """

    kl: float
    kl_se: float
    kl_per_position: list[float]
    tv: float
    tv_se: float
    perplexity: float
    target_perplexity: float
    n_sequences: int
    queries_used: int | None = None
    samples_used: int | None = None
    fit_seconds: float | None = None
    eval_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_compatible(target: SequenceModel, learned: SequenceModel) -> None:
    check_model(target, "target")
    check_model(learned, "learned")
    if int(learned.vocab_size) != int(target.vocab_size):
        raise ValueError(
            f"learned.vocab_size: must equal the target's {target.vocab_size}, got {learned.vocab_size}"
        )
    if int(learned.horizon) < int(target.horizon):
        raise ValueError(f"learned.horizon: must be >= the target's {target.horizon}, got {learned.horizon}")


def _scores(target: SequenceModel, learned: SequenceModel, seqs: np.ndarray, batch_size: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-step KL ``(n, T)`` and the log-probabilities ``(n,)`` of ``seqs`` under both models, in batches."""
    n, T = seqs.shape
    kl_steps, logp, logq = np.empty((n, T)), np.empty(n), np.empty(n)
    for lo in range(0, n, batch_size):
        b = seqs[lo : lo + batch_size]
        lp = log_softmax(logits_along(target, b))
        lq = log_softmax(logits_along(learned, b))
        kl_steps[lo : lo + len(b)] = step_kl(lp, lq)
        logp[lo : lo + len(b)] = np.take_along_axis(lp, b[:, :, None], axis=2)[:, :, 0].sum(axis=1)
        logq[lo : lo + len(b)] = np.take_along_axis(lq, b[:, :, None], axis=2)[:, :, 0].sum(axis=1)
    return kl_steps, logp, logq


def evaluate(
    target: SequenceModel,
    learned: SequenceModel,
    *,
    n_sequences: int = 1000,
    rng: RngLike = None,
    queries_used: int | None = None,
    samples_used: int | None = None,
    fit_seconds: float | None = None,
    batch_size: int = 4096,
) -> Evaluation:
    """Compare ``learned`` with ``target`` on ``n_sequences`` length-``T`` sequences sampled from the target.

    Parameters
    ----------
    target, learned : SequenceModel
        Same vocabulary; ``learned.horizon >= target.horizon``.
    n_sequences : int, ``>= 2`` (the standard errors need two samples)
    rng : Generator or int
        Drives the sampling from the target.
    queries_used, samples_used, fit_seconds : optional
        Cost of the fit, copied into the result.
    batch_size : int, ``>= 1``
        Sequences scored per call to the models.

    Returns
    -------
    Evaluation
    """
    _check_compatible(target, learned)
    n = check_positive_int("n_sequences", n_sequences, minimum=2)
    batch_size = check_positive_int("batch_size", batch_size)
    gen = as_rng(rng)
    t0 = time.perf_counter()
    own = getattr(target, "sample", None)
    seqs = np.asarray(own(n, rng=gen) if callable(own) else sample_sequences(target, n, rng=gen),
                      dtype=np.int64)
    T = seqs.shape[1]
    kl_steps, logp, logq = _scores(target, learned, seqs, batch_size)
    kl_seq = kl_steps.sum(axis=1)
    tv_terms = np.maximum(0.0, 1.0 - np.exp(np.minimum(logq - logp, 0.0)))

    def se(a: np.ndarray) -> float:
        return float(a.std(ddof=1) / np.sqrt(n))

    return Evaluation(
        kl=float(kl_seq.mean()),
        kl_se=se(kl_seq),
        kl_per_position=[float(v) for v in kl_steps.mean(axis=0)],
        tv=float(tv_terms.mean()),
        tv_se=se(tv_terms),
        perplexity=float(np.exp(-logq.mean() / T)),
        target_perplexity=float(np.exp(-logp.mean() / T)),
        n_sequences=n,
        queries_used=queries_used,
        samples_used=samples_used,
        fit_seconds=fit_seconds,
        eval_seconds=time.perf_counter() - t0,
    )
