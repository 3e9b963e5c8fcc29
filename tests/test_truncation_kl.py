"""KL of rank-r truncations: brute force per block, Frobenius bounds (property), planted rank."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tol
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import rel_entr, softmax

from logitrank import block_softmax_kl, extended_logit_matrix, kl_vs_rank, random_futures, random_histories
from simulators import TimeVaryingISAN


def brute_block_kl(L: np.ndarray, A: np.ndarray, k: int) -> np.ndarray:
    m, n = L.shape
    out = np.zeros((m, n // k))
    for h in range(m):
        for j in range(n // k):
            p = softmax(L[h, j * k : (j + 1) * k])
            q = softmax(A[h, j * k : (j + 1) * k])
            out[h, j] = rel_entr(p, q).sum()
    return out


def test_block_kl_matches_brute_force_and_ignores_block_constants():
    gen = np.random.default_rng(0)
    L, A = gen.standard_normal((5, 12)) * 2, gen.standard_normal((5, 12))
    got = block_softmax_kl(L, A, 4)
    np.testing.assert_allclose(got, brute_block_kl(L, A, 4), **tol())
    shift = np.repeat(gen.standard_normal((5, 3)), 4, axis=1)  # a constant per (h, f) block
    # loosened: logsumexp of shifted blocks differs by round-off
    np.testing.assert_allclose(block_softmax_kl(L, A + shift, 4), got, **tol(scale=100))
    assert np.all(block_softmax_kl(L, L, 4) == 0)


def test_kl_curve_of_an_isan_vanishes_at_its_rank():
    d = 4
    m = TimeVaryingISAN.random(5, d, 6, rng=1)
    L = extended_logit_matrix(m, random_histories(5, 20, 2, rng=0), random_futures(5, 12, 3, rng=1))
    curve = kl_vs_rank(L, [0, 1, 2, 3, 4, 5, 20])  # block defaults to L.k = V
    assert np.all(curve.kl[:4] > 1e-3) and np.all(np.diff(curve.kl[:5]) < 0)
    np.testing.assert_allclose(curve.kl[4:], 0.0, atol=1e-12)
    assert np.all(curve.kl <= curve.quarter_bound + 1e-12)
    # the bounds, recomputed from an independent SVD: sum_{i>r} s_i^2 / (|H||F|) and a quarter of it
    s = np.linalg.svd(L.values, compute_uv=False)
    tails = np.array([(s[r:] ** 2).sum() for r in curve.ranks]) / (20 * 12)
    np.testing.assert_allclose(curve.frobenius_bound, tails, **tol())
    np.testing.assert_allclose(curve.quarter_bound, tails / 4, **tol())
    # rank 0 approximates every block by the uniform distribution: KL(p || uniform) = log V - H(p)
    p = softmax(L.values.reshape(20, 12, 5), axis=2)
    want = np.mean(np.log(5) + (p * np.log(p)).sum(axis=2))
    np.testing.assert_allclose(curve.kl[0], want, **tol())


@given(
    st.integers(1, 6), st.integers(1, 4), st.integers(2, 5), st.floats(0.1, 5.0), st.integers(0, 2**31 - 1)
)
def test_kl_never_exceeds_frobenius_bounds(n_rows, n_blocks, k, scale, seed):
    # hypotheses of the bound: any real matrix, any block size, any rank 0..min(shape)
    gen = np.random.default_rng(seed)
    L = scale * gen.standard_normal((n_rows, n_blocks * k))
    ranks = np.arange(min(L.shape) + 1)
    curve = kl_vs_rank(L, ranks, k)
    atol = 1e-12 * (1 + scale**2)  # KL of two round-off-equal blocks is O(eps), not exactly 0
    assert np.all(curve.kl <= curve.quarter_bound + atol)
    assert abs(curve.kl[-1]) <= atol  # full rank: exact reconstruction
    # both bounds against an independent SVD's tails, at every rank (not only rank 0)
    s = np.linalg.svd(L, compute_uv=False)
    tails = np.array([(s[r:] ** 2).sum() for r in ranks]) / (n_rows * n_blocks)
    np.testing.assert_allclose(curve.frobenius_bound, tails, **tol())
    np.testing.assert_allclose(curve.quarter_bound, tails / 4, **tol())


def test_bad_input():
    L = np.zeros((3, 6))
    with pytest.raises(ValueError, match="block: must divide the number of columns 6, got 4"):
        kl_vs_rank(L, [1], 4)
    with pytest.raises(ValueError, match="block: must be given"):
        kl_vs_rank(L, [1])
    with pytest.raises(ValueError, match=r"ranks: each rank must lie in \[0, 3\]"):
        kl_vs_rank(L, [4], 3)
    with pytest.raises(ValueError, match=r"ranks: must be a non-empty 1-D sequence of integers, got \[\]"):
        kl_vs_rank(L, [], 3)
    with pytest.raises(ValueError,
                       match=r"ranks: must be a non-empty 1-D sequence of integers, got \[1\.5\]"):
        kl_vs_rank(L, [1.5], 3)
    with pytest.raises(ValueError, match="A: must have the shape of L"):
        block_softmax_kl(L, np.zeros((3, 3)), 3)
    m = TimeVaryingISAN.random(3, 2, 3, rng=0)
    LM = extended_logit_matrix(m, [(0,)], [(), (1,)])
    with pytest.raises(ValueError, match="block: must equal the matrix's k = 3"):
        kl_vs_rank(LM, [1], 2)


def test_l1_error_matches_an_explicit_truncation_and_vanishes_at_the_rank():
    gen = np.random.default_rng(3)
    rank = 3
    L = gen.standard_normal((9, rank)) @ gen.standard_normal((rank, 20))
    curve = kl_vs_rank(L, [0, 1, 2, rank, 5], block=4)
    U, s, Wt = np.linalg.svd(L, full_matrices=False)
    for r, got in zip([0, 1, 2], curve.l1_error[:3], strict=True):
        want = np.abs(L - (U[:, :r] * s[:r]) @ Wt[:r]).mean()
        assert got == pytest.approx(want, rel=1e-12)
    assert curve.l1_error[0] == pytest.approx(np.abs(L).mean(), rel=1e-12)  # rank 0: the matrix itself
    assert np.all(curve.l1_error[3:] < 1e-12 * np.abs(L).max())  # at and beyond the rank: exact
    # GLS2's L1 error is bounded by the RMS error sqrt(tail / #entries) (Cauchy-Schwarz), not below it
    rms = np.sqrt(curve.frobenius_bound * (L.shape[0] * L.shape[1] // 4) / L.size)
    assert np.all(curve.l1_error[:3] <= rms[:3] * (1 + 1e-12))  # beyond the rank both are round-off
    assert np.all(np.diff(curve.l1_error[:4]) < 0)
