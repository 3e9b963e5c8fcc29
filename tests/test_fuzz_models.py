"""Fuzz suite for the synthetic models, the evaluation and the theory entry points (issue 16).

Each test either compares with an independent reference or asserts an error naming the parameter, the
rule and the value. Groups refer to issue 16's findings; hypothesis runs under conftest's ``ci`` profile.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tol
from hypothesis import given
from hypothesis import strategies as st

from simulators import (
    NGram,
    NoisyParity,
    PlantedSpectrum,
    SparsePolynomialBits,
    TimeInvariantISAN,
    TimeVaryingISAN,
    build_model,
)
from simulators.learners.evaluation import evaluate
from theory.equivalence import isan_from_logits
from theory.registry import get_claim, run_claims

FAMILIES = ("isan", "isan-invariant", "noisy-parity", "sparse-poly", "ngram", "hmm", "copy", "planted")


def _family(name: str):
    V = 2 if name in ("noisy-parity", "sparse-poly") else 3
    return build_model(name, vocab_size=V, dim=3, horizon=6, rng=0)


# --- group 2 / 13: evaluate ---------------------------------------------------------------------------
@given(batch=st.integers(-5, 0))
def test_evaluate_batch_size_must_be_positive(batch):
    m = TimeVaryingISAN.random(3, 2, 4, rng=0)
    with pytest.raises(ValueError, match=rf"batch_size: must be >= 1, got {batch}"):
        evaluate(m, m, n_sequences=10, rng=0, batch_size=batch)


@given(batch=st.integers(1, 12))
def test_evaluate_is_the_same_for_every_batch_size(batch):
    target = TimeVaryingISAN.random(3, 2, 4, rng=0)
    learned = TimeVaryingISAN.random(3, 2, 4, rng=1)
    ref = evaluate(target, learned, n_sequences=11, rng=5)
    got = evaluate(target, learned, n_sequences=11, rng=5, batch_size=batch)
    np.testing.assert_allclose([got.kl, got.tv, got.perplexity], [ref.kl, ref.tv, ref.perplexity], **tol())


def test_evaluate_needs_two_sequences_for_a_standard_error():
    m = TimeVaryingISAN.random(3, 2, 4, rng=0)
    with pytest.raises(ValueError, match=r"n_sequences: must be >= 2, got 1"):
        evaluate(m, m, n_sequences=1, rng=0)
    assert np.isfinite(evaluate(m, m, n_sequences=2, rng=0).kl_se)


# --- group 4: integer model parameters are not truncated ------------------------------------------------
non_integers = st.one_of(st.floats(0.01, 2.99).filter(lambda x: x != int(x)), st.booleans())


@given(bad=non_integers)
def test_position_parameters_must_be_integers(bad):
    with pytest.raises(ValueError, match=r"subset: positions must be integers, got"):
        NoisyParity(4, [bad, 3], 0.1)
    with pytest.raises(ValueError, match=r"monomials\[0\]: positions must be integers, got"):
        SparsePolynomialBits(3, [[bad]], np.zeros((3, 1)))


@given(subset=st.lists(st.integers(0, 5), unique=True, max_size=6),
       kind=st.sampled_from(["list", "int32", "uint8"]))
def test_integer_positions_of_any_type_are_accepted(subset, kind):
    given_subset = subset if kind == "list" else np.array(subset, dtype=kind)
    assert NoisyParity(6, given_subset, 0.1).subset == tuple(sorted(subset))


@given(bad=st.one_of(non_integers, st.text(max_size=2), st.none()))
def test_isan_from_logits_horizon_must_be_an_integer(bad):
    m = TimeVaryingISAN.random(2, 2, 3, rng=0)
    if bad is None:
        assert isan_from_logits(m, horizon=bad).isan.horizon == 3  # None is the default: model.horizon
        return
    with pytest.raises(TypeError, match=r"horizon: must be an integer, got"):
        isan_from_logits(m, horizon=bad)


@pytest.mark.parametrize("horizon, rule", [(0, r"horizon: must be >= 1, got 0"),
                                           (4, r"horizon: must be <= 3, got 4")])
def test_isan_from_logits_horizon_range(horizon, rule):
    with pytest.raises(ValueError, match=rule):
        isan_from_logits(TimeVaryingISAN.random(2, 2, 3, rng=0), horizon=horizon)


@given(bad=st.one_of(st.floats(2.01, 9.9).filter(lambda x: x != int(x)), st.booleans(), st.text(max_size=2)))
def test_claim_integer_parameters(bad):
    with pytest.raises(TypeError, match=r"max_vocab: must be an integer, got"):
        get_claim("centering").check(0, max_vocab=bad, instances=1)


def test_claim_accepts_numpy_integers_as_python_ints():
    a = get_claim("centering").check(0, max_vocab=np.int64(5), instances=3)
    b = get_claim("centering").check(0, max_vocab=5, instances=3)
    assert a.worst_margin == b.worst_margin


# --- group 7: parameters and own logits finite -----------------------------------------------------------
@given(which=st.sampled_from(["x0", "A", "b", "B", "c"]), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_time_invariant_isan_rejects_non_finite_parameters(which, bad):
    m = TimeInvariantISAN.random(3, 2, 4, rng=0)
    arrays = {k: getattr(m, k).copy() for k in ("x0", "A", "b", "B", "c")}
    arrays[which].flat[0] = bad
    with pytest.raises(ValueError, match=rf"{which}: must be finite, got 1 non-finite entries"):
        TimeInvariantISAN(**arrays, horizon=4)


def test_time_invariant_isan_x0_must_be_1d():
    m = TimeInvariantISAN.random(3, 2, 4, rng=0)
    with pytest.raises(ValueError, match=r"x0: must be 1-D \(d,\), got shape \(2, 2\)"):
        TimeInvariantISAN(np.zeros((2, 2)), m.A, m.b, m.B, m.c, 4)


@given(exponent=st.integers(60, 300))
def test_models_check_their_own_logits_are_finite(exponent):
    m = TimeVaryingISAN.random(3, 2, 5, rng=0)
    big = TimeVaryingISAN(m.x0, m.A * 10.0**exponent, m.B * 10.0**exponent)
    x = ((0, 1, 2, 0),)
    try:
        out = big.logits(x)
    except ValueError as exc:
        assert "TimeVaryingISAN.logits (its parameters overflow float64 here): must be finite" in str(exc)
    else:  # no overflow: l = B_4 A_4..A_1 x0 picks up the factor five times (4 transitions, 1 readout)
        np.testing.assert_allclose(out, m.logits(x) * 10.0 ** (5 * exponent), rtol=1e-9)


# --- group 13: edge numerics --------------------------------------------------------------------------
@given(noise=st.floats(5e-324, 1e-300))
def test_noisy_parity_tiny_noise_has_finite_logits(noise):
    m = NoisyParity(2, [0], noise)
    expected = 0.5 * (np.log1p(-noise) - np.log(noise))
    np.testing.assert_allclose(m.logits([(1, 0)]), [[-expected, expected]], **tol())


@given(C=st.floats(1.01e150, 1.7e308))
def test_planted_spectrum_huge_prefactor_is_refused(C):
    with pytest.raises(ValueError, match=r"C: must be <= C_MAX = 1e\+150"):
        PlantedSpectrum.random(2, 2, 3, rng=0, C=C)


@given(C=st.floats(1e-100, 1e150))
def test_planted_spectrum_allowed_prefactor_scales_the_logits(C):
    one = PlantedSpectrum.random(2, 2, 3, rng=0, C=1.0)
    big = PlantedSpectrum.random(2, 2, 3, rng=0, C=C)
    np.testing.assert_allclose(big.logits([(0, 1)]), C * one.logits([(0, 1)]), rtol=1e-12)


@pytest.mark.parametrize("name", FAMILIES)
@given(t=st.one_of(st.integers(-50, -1), st.integers(6, 60)))
def test_rank_bound_outside_the_cuts_is_refused(name, t):
    with pytest.raises(ValueError, match=rf"t: must satisfy 0 <= t <= horizon - 1 = 5, got {t}"):
        _family(name).rank_bound(t)


# --- group 18 / 19: size guards before big allocations -------------------------------------------------
SV, VDT, VD, VK = (r"\(n_states, vocab_size\)", r"\(vocab_size, dim, horizon\)", r"\(vocab_size, dim\)",
                   r"\(vocab_size, order\)")


@pytest.mark.timeout(30)  # a hang / out-of-memory detector, not a speed target
@pytest.mark.parametrize("call, name, value", [
    (lambda: build_model("hmm", dim=10**6), SV, r"\(1000000, 16\)"),
    (lambda: build_model("hmm", vocab_size=3, dim=10**5), SV, r"\(100000, 3\)"),
    (lambda: TimeVaryingISAN.random(4, 10**5, 6, rng=0), VDT, r"\(4, 100000, 6\)"),
    (lambda: TimeVaryingISAN.random(10**30, 2, 6, rng=0), VDT, r"\(10{30}, 2, 6\)"),
    (lambda: TimeInvariantISAN.random(4, 10**5, 6, rng=0), VD, r"\(4, 100000\)"),
    (lambda: PlantedSpectrum.random(4, 2, 10**30, rng=0), VDT, r"\(4, 2, 10{30}\)"),
    (lambda: NGram.random(2, 40, 50, rng=0), VK, r"\(2, 40\)"),
    (lambda: NGram.random(2, 10**30, 50, rng=0), VK, r"\(2, 10{30}\)"),
    (lambda: build_model("ngram", vocab_size=64, horizon=12, order=9), VK, r"\(64, 9\)"),
])
def test_size_guards_state_the_size(call, name, value):
    rule = rf"^{name}: .* must fit in 8 GiB .*got {name} = {value} needing .* = [0-9.e+]+ [GTPE]iB"
    with pytest.raises(ValueError, match=rule):
        call()


# --- group 20: messages name the right parameter ---------------------------------------------------------
def test_build_model_names_horizon_and_logit_scale():
    with pytest.raises(ValueError, match=r"^horizon: must be >= 2, got 1"):
        build_model("sparse-poly", horizon=1)
    for family in ("isan", "isan-invariant"):
        with pytest.raises(ValueError, match=r"^logit_scale: must be a finite number, got nan"):
            build_model(family, logit_scale=float("nan"))
        with pytest.raises(TypeError, match=r"^logit_scale: must be a real number, got '2'"):
            build_model(family, logit_scale="2")


@given(bad=st.one_of(st.text(min_size=1, max_size=3), st.none()))
def test_model_numbers_given_as_strings_or_none(bad):
    for call, name in ((lambda: NoisyParity(3, [0], bad), "noise"),
                       (lambda: build_model("hmm", concentration=bad), "concentration"),
                       (lambda: build_model("copy", horizon=4, sharpness=bad), "sharpness"),
                       (lambda: build_model("planted", alpha=bad), "alpha")):
        with pytest.raises(TypeError, match=rf"^{name}: must be a real number, got"):
            call()


def test_run_claims_takes_one_id_as_one_claim():
    [result] = run_claims("centering", instances=2, controls=False)
    assert result.claim.id == "centering" and result.evidence.holds
