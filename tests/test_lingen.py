"""LINGEN on ISANs: exact with >= d generic histories (planted structure), not with fewer; ridge; errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Generic, tol

from logitrank import (
    extended_logit_matrix,
    lingen_fit,
    lingen_generate,
    lingen_logits,
    random_futures,
    random_histories,
)
from simulators import TimeVaryingISAN

V, D, T, t = 5, 4, 9, 3


@pytest.fixture(scope="module")
def setup():
    m = TimeVaryingISAN.random(V, D, T, rng=0)
    H = random_histories(V, 6, t, rng=1)  # |H| = 6 >= d generic histories of the target's length
    F = random_futures(V, 20, 3, rng=2)
    target = (4, 0, 2)
    return m, H, F, target


def test_fit_is_exact_and_reproduces_the_target_state(setup):
    m, H, F, target = setup
    fit = lingen_fit(m, target, H, F)
    assert fit.residual < 1e-10
    # second, independent check: the coefficients combine the histories' ISAN states into the target's
    X = m.states(np.array(H))
    # loosened: least-squares coefficients carry round-off times the condition number of L(H, F)
    np.testing.assert_allclose(fit.coefficients @ X, m.states(np.array([target]))[0], **tol(scale=1e3))


def test_generation_follows_the_target_distribution_exactly(setup):
    m, H, F, target = setup
    fit = lingen_fit(m, target, H, F)
    steps = T - t  # the longest generation the horizon allows
    out = lingen_generate(m, H, fit, steps, rng=0, target_history=target, n_samples=8)
    assert out.tokens.shape == (8, steps) and out.kl.shape == (8, steps)
    assert out.kl.max() < 1e-8
    np.testing.assert_allclose(out.cumulative_kl, np.cumsum(out.kl, axis=1), **tol())
    # the LINGEN logits along the generated paths equal the target's logits (no KL round-off involved)
    for row in out.tokens[:2]:
        conts = [tuple(row[:s]) for s in range(steps)]
        want = m.logits([target + c for c in conts])
        # loosened: as above, the coefficients' round-off is amplified by cond(L(H, F))
        np.testing.assert_allclose(lingen_logits(m, H, fit.coefficients, conts), want, **tol(scale=1e3))
    # the generic code path (no fast extended_logits) draws the same tokens from the same seed
    slow = lingen_generate(Generic(m), H, fit.coefficients, steps, rng=0, target_history=target, n_samples=8)
    np.testing.assert_array_equal(slow.tokens, out.tokens)


def test_too_few_histories_cannot_be_exact(setup):
    m, H, F, target = setup
    fit = lingen_fit(m, target, H[:2], F)  # 2 < d: the target state is not in their span
    assert fit.residual > 1e-2
    out = lingen_generate(m, H[:2], fit, 4, rng=0, target_history=target, n_samples=8)
    assert out.mean_cumulative_kl > 1e-3


def test_ridge_matches_normal_equations_and_top_k_fit_is_exact(setup):
    m, H, F, target = setup
    lam = 0.7
    fit = lingen_fit(m, target, H, F, ridge=lam)
    L = extended_logit_matrix(m, H, F).values
    y = extended_logit_matrix(m, [target], F).values[0]
    want = np.linalg.solve(L @ L.T + lam * np.eye(len(H)), L @ y)
    # loosened: SVD-based ridge vs normal equations (which square the condition number)
    np.testing.assert_allclose(fit.coefficients, want, **tol(scale=1e3))
    topk = lingen_fit(m, target, H, F, top_k=2)
    assert topk.tokens.shape == (len(F), 2) and topk.residual < 1e-10
    out = lingen_generate(m, H, topk, 3, rng=1, target_history=target, n_samples=4)
    assert out.kl.max() < 1e-8


def test_no_target_no_kl_and_bad_input(setup):
    m, H, F, target = setup
    out = lingen_generate(m, H, np.ones(len(H)) / len(H), 2, rng=0, n_samples=3, temperature=0.5)
    assert out.kl is None and out.tokens.shape == (3, 2)
    with pytest.raises(ValueError,
                       match="target_history: was not given to lingen_generate, so there is no KL"):
        _ = out.mean_cumulative_kl
    with pytest.raises(ValueError, match="coefficients: must have shape"):
        lingen_generate(m, H, np.ones(3), 2, rng=0)
    with pytest.raises(ValueError, match=f"steps: must be <= {T - t}"):
        lingen_generate(m, H, np.ones(len(H)), T - t + 1, rng=0)
    with pytest.raises(ValueError, match="temperature: must be > 0, got 0"):
        lingen_generate(m, H, np.ones(len(H)), 1, rng=0, temperature=0.0)
    with pytest.raises(ValueError, match="ridge: must be >= 0, got -1"):
        lingen_fit(m, target, H, F, ridge=-1.0)
    with pytest.raises(ValueError, match=r"target_history\[0\]: token ids must lie in \[0, 5\), got 9"):
        lingen_fit(m, (9,), H, F)
    with pytest.raises(ValueError, match="futures: must contain at least one"):
        lingen_fit(m, target, H, [])
