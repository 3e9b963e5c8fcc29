"""Corpora, tokenizers and history/future windows (real and nonsense)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_bridge import (
    CharTokenizer,
    disjoint_windows,
    history_future_windows,
    load_shakespeare,
    load_tokenizer,
    permute_windows,
    random_windows,
    shakespeare_plays,
    train_bpe_tokenizer,
    windows_to_tuples,
)


def test_char_tokenizer_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = "To be, or not to be: that is the question.\n"
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and tok.decode(ids) == text
    assert tok.chars == sorted(set(text))  # ids follow code-point order
    assert CharTokenizer.load(tok.save(tmp_path / "t.json")) == tok
    tok.save(tmp_path)
    assert CharTokenizer.load(tmp_path) == tok
    with pytest.raises(ValueError, match="'Z' is not in the tokenizer's alphabet"):
        tok.encode("Zounds")
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, "):
        tok.decode([0, tok.vocab_size])
    with pytest.raises(ValueError, match="no character tokenizer file"):
        CharTokenizer.load(tmp_path / "missing.json")


def test_shakespeare_split_by_play() -> None:
    plays = shakespeare_plays()
    assert len(plays) == 38 and "tragedies/hamlet" in plays
    corpus = load_shakespeare()
    # two independent counts of the same text: characters of the plays vs tokens of the corpus
    total = sum(len(t) for t in plays.values()) + 2 * (len(plays) - 2)  # "\n\n" between documents
    assert corpus.train.size + corpus.validation.size == total
    assert 4_500_000 < total < 5_500_000
    assert not set(corpus.train_documents) & set(corpus.validation_documents)
    assert set(corpus.train_documents) | set(corpus.validation_documents) == set(plays)
    hamlet = plays["tragedies/hamlet"]
    decoded = corpus.tokenizer.decode(corpus.validation)
    assert hamlet in decoded and hamlet not in corpus.tokenizer.decode(corpus.train[:2_000_000])
    assert 70 <= corpus.vocab_size <= 90
    with pytest.raises(ValueError, match="unknown play 'hamlet-2'"):
        load_shakespeare(validation_plays=["hamlet-2"])


@given(st.lists(st.integers(1, 6), min_size=1, max_size=12), st.integers(0, 30), st.integers(0, 2**31))
def test_windows_are_disjoint_corpus_slices(lengths: list[int], slack: int, seed: int) -> None:
    tokens = np.arange(sum(lengths) + slack) * 7 % 101
    wins, starts = disjoint_windows(tokens, lengths, rng=seed)
    covered = np.zeros(tokens.size, dtype=int)
    for w, s, n in zip(wins, starts, lengths):
        np.testing.assert_array_equal(w, tokens[s : s + n])
        covered[s : s + n] += 1
    assert covered.max() == 1  # no corpus position is in two windows


def test_windows_fill_an_exact_fit_and_are_uniform() -> None:
    # with no slack every window is forced, in a random order; the placement is uniform over orders
    tokens = np.arange(6)
    firsts = [int(disjoint_windows(tokens, [2, 2, 2], rng=s)[1].min()) for s in range(30)]
    assert set(firsts) == {0}
    orders = {tuple(np.argsort(disjoint_windows(tokens, [1, 2, 3], rng=s)[1])) for s in range(200)}
    assert len(orders) == 6  # all 3! orders occur


def test_history_future_windows_and_nonsense() -> None:
    corpus = np.random.default_rng(0).integers(0, 30, size=2000)
    H, F = history_future_windows(corpus, 20, 16, 10, 8, rng=1)
    assert H.shape == (20, 16) and F.shape == (10, 8)
    H2, _ = history_future_windows(corpus, 20, 16, 10, 8, rng=1)
    np.testing.assert_array_equal(H, H2)  # seeded
    P = permute_windows(F, rng=2)
    np.testing.assert_array_equal(np.sort(P, axis=1), np.sort(F, axis=1))
    assert (P != F).any()
    R = random_windows(50, 8, 30, rng=3)
    assert R.shape == (50, 8) and R.min() >= 0 and R.max() < 30
    assert windows_to_tuples(F)[0] == tuple(int(t) for t in F[0])


def test_corpus_too_short_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="corpus of 100 tokens is too short for 12 disjoint windows"):
        history_future_windows(np.zeros(100, dtype=int), 10, 10, 2, 10, rng=0)
    with pytest.raises(ValueError, match="tokens: must be a 1-D token stream"):
        disjoint_windows(np.zeros((3, 3), dtype=int), [1])
    with pytest.raises(ValueError, match="history_length: must be >= 1, got 0"):
        history_future_windows(np.zeros(100, dtype=int), 1, 0, 1, 1)


def test_bpe_tokenizer_offline_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = shakespeare_plays()["tragedies/macbeth"][:8000]
    tok = train_bpe_tokenizer(text, 300)
    assert tok.vocab_size == 300
    ids = tok.encode(text[:500])
    assert ids.max() < 300 and tok.decode(ids) == text[:500]
    assert ids.size < 400  # merges make it shorter than the 500 characters
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    np.testing.assert_array_equal(again.encode(text[:500]), ids)
    with pytest.raises(ValueError, match="vocab_size: must be an integer >= 257"):
        train_bpe_tokenizer(text, 100)
