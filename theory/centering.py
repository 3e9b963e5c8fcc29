"""Claim ``centering``: centered logits are raw logits minus their mean, and ignore per-row constants.

``l(x)_z = log Pr[z|x] - (1/V) sum_z' log Pr[z'|x]``. Because ``log Pr[.|x] = raw - logsumexp(raw)``
differs from the raw logits by a per-row constant, and centering removes any per-row constant,

    center(raw) = raw - mean(raw) = center(log_softmax(raw)) = center(raw + c 1)   for every c.

Checked on rows of random size ``V``, with magnitudes spread over nine orders (``1e-3 .. 1e6``) and
shifts ``c`` up to ``1e6``; the margin is ``tolerance - max |difference|`` with a round-off tolerance
``8 V eps (1 + max|raw| + |c|)`` (float64 ``eps``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from logitrank import center_logits, log_softmax

from .registry import Claim, Evidence, Tally, register

__all__ = ["CLAIM"]

EPS = float(np.finfo(np.float64).eps)


def _run(gen: np.random.Generator, instances: int, max_vocab: int,
         transform: Callable[[np.ndarray], np.ndarray], claim_id: str) -> Evidence:
    tally = Tally(claim_id)
    worst_err = 0.0
    for i in range(instances):
        V = int(gen.integers(2, max_vocab + 1))
        n = int(gen.integers(1, 9))
        mag = 10.0 ** gen.uniform(-3, 6)
        raw = mag * gen.standard_normal((n, V))
        c = (10.0 ** gen.uniform(-3, 6)) * gen.standard_normal((n, 1))
        got = transform(raw)
        want = raw - raw.mean(axis=1, keepdims=True)
        err = max(np.max(np.abs(got - want)),
                  np.max(np.abs(transform(raw + c) - got)),
                  np.max(np.abs(transform(log_softmax(raw)) - got)))
        scale = 1.0 + float(np.max(np.abs(raw))) + float(np.max(np.abs(c)))
        tolerance = 8 * V * EPS * scale
        worst_err = max(worst_err, err / scale)
        tally.add(tolerance - err, instance=i, V=V, rows=n, magnitude=mag, error=err, tolerance=tolerance)
    tally.details["max_relative_error"] = worst_err
    return tally.evidence()


def _check(gen: np.random.Generator, *, instances: int, max_vocab: int) -> Evidence:
    return _run(gen, instances, int(max_vocab), center_logits, "centering")


def _control(gen: np.random.Generator) -> Evidence:
    # raw logits are not centered: "raw - mean = raw" and shift invariance both fail
    return _run(gen, 5, 16, lambda a: np.asarray(a, dtype=np.float64), "centering")


CLAIM = register(Claim(
    id="centering",
    statement="centered logits = raw - mean(raw) = center(log p), invariant to per-row constants",
    latex=r"\ell(x)_z = u_z - \tfrac1V\sum_{z'}u_{z'} = \ell(\log\mathrm{softmax}\,u)_z"
          r" = \ell(u + c\mathbf 1)_z\ \forall c\in\mathbb R",
    hypotheses="any finite raw logit vector u in R^V, V >= 2, any constant c",
    bounds={"max_vocab": (2, 4096)},
    reference="SPEC.md §1 'Centered logits'",
    defaults={"instances": 200, "max_vocab": 64},
    margin="round-off tolerance 8 V eps (1 + max|u| + |c|) minus the largest difference",
    checker=_check,
    control=_control,
    control_description="the identity map (raw, uncentered logits) put through the same check",
))
