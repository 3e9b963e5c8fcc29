"""The brute-force subset-search reference of the noisy-parity comparison (experiments.learning):
bit-packed search against a naive loop, planted-subset recovery, and its exact label KL against
enumeration of every bit string."""

from __future__ import annotations

import itertools
import math

import numpy as np
from conftest import tol

from experiments.learning import subset_search, subset_search_curve, subset_search_label_kl
from simulators import NoisyParity


def test_packed_search_equals_a_naive_loop_over_subsets():
    rng = np.random.default_rng(0)
    for N, n, k in ((37, 6, 3), (64, 5, 2), (130, 7, 4), (9, 4, 0), (20, 4, 4)):
        bits, labels = rng.integers(0, 2, (N, n)), rng.integers(0, 2, N)
        counts = [int(((bits[:, list(c)].sum(axis=1) % 2) != labels).sum())
                  for c in itertools.combinations(range(n), k)]
        best = int(np.argmin(counts))  # first minimum, like the fast path
        assert subset_search(bits, labels, k) == (tuple(list(itertools.combinations(range(n), k))[best]),
                                                  counts[best])


def test_search_recovers_a_planted_subset_and_its_noise():
    target = NoisyParity.random(14, 6, 0.1, rng=3)
    seqs = target.sample(400, rng=4)
    found, wrong = subset_search(seqs[:, :14], seqs[:, 14], 6)
    assert found == tuple(sorted(int(j) for j in target.subset))
    assert abs(wrong / 400 - 0.1) < 0.05
    # a negative control: labels independent of the bits leave every subset near 1/2
    _, wrong = subset_search(seqs[:, :14], np.random.default_rng(5).integers(0, 2, 400), 6)
    assert wrong / 400 > 0.35


def test_label_kl_formula_matches_enumeration_of_all_bit_strings():
    n, eta, eta_hat = 6, 0.1, 0.23
    truth, other = (0, 2, 5), (1, 2, 5)
    strings = np.array(list(itertools.product((0, 1), repeat=n)))

    def kl_over_strings(guess):
        p = np.where(strings[:, list(truth)].sum(1) % 2 == 1, 1 - eta, eta)  # Pr[label = 1 | x]
        q = np.where(strings[:, list(guess)].sum(1) % 2 == 1, 1 - eta_hat, eta_hat)
        return float(np.mean(p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))))

    np.testing.assert_allclose(subset_search_label_kl(True, eta, eta_hat), kl_over_strings(truth), **tol())
    np.testing.assert_allclose(subset_search_label_kl(False, eta, eta_hat), kl_over_strings(other), **tol())
    assert subset_search_label_kl(True, eta, eta) == 0.0


def test_curve_turns_from_failing_to_exact_with_samples():
    res = subset_search_curve(12, 6, 0.1, [4, 400], seed=0)
    assert res["subsets"] == math.comb(12, 6) and res["found"] == [False, True]
    assert res["kl"][0] > 0.1 > 0.01 > res["kl"][1]
