"""The centering contract (issue 25): declared-centered models skip the core's pass, others are centered in
one fused pass, a false declaration is refused; the vectorised prefix check agrees with a per-prefix loop."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tol
from hypothesis import given
from hypothesis import strategies as st

from logitrank import (
    QueryCounter,
    all_futures,
    all_sequences,
    extended_logit_matrix,
    extended_logits,
    log_softmax,
    logits_along,
    model_logits,
)
from logitrank.sequence_model import CENTER_RTOL, centered, declares_centered
from logitrank.validation import check_prefixes
from simulators import TimeVaryingISAN


class Raw:
    """A user model answering log-probabilities plus a per-prefix constant; no declaration."""

    def __init__(self, base, offset: float = 3.0):
        self.base, self.offset = base, offset
        self.vocab_size, self.horizon = base.vocab_size, base.horizon

    def logits(self, prefixes):
        shift = self.offset * (1.0 + np.array([len(p) + sum(p) for p in prefixes], dtype=np.float64))
        return log_softmax(self.base.logits(prefixes)) + shift[:, None]


class Liar(Raw):
    """Raw logits behind a declaration that they are centered."""

    centered_logits = True


def reference_centered(values: np.ndarray) -> np.ndarray:
    """The rule row by row, written directly (no chunks)."""
    x = np.asarray(values, dtype=np.float64).reshape(-1, values.shape[-1])
    rows = [r - r.mean() if abs(r.mean()) > CENTER_RTOL * np.abs(r).max() else r for r in x]
    return np.array(rows).reshape(values.shape)


@pytest.fixture(scope="module")
def isan():
    return TimeVaryingISAN.random(4, 3, 6, rng=1)


def test_package_models_declare_and_undeclared_models_do_not(isan):
    assert declares_centered(isan)
    assert declares_centered(QueryCounter(isan))
    assert not declares_centered(Raw(isan))
    assert not declares_centered(QueryCounter(Raw(isan)))


def test_undeclared_raw_model_is_centered_like_the_declared_one(isan):
    H, F = all_sequences(4, 2), all_futures(4, 2)
    raw = Raw(isan)
    assert np.abs(raw.logits(H).mean(axis=1)).min() > 1  # really uncentered
    np.testing.assert_allclose(extended_logit_matrix(raw, H, F).values,
                               extended_logit_matrix(isan, H, F).values, **tol(scale=10))
    np.testing.assert_allclose(model_logits(raw, H), model_logits(isan, H), **tol(scale=10))
    seqs = isan.sample(6, rng=2)
    np.testing.assert_allclose(logits_along(raw, seqs), logits_along(isan, seqs), **tol(scale=10))


def test_a_false_declaration_is_refused_not_believed(isan):
    with pytest.raises(ValueError, match=r"model.logits: the model declares centered_logits = True .* row 0 "
                                         r"is not: mean -?\d"):
        extended_logits(Liar(isan), [(0,)], [(1,)])
    with pytest.raises(ValueError, match=r"declares centered_logits = True"):
        model_logits(Liar(isan), [(0,), (1, 2)])


@given(seed=st.integers(0, 2**16), V=st.integers(1, 9), rows=st.integers(1, 40_000),
       frac=st.floats(0, 1), scale=st.sampled_from([1e-300, 1.0, 1e200]))
def test_fused_pass_equals_the_row_by_row_rule(seed, V, rows, frac, scale):
    # rows spanning many chunks, a random subset left uncentered, magnitudes from tiny to huge
    gen = np.random.default_rng(seed)
    x = gen.standard_normal((rows, V)) * scale
    x -= x.mean(axis=1, keepdims=True)
    x[gen.random(rows) < frac] += gen.standard_normal(1) * scale
    got = centered("x", x.reshape(rows, 1, V))
    np.testing.assert_array_equal(got.reshape(rows, V), reference_centered(x))
    assert not np.shares_memory(got, x) or np.array_equal(got.reshape(rows, V), x)


def test_fused_pass_leaves_centered_input_alone_and_never_writes_it():
    x = np.array([[1.0, -1.0], [3.0, 5.0]])
    x.setflags(write=False)  # a model may hand out a read-only view of its own table
    np.testing.assert_array_equal(centered("x", x), [[1.0, -1.0], [-1.0, 1.0]])
    ok = np.array([[1.0, -1.0]] * 3)
    assert centered("x", ok) is ok  # nothing to fix: no copy


def test_fused_pass_names_a_non_finite_entry_in_a_late_chunk():
    x = np.zeros((50_000, 4))
    x[41_234, 2] = np.nan
    with pytest.raises(ValueError, match=r"x: must be finite, got 1 non-finite entries \(first at index "
                                         r"\(41234, 2\)"):
        centered("x", x)


def test_rows_whose_sum_overflows_are_still_centered():
    x = np.array([[1e308, 1.5e308, 1.7e308]])  # finite, but their sum is not
    got = centered("x", x)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got.sum(), 0.0, atol=1e294)
    np.testing.assert_allclose(got[0, 1] - got[0, 0], 0.5e308, rtol=1e-12)


def test_fast_path_equals_brute_force_with_mixed_history_lengths(isan):
    H = all_futures(4, 2)[::3]  # lengths 0, 1, 2 interleaved
    F = all_futures(4, 3)
    want = isan.logits([h + f for h in H for f in F]).reshape(len(H), len(F), 4)
    np.testing.assert_allclose(extended_logits(isan, H, F), want, **tol())
    assert np.abs(extended_logits(isan, H, F).mean(axis=-1)).max() < 1e-12


def test_fast_path_still_reports_overflow():
    m = TimeVaryingISAN.random(3, 2, 5, rng=0)
    big = TimeVaryingISAN(m.x0, m.A * 1e100, m.B * 1e100)
    with pytest.raises(ValueError, match=r"TimeVaryingISAN.logits \(its parameters overflow float64 here\): "
                                         r"must be finite"):
        extended_logits(big, [(0, 1)], [(1, 2)])


def reference_check(name, prefixes, V, max_length):
    """The per-prefix loop the vectorised check replaced (for sequences of plain ints)."""
    out = [tuple(p) for p in prefixes]
    for i, seq in enumerate(out):
        if max_length is not None and len(seq) > max_length:
            return f"{name}[{i}]: length must be <= {max_length}"
        for t in seq:
            if t < 0 or t >= V:
                return f"{name}[{i}]: token ids must lie in [0, {V}), got {t} in"
    return out


@given(seqs=st.lists(st.lists(st.integers(-3, 8), max_size=6), max_size=30), V=st.integers(1, 6),
       max_length=st.one_of(st.none(), st.integers(0, 6)), as_array=st.booleans())
def test_vectorised_prefix_check_equals_the_per_prefix_loop(seqs, V, max_length, as_array):
    if as_array and seqs:  # a rectangular int array: the rows cut to a common length
        n = min(len(s) for s in seqs)
        seqs = [s[:n] for s in seqs]
        given_ = np.array(seqs, dtype=np.int64).reshape(len(seqs), n)
    else:
        given_ = [tuple(s) for s in seqs]
    want = reference_check("p", seqs, V, max_length)
    if isinstance(want, str):
        with pytest.raises(ValueError) as exc:
            check_prefixes("p", given_, V, max_length, allow_empty_set=True)
        assert str(exc.value).startswith(want)
    else:
        got = check_prefixes("p", given_, V, max_length, allow_empty_set=True)
        assert got == want and all(type(t) is int for s in got for t in s)


def test_prefix_check_accepts_generators_and_mixed_integer_types():
    assert check_prefixes("p", (tuple(range(k)) for k in range(3)), 3, None) == [(), (0,), (0, 1)]
    assert check_prefixes("p", [(np.int8(1), 2), [np.uint64(0)]], 3, None) == [(1, 2), (0,)]
    with pytest.raises(ValueError, match=r"p\[1\]: token ids must lie in \[0, 3\), got 18446744073709551615"):
        check_prefixes("p", np.array([[0], [2**64 - 1]], dtype=np.uint64), 3, None)
    with pytest.raises(ValueError, match=r"p\[0\]: token ids must be integers"):
        check_prefixes("p", [(True, 1)], 3, None)
