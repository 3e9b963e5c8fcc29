"""Extended logit matrices: brute force vs fast path, exact rank of ISANs, top-k rules, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import Generic, tol
from scipy.special import log_softmax as sp_log_softmax

from logitrank import (
    LogitMatrix,
    QueryCounter,
    all_futures,
    all_sequences,
    center_logits,
    extended_logit_matrix,
    logits_along,
    sample_sequences,
    sequence_log_prob,
)
from simulators import TimeInvariantISAN, TimeVaryingISAN


def brute_isan_logits(m: TimeVaryingISAN, prefix) -> np.ndarray:
    x = m.x0.copy()
    for t, z in enumerate(prefix):
        x = m.A[t, z] @ x
    raw = m.B[len(prefix)] @ x
    return sp_log_softmax(raw) - sp_log_softmax(raw).mean()


def test_isan_logits_match_direct_formula():
    m = TimeVaryingISAN.random(3, 2, 4, rng=0)
    prefixes = all_futures(3, 3)
    got = m.logits(prefixes)
    want = np.stack([brute_isan_logits(m, p) for p in prefixes])
    np.testing.assert_allclose(got, want, **tol())


@pytest.mark.parametrize("top_k,rule", [(None, "mean"), (2, "mean"), (3, "random")])
def test_fast_path_equals_generic(top_k, rule):
    m = TimeVaryingISAN.random(4, 3, 6, rng=1)
    H = all_sequences(4, 2)
    F = all_futures(4, 2)
    fast = extended_logit_matrix(m, H, F, top_k=top_k, token_rule=rule, rng=5)
    slow = extended_logit_matrix(Generic(m), H, F, top_k=top_k, token_rule=rule, rng=5)
    np.testing.assert_array_equal(fast.tokens, slow.tokens)
    np.testing.assert_allclose(fast.values, slow.values, **tol())


@pytest.mark.parametrize("V,d,T", [(2, 3, 6), (3, 2, 5), (4, 3, 4)])
def test_isan_extended_matrix_rank_is_exactly_d(V, d, T):
    m = TimeVaryingISAN.random(V, d, T, rng=V * 10 + d)
    for t in range(T):
        F = all_futures(V, T - 1 - t)
        L = extended_logit_matrix(m, all_sequences(V, t), F).values
        s = np.linalg.svd(L, compute_uv=False)
        rank = int((s > s[0] * 1e-9).sum())
        assert rank <= d
        # generic parameters reach d unless the rows (V^t) or the centered columns ((V-1)|F|) are fewer
        assert rank == min(d, V**t, (V - 1) * len(F))


def test_top_k_mean_rule_picks_highest_mean_log_prob_ties_to_lower_id():
    class Fixed:
        vocab_size, horizon = 5, 3

        def logits(self, prefixes):
            raw = np.array([[0.0, 2.0, 2.0, -1.0, 1.0]] * len(prefixes))
            return center_logits(raw)

    L = extended_logit_matrix(Fixed(), [(), (0,)], [(), (1,)], top_k=2)
    assert L.tokens.tolist() == [[1, 2], [1, 2]]
    L3 = extended_logit_matrix(Fixed(), [()], [()], top_k=3)
    assert L3.tokens.tolist() == [[1, 2, 4]]
    # entries remain centered over the full vocabulary
    np.testing.assert_allclose(L3.values[0], center_logits(np.array([0.0, 2, 2, -1, 1]))[[1, 2, 4]])


def test_random_rule_is_seeded_and_per_future():
    m = TimeVaryingISAN.random(8, 3, 4, rng=2)
    a = extended_logit_matrix(m, [(0,), (1,)], [(), (2,), (3, 4)], top_k=3, token_rule="random", rng=7)
    b = extended_logit_matrix(m, [(0,), (1,)], [(), (2,), (3, 4)], top_k=3, token_rule="random", rng=7)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert a.tokens.shape == (3, 3) and len({tuple(r) for r in a.tokens}) > 1


def test_save_load_round_trips_exactly(tmp_path):
    m = TimeVaryingISAN.random(4, 2, 5, rng=3)
    L = extended_logit_matrix(m, [(), (1,), (2, 3)], [(), (0,)], top_k=2)
    back = LogitMatrix.load(L.save(tmp_path / "m.npz"))
    np.testing.assert_array_equal(back.values, L.values)
    np.testing.assert_array_equal(back.tokens, L.tokens)
    assert back.histories == L.histories and back.futures == L.futures and back.metadata == L.metadata
    m2 = TimeVaryingISAN.load(m.save(tmp_path / "isan"))
    np.testing.assert_array_equal(m2.A, m.A)


def test_time_invariant_isan_equals_its_time_varying_form():
    m = TimeInvariantISAN.random(3, 2, 5, rng=4)
    tv = m.to_time_varying()
    P = all_futures(3, 4)
    np.testing.assert_allclose(m.logits(P), tv.logits(P), **tol())


def test_sampling_and_log_prob_are_consistent():
    m = TimeVaryingISAN.random(2, 2, 3, rng=5)
    seqs = np.array(all_sequences(2, 3))
    total = np.exp(sequence_log_prob(m, seqs)).sum()
    assert total == pytest.approx(1.0, abs=1e-12)
    draws = sample_sequences(m, 4000, rng=0)
    codes = draws @ np.array([4, 2, 1])
    freq = np.bincount(codes, minlength=8) / 4000
    np.testing.assert_allclose(freq, np.exp(sequence_log_prob(m, seqs)), atol=0.03)  # ~4 sigma at n=4000
    np.testing.assert_array_equal(draws, sample_sequences(m, 4000, rng=0))


def test_logits_along_fast_equals_generic():
    m = TimeVaryingISAN.random(3, 2, 5, rng=6)
    seqs = m.sample(7, rng=1)
    np.testing.assert_allclose(logits_along(m, seqs), logits_along(Generic(m), seqs), **tol())


def test_query_counter_counts_logit_vectors():
    m = QueryCounter(TimeVaryingISAN.random(3, 2, 5, rng=6))
    extended_logit_matrix(m, [(), (1,)], [(), (0,), (1, 2)])
    assert m.queries == 6
    m.logits([(0,), (1,), (2,)])
    assert m.queries == 9


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"histories": [(5,)]}, r"histories\[0\].*\[0, 4\).*5"),
        ({"histories": [(0, 1, 2, 3, 0)]}, r"histories\[0\]: length must be <= 4"),
        ({"histories": [(0, 1, 2)], "futures": [(0, 1)]}, r"len\(h\) \+ len\(f\) must be <= horizon - 1 = 4"),
        ({"histories": []}, r"histories: must contain at least one"),
        ({"futures": []}, r"futures: must contain at least one"),
        ({"top_k": 5}, r"top_k: must be <= 4, got 5"),
        ({"top_k": 0}, r"top_k: must be >= 1, got 0"),
        ({"token_rule": "best"}, r"token_rule: must be one of"),
        ({"histories": [(0.5,)]}, r"token ids must be integers"),
    ],
)
def test_bad_input_names_parameter_and_value(kwargs, match):
    m = TimeVaryingISAN.random(4, 2, 5, rng=0)
    args = {"histories": [(0,)], "futures": [()]}
    args.update(kwargs)
    H, F = args.pop("histories"), args.pop("futures")
    with pytest.raises(ValueError, match=match):
        extended_logit_matrix(m, H, F, **args)


def test_non_finite_logits_are_reported():
    class Broken:
        vocab_size, horizon = 3, 4

        def logits(self, prefixes):
            out = np.zeros((len(prefixes), 3))
            out[0, 1] = np.nan
            return out

    with pytest.raises(ValueError, match=r"model.logits: must be finite.*1 non-finite"):
        extended_logit_matrix(Broken(), [()], [()])
    with pytest.raises(ValueError, match=r"model.logits: must return shape"):
        extended_logit_matrix(type("Wrong", (), {"vocab_size": 3, "horizon": 4,
                                                 "logits": lambda self, p: np.zeros((1, 2))})(), [()], [()])
