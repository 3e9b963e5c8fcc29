"""Growing continuations (logitrank.continuations): brute force, the fast path, errors; multi-target fits."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tol

from logitrank import continuation_logits, lingen_coefficients, model_logits, random_histories
from logitrank.continuations import RecomputedContinuations
from simulators import TimeVaryingISAN

V, D, T = 5, 3, 9


@pytest.fixture(scope="module")
def model() -> TimeVaryingISAN:
    return TimeVaryingISAN.random(V, D, T, rng=0)


def brute(model, H, conts) -> np.ndarray:
    """``l(h . c)`` one prefix at a time, shape (|H|, n, V)."""
    return np.stack([model_logits(model, [tuple(h) + tuple(c) for c in conts]) for h in H])


def test_recomputed_matches_brute_force_with_mixed_lengths(model):
    rng = np.random.default_rng(0)
    H = [(), (1,), (4, 0, 2), (3, 3)]  # mixed lengths, the empty history included
    stream = continuation_logits(model, H, 3)
    assert isinstance(stream, RecomputedContinuations)
    conts = np.zeros((3, 0), dtype=np.int64)
    for _ in range(T - 1 - 3):  # the longest history (length 3) leaves room for 5 tokens
        np.testing.assert_allclose(stream.logits(), brute(model, H, [tuple(c) for c in conts]), **tol())
        tok = rng.integers(0, V, size=3)
        stream.append(tok)
        conts = np.hstack([conts, tok[:, None]])
    np.testing.assert_allclose(stream.logits(), brute(model, H, [tuple(c) for c in conts]), **tol())
    with pytest.raises(ValueError, match=r"tokens: the longest history leaves room for 5 .* got a token "
                                         r"number 6"):
        stream.append(np.zeros(3, dtype=np.int64))


class WithFastPath:
    """A model whose ``continuations`` returns log-probabilities (uncentered) and counts calls."""

    def __init__(self, model, bad_shape: bool = False):
        self.model, self.vocab_size, self.horizon = model, model.vocab_size, model.horizon
        self.bad_shape, self.opened = bad_shape, 0

    def logits(self, prefixes):
        return self.model.logits(prefixes)

    def continuations(self, histories, n_branches):
        self.opened += 1
        outer = self

        class Stream:
            def __init__(self):
                self.n_branches, self.conts = n_branches, [()] * n_branches

            def logits(self):
                out = brute(outer.model, histories, self.conts)
                out = out - np.log(np.exp(out).sum(axis=-1, keepdims=True))  # log-probabilities
                return out[:, :1] if outer.bad_shape else out

            def append(self, tokens):
                self.conts = [c + (int(z),) for c, z in zip(self.conts, tokens, strict=True)]

        return Stream()


def test_fast_path_is_used_centered_and_checked(model):
    H = random_histories(V, 4, 3, rng=1)
    fast = WithFastPath(model)
    stream = continuation_logits(fast, H, 2)
    assert fast.opened == 1
    stream.append(np.array([1, 4]))
    ref = brute(model, H, [(1,), (4,)])
    got = stream.logits()
    np.testing.assert_allclose(got, ref, **tol())  # centered by the core, as the brute force is
    assert np.abs(got.mean(axis=-1)).max() < 1e-12
    with pytest.raises(ValueError, match=r"tokens: token ids must lie in \[0, 5\), got range \[0, 7\]"):
        stream.append(np.array([0, 7]))
    with pytest.raises(ValueError, match=r"tokens: must have shape \(n_branches,\) = \(2,\), got \(3,\)"):
        stream.append(np.array([0, 1, 2]))
    bad = continuation_logits(WithFastPath(model, bad_shape=True), H, 2)
    with pytest.raises(ValueError, match=r"model.continuations: logits\(\) must return shape \(4, 2, 5\), "
                                         r"got \(4, 1, 5\)"):
        bad.logits()


def test_max_steps_bounds_the_appends_and_reaches_a_fast_path_that_takes_it(model):
    H = random_histories(V, 3, 2, rng=2)
    told = {}

    class Sized(WithFastPath):
        def continuations(self, histories, n_branches, *, max_steps):
            told["max_steps"] = max_steps
            return super().continuations(histories, n_branches)

    for m in (model, WithFastPath(model), Sized(model)):  # fallback, the old protocol, the new one
        stream = continuation_logits(m, H, 2, max_steps=2)
        stream.append(np.array([1, 2]))
        stream.append(np.array([0, 3]))
        np.testing.assert_allclose(stream.logits(), brute(model, H, [(1, 0), (2, 3)]), **tol())
        with pytest.raises(ValueError, match=r"tokens: the longest history leaves room for 2 .* got a token "
                                             r"number 3"):
            stream.append(np.array([0, 0]))
    assert told == {"max_steps": 2}
    with pytest.raises(ValueError, match=r"max_steps: must be <= 6, got 7"):
        continuation_logits(model, H, 2, max_steps=7)  # the longest history (2 tokens) leaves 6


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="n_branches: must be >= 1, got 0"):
        continuation_logits(model, [(1,)], 0)
    with pytest.raises(ValueError, match=r"histories\[0\]: token ids must lie in \[0, 5\), got 9 in "
                                         r"\(1, 9\)"):
        continuation_logits(model, [(1, 9)], 2)


def test_multi_target_coefficients_match_one_at_a_time():
    rng = np.random.default_rng(3)
    L = rng.normal(size=(6, 40))
    Y = rng.normal(size=(40, 3))
    for ridge in (0.0, 0.5):
        v, res = lingen_coefficients(L, Y, ridge)
        assert v.shape == (6, 3) and res.shape == (3,)
        for j in range(3):
            vj, rj = lingen_coefficients(L, Y[:, j], ridge)
            np.testing.assert_allclose(v[:, j], vj, **tol())
            assert res[j] == pytest.approx(rj, rel=1e-12)
    with pytest.raises(ValueError, match=r"y: must be a 1-D array .* or a 2-D array \(n_cols, k\), got shape "
                                         r"\(40, 3, 1\)"):
        lingen_coefficients(L, Y[:, :, None])
