"""Power-law fits recover planted exponents; approximate rank against explicit truncations."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tol
from hypothesis import given
from hypothesis import strategies as st

from logitrank import approx_rank, default_index_range, fit_power_law, summarize_spectrum


def noisy_power_law(alpha: float, n: int, noise: float, seed: int, c: float = 3.0) -> np.ndarray:
    """``c i^-alpha`` times log-normal noise, sorted descending (singular values always are)."""
    gen = np.random.default_rng(seed)
    i = np.arange(1, n + 1)
    return np.sort(c * i**-alpha * np.exp(noise * gen.standard_normal(n)))[::-1]


@pytest.mark.parametrize("alpha", [0.3, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_recovers_planted_exponent_and_interval_covers(alpha, seed):
    s = noisy_power_law(alpha, 1000, 0.05, seed)
    fit = fit_power_law(s, rng=seed)
    assert abs(fit.alpha - alpha) <= 0.02
    lo, hi = fit.alpha_ci
    assert lo <= alpha <= hi
    assert hi - lo < 0.03  # informative, not vacuous
    assert fit.r_squared > 0.99
    assert abs(fit.c - 3.0) / 3.0 < 0.05
    assert fit.index_range == (2, 500) and fit.n_points == 499 and fit.bootstrap == "log-blocks"


def test_interval_coverage_on_correlated_residuals():
    # sorting a noisy spectrum correlates neighbouring residuals over a range growing with i; the default
    # log-bin cluster bootstrap stays near its nominal 95% where fixed-length blocks fall to ~60%
    alpha, n_cases = 0.7, 20
    hits = {"log-blocks": 0, "block": 0}
    for seed in range(n_cases):
        s = noisy_power_law(alpha, 1000, 0.05, 100 + seed)
        for method in hits:
            lo, hi = fit_power_law(s, bootstrap=method, n_bootstrap=400, rng=seed).alpha_ci
            hits[method] += lo <= alpha <= hi
    assert hits["log-blocks"] >= 17  # >= 85% of 20; binomial(20, 0.95) is below 17 with probability 1.6%
    assert hits["block"] < hits["log-blocks"]


def test_short_range_falls_back_to_block_bootstrap():
    fit = fit_power_law(np.arange(1, 11) ** -0.5 * (1 + 0.01 * np.sin(np.arange(10))), rng=0)
    assert fit.index_range == (2, 5) and fit.bootstrap == "block"


@pytest.mark.parametrize("bootstrap", ["log-blocks", "block", "residual", "pairs"])
def test_exact_power_law_is_fitted_exactly(bootstrap):
    s = 2.0 * np.arange(1, 201) ** -0.6
    fit = fit_power_law(s, bootstrap=bootstrap, n_bootstrap=50, rng=0)
    np.testing.assert_allclose([fit.alpha, fit.c, fit.r_squared], [0.6, 2.0, 1.0], **tol())
    np.testing.assert_allclose(fit.alpha_ci, (0.6, 0.6), **tol())
    np.testing.assert_allclose(fit.predict([1, 10]), s[[0, 9]], **tol())


def test_default_range_skips_top_value_upper_half_and_zero_tail():
    s = np.concatenate([np.arange(1, 101) ** -0.8, np.full(50, 1e-15), np.zeros(10)])
    assert default_index_range(s) == (2, 50)
    assert default_index_range(np.array([3.0, 2.0, 1.0])) == (1, 3)
    assert default_index_range(np.arange(1, 9) ** -0.5) == (2, 5)
    fit = fit_power_law(s, index_range=(10, 100), n_bootstrap=10, rng=0)
    assert fit.index_range == (10, 100) and abs(fit.alpha - 0.8) < 1e-12


def brute_relative_error(s: np.ndarray, r: int, rng: int) -> float:
    """``||L - L_r||_F^2 / ||L||_F^2`` of an explicit matrix with singular values ``s``."""
    gen = np.random.default_rng(rng)
    U = np.linalg.qr(gen.standard_normal((s.size + 3, s.size)))[0]
    W = np.linalg.qr(gen.standard_normal((s.size + 5, s.size)))[0]
    L = (U * s) @ W.T
    u, sv, wt = np.linalg.svd(L, full_matrices=False)
    Lr = (u[:, :r] * sv[:r]) @ wt[:r]
    return float(np.linalg.norm(L - Lr) ** 2 / np.linalg.norm(L) ** 2)


@given(st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 10.0)), min_size=1, max_size=12), st.floats(0.0, 1.0))
def test_approx_rank_is_minimal_rank_meeting_the_error(values, eps):
    s = np.sort(np.asarray(values))[::-1]
    r = approx_rank(s, eps)
    assert 0 <= r <= s.size
    if s.max() == 0:
        assert r == 0
        return
    errs = [brute_relative_error(s, k, rng=len(values)) for k in range(s.size + 1)]
    assert errs[r] <= eps + 1e-9
    if r > 0:
        assert errs[r - 1] > eps - 1e-9


def test_approx_rank_closed_form():
    s = np.array([3.0, 2.0, 1.0, 0.0])  # squares 9, 4, 1: tails 5/14, 1/14, 0
    assert [approx_rank(s, e) for e in (1.0, 5 / 14, 0.3, 1 / 14, 0.05, 0.0)] == [0, 1, 2, 2, 3, 3]


def test_summary_has_headline_numbers():
    out = summarize_spectrum(noisy_power_law(0.7, 200, 0.01, 0), n_bootstrap=20, rng=0)
    assert out["numerical_rank"] == 200 and set(out["approx_rank"]) == {"0.01", "0.1"}
    assert abs(out["power_law"]["alpha"] - 0.7) < 0.02
    few = summarize_spectrum([1.0, 0.5, 0.0])
    assert few["power_law"] is None and "at least 3" in few["power_law_error"]


def test_bad_input():
    s = np.arange(1, 11) ** -0.5
    with pytest.raises(ValueError, match="s: singular values must be sorted in descending order"):
        fit_power_law(s[::-1])
    with pytest.raises(ValueError, match="at least 3 numerically non-zero"):
        fit_power_law([1.0, 0.5, 0.0, 0.0])
    with pytest.raises(ValueError,
                       match=r"index_range: must satisfy 1 <= lo, hi <= 10 \(len\(s\)\) and "
                             r"hi - lo \+ 1 >= 3, got \(1, 11\)"):
        fit_power_law(s, index_range=(1, 11))
    with pytest.raises(ValueError,
                       match=r"index_range: must satisfy 1 <= lo, hi <= 10 \(len\(s\)\) and "
                             r"hi - lo \+ 1 >= 3, got \(3, 4\)"):
        fit_power_law(s, index_range=(3, 4))
    with pytest.raises(ValueError, match=r"index_range: all singular values in \(5, 11\) must be > 0"):
        fit_power_law(np.append(s, 0.0), index_range=(5, 11))
    with pytest.raises(ValueError, match="confidence: must be < 1, got 1"):
        fit_power_law(s, confidence=1.0)
    with pytest.raises(ValueError,
                       match="bootstrap: must be one of 'log-blocks', 'block', 'residual', 'pairs', "
                             "got 'jackknife'"):
        fit_power_law(s, bootstrap="jackknife")
    with pytest.raises(ValueError, match="n_bootstrap: must be >= 1, got 0"):
        fit_power_law(s, n_bootstrap=0)
    with pytest.raises(ValueError, match="s: must be finite"):
        fit_power_law([1.0, np.inf, 0.5])
    with pytest.raises(ValueError, match=r"eps: must be <= 1, got 1\.5"):
        approx_rank(s, 1.5)
    with pytest.raises(ValueError, match="non-empty 1-D"):
        approx_rank([], 0.1)
