"""Learners: access objects and budgets, the logit-query learner, sample-only baselines, evaluation."""

from __future__ import annotations

import itertools
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import tol

from logitrank import QueryCounter, log_softmax, sequence_log_prob
from simulators import TimeVaryingISAN
from simulators.learners import (
    BudgetExceeded,
    LogitQueryLearner,
    NGramLearner,
    QueryAccess,
    SampleAccess,
    SpectralWFALearner,
    WFAModel,
    evaluate,
)
from simulators.ngram import NGram
from simulators.parity import NoisyParity


class Uniform:
    """The trivial predictor."""

    def __init__(self, V: int, T: int):
        self.vocab_size, self.horizon = V, T

    def logits(self, prefixes):
        return np.zeros((len(prefixes), self.vocab_size))


def exact_kl(target, learned) -> float:
    """KL(P || Q) over whole sequences by enumerating all V^T of them (the slow, independent way)."""
    V, T = target.vocab_size, target.horizon
    seqs = np.array(list(itertools.product(range(V), repeat=T)))
    lp, lq = sequence_log_prob(target, seqs), sequence_log_prob(learned, seqs)
    return float(np.sum(np.exp(lp) * (lp - lq)))


# --- access ---------------------------------------------------------------------------------------

def test_query_access_counts_like_an_independent_counter():
    target = TimeVaryingISAN.random(3, 2, 5, rng=0)
    counter = QueryCounter(target)
    access = QueryAccess(counter, rng=1)
    access.logits([(), (1,), (0, 2)])
    access.extended_logits([(0,), (1, 1)], [(), (2,), (0, 1)])
    access.sample(4)
    assert access.used == counter.queries == 3 + 6 + 4 * 5
    LogitQueryLearner(rng=0).fit(access)
    assert access.used == counter.queries


@pytest.mark.parametrize("kind, std", [("uniform", 1 / np.sqrt(3)), ("gaussian", 1.0)])
def test_query_noise_has_the_documented_law(kind, std):
    target = TimeVaryingISAN.random(8, 3, 6, rng=0)
    xi = 0.2
    access = QueryAccess(target, noise=xi, noise_kind=kind, rng=1)
    H, F = [(0,), (1, 2), (3,)], [(), (4,), (5, 6)]
    err = access.extended_logits(H, F) - target.extended_logits(H, F)
    assert err.std() == pytest.approx(std * xi, rel=0.15)  # 216 draws: a 15% band is > 5 standard errors
    if kind == "uniform":
        assert np.abs(err).max() <= xi


def test_budgets_are_enforced_with_clear_errors():
    target = TimeVaryingISAN.random(4, 2, 6, rng=0)
    access = QueryAccess(target, budget=50, rng=0)
    access.logits([()] * 40)
    with pytest.raises(BudgetExceeded, match="asked for 20 logit queries with 40 of the budget 50"):
        access.logits([()] * 20)
    assert access.used == 40  # nothing answered, nothing charged
    small = QueryAccess(target, budget=200, rng=0)  # the learner is anytime: it stops, it does not overrun
    assert LogitQueryLearner(rng=0).fit(small).stopped_early_ and small.used <= 200
    samples = SampleAccess(target, budget=10, rng=0)
    assert samples.sample(10).shape == (10, 6)
    with pytest.raises(BudgetExceeded, match="sample sequences"):
        samples.sample(1)
    assert issubclass(BudgetExceeded, RuntimeError)


@pytest.mark.parametrize("budget", [0, -5, 2.5, float("inf")])
def test_bad_budgets_are_rejected(budget):
    target = TimeVaryingISAN.random(3, 2, 4, rng=0)
    with pytest.raises(ValueError, match="budget: must be a positive integer"):
        QueryAccess(target, budget=budget)
    with pytest.raises(ValueError, match="budget"):
        SampleAccess(target, budget=budget)


def test_bad_access_and_learner_parameters():
    target = TimeVaryingISAN.random(3, 2, 4, rng=0)
    with pytest.raises(ValueError, match="noise: must be a finite number >= 0, got -0.1"):
        QueryAccess(target, noise=-0.1)
    with pytest.raises(ValueError, match="noise_kind"):
        QueryAccess(target, noise_kind="laplace")
    with pytest.raises(ValueError, match="rank: must be >= 1, got 0"):
        LogitQueryLearner(rank=0).fit(QueryAccess(target))
    with pytest.raises(TypeError, match="needs logit queries"):
        LogitQueryLearner().fit(SampleAccess(target))
    with pytest.raises(ValueError, match="smoothing"):
        NGramLearner(smoothing="witten-bell").fit(SampleAccess(target))


# --- the logit-query learner ------------------------------------------------------------------------

@pytest.mark.parametrize("V, d, T, seed", [(3, 2, 5, 0), (4, 3, 6, 1), (2, 4, 7, 2), (6, 5, 8, 3)])
def test_exact_isan_is_recovered(V, d, T, seed):
    target = TimeVaryingISAN.random(V, d, T, rng=seed)
    learner = LogitQueryLearner(rng=seed).fit(QueryAccess(target, rng=seed))
    assert learner.model_.horizon == T and learner.model_.vocab_size == V
    assert learner.ranks_[1:].max() == d  # the planted dimension is found
    ev = evaluate(target, learner.model_, n_sequences=200, rng=seed)
    assert ev.kl < 1e-6
    np.testing.assert_allclose(learner.model_.logits_along(target.sample(50, rng=seed)),
                               target.logits_along(target.sample(50, rng=seed)), **tol(scale=1e3))
    if V**T <= 20_000:  # the second, independent way: enumerate every sequence
        assert exact_kl(target, learner.model_) < 1e-6


@pytest.mark.slow
def test_kl_grows_with_query_noise():
    target = TimeVaryingISAN.random(6, 3, 6, rng=4)
    kls = []
    for xi in [0.0, 1e-3, 1e-2, 1e-1]:
        learner = LogitQueryLearner(rng=0).fit(QueryAccess(target, noise=xi, rng=0))
        kls.append(evaluate(target, learner.model_, n_sequences=300, rng=1).kl)
    assert kls[0] < 1e-9
    assert all(a < b for a, b in zip(kls, kls[1:])), kls
    assert kls[-1] < 0.1  # still a useful model at xi = 0.1


def test_rank_cap_trades_accuracy_and_parity_is_learned():
    target = TimeVaryingISAN.random(4, 4, 6, rng=5)
    kls = [evaluate(target, LogitQueryLearner(rank=r, rng=0).fit(QueryAccess(target, rng=0)).model_,
                    n_sequences=300, rng=1).kl for r in (1, 2, 4)]
    assert kls[0] > kls[1] > kls[2] and kls[2] < 1e-8
    parity = NoisyParity.random(12, 6, 0.1, rng=0)
    learner = LogitQueryLearner(rng=0).fit(QueryAccess(parity, budget=20_000, rng=0))
    assert evaluate(parity, learner.model_, n_sequences=300, rng=1).kl < 1e-6
    assert learner.queries_used_ <= 20_000


def test_validation_adds_witnesses_when_the_first_build_misses():
    # V = 2 with d = 6: the futures chosen from the sampled prefixes alone miss directions that
    # validation then supplies (round 1 misses, round 2 is exact)
    target = TimeVaryingISAN.random(2, 6, 12, rng=1)
    learner = LogitQueryLearner(rng=2).fit(QueryAccess(target, rng=1))
    assert len(learner.validation_kl_) >= 2 and learner.validation_kl_[0] > 1e-3
    assert learner.validation_kl_[-1] < 1e-10 and learner.stop_reason_ == "error_target"


# --- baselines and evaluation ----------------------------------------------------------------------

def test_evaluation_matches_enumeration_and_is_zero_on_the_target():
    target = NGram.random(3, 2, 5, rng=0)
    same = evaluate(target, target, n_sequences=100, rng=0)
    assert same.kl == 0 and same.tv == 0 and same.perplexity == pytest.approx(same.target_perplexity)
    uniform = Uniform(3, 5)
    ev = evaluate(target, uniform, n_sequences=4000, rng=1)
    exact = exact_kl(target, uniform)
    assert abs(ev.kl - exact) < 4 * ev.kl_se
    assert sum(ev.kl_per_position) == pytest.approx(ev.kl)
    with pytest.raises(ValueError, match="vocab_size: must equal the target's 3, got 4"):
        evaluate(target, Uniform(4, 5), n_sequences=10, rng=0)


@pytest.mark.filterwarnings("ignore:WFAModel")  # a few clipped WFA scores are expected; counted elsewhere
def test_sample_baselines_beat_uniform_on_an_ngram_target():
    target = NGram.random(4, 2, 6, rng=0)
    trivial = evaluate(target, Uniform(4, 6), n_sequences=500, rng=9).kl
    learners = [NGramLearner(order=2), NGramLearner(order=3, smoothing="add"), SpectralWFALearner(rank=4)]
    for learner in learners:
        learner.fit(SampleAccess(target, budget=5000, rng=0))
        assert learner.samples_used_ == 5000
        kl = evaluate(target, learner.model_, n_sequences=500, rng=9).kl
        assert kl < 0.1 * trivial, (type(learner).__name__, kl, trivial)


@pytest.mark.slow
def test_mle_baseline_beats_uniform_and_keeps_torch_out_of_simulators():
    from simulators.learners import MLELearner

    target = NGram.random(3, 2, 5, rng=1)
    learner = MLELearner(dim=3, steps=150, lr=0.05, rng=0).fit(SampleAccess(target, budget=2000, rng=0))
    kl = evaluate(target, learner.model_, n_sequences=300, rng=2).kl
    assert kl < 0.2 * evaluate(target, Uniform(3, 5), n_sequences=300, rng=2).kl
    code = "import sys, simulators, simulators.learners, simulators.bench; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_wfa_clipping_is_counted_and_warned():
    # a 1-state automaton whose token-1 score is negative: every prediction needs the floor
    wfa = WFAModel(np.ones(1), np.array([[[1.0]], [[-0.5]]]), np.ones(1), horizon=3, floor=1e-3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logits = wfa.logits_along(np.zeros((5, 3), dtype=np.int64))
    assert wfa.n_clipped == 15 and wfa.n_scored == 30
    assert sum("below the floor" in str(w.message) for w in caught) == 1
    np.testing.assert_allclose(np.exp(log_softmax(logits))[..., 1], 1e-3 / (1 + 1e-3), **tol())


@pytest.mark.filterwarnings("ignore:WFAModel")  # the fixed-rank fit is expected to need clipping
def test_spectral_rank_beyond_the_signal_fits_sampling_noise():
    # noisy parity's prefix Hankel is rank one (uniform bits): a fixed rank 8 keeps sampling-noise
    # directions whose products over many steps blow up; the noise-floor rule keeps rank 1 and the
    # prediction stays at the trivial one (parity is not learnable from these samples)
    target = NoisyParity.random(10, 5, 0.1, rng=0)
    trivial = np.log(2) + 0.1 * np.log(0.1) + 0.9 * np.log(0.9)
    kls = {}
    for floor in (False, True):
        learner = SpectralWFALearner(rank=8, noise_floor=floor, validation_fraction=0.0).fit(
            SampleAccess(target, budget=2000, rng=0))
        kls[floor] = evaluate(target, learner.model_, n_sequences=500, rng=1).kl_per_position
    assert learner.rank_ == 1
    assert kls[True][-1] == pytest.approx(trivial, abs=0.01) and sum(kls[True][:-1]) < 0.01
    assert sum(kls[False]) > 2 * trivial
    # held-out selection (the default) avoids the blow-up without the noise-floor rule: the rank-8
    # automaton's held-out likelihood is the worst of the candidates
    chosen = SpectralWFALearner(rank=8).fit(SampleAccess(target, budget=2000, rng=0))
    nll = chosen.held_out_nll_
    assert nll[8, 0.0] == max(v for (r, lam), v in nll.items() if lam == 0.0)
    assert sum(evaluate(target, chosen.model_, n_sequences=500, rng=1).kl_per_position) < 1.2 * trivial


@pytest.mark.filterwarnings("ignore:WFAModel")
def test_spectral_selection_is_never_much_worse_than_the_position_unigram_and_picks_the_planted_rank():
    # a random ISAN of state dimension 8 over T = 16: at 1000 samples every fixed-rank automaton predicts
    # worse than uniform (long products of noisy operators); the held-out choice mixes in the unigram
    target = TimeVaryingISAN.random(8, 8, 16, rng=0)
    access = SampleAccess(target, budget=1000, rng=0)
    fixed = SpectralWFALearner(rank=8, validation_fraction=0.0).fit(access)
    chosen = SpectralWFALearner(rank=8).fit(SampleAccess(target, budget=1000, rng=0))
    uni = evaluate(target, Uniform(8, 16), n_sequences=400, rng=3).kl
    kl_fixed = evaluate(target, fixed.model_, n_sequences=400, rng=3).kl
    kl_chosen = evaluate(target, chosen.model_, n_sequences=400, rng=3).kl
    assert kl_fixed > uni and kl_chosen < uni and chosen.mix_ > 0
    # control: an exact rank-2 target with plenty of samples: the planted rank, no mixing needed
    hmm_like = NGram.random(2, 2, 6, rng=0)  # a bigram over 2 tokens: prefix Hankel of rank 2
    exact = SpectralWFALearner(rank=8).fit(SampleAccess(hmm_like, budget=20000, rng=0))
    assert exact.rank_ == 2 and exact.mix_ <= 0.01


@pytest.mark.parametrize("budget", [1, 5, 100, 2000, 30000])
def test_the_query_learner_is_anytime_it_never_overruns_and_says_when_it_stopped_early(budget):
    model = TimeVaryingISAN.random(8, 3, 6, rng=4)
    access = QueryAccess(model, budget=budget, rng=0)
    learner = LogitQueryLearner(rng=0).fit(access)
    assert access.used <= budget and learner.model_.vocab_size == 8 and learner.model_.horizon == 6
    uniform_kl = evaluate(model, TimeVaryingISAN(np.ones(1), np.ones((5, 8, 1, 1)), np.zeros((6, 8, 1))),
                          n_sequences=200, rng=1).kl
    kl = evaluate(model, learner.model_, n_sequences=200, rng=1).kl
    if budget < 6:  # not one sequence (6 queries) affordable: the uniform predictor, said so
        assert learner.stopped_early_ and kl == pytest.approx(uniform_kl)
    elif budget == 30000:  # enough for the exact model
        assert not learner.stopped_early_ and kl < 1e-8
    else:
        assert learner.stopped_early_ and learner.stop_reason_ == "budget" and kl < uniform_kl


@pytest.mark.parametrize("budget", [3, 500])
def test_the_spanner_learner_keeps_a_model_when_the_budget_runs_out_before_the_first(budget):
    from simulators.learners import SpannerLPLearner

    model = TimeVaryingISAN.random(8, 3, 6, rng=4)
    access = QueryAccess(model, budget=budget, rng=0)
    with pytest.warns(RuntimeWarning, match="budget exhausted"):
        learner = SpannerLPLearner(rng=0).fit(access)
    assert access.used <= budget and learner.stopped_early_ and learner.stop_reason_ == "budget"
    assert learner.model_.vocab_size == 8 and np.isfinite(evaluate(model, learner.model_, n_sequences=50,
                                                                   rng=1).kl)


def test_wfa_mixture_reads_position_t_the_same_way_for_prefixes_and_sequences():
    rng = np.random.default_rng(0)
    V, T, r = 3, 5, 2
    unigram = rng.dirichlet(np.ones(V), size=T)
    parts = (np.ones(r), np.abs(rng.standard_normal((V, r, r))), np.ones(r))
    seqs = rng.integers(0, V, size=(4, T))
    # mix = 1: exactly the position unigram, whatever the automaton (nothing scored, nothing clipped)
    only = WFAModel(*parts, T, unigram=unigram, mix=1.0)
    expected = np.log(unigram) - np.log(unigram).mean(axis=1, keepdims=True)
    np.testing.assert_allclose(only.logits_along(seqs), np.broadcast_to(expected, (4, T, V)), **tol())
    assert only.n_scored == 0
    # mix = 0.3: logits(prefix of length t) is row t of logits_along, for every t
    mixed = WFAModel(*parts, T, unigram=unigram, mix=0.3)
    along = mixed.logits_along(seqs)
    for t in range(T):
        np.testing.assert_allclose(mixed.logits([tuple(s[:t]) for s in seqs]), along[:, t], **tol())
    plain = WFAModel(*parts, T)
    q = 0.7 * np.exp(log_softmax(plain.logits_along(seqs))) + 0.3 * unigram[None]
    np.testing.assert_allclose(np.exp(log_softmax(along)), q, **tol())
    with pytest.raises(ValueError, match=r"sequences: length must be <= horizon 5 .*got 6"):
        mixed.logits_along(np.zeros((1, 6), dtype=np.int64))
    with pytest.raises(ValueError, match=r"unigram: must have shape \(5, 3\) when mix > 0, got None"):
        WFAModel(*parts, T, mix=0.5)
    with pytest.raises(ValueError, match="mix: must be <= 1, got 1.5"):
        WFAModel(*parts, T, unigram=unigram, mix=1.5)
