"""Access models: fixed vs i.i.d. oracle error, sampled logits (Remark 5.8), checks before charging."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tol

from simulators import TimeVaryingISAN
from simulators.learners import (
    BudgetExceeded,
    LogitQueryLearner,
    NGramLearner,
    QueryAccess,
    SampleAccess,
    SampledLogitAccess,
    SpectralWFALearner,
)

H, F = [(0,), (1, 2), (3,)], [(), (4,), (5, 6)]


def target(V: int = 8, d: int = 3, T: int = 6, seed: int = 0) -> TimeVaryingISAN:
    return TimeVaryingISAN.random(V, d, T, rng=seed)


@pytest.mark.parametrize("kind", ["uniform", "gaussian"])
def test_fixed_noise_is_the_same_on_a_repeated_query(kind):
    m = target()
    access = QueryAccess(m, noise=0.2, noise_kind=kind, noise_mode="fixed", rng=1)
    a, b = access.extended_logits(H, F), access.extended_logits(H, F)
    np.testing.assert_array_equal(a, b)
    assert access.used == 2 * len(H) * len(F)  # asking again still costs
    # the single-query path and the extended path give the same error on the same prefix h . f
    single = access.logits([h + f for h in H for f in F]).reshape(a.shape)
    np.testing.assert_allclose(single, a, **tol())  # the model's fast path differs only by rounding
    # and sampling through queries sees the same fixed answers along its sequences
    seqs, answers = access.sample(5)
    again = access.logits([tuple(s[:t]) for s in seqs for t in range(m.horizon)]).reshape(answers.shape)
    np.testing.assert_allclose(answers, again, **tol())
    assert not np.allclose(a, m.extended_logits(H, F))  # it is noisy


def test_fixed_noise_depends_on_the_seed_and_iid_noise_is_fresh():
    m = target()
    e1 = QueryAccess(m, noise=0.1, rng=1).logits(H) - m.logits(H)
    e2 = QueryAccess(m, noise=0.1, rng=2).logits(H) - m.logits(H)
    np.testing.assert_array_equal(e1, QueryAccess(m, noise=0.1, rng=1).logits(H) - m.logits(H))
    assert not np.allclose(e1, e2)
    iid = QueryAccess(m, noise=0.1, noise_mode="iid", rng=1)
    assert not np.allclose(iid.logits(H), iid.logits(H))


@pytest.mark.parametrize("mode", ["fixed", "iid"])
@pytest.mark.parametrize("kind, std", [("uniform", 1 / np.sqrt(3)), ("gaussian", 1.0)])
def test_both_noise_modes_have_the_documented_law(mode, kind, std):
    m = target()
    xi = 0.2
    access = QueryAccess(m, noise=xi, noise_kind=kind, noise_mode=mode, rng=3)
    P = [tuple(p) for p in np.random.default_rng(0).integers(0, 8, size=(400, 3))]
    err = access.logits(P) - m.logits(P)
    assert err.std() == pytest.approx(std * xi, rel=0.05)  # 3200 draws: 5% is > 5 standard errors
    assert abs(err.mean()) < 5 * std * xi / np.sqrt(err.size)
    if kind == "uniform":
        assert np.abs(err).max() <= xi


def test_requests_are_validated_before_the_budget_is_charged():
    m = target(V=4, T=5)
    access = QueryAccess(m, budget=100, rng=0)
    with pytest.raises(ValueError, match=r"prefixes.*\[0, 4\)"):
        access.logits([(0,), (7,)])
    with pytest.raises(ValueError, match=r"len\(h\) \+ len\(f\) must be <= horizon - 1 = 4, got .* 5"):
        access.extended_logits([(0, 1, 2)], [(0, 1)])
    assert access.used == 0  # malformed requests cost nothing
    sampled = SampledLogitAccess(m, 10, budget=100, rng=0)
    with pytest.raises(ValueError, match="prefixes"):
        sampled.logits([(9,)])
    assert sampled.used == 0
    with pytest.raises(BudgetExceeded, match="asked for 110 conditional samples with 0 of the budget 100"):
        sampled.logits([()] * 11)


@pytest.mark.parametrize("noise, err, match", [
    (1e308, ValueError, r"noise: must be <= 1e\+06 .*got 1e\+308"),
    (None, TypeError, r"noise: must be a real number >= 0 .*got None"),
    (float("nan"), ValueError, "noise: must be a finite number >= 0, got nan"),
    (-0.1, ValueError, "noise: must be a finite number >= 0, got -0.1"),
])
def test_bad_noise_gives_clear_errors(noise, err, match):
    with pytest.raises(err, match=match):
        QueryAccess(target(), noise=noise)


def test_bad_modes_and_samples_per_query():
    with pytest.raises(ValueError, match="noise_mode: must be one of 'fixed', 'iid', got 'adaptive'"):
        QueryAccess(target(), noise_mode="adaptive")
    with pytest.raises(ValueError, match="samples_per_query: must be >= 1, got 0"):
        SampledLogitAccess(target(), 0)
    with pytest.raises(ValueError, match="smoothing: must be > 0, got 0"):
        SampledLogitAccess(target(), 5, smoothing=0.0)


class BadSampler:
    """A model whose ``sample`` returns out-of-range or non-integer tokens."""

    vocab_size, horizon = 3, 4

    def __init__(self, out):
        self.out = out

    def logits(self, prefixes):
        return np.zeros((len(prefixes), 3))

    def sample(self, n, rng=None):
        return self.out[:n]


def test_sample_access_checks_the_model_samples():
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 3\), got range \[0, 5\]"):
        SampleAccess(BadSampler(np.array([[0, 1, 2, 5]]))).sample(1)
    with pytest.raises(ValueError, match="must return integer tokens, got dtype float64"):
        SampleAccess(BadSampler(np.array([[0.0, 1.5, 2.0, 1.0]]))).sample(1)


def test_a_learner_given_the_model_itself_names_the_parameter():
    with pytest.raises(TypeError, match="access: must be an access object .* got the sequence model "
                                        "TimeVaryingISAN itself"):
        LogitQueryLearner().fit(target())


def test_sampled_logits_converge_and_are_charged_as_samples():
    m = target(V=4, d=2, T=4, seed=2)
    exact = m.logits(H[:1] + [(1,)])
    errs = []
    for k, mpq in enumerate([100, 10_000, 1_000_000]):
        access = SampledLogitAccess(m, mpq, rng=k)
        est = access.logits(H[:1] + [(1,)])
        assert access.samples_used == 2 * mpq and access.queries_used == 2
        np.testing.assert_allclose(est.sum(axis=1), 0.0, **tol())  # centered
        errs.append(np.abs(est - exact).max())
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.02  # sd of a log-frequency ~ 1 / sqrt(m p): ~ 2e-3 here
    seqs, answers = SampledLogitAccess(m, 50, rng=0).sample(3)
    assert seqs.shape == (3, 4) and answers.shape == (3, 4, 4)


def test_sampled_logit_tokens_follow_the_model():
    m = target(V=3, d=2, T=2, seed=1)
    p = np.exp(m.logits([()])[0])
    p /= p.sum()
    seqs, _ = SampledLogitAccess(m, 7, rng=0).sample(6000)
    freq = np.bincount(seqs[:, 0], minlength=3) / 6000
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / 6000))  # 4 binomial standard deviations


@pytest.mark.parametrize("learner", [NGramLearner(), SpectralWFALearner()])
def test_sample_learners_given_the_model_itself_name_the_parameter(learner):
    with pytest.raises(TypeError, match="access: must be an access object .*i.i.d. samples.* "
                                        "got the sequence model TimeVaryingISAN itself"):
        learner.fit(target(V=3, d=2, T=4))


def _reachable(obj, depth=2):
    """Everything reachable from ``obj`` through non-dunder attributes, ``depth`` levels deep."""
    seen, frontier = [], [obj]
    for _ in range(depth):
        nxt = []
        for o in frontier:
            for name in dir(o):
                if name.startswith("__"):
                    continue
                try:
                    val = getattr(o, name)
                except Exception:  # noqa: BLE001
                    continue
                seen.append(val)
                if hasattr(val, "__dict__") and not callable(val):
                    nxt.append(val)
        frontier = nxt
    return seen


def test_f20_no_public_or_single_underscore_attribute_reaches_the_target_and_counts_are_read_only():
    model = target()
    for acc in (QueryAccess(model, noise=0.1, budget=100, rng=0), SampledLogitAccess(model, 10, budget=1000),
                SampleAccess(model, budget=10)):
        assert not any(v is model for v in _reachable(acc)), type(acc).__name__
        acc.sample(1)
        used = acc.used
        for name in ("used", "budget", "remaining"):
            with pytest.raises(AttributeError):
                setattr(acc, name, 0)
        assert acc.used == used > 0
    acc = SampledLogitAccess(model, 10, budget=1000)
    acc.logits([()])
    with pytest.raises(AttributeError):
        acc.queries_used = 0
    assert acc.queries_used == 1 and acc.samples_used == 10
