"""The Gram spectrum of shards (issue 25): one reused block buffer and an in-place Gram, checked by traced
memory (not time), and equal to the dense SVD across block sizes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.linalg import svdvals

from logitrank import random_futures, random_histories
from logitrank.shards import extract
from simulators import PlantedSpectrum


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    model = PlantedSpectrum.random(10, 24, 8, alpha=0.6, rng=0)
    H = random_histories(10, 200, 4, rng=1)
    F = random_futures(10, 300, 3, rng=2)
    return extract(model, H, F, tmp_path_factory.mktemp("gram"), shard_rows=48, progress=False)


@pytest.mark.parametrize("block", [pytest.param(1, marks=pytest.mark.slow), 37, 1000, 5000])
def test_gram_of_shards_equals_the_dense_svd(shards, block):
    dense = svdvals(shards.to_logit_matrix().values)
    got = shards.singular_values(block_columns=block)
    k = int((dense > 1e-6 * dense[0]).sum())
    np.testing.assert_allclose(got[:k], dense[:k], rtol=1e-9)


def test_gram_of_shards_holds_one_block_and_the_gram(shards):
    nh, n = shards.shape
    c = 1000
    shards.singular_values(block_columns=c)  # first use verifies the shards' checksums: not counted
    tracemalloc.start()
    shards.singular_values(block_columns=c)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    need = 8 * nh * (nh + c)  # G and one float64 block: two blocks or a B B^T temporary would exceed it
    assert peak < 1.25 * need, (peak, need)
