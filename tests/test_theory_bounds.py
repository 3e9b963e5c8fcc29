"""Centering, the KL–Frobenius bounds, Eckart–Young for kl_vs_rank, and the tight TV bound.

Each theorem is a hypothesis property whose strategy is the theorem's hypotheses (finite logit vectors,
V >= 2), checked two ways (the package's function and a direct formula), plus the claims' negative controls.
"""

from __future__ import annotations

import numpy as np
from conftest import tol
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import rel_entr, softmax

import theory
from logitrank import center_logits, kl_vs_rank
from theory.kl_bounds import random_logit_pairs

EPS = np.finfo(np.float64).eps


def logit_pair(max_vocab: int = 12, bound: float = 200.0):
    """Two finite logit vectors of one length V in [2, max_vocab] (the hypotheses of the bounds)."""
    return st.integers(2, max_vocab).flatmap(lambda V: st.tuples(
        arrays(np.float64, V, elements=st.floats(-bound, bound)),
        arrays(np.float64, V, elements=st.floats(-bound, bound))))


@given(logit_pair(), st.floats(-1e6, 1e6))
def test_centered_logits_are_raw_minus_mean_and_ignore_a_constant(pair, c):
    u, _ = pair
    got = center_logits(u)
    np.testing.assert_allclose(got, u - u.mean(), rtol=0, atol=8 * u.size * EPS * (1 + np.abs(u).max()))
    np.testing.assert_allclose(center_logits(u + c), got, rtol=0,
                               atol=8 * u.size * EPS * (1 + abs(c) + np.abs(u).max()))


@given(logit_pair())
def test_kl_of_softmaxes_is_at_most_a_quarter_of_the_centered_squared_distance(pair):
    u, v = pair
    kl = theory.softmax_kl(u, v)
    np.testing.assert_allclose(kl, rel_entr(softmax(u), softmax(v)).sum(), rtol=1e-8, atol=1e-10)  # two ways
    bound = theory.quarter_bound(u, v)
    allowance = 64 * u.size * EPS * (1 + np.abs(u).max() + np.abs(v).max())
    assert kl <= bound + allowance
    assert bound <= 0.25 * np.sum((u - v) ** 2) * (1 + 1e-12) + 1e-300


def test_the_quarter_constant_is_approached_by_two_token_uniform_pairs():
    e = 1e-3
    u, v = np.array([0.0, 0.0]), np.array([-e, e])
    ratio = theory.softmax_kl(u, v) / theory.quarter_bound(u, v)
    assert 1 - 1e-5 < ratio <= 1  # log cosh e / (e^2/2) = 1 - e^2/6 + ...


@settings(max_examples=10)
@given(st.integers(2, 64), st.integers(0, 2**31 - 1))
def test_kl_block_and_average_claims_hold_on_generated_instances(max_vocab, seed):
    assert theory.get_claim("kl.block").check(seed, instances=4, max_vocab=max_vocab).holds
    assert theory.get_claim("kl.average").check(seed, instances=4, max_vocab=max_vocab).holds


@settings(max_examples=10)
@given(st.integers(2, 8), st.integers(0, 2**31 - 1))
def test_eckart_young_truncation_bounds_kl_vs_rank(max_vocab, seed):
    ev = theory.get_claim("kl.eckart_young").check(seed, instances=3, max_vocab=max_vocab)
    assert ev.holds, ev.counterexample


def test_kl_vs_rank_bound_is_the_truncation_error_computed_independently():
    gen = np.random.default_rng(0)
    L = gen.standard_normal((6, 12))
    curve = kl_vs_rank(L, np.arange(7), 3)
    U, s, Wt = np.linalg.svd(L, full_matrices=False)
    for r in range(7):
        err = np.sum((L - (U[:, :r] * s[:r]) @ Wt[:r]) ** 2) / (6 * 4)
        np.testing.assert_allclose(curve.frobenius_bound[r], err, **tol(scale=100))  # SVD round-off, two SVDs
    assert np.all(curve.kl <= curve.quarter_bound + 1e-12)


@given(logit_pair(bound=60.0))
def test_tv_of_softmaxes_is_at_most_tanh_of_a_quarter_of_the_range(pair):
    u, v = pair
    tv = theory.softmax_tv(u, v)
    np.testing.assert_allclose(tv, 0.5 * np.abs(softmax(u) - softmax(v)).sum(), atol=1e-12)  # two ways
    d = u - v
    allowance = 4 * EPS * (u.size + np.abs(u).max() + np.abs(v).max())
    assert tv <= theory.tv_bound(u, v) + allowance
    assert theory.tv_bound(u, v) <= np.tanh(np.abs(d).max() / 2) + 1e-15 <= np.abs(d).max() + 1e-15


@given(st.floats(1e-3, 40.0), st.integers(2, 10))
def test_the_tanh_bound_is_attained(w, V):
    u, v = theory.tight_tv_pair(w, V)
    np.testing.assert_allclose(theory.softmax_tv(u, v), np.tanh(w / 4), rtol=1e-9, atol=1e-15)
    assert np.isclose(theory.tv_bound(u, v), np.tanh(w / 4))


def test_spec_sup_norm_form_is_loose_by_at_least_two():
    gen = np.random.default_rng(1)
    u, v = random_logit_pairs(gen, "gaussian", 500, 6)
    dinf = np.abs(u - v).max(axis=1)
    assert np.all(theory.softmax_tv(u, v) <= dinf / 2 + 1e-15)


@settings(max_examples=10)
@given(st.integers(2, 256), st.integers(0, 2**31 - 1))
def test_tv_and_centering_claims_hold_on_generated_instances(max_vocab, seed):
    assert theory.get_claim("tv").check(seed, instances=6, max_vocab=max_vocab).holds
    assert theory.get_claim("centering").check(seed, instances=6, max_vocab=max_vocab).holds


def test_negative_controls_of_the_bounds_fail():
    for cid in ("centering", "kl.block", "kl.average", "kl.eckart_young", "tv"):
        ev = theory.get_claim(cid).negative_control(0)
        assert not ev.holds and ev.counterexample is not None, cid
