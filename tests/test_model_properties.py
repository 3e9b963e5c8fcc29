"""Property tests: the rank statements of the synthetic models under exactly their hypotheses."""

from __future__ import annotations

import numpy as np
from conftest import tol
from hypothesis import given
from hypothesis import strategies as st

from logitrank import all_futures, all_sequences, extended_logit_matrix, numerical_rank, singular_values
from simulators import (
    FAMILIES,
    Copying,
    NGram,
    NoisyParity,
    SparsePolynomialBits,
    SyntheticModel,
    build_model,
)


def exhaustive_rank(model: SyntheticModel, t: int) -> int:
    V, T = model.vocab_size, model.horizon
    L = extended_logit_matrix(model, all_sequences(V, t), all_futures(V, T - 1 - t))
    return numerical_rank(singular_values(L), rtol=1e-9)


@st.composite
def parity_models(draw: st.DrawFn) -> NoisyParity:
    n = draw(st.integers(1, 5))
    subset = draw(st.lists(st.integers(0, n - 1), unique=True, max_size=n))
    noise = draw(st.floats(0.01, 0.49))
    return NoisyParity(n, subset, noise)


@given(parity_models(), st.data())
def test_noisy_parity_has_logit_rank_one(model: NoisyParity, data: st.DataObject) -> None:
    # hypotheses: any subset (empty allowed), any noise in (0, 1/2): rank exactly 1 at every cut
    t = data.draw(st.integers(0, model.n_bits))
    assert exhaustive_rank(model, t) == model.exact_rank(t) == 1


@given(st.integers(2, 3), st.integers(1, 3), st.floats(0.1, 5.0), st.data())
def test_copying_rank_formula(V: int, n: int, sharpness: float, data: st.DataObject) -> None:
    model = Copying(V, n, sharpness)
    t = data.draw(st.integers(0, 2 * n - 1))
    assert exhaustive_rank(model, t) == model.rank_bound(t)


@given(st.integers(2, 3), st.integers(1, 3), st.integers(0, 2**16), st.data())
def test_ngram_rank_within_bound(V: int, order: int, seed: int, data: st.DataObject) -> None:
    T = data.draw(st.integers(max(order, 2), 5))
    model = NGram.random(V, order, T, rng=seed)
    t = data.draw(st.integers(0, T - 1))
    assert exhaustive_rank(model, t) <= model.rank_bound(t) <= V ** (order - 1)


@given(st.integers(2, 6), st.integers(0, 4), st.integers(1, 3), st.integers(0, 2**16))
def test_sparse_poly_isan_and_rank(n_bits: int, m: int, degree: int, seed: int) -> None:
    model = SparsePolynomialBits.random(n_bits, m, max_degree=degree, rng=seed)
    isan = model.to_isan()
    P = [p for t in range(n_bits) for p in all_sequences(2, t)]
    np.testing.assert_allclose(isan.logits(P), model.logits(P), **tol())
    for t in range(n_bits):
        assert exhaustive_rank(model, t) <= model.rank_bound(t) <= m + 1


@given(st.sampled_from(sorted(FAMILIES)), st.integers(1, 3), st.integers(0, 2**16))
def test_every_family_is_normalised(name: str, dim: int, seed: int) -> None:
    V = 2 if FAMILIES[name].binary else 3
    model = build_model(name, vocab_size=V, dim=dim, horizon=4, rng=seed)
    logp = model.log_prob(all_sequences(V, 4))
    assert np.isclose(np.exp(logp).sum(), 1.0, **tol())
