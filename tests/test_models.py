"""Synthetic models: logits against brute-force joint distributions, normalisation, rank bounds,
exact ISAN constructions, save/load, seeded sampling and input validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import tol

from logitrank import all_futures, all_sequences, extended_logit_matrix, numerical_rank, singular_values
from simulators import (
    FAMILIES,
    HMM,
    Copying,
    NGram,
    NoisyParity,
    PlantedSpectrum,
    SparsePolynomialBits,
    SyntheticModel,
    TimeVaryingISAN,
    build_model,
    load_model,
)

# ---------------------------------------------------------------------------------------------
# brute force: the joint distribution of whole sequences, written directly from each definition


def conditional_logits(joint: np.ndarray, prefix: tuple[int, ...]) -> np.ndarray:
    """Centered ``log Pr[z | prefix]`` from a joint table ``(V,) * T`` by marginalising the tail.

    ``log Pr[prefix, z]`` differs from ``log Pr[z | prefix]`` by a constant in ``z``, which centering removes.
    """
    T = joint.ndim
    marg = joint[prefix].sum(axis=tuple(range(1, T - len(prefix))))
    logp = np.log(marg)
    return logp - logp.mean()


def joint_table(V: int, T: int, prob) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = np.empty((V,) * T)
    for x in itertools.product(range(V), repeat=T):
        out[x] = prob(x)
    return out


def joint_noisy_parity(m: NoisyParity) -> np.ndarray:
    n, eta = m.n_bits, m.noise

    def prob(x):  # type: ignore[no-untyped-def]
        label = sum(x[j] for j in m.subset) % 2
        return 2.0**-n * ((1 - eta) if x[n] == label else eta)

    return joint_table(2, n + 1, prob)


def joint_sparse_poly(m: SparsePolynomialBits) -> np.ndarray:
    def prob(x):  # type: ignore[no-untyped-def]
        p = 1.0
        for pos in range(m.n_bits):
            g = m.bias[pos] + sum(c * np.prod([(-1.0) ** x[j] for j in mono])
                                  for mono, c in zip(m.monomials, m.coefficients[pos], strict=True))
            p1 = 1.0 / (1.0 + np.exp(-g))
            p *= p1 if x[pos] == 1 else 1.0 - p1
        return p

    return joint_table(2, m.n_bits, prob)


def joint_ngram(m: NGram) -> np.ndarray:
    k = m.order

    def prob(x):  # type: ignore[no-untyped-def]
        p = 1.0
        for pos in range(len(x)):
            ctx = x[max(0, pos - (k - 1)):pos]
            p *= m.tables[len(ctx)][ctx + (x[pos],)]
        return p

    return joint_table(m.vocab_size, m.horizon, prob)


def joint_hmm(m: HMM) -> np.ndarray:
    """Sum over every hidden path explicitly (no forward recursion)."""
    S, T = m.n_states, m.horizon

    def prob(x):  # type: ignore[no-untyped-def]
        total = 0.0
        for path in itertools.product(range(S), repeat=T):
            p = m.initial[path[0]] * m.emission[path[0], x[0]]
            for pos in range(1, T):
                p *= m.transition[path[pos - 1], path[pos]] * m.emission[path[pos], x[pos]]
            total += p
        return total

    return joint_table(m.vocab_size, T, prob)


def joint_copying(m: Copying) -> np.ndarray:
    V, n, s = m.vocab_size, m.n, m.sharpness

    def prob(x):  # type: ignore[no-untyped-def]
        p = float(V) ** -n
        for j in range(n):
            p *= (np.exp(s) if x[n + j] == x[j] else 1.0) / (np.exp(s) + V - 1)
        return p

    return joint_table(V, 2 * n, prob)


def small_models() -> list[tuple[str, SyntheticModel, np.ndarray]]:
    par = NoisyParity(4, [0, 2, 3], 0.2)
    sp = SparsePolynomialBits(5, [[0], [1, 2], [0, 3], []],
                              np.array([[0, 0, 0, 0.3], [0.7, 0, 0, -0.2], [-1.1, 0, 0, 0],
                                        [0.4, 0.9, 0, 0], [0.2, -0.5, 1.3, 0.1]]), bias=np.linspace(-1, 1, 5))
    ng = NGram.random(3, 3, 4, concentration=0.7, rng=1)
    hmm = HMM.random(3, 3, 4, rng=2)
    cp = Copying(3, 2, sharpness=1.7)
    return [("noisy-parity", par, joint_noisy_parity(par)), ("sparse-poly", sp, joint_sparse_poly(sp)),
            ("ngram", ng, joint_ngram(ng)), ("hmm", hmm, joint_hmm(hmm)), ("copy", cp, joint_copying(cp))]


SMALL = small_models()


@pytest.mark.parametrize("name,model,joint", SMALL, ids=[s[0] for s in SMALL])
def test_logits_match_brute_force_joint(name: str, model: SyntheticModel, joint: np.ndarray) -> None:
    V, T = model.vocab_size, model.horizon
    assert np.isclose(joint.sum(), 1.0, **tol())
    prefixes = [p for t in range(T) for p in all_sequences(V, t)]
    fast = model.logits(prefixes)
    ref = np.array([conditional_logits(joint, p) for p in prefixes])
    np.testing.assert_allclose(fast, ref, **tol(scale=10))  # log of sums of products: ~1e-9 rounding
    np.testing.assert_allclose(fast.sum(axis=1), 0.0, atol=tol()["atol"])
    # whole-sequence probabilities: sum to one and equal the joint table
    full = all_sequences(V, T)
    logp = model.log_prob(full)
    assert np.isclose(np.exp(logp).sum(), 1.0, **tol())
    np.testing.assert_allclose(logp, np.log([joint[x] for x in full]), **tol(scale=10))


def test_planted_and_isan_fast_paths_match_dense_reference() -> None:
    m = PlantedSpectrum.random(3, 5, 5, 0.7, rng=3)
    dense = TimeVaryingISAN(m.x0, m.A, m.B)  # same arrays, generic dense code path
    P = [p for t in range(5) for p in all_sequences(3, t)]
    np.testing.assert_allclose(m.logits(P), dense.logits(P), **tol())
    H, F = all_sequences(3, 2), all_futures(3, 2)
    np.testing.assert_allclose(m.extended_logits(H, F), dense.extended_logits(H, F), **tol())
    # explicit formula l(x) = C B_t diag(prod of signs) x0
    x = (2, 0, 1)
    raw = m.B[3] @ (m.signs[0, 2] * m.signs[1, 0] * m.signs[2, 1] * m.x0)
    np.testing.assert_allclose(m.logits([x])[0], raw - raw.mean(), **tol())
    assert np.isclose(np.exp(m.log_prob(all_sequences(3, 5))).sum(), 1.0, **tol())


# ---------------------------------------------------------------------------------------------
# rank


def exhaustive_rank(model: SyntheticModel, t: int) -> int:
    V, T = model.vocab_size, model.horizon
    L = extended_logit_matrix(model, all_sequences(V, t), all_futures(V, T - 1 - t))
    return numerical_rank(singular_values(L), rtol=1e-9)


def test_noisy_parity_exact_rank_closed_form() -> None:
    for subset, noise in (([0, 3], 0.2), ([], 0.1), ([4], 0.3), ([1, 2, 3, 4], 0.5)):
        m = NoisyParity(5, subset, noise)
        for t in range(m.horizon):
            assert exhaustive_rank(m, t) == m.exact_rank(t) == m.rank_bound(t) == (1 if noise < 0.5 else 0)


def test_copying_rank_formula_is_exact() -> None:
    for V, n in ((2, 3), (3, 2)):
        m = Copying(V, n, 2.0)
        ranks = [exhaustive_rank(m, t) for t in range(2 * n)]
        assert ranks == [m.rank_bound(t) for t in range(2 * n)]
        assert ranks == [(V - 1) * t + 1 if t < n else (V - 1) * (2 * n - t) for t in range(2 * n)]
    assert Copying(3, 2, 0.0).rank_bound(1) == 0


@pytest.mark.parametrize("V,k,T", [(2, 3, 6), (3, 2, 5), (2, 4, 7), (2, 1, 4)])
def test_ngram_rank_bound_holds_and_is_attained(V: int, k: int, T: int) -> None:
    m = NGram.random(V, k, T, rng=1)
    for t in range(T):
        assert exhaustive_rank(m, t) == m.rank_bound(t) <= V ** min(t, k - 1)


def test_sparse_poly_rank_bound_and_isan() -> None:
    m = SparsePolynomialBits.random(7, 4, max_degree=3, rng=1)
    isan = m.to_isan()
    assert isan.dim == len(m.monomials) + 1
    for t in range(m.horizon):
        assert exhaustive_rank(m, t) <= m.rank_bound(t) <= len(m.monomials) + 1
    P = [p for t in range(7) for p in all_sequences(2, t)]
    np.testing.assert_allclose(isan.logits(P), m.logits(P), **tol())
    # planted structure: bit 4 reads 0.4 + 1.5 chi_{0,2} - 0.9 chi_{1,3} + 0.8 chi_{0}. History characters
    # at cuts 0..2: {empty}, {{0}, empty}, {{0}, {1}, empty} -> ranks 1, 2, 3 (straddling monomials make the
    # future-side coefficients independent). Cut 3: the bound counts {0,2}, {1}, {0}, empty but only the two
    # futures x_3 = 0, 1 carry information: the trivial column bound 3 is not attained (rank 2).
    two = SparsePolynomialBits(5, [[0, 2], [1, 3], [0]], np.vstack([np.zeros((4, 3)), [1.5, -0.9, 0.8]]),
                               bias=np.array([0, 0, 0, 0, 0.4]))
    assert [exhaustive_rank(two, t) for t in range(5)] == [1, 2, 3, 2, 1]
    assert [two.rank_bound(t) for t in range(5)] == [1, 2, 3, 3, 1]
    assert [exhaustive_rank(two.to_isan(), t) for t in range(5)] == [1, 2, 3, 2, 1]


def test_copying_to_isan_is_exact() -> None:
    m = Copying(3, 2, 1.3)
    isan = m.to_isan()
    assert isan.dim == 2 * 3 + 1
    P = [p for t in range(4) for p in all_sequences(3, t)]
    np.testing.assert_allclose(isan.logits(P), m.logits(P), **tol())


def test_hmm_is_not_exactly_low_rank_but_within_trivial_bound() -> None:
    m = HMM.random(3, 2, 5, rng=0)
    ranks = [exhaustive_rank(m, t) for t in range(5)]
    assert all(r <= m.rank_bound(t) for t, r in enumerate(ranks))
    assert max(ranks) > m.n_states  # logs of mixtures: rank well above the number of states


@pytest.mark.slow
def test_planted_rank_is_dim() -> None:
    m = PlantedSpectrum.random(4, 8, 7, 0.5, rng=0)
    for t in range(7):
        assert exhaustive_rank(m, t) <= m.rank_bound(t) <= 8
    assert exhaustive_rank(m, 3) == 8


# ---------------------------------------------------------------------------------------------
# families, save/load, sampling


def test_families_registry_and_errors() -> None:
    assert set(FAMILIES) == {"isan", "isan-invariant", "noisy-parity", "sparse-poly", "ngram", "hmm", "copy",
                             "planted", "perturbed"}
    with pytest.raises(ValueError, match=r"name: unknown model family 'nope'; valid: isan, isan-invariant"):
        build_model("nope")
    with pytest.raises(ValueError, match="vocab_size: family 'noisy-parity' is binary"):
        build_model("noisy-parity", vocab_size=16)
    with pytest.raises(ValueError, match=r"kw: family 'hmm' takes keywords \['concentration'\]"):
        build_model("hmm", alpha=0.3)
    with pytest.raises(ValueError, match="horizon: the copy family needs an even horizon"):
        build_model("copy", horizon=7)
    m = build_model("ngram", vocab_size=3, dim=9, horizon=5, rng=0)
    assert isinstance(m, NGram) and m.order == 3
    assert build_model("planted", vocab_size=4, dim=6, horizon=5, rng=0, alpha=0.8).alpha == 0.8


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_save_load_round_trip_and_seeded_sampling(name: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    V = 2 if FAMILIES[name].binary else 3
    m = build_model(name, vocab_size=V, dim=3, horizon=6, rng=5)
    again = build_model(name, vocab_size=V, dim=3, horizon=6, rng=5)
    P = [p for t in range(6) for p in all_sequences(V, t)][:200]
    np.testing.assert_array_equal(m.logits(P), again.logits(P))  # construction reproducible from seed
    loaded = load_model(m.save(tmp_path / name))
    assert type(loaded) is type(m) and repr(loaded) == repr(m)
    np.testing.assert_array_equal(loaded.logits(P), m.logits(P))
    a, b, c = m.sample(20, rng=7), m.sample(20, rng=7), m.sample(20, rng=8)
    assert a.shape == (20, 6) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert all(m.rank_bound(t) >= 0 for t in range(6))


def test_samples_follow_the_model() -> None:
    par = NoisyParity(6, [1, 4], 0.1)
    x = par.sample(3000, rng=0)
    flips = np.mean(x[:, 6] != (x[:, 1] + x[:, 4]) % 2)
    assert abs(flips - 0.1) < 4 * np.sqrt(0.1 * 0.9 / 3000)  # binomial, 4 standard deviations
    cp = Copying(5, 3, sharpness=30.0)  # Pr[miscopy] = 4 / (e^30 + 4) ~ 4e-13
    y = cp.sample(200, rng=1)
    np.testing.assert_array_equal(y[:, 3:], y[:, :3])


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("noise", [0.0, 0.51, -0.1, 1.0])
def test_noisy_parity_bad_noise(noise: float) -> None:
    with pytest.raises(ValueError, match=r"noise: must lie in \(0, 1/2\]"):
        NoisyParity(4, [0], noise)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"subset: positions must lie in \[0, n_bits=4\), got \[4\]"):
        NoisyParity(4, [0, 4], 0.1)
    with pytest.raises(ValueError, match="subset: positions must be distinct"):
        NoisyParity(4, [1, 1], 0.1)
    with pytest.raises(ValueError, match=r"coefficients\[1, 0\]: must be 0 because monomial 0"):
        SparsePolynomialBits(3, [[1]], np.array([[0.0], [1.0], [0.5]]))
    with pytest.raises(ValueError, match=r"monomials\[0\]: positions must lie in \[0, n_bits=3\), got \[3\]"):
        SparsePolynomialBits(3, [[3]], np.zeros((3, 1)))
    with pytest.raises(ValueError, match=r"coefficients: must have shape \(n_bits=3, m=1\)"):
        SparsePolynomialBits(3, [[0]], np.zeros((3, 2)))
    good = NGram.random(3, 2, 4, rng=0).tables
    with pytest.raises(ValueError, match=r"tables\[1\]: each row \(last axis\) must sum to 1"):
        NGram([good[0], good[1] * 1.1], 4)
    with pytest.raises(ValueError, match=r"tables\[0\]: entries must be > 0"):
        NGram([np.array([1.0, 0.0, 0.0]), good[1]], 4)
    with pytest.raises(ValueError, match=r"tables\[1\]: must have shape \(3, 3\)"):
        NGram([good[0], good[1][:2]], 4)
    with pytest.raises(ValueError, match="concentration: must be a finite number > 0"):
        NGram.random(3, 2, 4, concentration=0.0, rng=0)
    h = HMM.random(3, 2, 4, rng=0)
    with pytest.raises(ValueError, match=r"transition: each row \(last axis\) must sum to 1"):
        HMM(h.initial, h.transition * 0.5, h.emission, 4)
    with pytest.raises(ValueError, match=r"initial: entries must be >= 0"):
        HMM(np.array([1.5, -0.5]), h.transition, h.emission, 4)
    with pytest.raises(ValueError, match=r"emission: must have shape \(S=2, V\)"):
        HMM(h.initial, h.transition, np.full((3, 3), 1 / 3), 4)
    with pytest.raises(ValueError, match="sharpness: must be finite"):
        Copying(3, 2, np.inf)
    with pytest.raises(ValueError, match="n: must be >= 1, got 0"):
        Copying(3, 0)
    p = PlantedSpectrum.random(3, 4, 4, rng=0)
    with pytest.raises(ValueError, match="signs: entries must be"):
        PlantedSpectrum(p.signs * 0.5, p.B, 0.5)
    with pytest.raises(ValueError, match="alpha: must be a finite number >= 0, got -0.1"):
        PlantedSpectrum(p.signs, p.B, -0.1)
    with pytest.raises(ValueError, match="C: must be a finite number > 0"):
        PlantedSpectrum(p.signs, p.B, 0.5, C=0.0)
    with pytest.raises(ValueError, match=r"t: must satisfy 0 <= t <= horizon - 1 = 3, got 4"):
        p.rank_bound(4)
    with pytest.raises(ValueError, match=r"prefixes\[0\]"):
        NoisyParity(3, [0], 0.1).logits([[0, 2]])  # token 2 outside the binary alphabet
