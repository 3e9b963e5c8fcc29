"""Fuzz suite for the core (issue 16): every public entry point either answers what an independent
reference answers, or refuses with an error naming the parameter, the rule and the value.

Groups refer to issue 16's findings. Hypothesis runs under the fixed ``ci`` profile of conftest.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import tol
from hypothesis import given
from hypothesis import strategies as st
from scipy.linalg import subspace_angles, svdvals

from logitrank import (
    accumulate_gram,
    approx_rank,
    block_softmax_kl,
    estimate_hidden_dim,
    extended_logit_matrix,
    extended_logits,
    fit_power_law,
    lingen_coefficients,
    lingen_fit,
    lingen_generate,
    log_softmax,
    logits_along,
    model_logits,
    numerical_rank,
    principal_angles,
    random_futures,
    random_histories,
    sample_sequences,
    sequence_log_prob,
    singular_values,
    streamed_singular_values,
)
from logitrank.index_sets import spread_lengths
from logitrank.validation import check_prefixes
from simulators import TimeVaryingISAN

V, D, T = 4, 3, 6


@pytest.fixture(scope="module")
def setup():
    m = TimeVaryingISAN.random(V, D, T, rng=0)
    return m, random_histories(V, 12, 2, rng=1), random_futures(V, 10, 2, rng=2)


class Uncentered:
    """A user model returning log-probabilities plus an arbitrary per-prefix constant (not centered)."""

    def __init__(self, base, offset: float):
        self.base, self.offset = base, offset
        self.vocab_size, self.horizon = base.vocab_size, base.horizon

    def logits(self, prefixes):
        lp = log_softmax(self.base.logits(prefixes))
        shift = self.offset * (1.0 + np.array([sum(p) for p in prefixes], dtype=np.float64))
        return lp + shift[:, None]


class Plain:
    """The reference model seen only through ``logits`` (no fast paths)."""

    def __init__(self, base):
        self.base, self.vocab_size, self.horizon = base, base.vocab_size, base.horizon

    def logits(self, prefixes):
        return self.base.logits(prefixes)


# --- group 1: uncentered user models are centered by the core ---------------------------------------
@pytest.mark.slow
@given(offset=st.floats(-1e3, 1e3, allow_nan=False))
def test_uncentered_model_equals_reference_model(setup, offset):
    m, H, F = setup
    user = Uncentered(m, offset)
    ref = extended_logit_matrix(m, H, F)
    got = extended_logit_matrix(user, H, F)
    np.testing.assert_allclose(got.values, ref.values, **tol(scale=1e3))  # |offset| <= 1e3 rounds at 1e-13
    assert numerical_rank(singular_values(got), rtol=1e-8) == D
    np.testing.assert_allclose(model_logits(user, H), model_logits(m, H), **tol(scale=1e3))
    seqs = m.sample(5, rng=3)
    np.testing.assert_allclose(logits_along(user, seqs), logits_along(m, seqs), **tol(scale=1e3))
    np.testing.assert_allclose(sequence_log_prob(user, seqs), m.log_prob(seqs), **tol(scale=1e3))


def test_centered_models_pass_through_bit_for_bit(setup):
    m, H, F = setup
    direct = m.logits([h + f for h in H for f in F])
    assert np.array_equal(extended_logit_matrix(Plain(m), H, F).values.reshape(-1), direct.reshape(-1))


# --- group 3 / 10 / 20: LINGEN checks what it is given -------------------------------------------------
def test_lingen_generate_refuses_histories_other_than_the_fit(setup):
    m, H, F = setup
    target = (1, 2)
    fit = lingen_fit(m, target, H, F)
    ok = lingen_generate(m, H, fit, 3, rng=0, target_history=target, n_samples=4)
    assert ok.mean_cumulative_kl < 1e-9
    with pytest.raises(ValueError, match=r"histories: must be the LingenFit's histories in the same order.*"
                                         r"histories\[0\] = \(1, 3\) where the fit has \(0, 0\)"):
        lingen_generate(m, H[::-1], fit, 3, rng=0, target_history=target)
    with pytest.raises(ValueError, match=r"histories: .*got 11 histories for a fit on 12"):
        lingen_generate(m, H[1:], fit, 3, rng=0)
    with pytest.raises(ValueError, match=r"target_history: must be the LingenFit's target \(1, 2\).*"
                                         r"got \(3, 3\)"):
        lingen_generate(m, H, fit, 3, rng=0, target_history=(3, 3))


@given(rows=st.integers(1, 5), cols=st.integers(1, 8), extra=st.integers(2, 3))
def test_lingen_coefficients_targets_are_rows_or_columns(rows, cols, extra):
    rng = np.random.default_rng(rows * 10 + cols)
    L, y = rng.standard_normal((rows, cols)), rng.standard_normal(cols)
    v, _ = lingen_coefficients(L, y)
    np.testing.assert_allclose(v, np.linalg.lstsq(L.T, y, rcond=None)[0], **tol())
    Y = rng.standard_normal((cols, extra))  # several targets: one column each
    np.testing.assert_allclose(lingen_coefficients(L, Y)[0], np.linalg.lstsq(L.T, Y, rcond=None)[0], **tol())
    with pytest.raises(ValueError, match=rf"y: must be a 1-D array .*got shape \({cols}, {extra}, 1\)"):
        lingen_coefficients(L, np.ones((cols, extra, 1)))
    with pytest.raises(ValueError, match=rf"y: must have one entry per column of L \({cols}\), got shape "
                                         rf"\({cols + 1}, {extra}\)"):
        lingen_coefficients(L, np.ones((cols + 1, extra)))
    with pytest.raises(TypeError, match=r"ridge: must be a real number, got '1'"):
        lingen_coefficients(L, y, ridge="1")


def test_lingen_fit_names_the_too_long_target(setup):
    m, H, F = setup
    with pytest.raises(ValueError, match=r"target_history: len\(target_history\) \+ len\(f\) must be <= "
                                         r"horizon - 1 = 5 .*got 5 \+ 2 = 7"):
        lingen_fit(m, (1, 2, 3, 0, 1), H, F)


# --- group 4 / 17 / 20: token ids are exact integers -----------------------------------------------------
non_integer_tokens = st.one_of(
    st.floats(0.01, 3.99).filter(lambda x: x != int(x)),
    st.booleans(),
    st.text(min_size=1, max_size=2),
)


@pytest.mark.slow
@given(bad=non_integer_tokens, pos=st.integers(0, 2))
def test_non_integer_tokens_are_refused(setup, bad, pos):
    m, H, _ = setup
    row: list = [0, 1, 2]
    row[pos] = bad
    with pytest.raises(ValueError, match=r"sequences: token ids must be integers, got"):
        m.log_prob([row])
    with pytest.raises(ValueError, match=r"prefixes\[1\]: token ids must be integers, got"):
        m.logits([(0,), tuple(row)])
    with pytest.raises(ValueError, match=r"histories\[0\]: token ids must be integers, got"):
        extended_logit_matrix(m, [tuple(row)], [()])
    with pytest.raises(ValueError, match=r"prefixes: token ids must be integers"):
        m.logits_of_array([row])


@given(seqs=st.lists(st.lists(st.integers(0, V - 1), min_size=3, max_size=3), min_size=1, max_size=4),
       kind=st.sampled_from(["list", "int32", "uint64", "np-scalars"]))
def test_integer_tokens_of_any_integer_type_agree_with_brute_force(setup, seqs, kind):
    m, _, _ = setup
    if kind == "list":
        given_seqs = seqs
    elif kind == "np-scalars":  # numpy promotes (np.uint64(2), 0) to float: must still be accepted
        given_seqs = [[np.uint64(t) if i == 0 else t for i, t in enumerate(s)] for s in seqs]
    else:
        given_seqs = np.array(seqs, dtype=kind)
    ref = np.array([sum(log_softmax(m.logits([tuple(s[:t])]))[0, s[t]] for t in range(len(s))) for s in seqs])
    np.testing.assert_allclose(m.log_prob(given_seqs), ref, **tol())
    assert check_prefixes("p", given_seqs, V, T - 1) == [tuple(s) for s in seqs]


def test_huge_and_out_of_range_token_ids(setup):
    m, _, _ = setup
    with pytest.raises(ValueError, match=r"sequences: token ids must fit in int64, got 1\d{21}"):
        m.log_prob([[2**70]])
    with pytest.raises(ValueError, match=r"sequences: token ids must lie in \[0, 4\), got range \[0, 4\]"):
        m.log_prob(np.array([[0, 4]]))
    with pytest.raises(ValueError, match=r"prefixes\[0\]: token ids must lie in \[0, 4\), got 1\d{21}"):
        m.logits([(2**70,)])


@pytest.mark.parametrize("bad, err, rule", [
    (None, TypeError, r"histories: must be a collection of token sequences, got None"),
    ("ab", TypeError, r"histories: must be a collection of token sequences, got 'ab'"),
    ([[0, [1]]], ValueError,
     r"histories\[0\]: each sequence must be a flat sequence of integer token ids, got \[0, \[1\]\]"),
    ([[[0, 1]]], ValueError, r"histories\[0\]: each sequence must be 1-D, got shape \(1, 2\)"),
    (5, TypeError, r"histories: must be a collection of token sequences, got 5"),
])
def test_histories_that_are_not_collections(setup, bad, err, rule):
    m, _, F = setup
    with pytest.raises(err, match=rule):
        extended_logit_matrix(m, bad, F)


def test_ragged_sequences_are_named(setup):
    m, _, _ = setup
    with pytest.raises(ValueError, match=r"sequences: must be a rectangular array of token ids \(rows of "
                                         r"equal length\), got \[\[0, 1\], \[0\]\]"):
        m.log_prob([[0, 1], [0]])
    with pytest.raises(ValueError, match=r"sequences: must be a 2-D array of token ids, got shape \(3,\)"):
        logits_along(m, [0, 1, 2])


# --- group 17: protocol violations -----------------------------------------------------------------------
class NoVocab:
    horizon = 3

    def logits(self, prefixes):
        return np.zeros((len(prefixes), 2))


class FloatVocab(NoVocab):
    vocab_size = 4.0


class NoneHorizon(NoVocab):
    vocab_size, horizon = 2, None


class ZeroVocab(NoVocab):
    vocab_size = 0


PROTOCOL_CASES = [
    (NoVocab, TypeError, r"model: must follow the SequenceModel protocol .*a NoVocab without 'vocab_size'"),
    (FloatVocab, TypeError, r"model.vocab_size: must be an integer, got 4.0 \(float\)"),
    (NoneHorizon, TypeError, r"model.horizon: must be an integer, got None \(NoneType\)"),
    (ZeroVocab, ValueError, r"model.vocab_size: must be >= 1, got 0"),
]
ENTRY_POINTS = {
    "model_logits": lambda m: model_logits(m, [()]),
    "logits_along": lambda m: logits_along(m, np.zeros((1, 1), dtype=np.int64)),
    "sample_sequences": lambda m: sample_sequences(m, 2, rng=0),
    "sequence_log_prob": lambda m: sequence_log_prob(m, [[0]]),
    "extended_logits": lambda m: extended_logits(m, [()], [()]),
    "extended_logit_matrix": lambda m: extended_logit_matrix(m, [()], [()], top_k=1),
    "streamed_singular_values": lambda m: streamed_singular_values(m, [()], [()]),
    "lingen_fit": lambda m: lingen_fit(m, (), [()], [()]),
    "lingen_generate": lambda m: lingen_generate(m, [()], np.ones(1), 1),
}


@pytest.mark.parametrize("cls, err, rule", PROTOCOL_CASES, ids=lambda c: getattr(c, "__name__", ""))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_protocol_violations_are_named_at_the_boundary(cls, err, rule, entry):
    with pytest.raises(err, match=rule):
        ENTRY_POINTS[entry](cls())


# --- group 8: the Gram path at any scale ------------------------------------------------------------------
@given(exponent=st.integers(-200, 200), shape=st.tuples(st.integers(1, 5), st.integers(1, 7)),
       seed=st.integers(0, 2**16), block=st.integers(1, 8))
def test_gram_path_equals_exact_svd_at_every_scale(exponent, shape, seed, block):
    A = np.random.default_rng(seed).standard_normal(shape) * 10.0**exponent
    exact = svdvals(A)
    gram = singular_values(A, method="gram", block_columns=block)
    # squaring the matrix: values are right to ~sqrt(eps) sigma_1 (module docstring of spectra)
    np.testing.assert_allclose(gram, exact, rtol=1e-6, atol=1e-7 * exact[0])


def test_gram_path_tiny_and_huge_diagonals():
    for scale in (1e-200, 1e-160, 1e160, 1e200):
        np.testing.assert_allclose(singular_values(scale * np.diag([3.0, 2, 1]), method="gram"),
                                   scale * np.array([3.0, 2, 1]), **tol())


@given(exponent=st.sampled_from([-200, -160, -40, 0, 40, 160, 200]), per=st.integers(1, 6))
def test_streamed_spectrum_at_every_scale(setup, exponent, per):
    m, H, F = setup
    scaled = TimeVaryingISAN(m.x0, m.A, m.B * 10.0**exponent)
    exact = singular_values(extended_logit_matrix(scaled, H, F))
    got = streamed_singular_values(scaled, H, F, futures_per_block=per)
    np.testing.assert_allclose(got, exact, rtol=1e-6, atol=1e-7 * exact[0])  # Gram round-off, as above


def test_accumulate_gram_overflow_names_the_block():
    with pytest.raises(ValueError, match=r"column_blocks\[1\]: entries must stay below ~1e154 .*got a "
                                         r"largest \|entry\| of 1e\+200"):
        accumulate_gram([np.ones((2, 2)), 1e200 * np.ones((2, 2))])


# --- group 9: principal angles past the numerical rank -------------------------------------------------
@given(r=st.integers(1, 3), extra=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_principal_angles_warn_past_numerical_rank(r, extra, seed):
    g = np.random.default_rng(seed)
    A = g.standard_normal((10, r)) @ g.standard_normal((r, 8))
    B = g.standard_normal((10, r)) @ g.standard_normal((r, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cos = principal_angles(A, B, r)  # within the rank: no warning, and the reference's cosines
    np.testing.assert_allclose(cos, np.sort(np.cos(subspace_angles(A, B)))[::-1], atol=1e-8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        principal_angles(A, B, r + extra)
    assert [str(w.message).split(" (")[0] for w in caught] == [
        f"rank: {r + extra} exceeds the numerical rank {r} of {name}" for name in "AB"]
    assert all(w.category is RuntimeWarning for w in caught)


# --- group 13: extreme logits in the block-softmax KL -----------------------------------------------------
@given(x=st.floats(1e300, 1.7e308))
def test_block_softmax_kl_extreme_logits(x):
    L = np.array([[x, -x]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(block_softmax_kl(L, L, 2), [[0.0]])
        np.testing.assert_allclose(block_softmax_kl(L, np.zeros((1, 2)), 2), [[np.log(2.0)]], **tol())


# --- group 14 / 20 / 4: power-law fits ------------------------------------------------------------------
@given(seed=st.integers(0, 2**20))
def test_pairs_bootstrap_degenerate_is_a_clear_error(seed):
    s = np.array([3.0, 2.0, 1.0])
    try:
        fit = fit_power_law(s, bootstrap="pairs", n_bootstrap=1, rng=seed)
    except ValueError as exc:
        assert "bootstrap: every one of the 1 'pairs' resamples was degenerate" in str(exc)
    else:
        assert np.isfinite(fit.alpha_ci).all()


def test_pairs_bootstrap_all_degenerate_seed():
    with pytest.raises(ValueError, match=r"bootstrap: every one of the 1 'pairs' resamples was degenerate"):
        fit_power_law(np.array([3.0, 2.0, 1.0]), bootstrap="pairs", n_bootstrap=1, rng=4)


SPECTRUM = np.arange(10.0, 0.0, -1.0)

bad_numbers = st.one_of(st.text(max_size=4), st.none(), st.booleans(), st.lists(st.integers(), max_size=2))


@given(bad=bad_numbers)
def test_strings_and_none_for_numbers_name_the_parameter(bad):
    cases = [
        ("rtol", lambda: numerical_rank(SPECTRUM, rtol=bad)),
        ("confidence", lambda: fit_power_law(SPECTRUM, confidence=bad, n_bootstrap=5)),
        ("eps", lambda: approx_rank(SPECTRUM, bad)),
        ("floor_rtol", lambda: estimate_hidden_dim(SPECTRUM, floor_rtol=bad)),
        ("n_bootstrap", lambda: fit_power_law(SPECTRUM, n_bootstrap=bad)),
    ]
    for name, call in cases:
        if bad is None and name == "floor_rtol":
            continue  # None is that parameter's default
        with pytest.raises((TypeError, ValueError), match=rf"^{name}: must be "):
            call()


@given(bad=st.one_of(st.floats(1.01, 8.9).filter(lambda x: x != int(x)), st.booleans(), st.text(max_size=2)))
def test_integer_parameters_are_not_truncated(bad):
    with pytest.raises(TypeError, match=r"max_dim: must be an integer, got"):
        estimate_hidden_dim(SPECTRUM, max_dim=bad)
    with pytest.raises(TypeError, match=r"index_range\[0\]: must be an integer, got"):
        fit_power_law(SPECTRUM, index_range=(bad, 5), n_bootstrap=5)


@pytest.mark.parametrize("bad", [(1, 2, 3), (1,), "12", 3, None])
def test_index_range_must_be_a_pair(bad):
    if bad is None:
        return  # the default range
    with pytest.raises(ValueError, match=r"index_range: must be a pair \(lo, hi\) of 1-based indices, got"):
        fit_power_law(SPECTRUM, index_range=bad, n_bootstrap=5)


def test_numbers_given_the_right_type_still_fit():
    a = fit_power_law(SPECTRUM, index_range=(2, 6), n_bootstrap=50, rng=0)
    b = fit_power_law(SPECTRUM, index_range=(np.int64(2), np.int32(6)), n_bootstrap=50, rng=0)
    assert a == b


# --- group 6: LogitMatrix.block --------------------------------------------------------------------------
@given(j=st.integers(-30, 30))
def test_block_is_range_checked_and_equals_the_tensor(setup, j):
    m, H, F = setup
    L = extended_logit_matrix(m, H, F)
    if 0 <= j < len(F):
        np.testing.assert_array_equal(L.block(j), extended_logits(m, H, F)[:, j, :])
    else:
        with pytest.raises(ValueError, match=rf"j: must be (>= 0|<= {len(F) - 1}), got {j}"):
            L.block(j)


# --- group 19: set generators are linear in max_length --------------------------------------------------
def _spread_reference(V, n, lo, hi):
    caps = {m: V**m for m in range(lo, hi + 1)}
    counts, remaining = {}, n
    for i, m in enumerate(sorted(caps, key=lambda m: caps[m])):
        share = -(-remaining // (len(caps) - i))
        counts[m] = min(caps[m], share)
        remaining -= counts[m]
    return {m: counts[m] for m in range(lo, hi + 1)}


@given(V=st.integers(1, 5), n=st.integers(1, 300), lo=st.integers(0, 3), span=st.integers(0, 12))
def test_spread_lengths_equals_the_uncapped_reference(V, n, lo, span):
    hi = lo + span
    if n > sum(V**m for m in range(lo, hi + 1)):
        with pytest.raises(ValueError, match=r"n: must be <= "):
            spread_lengths(V, n, lo, hi)
    else:
        assert spread_lengths(V, n, lo, hi) == _spread_reference(V, n, lo, hi)


@pytest.mark.timeout(60)  # a hang detector (quadratic before the fix: minutes), not a speed target
def test_random_futures_with_a_huge_max_length():
    F = random_futures(2, 10, 1_000_000, rng=0)
    assert sorted(len(f) for f in F) == list(range(10))


# --- group 20, swept: every numeric parameter of the core refuses junk by name ---------------------------
def _sweep_cases(m, H, F):
    L = extended_logit_matrix(m, H, F)
    s = singular_values(L)
    return {
        "rtol": lambda b: numerical_rank(s, rtol=b),
        "eps": lambda b: approx_rank(s, b),
        "confidence": lambda b: fit_power_law(s, confidence=b, n_bootstrap=5),
        "n_bootstrap": lambda b: fit_power_law(s, n_bootstrap=b),
        "max_dim": lambda b: estimate_hidden_dim(s, max_dim=b),
        "floor_rtol": lambda b: estimate_hidden_dim(s, floor_rtol=b),
        "rank": lambda b: singular_values(L, rank=b),
        "block_columns": lambda b: singular_values(L, block_columns=b),
        "batch_size": lambda b: extended_logits(m, H, F, batch_size=b),
        "top_k": lambda b: extended_logit_matrix(m, H, F, top_k=b),
        "futures_per_block": lambda b: streamed_singular_values(m, H, F, futures_per_block=b),
        "n": lambda b: sample_sequences(m, b, rng=0),
        "length": lambda b: sample_sequences(m, 2, b, rng=0),
        "temperature": lambda b: sample_sequences(m, 2, rng=0, temperature=b),
        "max_length": lambda b: random_futures(V, 3, b, rng=0),
        "ridge": lambda b: lingen_fit(m, (1, 2), H, F, ridge=b),
        "steps": lambda b: lingen_generate(m, H, np.ones(len(H)) / len(H), b, rng=0),
        "n_samples": lambda b: lingen_generate(m, H, np.ones(len(H)) / len(H), 1, rng=0, n_samples=b),
    }


junk = st.one_of(st.text(max_size=4), st.booleans(), st.lists(st.integers(0, 3), max_size=3),
                 st.sampled_from([float("nan"), float("inf"), -1, 10**30, -(10**30)]))
HUGE_IS_VALID = {"block_columns", "batch_size", "futures_per_block", "temperature", "ridge"}
SWEPT = ["rtol", "eps", "confidence", "n_bootstrap", "max_dim", "floor_rtol", "rank", "block_columns",
         "batch_size", "top_k", "futures_per_block", "n", "length", "temperature", "max_length", "ridge",
         "steps", "n_samples"]


@pytest.fixture(scope="module")
def sweep_cases(setup):
    return _sweep_cases(*setup)


@pytest.mark.parametrize("name", SWEPT)
@given(bad=junk)
def test_numeric_parameters_refuse_junk_by_name(sweep_cases, name, bad):
    try:
        sweep_cases[name](bad)
    except (TypeError, ValueError) as exc:
        assert str(exc).startswith(f"{name}: "), f"{name}={bad!r}: {type(exc).__name__}: {exc}"
    else:  # 10**30 columns per block, 10**30 as a temperature or ridge: large, but valid
        assert bad == 10**30 and name in HUGE_IS_VALID, f"{name}={bad!r} was accepted"
