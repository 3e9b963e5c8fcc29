"""Dask: sharded extraction on a 2-worker LocalCluster, svd_compressed accuracy, unreachable schedulers."""

from __future__ import annotations

import functools
import socket
import sys
import time

import distributed  # the [dist] extra, installed in CI
import numpy as np
import pytest
from conftest import tol

from logitrank import extended_logit_matrix, random_futures, random_histories
from logitrank.distributed import dask_singular_values, extract_distributed, shards_as_dask_array
from logitrank.shards import extract
from simulators import TimeVaryingISAN

V, D, T, TH = 8, 24, 8, 3


def planted_isan(decay: float = 0.6) -> TimeVaryingISAN:
    """A random ISAN whose singular values decay like ``decay^i``: readout columns scaled by ``decay^i`` and
    identity transitions after the history, so no future mixes the scaled state coordinates."""
    base = TimeVaryingISAN.random(V, D, T, rng=0)
    A = base.A.copy()
    A[TH:] = np.eye(D)
    return TimeVaryingISAN(base.x0, A, base.B * (decay ** np.arange(D))[None, None, :])


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=":0")
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def sets():
    return random_histories(V, 160, TH, rng=1), random_futures(V, 60, T - 1 - TH, rng=2)


@pytest.mark.slow
def test_distributed_shards_identical_to_local(client, sets, tmp_path):
    H, F = sets
    factory = functools.partial(TimeVaryingISAN.random, V, 6, T, rng=3)  # picklable, built on each worker
    model = factory()
    local = extract(model, H, F, tmp_path / "local", shard_rows=40, top_k=4)
    dist = extract_distributed(factory, H, F, tmp_path / "dist", client=client, shard_rows=40, top_k=4)
    assert dist.manifest == local.manifest  # same fingerprint, sets, tokens (first pass in shard order)
    for a, b in zip(local.row_blocks(), dist.row_blocks(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(shards_as_dask_array(tmp_path / "dist", column_chunk=50).compute(),
                                  extended_logit_matrix(model, H, F, top_k=4).values.astype(np.float32))
    other = functools.partial(TimeVaryingISAN.random, V, 6, T, rng=4)
    with pytest.raises(ValueError, match="refusing to mix results.*model_id"):
        extract_distributed(other, H, F, tmp_path / "dist", client=client, shard_rows=40, top_k=4)


@pytest.mark.slow
def test_dask_svd_compressed_matches_local_gram(client, sets, tmp_path):
    H, F = sets
    factory = functools.partial(planted_isan, 0.6)
    sm = extract_distributed(factory, H, F, tmp_path, client=client, shard_rows=40, dtype="float64")
    local = sm.singular_values()[:10]
    s = dask_singular_values(tmp_path, 10, client)
    np.testing.assert_allclose(s, local, rtol=1e-6)  # the acceptance criterion (QR iterator, 2 iterations)
    np.testing.assert_allclose(s, local, rtol=tol(np.float64, scale=1e3)["rtol"])  # in fact round-off level
    # without power iterations sigma_21 / sigma_10 = 0.6^11 ~ 4e-3 leaves an error the test would catch
    rough = dask_singular_values(tmp_path, 10, client, n_power_iter=0)
    assert np.abs(rough / local - 1).max() > 1e-6


@pytest.mark.slow
def test_default_local_cluster(sets, tmp_path):
    H, F = sets
    factory = functools.partial(TimeVaryingISAN.random, V, 6, T, rng=3)
    sm = extract_distributed(factory, H[:30], F[:10], tmp_path, shard_rows=8)  # starts and closes its own
    np.testing.assert_array_equal(sm.to_logit_matrix().values,
                                  extended_logit_matrix(factory(), H[:30], F[:10]).values.astype(np.float32))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_clear_error_within_timeout(sets, tmp_path):
    H, F = sets
    factory = functools.partial(TimeVaryingISAN.random, V, 6, T, rng=3)
    extract(factory(), H, F, tmp_path, shard_rows=40)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    start = time.monotonic()
    with pytest.raises(ConnectionError, match="scheduler_address: no dask scheduler answered .* within 1 s"):
        extract_distributed(factory, H, F, tmp_path, scheduler_address=f"tcp://127.0.0.1:{free_port()}",
                            connect_timeout=1, shard_rows=40)
    assert time.monotonic() - start < 10
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_missing_dask_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"\[dist\]"):
        dask_singular_values(tmp_path, 1)
