"""The equivalence theorem both ways, by exhaustive enumeration: ISAN => rank <= d; the constructive <=."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import theory
from logitrank import all_futures, all_sequences, log_softmax
from simulators import HMM, NGram, TimeVaryingISAN

# hypotheses of the checks: V**T small enough to enumerate (the claims' bounds: V <= 4, T <= 6, d <= 4)
vocab, horizon, dim, seed = st.integers(2, 4), st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**31 - 1)


class LogitsOnly:
    """A model exposing nothing but ``logits`` (no fast paths): the construction must need no more."""

    def __init__(self, model):
        self.model, self.vocab_size, self.horizon = model, model.vocab_size, model.horizon

    def logits(self, prefixes):
        return self.model.logits(prefixes)


@settings(max_examples=15)
@given(vocab, horizon, dim, seed)
def test_a_time_varying_isan_of_dimension_d_has_cut_rank_at_most_d(V, T, d, s):
    m = TimeVaryingISAN.random(V, d, T, rng=s)
    ranks = theory.cut_ranks(m)
    assert max(ranks) <= d
    # generic ISANs attain min(d, #histories, #independent columns), a second closed form of the ranks
    for t, r in enumerate(ranks):
        n_cols = (V - 1) * len(all_futures(V, T - 1 - t))
        assert r == min(d, V**t, n_cols)


@settings(max_examples=15)
@given(vocab, horizon, dim, seed)
def test_isan_rebuilt_from_logits_reproduces_every_distribution_with_dims_equal_to_the_ranks(V, T, d, s):
    m = TimeVaryingISAN.random(V, d, T, rng=s)
    rebuilt = theory.isan_from_logits(m)
    assert rebuilt.max_error <= theory.REPRODUCTION_TOL
    measured = theory.cut_ranks(m)
    assert rebuilt.ranks == measured  # dimension per step = measured rank per step
    assert theory.cut_ranks(rebuilt.isan) == measured  # the rebuilt model has the same ranks
    assert rebuilt.dim == max(1, max(measured)) and not rebuilt.truncated
    # next-token distributions agree (not only logits): compare probabilities on every prefix
    for t in range(T):
        H = all_sequences(V, t)
        p, q = (np.exp(log_softmax(x)) for x in (m.logits(H), rebuilt.isan.logits(H)))
        np.testing.assert_allclose(p, q, rtol=0, atol=1e-9)


def test_padding_leaves_unused_coordinates_zero_and_records_per_step_dims():
    m = TimeVaryingISAN.random(3, 4, 5, rng=7)
    rebuilt = theory.isan_from_logits(m)
    assert rebuilt.ranks == [1, 3, 4, 4, 2]  # min(d, 3^t, 2 * |futures|)
    r = rebuilt.ranks
    for t in range(5):
        assert np.all(rebuilt.isan.B[t][:, r[t]:] == 0)
    for t in range(4):
        assert np.all(rebuilt.isan.A[t][:, r[t + 1]:, :] == 0) and np.all(rebuilt.isan.A[t][:, :, r[t]:] == 0)


def test_construction_needs_only_logits_and_counts_its_queries():
    m = TimeVaryingISAN.random(2, 2, 4, rng=3)
    fast, slow = theory.isan_from_logits(m), theory.isan_from_logits(LogitsOnly(m))
    assert fast.ranks == slow.ranks and slow.max_error <= theory.REPRODUCTION_TOL
    want = sum(2**t * len(all_futures(2, 3 - t)) for t in range(4))  # |Sigma^t| * |Sigma^{<=T-1-t}| per cut
    assert slow.queries == fast.queries == want


def test_on_models_that_are_not_low_rank_it_reports_the_true_larger_ranks():
    ngram = NGram.random(3, 3, 5, rng=0)  # order 3: rank 5 at the middle cuts (bound V^2 = 9)
    rebuilt = theory.isan_from_logits(ngram)
    assert rebuilt.ranks == theory.cut_ranks(ngram) == [1, 3, 5, 5, 2]
    assert rebuilt.ranks == [ngram.rank_bound(t) for t in range(5)]  # the model's own (tight) cut bound
    assert rebuilt.max_error <= theory.REPRODUCTION_TOL
    hmm = HMM.random(2, 2, 7, rng=1)  # not low rank: ranks grow with the horizon
    rebuilt = theory.isan_from_logits(hmm)
    assert max(rebuilt.ranks) > 2 and rebuilt.ranks == theory.cut_ranks(hmm)
    # the HMM's spectrum decays over ~13 orders; rounding the smallest kept singular direction costs ~1e-10
    assert rebuilt.max_error <= 10 * theory.REPRODUCTION_TOL


def test_too_small_a_dimension_cannot_reproduce_a_higher_rank_model():
    m = NGram.random(3, 3, 5, rng=2)
    rebuilt = theory.isan_from_logits(m, max_dim=2)
    assert rebuilt.truncated and max(rebuilt.ranks) == 2
    assert rebuilt.max_error > 1e-3


@settings(max_examples=5)
@given(vocab, horizon, dim, seed)
def test_equivalence_claims_hold_within_their_bounds(V, T, d, s):
    for cid in ("equivalence.forward", "equivalence.backward"):
        ev = theory.get_claim(cid).check(s, instances=2, max_vocab=V, max_horizon=T, max_dim=d)
        assert ev.holds, ev.counterexample


def test_negative_controls_of_the_equivalence_fail():
    for cid in ("equivalence.forward", "equivalence.backward"):
        ev = theory.get_claim(cid).negative_control(0)
        assert not ev.holds and ev.worst_margin < 0, cid


def test_rebuild_report_for_the_acceptance_grid():
    rows = theory.rebuild_random_isans(6, rng=0)
    assert all(r["max_error"] <= 1e-9 and r["dims_per_step"] == r["measured_ranks"] for r in rows)
    assert all(r["V"] <= 4 and r["T"] <= 6 and r["d"] <= 4 for r in rows)
