"""Spectra: exact vs Gram-streamed vs randomized, planted spectra, hidden-dimension gaps, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tol

from logitrank import (
    accumulate_gram,
    all_futures,
    all_sequences,
    estimate_hidden_dim,
    extended_logit_matrix,
    gram_singular_values,
    numerical_rank,
    random_futures,
    random_histories,
    randomized_singular_values,
    singular_values,
    singular_values_from_gram,
    streamed_singular_values,
)
from logitrank.spectra import column_blocks
from simulators import TimeVaryingISAN


def planted(m: int, n: int, s: np.ndarray, rng: int) -> np.ndarray:
    """``U diag(s) W^T`` with Haar-random orthonormal ``U`` (m, r), ``W`` (n, r): singular values ``s``."""
    gen = np.random.default_rng(rng)
    U = np.linalg.qr(gen.standard_normal((m, s.size)))[0]
    W = np.linalg.qr(gen.standard_normal((n, s.size)))[0]
    return (U * s) @ W.T


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / b))


def test_exact_and_gram_recover_a_planted_spectrum():
    s = 5.0 * np.arange(1, 61) ** -0.7
    L = planted(60, 900, s, rng=0)
    exact = singular_values(L)
    np.testing.assert_allclose(exact, s, rtol=1e-12)
    gram = singular_values(L, method="gram", block_columns=128)
    assert gram.shape == (60,)
    assert rel_err(gram[:30], exact[:30]) < 1e-6  # the acceptance criterion: top half below 1e-6
    # a generator of blocks in another order gives the same Gram matrix
    blocks = list(column_blocks(L, 100))[::-1]
    np.testing.assert_allclose(gram_singular_values(iter(blocks)), gram, rtol=1e-12)
    # resumable: a partial Gram sum plus the remaining blocks equals the whole
    G = accumulate_gram(blocks[:4])
    accumulate_gram(blocks[4:], 60, out=G)
    np.testing.assert_allclose(G, L @ L.T, **tol(scale=1e3))  # loosened: sums of 900 products in two orders
    np.testing.assert_allclose(singular_values_from_gram(G), gram, rtol=1e-10)


@pytest.mark.parametrize("top_k,rule", [(None, "mean"), (3, "mean"), (2, "random")])
def test_streamed_equals_materialised(top_k, rule):
    m = TimeVaryingISAN.random(6, 5, 8, rng=3)
    H = random_histories(6, 30, 3, rng=1)
    F = random_futures(6, 50, 4, rng=2)
    L = extended_logit_matrix(m, H, F, top_k=top_k, token_rule=rule, rng=7)
    exact = singular_values(L)
    streamed = streamed_singular_values(m, H, F, top_k=top_k, token_rule=rule, rng=7, futures_per_block=7,
                                        progress=False)
    assert streamed.shape == exact.shape
    r = numerical_rank(exact)
    assert r == 5  # an ISAN of dimension 5 with 30 generic histories: rank exactly d
    assert rel_err(streamed[: r], exact[: r]) < 1e-6
    assert np.all(streamed[r:] < 1e-6 * exact[0])  # the zero tail stays at the Gram round-off floor


def test_streamed_on_exhaustive_sets_matches_rank_bound():
    m = TimeVaryingISAN.random(3, 4, 5, rng=0)
    s = streamed_singular_values(m, all_sequences(3, 2), all_futures(3, 2), futures_per_block=2)
    assert numerical_rank(s, rtol=1e-6) == 4


def test_randomized_matches_exact_top_r():
    # exactly low rank: the range finder captures it to round-off
    s_low = np.array([9.0, 7.0, 4.0, 2.0, 1.0, 0.5])
    L = planted(80, 400, s_low, rng=1)
    np.testing.assert_allclose(randomized_singular_values(L, 6, rng=0), s_low, **tol())
    # power-law spectrum: power iterations give the top values to high relative accuracy
    s = np.arange(1, 81) ** -1.0
    L = planted(80, 400, s, rng=2)
    top = singular_values(L, method="randomized", rank=8, rng=0)
    assert rel_err(top, s[:8]) < 1e-6
    assert rel_err(singular_values(L, rank=8), s[:8]) < 1e-12


def test_hidden_dim_recovered_from_planted_rank_plus_noise():
    gen = np.random.default_rng(4)
    for d in (3, 10, 25):
        noise = 1e-6 * gen.standard_normal((200, 300))
        X = gen.standard_normal((200, d)) @ gen.standard_normal((d, 300)) + noise
        est = estimate_hidden_dim(singular_values(X))
        assert est.dim == d
        assert est.gap > np.log(1e3)
    # exact zeros after a float64 rank-d matrix: the floor keeps them from creating spurious gaps
    s = np.concatenate([np.linspace(10, 5, 7), [1e-15, 0.0, 3e-16, 0.0]])
    est = estimate_hidden_dim(s)
    assert est.dim == 7 and np.isfinite(est.gap)
    np.testing.assert_allclose(est.ratio, 5 / est.floor, rtol=1e-12)
    assert estimate_hidden_dim(s, max_dim=3).dim <= 3


def test_hidden_dim_of_isan_next_token_matrix():
    m = TimeVaryingISAN.random(40, 6, 4, rng=5)
    L = extended_logit_matrix(m, random_histories(40, 100, 2, rng=0), [()])
    assert estimate_hidden_dim(singular_values(L)).dim == 6


def test_bad_input():
    L = np.ones((4, 6))
    with pytest.raises(ValueError, match="method: must be one of 'exact', 'gram', 'randomized', got 'svd'"):
        singular_values(L, method="svd")
    with pytest.raises(ValueError,
                       match=r"rank: must be given \(an int >= 1\) for method='randomized', got None"):
        singular_values(L, method="randomized")
    with pytest.raises(ValueError, match="rank: must be <= 4"):
        singular_values(L, rank=5)
    with pytest.raises(ValueError, match="matrix: must be finite"):
        singular_values(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="2-D"):
        singular_values(np.ones(3))
    with pytest.raises(ValueError, match="must yield at least one block"):
        gram_singular_values(iter([]))
    with pytest.raises(ValueError, match="column_blocks\\[1\\]: must have 4 rows"):
        gram_singular_values([np.ones((4, 2)), np.ones((3, 2))])
    with pytest.raises(ValueError, match="n_rows: must be >= 1, got 0"):
        gram_singular_values([np.ones((4, 2))], n_rows=0)
    with pytest.raises(ValueError, match="out: must have shape"):
        accumulate_gram([np.ones((4, 2))], 3, out=np.zeros((4, 4)))
    with pytest.raises(ValueError, match="G: must be a non-empty square"):
        singular_values_from_gram(np.ones((2, 3)))
    m = TimeVaryingISAN.random(3, 2, 4, rng=0)
    with pytest.raises(ValueError, match="top_k: must be <= 3"):
        streamed_singular_values(m, [(0,)], [()], top_k=4)
    with pytest.raises(ValueError, match=r"token_rule: must be one of \('mean', 'random'\), got 'max'"):
        streamed_singular_values(m, [(0,)], [()], top_k=2, token_rule="max")
    with pytest.raises(ValueError, match="futures: must contain at least one"):
        streamed_singular_values(m, [(0,)], [])
    with pytest.raises(ValueError, match="s: singular values must be >= 0"):
        estimate_hidden_dim([1.0, -1.0])
    with pytest.raises(ValueError, match="rtol: must be < 1, got 2"):
        numerical_rank([1.0], rtol=2.0)
