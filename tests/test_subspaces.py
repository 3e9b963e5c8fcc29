"""Principal angles: identical and orthogonal spaces, scipy's subspace_angles, the random baseline."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tol
from scipy.linalg import subspace_angles

from logitrank import (
    extended_logit_matrix,
    principal_angles,
    random_futures,
    random_histories,
    random_subspace_cosines,
    random_subspace_mean_cos2,
)
from simulators import TimeVaryingISAN


def low_rank(m: int, n: int, r: int, gen: np.random.Generator) -> np.ndarray:
    return gen.standard_normal((m, r)) @ gen.standard_normal((r, n))


def test_identical_and_orthogonal_spaces():
    gen = np.random.default_rng(0)
    A = low_rank(30, 50, 4, gen)
    mix = gen.standard_normal((50, 70))  # same column space, other columns
    np.testing.assert_allclose(principal_angles(A, A @ mix, 4), np.ones(4), **tol(scale=1e3))  # SVD round-off
    Q = np.linalg.qr(gen.standard_normal((30, 8)))[0]
    B1, B2 = Q[:, :4] @ gen.standard_normal((4, 20)), Q[:, 4:] @ gen.standard_normal((4, 25))
    np.testing.assert_allclose(principal_angles(B1, B2, 4), np.zeros(4), atol=1e-12)


def test_matches_scipy_subspace_angles():
    gen = np.random.default_rng(1)
    for r in (1, 3, 6):
        A, B = low_rank(40, 60, r, gen), low_rank(40, 30, r, gen)
        want = np.sort(np.cos(subspace_angles(A, B)))[::-1]  # exactly rank r: truncation = column space
        np.testing.assert_allclose(principal_angles(A, B, r), want, **tol(scale=1e4))  # arccos/cos round trip
    # truncation matters: only the top-r directions of a full-rank matrix count
    A = low_rank(40, 60, 3, gen) * 100 + gen.standard_normal((40, 60))
    B = low_rank(40, 60, 3, gen)
    U = np.linalg.svd(A)[0][:, :3]
    want = np.sort(np.cos(subspace_angles(U, B)))[::-1]
    np.testing.assert_allclose(principal_angles(A, B, 3), want, **tol(scale=1e4))  # as above


def test_isan_matrices_over_different_futures_share_their_column_space():
    m = TimeVaryingISAN.random(6, 4, 7, rng=2)
    H = random_histories(6, 40, 3, rng=0)
    F1, F2 = random_futures(6, 20, 3, rng=1), random_futures(6, 20, 3, rng=2)
    A, B = extended_logit_matrix(m, H, F1), extended_logit_matrix(m, H, F2)
    np.testing.assert_allclose(principal_angles(A, B, 4), np.ones(4), **tol(scale=1e4))  # SVD round-off
    other = extended_logit_matrix(TimeVaryingISAN.random(6, 4, 7, rng=3), H, F1)
    assert principal_angles(A, other, 4).mean() < 0.9


def test_random_baseline_matches_closed_form():
    n, r = 30, 5
    cos = random_subspace_cosines(n, r, rng=0, n_draws=400)
    assert cos.shape == (400, r) and np.all(np.diff(cos, axis=1) <= 1e-12)
    mean_cos2 = (cos**2).mean()
    # Monte-Carlo error of the mean over 400 draws is about 0.005
    assert abs(mean_cos2 - random_subspace_mean_cos2(n, r)) < 0.02


def test_bad_input():
    with pytest.raises(ValueError, match="B: must have the same number of rows as A"):
        principal_angles(np.ones((3, 4)), np.ones((4, 4)), 1)
    with pytest.raises(ValueError, match="rank: must be <= 2"):
        principal_angles(np.ones((3, 4)), np.ones((3, 2)), 3)
    with pytest.raises(ValueError, match="rank: must be <= 4"):
        random_subspace_cosines(4, 5, rng=0)
