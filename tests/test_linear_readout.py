"""logitrank.linear_readout: readout identities against the materialised full-vocabulary logits (float64)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tol

from logitrank import select_tokens, singular_values
from logitrank.linear_readout import (
    centered_readout_logits,
    check_readout,
    readout_factor,
    readout_gram,
    readout_singular_values,
    token_entries,
    top_tokens,
)


def brute(G: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """Centered logits the long way: raw ``W g + b`` at every (h, f), then minus each row's mean."""
    raw = np.einsum("hfd,vd->hfv", G, W) + (0.0 if b is None else b)
    return raw - raw.mean(axis=-1, keepdims=True)


def instance(seed: int, nh: int = 6, nf: int = 4, V: int = 11, d: int = 5, bias: bool = True):
    rng = np.random.default_rng(seed)
    G, W = rng.normal(size=(nh, nf, d)), rng.normal(size=(V, d))
    return G, W, rng.normal(size=V) if bias else None


@pytest.mark.parametrize("bias", [True, False])
def test_centered_readout_logits_equal_centered_raw_logits(bias: bool) -> None:
    G, W, b = instance(0, bias=bias)
    np.testing.assert_allclose(centered_readout_logits(G, W, b), brute(G, W, b), **tol())


@pytest.mark.parametrize("bias", [True, False])
def test_top_tokens_from_mean_hidden_state_are_select_tokens_of_full_logits(bias: bool) -> None:
    G, W, b = instance(1, nh=9, nf=6, V=40, bias=bias)
    got = top_tokens(G.mean(axis=0), W, b, 7)
    np.testing.assert_array_equal(got, select_tokens(brute(G, W, b), 7, "mean"))


def test_top_tokens_break_exact_ties_to_the_lower_id() -> None:
    # rows 2, 5 and 8 of W are equal: their logits tie exactly at every g, and k = 2 keeps the two lowest ids
    rng = np.random.default_rng(2)
    W = rng.normal(size=(10, 3)) * 0.01
    W[[2, 5, 8]] = [5.0, 5.0, 5.0]
    G = np.abs(rng.normal(size=(4, 3, 3))) + 0.1
    got = top_tokens(G.mean(axis=0), W, None, 2)
    np.testing.assert_array_equal(got, np.tile([2, 5], (3, 1)))
    np.testing.assert_array_equal(got, select_tokens(brute(G, W, None), 2, "mean"))


@pytest.mark.parametrize("bias", [True, False])
def test_token_entries_are_the_chosen_columns_of_the_full_logits(bias: bool) -> None:
    G, W, b = instance(3, bias=bias)
    tokens = np.sort(np.random.default_rng(4).permuted(np.tile(np.arange(11), (4, 1)), axis=1)[:, :3], axis=1)
    want = np.take_along_axis(brute(G, W, b), tokens[None], axis=2)
    np.testing.assert_allclose(token_entries(G, W, b, tokens), want, **tol())
    np.testing.assert_allclose(token_entries(G.astype(np.float32), W, b, tokens),
                               np.take_along_axis(brute(G.astype(np.float32).astype(np.float64), W, b),
                                                  tokens[None], axis=2), **tol())


@pytest.mark.parametrize(("bias", "V", "d"), [(True, 11, 5), (False, 11, 5), (True, 4, 6), (False, 3, 6)])
def test_readout_spectrum_and_gram_equal_those_of_the_materialised_matrix(bias: bool, V: int, d: int) -> None:
    # V < d + 1 covers a short QR factor (r = V rows)
    G, W, b = instance(5, nh=7, nf=3, V=V, d=d, bias=bias)
    L = brute(G, W, b).reshape(G.shape[0], -1)
    R = readout_factor(W, b)
    assert R.shape == (min(V, d + bias), d + bias)
    np.testing.assert_allclose(readout_gram(G, R), L @ L.T, **tol())
    s = readout_singular_values(G, R, V)
    want = np.linalg.svd(L, compute_uv=False)
    assert s.shape == want.shape
    np.testing.assert_allclose(s, want, rtol=tol()["rtol"], atol=tol()["atol"] * want[0])
    np.testing.assert_allclose(s, singular_values(L), rtol=tol()["rtol"], atol=tol()["atol"] * want[0])


def test_next_token_readout_rank_is_at_most_d_plus_one_with_a_bias_and_d_without() -> None:
    G, W, b = instance(6, nh=20, nf=1, V=30, d=4)
    for bb, rank in ((b, 5), (None, 4)):
        s = readout_singular_values(G, readout_factor(W, bb), 30)
        assert (s[:rank] > 1e-6 * s[0]).all() and (s[rank:] < 1e-12 * s[0]).all()


def test_bad_shapes_name_the_parameter() -> None:
    G, W, b = instance(7)
    with pytest.raises(ValueError, match="^b: must have shape"):
        check_readout(W, b[:-1])
    with pytest.raises(ValueError, match="^W: must be"):
        check_readout(W[0])
    with pytest.raises(ValueError, match="^G: must be"):
        token_entries(G[..., :-1], W, b, np.zeros((4, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="^tokens: must be"):
        token_entries(G, W, b, np.full((4, 2), 11))
    with pytest.raises(ValueError, match="^R: must have"):
        readout_gram(G, np.eye(3))
    with pytest.raises(ValueError, match=r"^G: must be a 3-D float array .* got float64 shape \(4, 5\)"):
        readout_gram(G[0], readout_factor(W, b))
    with pytest.raises(ValueError, match="^vocab_size: "):
        readout_singular_values(G, readout_factor(W, b), 0)
