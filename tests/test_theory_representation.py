"""Representation power and the softmax bottleneck: measured exhaustive ranks vs closed forms and bounds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import theory
from logitrank import extended_logit_matrix, numerical_rank, random_histories, singular_values
from simulators import HMM, Copying, NGram, NoisyParity, SparsePolynomialBits

seed = st.integers(0, 2**31 - 1)


@settings(max_examples=15)
@given(st.integers(1, 8).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1)))),
       st.one_of(st.floats(0.01, 0.49), st.just(0.5)))
def test_noisy_parity_has_exact_cutwise_logit_rank_of_its_closed_form(n_subset, noise):
    n, subset = n_subset
    m = NoisyParity(n, sorted(subset), noise)
    assert theory.cut_ranks(m) == [m.exact_rank(t) for t in range(m.horizon)] == [int(noise < 0.5)] * (n + 1)


@settings(max_examples=12)
@given(st.integers(2, 8), st.integers(0, 5), st.integers(1, 3), seed)
def test_sparse_polynomial_log_odds_are_an_isan_of_dimension_monomials_plus_one(n, m, degree, s):
    model = SparsePolynomialBits.random(n, m, max_degree=degree, rng=s)
    isan = model.to_isan()
    assert isan.dim == m + 1
    assert theory.reproduction_error(isan, model) <= theory.REPRODUCTION_TOL
    ranks = theory.cut_ranks(model)
    assert all(r <= model.rank_bound(t) <= m + 1 for t, r in enumerate(ranks))


@settings(max_examples=8)
@given(st.sampled_from([(2, 1), (2, 3), (2, 5), (3, 2), (3, 3), (4, 2)]), st.floats(0.5, 8.0))
def test_copying_rank_matches_its_closed_form_below_the_isan_dimension(vn, sharpness):
    V, n = vn
    m = Copying(V, n, sharpness)
    ranks = theory.cut_ranks(m)
    assert ranks == [(V - 1) * t + 1 if t < n else (V - 1) * (2 * n - t) for t in range(2 * n)]
    # the largest cut rank is (V - 1) n, at t = n (t = n - 1 gives (V - 1)(n - 1) + 1 <= (V - 1) n)
    assert max(ranks) == (V - 1) * n < m.to_isan().dim == n * V + 1


@settings(max_examples=12)
@given(st.integers(2, 4), st.integers(1, 3), st.integers(1, 6), seed)
def test_an_order_k_ngram_has_logit_rank_at_most_v_to_the_k_minus_one(V, k, T, s):
    m = NGram.random(V, k, T, rng=s)
    ranks = theory.cut_ranks(m)
    assert max(ranks) <= V ** (k - 1)
    assert all(r <= m.rank_bound(t) for t, r in enumerate(ranks))


def test_hmm_rank_grows_with_the_horizon_but_its_spectrum_decays():
    base = HMM.random(2, 2, 7, rng=0)
    ranks = [max(theory.cut_ranks(HMM(base.initial, base.transition, base.emission, T))) for T in (3, 5, 7)]
    assert ranks[0] < ranks[1] < ranks[2] and ranks[2] > 2  # not exactly low rank (more than S = 2)
    s = theory.cut_spectra(HMM(base.initial, base.transition, base.emission, 7))[3]
    assert s[3] / s[0] < 1e-3  # yet approximately: the 4th singular value is 1000x below the first


@settings(max_examples=10)
@given(st.integers(1, 12), st.booleans(), seed)
def test_softmax_bottleneck_single_token_rank_at_most_hidden_size_plus_bias(d, bias, s):
    gen = np.random.default_rng(s)
    V = d + 5
    m = theory.LinearReadoutModel.random(V, d, 6, bias=bias, rng=gen)
    L = extended_logit_matrix(m, random_histories(V, 3 * d + 6, 4, rng=gen), [()])
    r = numerical_rank(singular_values(L), rtol=1e-10)
    assert r == d + int(bias)  # <= by the theorem; = for generic parameters


def test_bottleneck_model_rejects_bad_shapes():
    import pytest

    with pytest.raises(ValueError, match="readout: must have shape"):
        theory.LinearReadoutModel(np.zeros((5, 2)), np.zeros((3, 2)), np.zeros((5, 3)))


@settings(max_examples=3)
@given(seed)
def test_representation_claims_hold_on_generated_instances(s):
    for cid in ("representation.noisy_parity", "representation.sparse_polynomial", "representation.copying",
                "representation.ngram", "bottleneck"):
        ev = theory.get_claim(cid).check(s, instances=3)
        assert ev.holds, (cid, ev.counterexample)


def test_hmm_claim_holds():
    assert theory.get_claim("representation.hmm").check(0, instances=2).holds


def test_negative_controls_of_representation_claims_fail():
    for cid in ("representation.noisy_parity", "representation.sparse_polynomial", "representation.ngram",
                "representation.hmm", "representation.copying", "bottleneck"):
        ev = theory.get_claim(cid).negative_control(0)
        assert not ev.holds, cid
