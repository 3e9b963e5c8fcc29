"""Sharded extraction and spectra on a ``dask.distributed`` cluster (the ``[dist]`` extra).

:func:`extract_distributed` writes exactly the shard directory of :func:`logitrank.shards.extract`
(same manifest, same files, same bits) but computes the row shards as tasks on a dask cluster:

* the model is built **on each worker** from a picklable ``model_factory`` (a function or
  ``functools.partial``, e.g. ``partial(load_model, "model.npz")`` or a partial building a HF model on the
  worker's GPU) and cached there, so each worker holds one replica however many shards it computes;
* workers write their shards atomically into ``out``, which must be on a file system every worker sees
  (always true for a ``LocalCluster``); a kill loses at most the shards in flight and re-running skips
  finished shards;
* without ``client`` or ``scheduler_address`` a ``LocalCluster`` is started (one single-threaded worker
  per ``n_workers``; with ``gpu=True``, or ``gpu=None`` and ``dask_cuda`` finding GPUs, a
  ``dask_cuda.LocalCUDACluster`` with one worker per GPU) and closed at the end;
* a ``scheduler_address`` that does not answer within ``connect_timeout`` seconds raises
  ``ConnectionError`` before anything is written.

:func:`shards_as_dask_array` exposes a shard directory as a lazy ``dask.array`` (one chunk per shard and
column block) and :func:`dask_singular_values` runs ``dask.array.linalg.svd_compressed`` on it with
``iterator="QR"``: the default ``"power"`` iterator does not re-orthonormalise between power iterations
and loses singular values beyond the top ~10 to round-off (81 % error on sigma_11..50 of a planted
4000 x 50000 matrix, against 2e-6 with ``"QR"``).

dask is imported lazily inside each function; without it they raise an ``ImportError`` naming the extra.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .sequence_model import SequenceModel
from .sharded_matrix import ShardedMatrix, open_shards, save_shard, shard_name
from .shards import (
    ShardPlan,
    check_writable_dir,
    compute_rows,
    future_sums,
    model_fingerprint,
    plan_extraction,
)
from .validation import RngLike, check_int, check_positive_int, check_prefixes

__all__ = ["extract_distributed", "extract_here_or_on_dask", "shards_as_dask_array", "dask_singular_values"]

_LOCAL_MODELS: dict[str, Any] = {}


def _require_dask() -> Any:
    try:
        import dask.array  # noqa: F401
        import distributed
    except ImportError as exc:
        raise ImportError("logitrank.distributed needs dask.distributed, the [dist] extra: "
                          "pip install 'logit-rank[dist]'") from exc
    return distributed


def _replica(factory: Callable[[], SequenceModel], key: str) -> SequenceModel:
    """The model built by ``factory`` on this worker, built once per worker and cached."""
    from distributed import get_worker

    try:
        cache = get_worker().__dict__.setdefault("_logitrank_models", {})
    except ValueError:  # not inside a worker (e.g. the synchronous scheduler)
        cache = _LOCAL_MODELS
    if key not in cache:
        cache.clear()
        cache[key] = factory()
    return cache[key]


def _model_info(factory: Callable[[], SequenceModel], key: str,
                probe: list[tuple[int, ...]]) -> tuple[int, int, str]:
    model = _replica(factory, key)
    V, T = int(model.vocab_size), int(model.horizon)
    ok = [p for p in probe if len(p) <= T - 1 and all(0 <= t < V for t in p)]
    return V, T, model_fingerprint(model, ok or [()])


def _sums_task(factory: Callable[[], SequenceModel], key: str, rows: list[tuple[int, ...]],
               futures: list[tuple[int, ...]]) -> np.ndarray:
    return future_sums(_replica(factory, key), rows, futures)


def _shard_task(factory: Callable[[], SequenceModel], key: str, out: str, index: int,
                rows: list[tuple[int, ...]], futures: list[tuple[int, ...]], tokens: np.ndarray | None,
                dtype: str) -> int:
    array = compute_rows(_replica(factory, key), rows, futures, tokens, dtype)
    save_shard(Path(out), index, array)  # the shard, then its size and SHA-256 beside it
    return index


def _connect(client: Any, scheduler_address: str | None, connect_timeout: float, n_workers: int,
             processes: bool, gpu: bool | None) -> tuple[Any, Any]:
    """Return ``(client, cluster_we_own_or_None)``."""
    distributed = _require_dask()
    if client is not None:
        if scheduler_address is not None:
            raise ValueError(f"scheduler_address: give a client or an address, not both; got "
                             f"{scheduler_address!r} and a client")
        return client, None
    if scheduler_address is not None:
        try:
            return distributed.Client(scheduler_address, timeout=connect_timeout), None
        except ValueError as exc:  # dask's own words ("missing port number") do not say what was expected
            raise ValueError(f"scheduler_address: must be a dask scheduler address such as tcp://host:8786, "
                             f"got {scheduler_address!r} ({exc})") from exc
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"scheduler_address: no dask scheduler answered at {scheduler_address!r} "
                                  f"within {connect_timeout:g} s ({exc}); nothing was written") from exc
    cluster = None
    if gpu is not False:
        try:
            from dask_cuda import LocalCUDACluster
            from dask_cuda.utils import get_n_gpus

            if get_n_gpus() > 0:
                cluster = LocalCUDACluster(dashboard_address=None)
        except Exception as exc:  # dask_cuda missing or no GPU: fall back to CPU workers
            if gpu:
                raise ValueError(f"gpu: True needs dask_cuda and a visible GPU, got {exc!r}") from exc
    if cluster is None:
        cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                                           dashboard_address=None)
    return distributed.Client(cluster), cluster


def extract_distributed(
    model_factory: Callable[[], SequenceModel],
    histories: Sequence[Sequence[int]],
    futures: Sequence[Sequence[int]],
    out: str | Path,
    *,
    client: Any = None,
    scheduler_address: str | None = None,
    shard_rows: int = 256,
    top_k: int | None = None,
    token_rule: str = "mean",
    dtype: str = "float32",
    model_id: str | None = None,
    rng: RngLike = None,
    n_workers: int = 2,
    processes: bool = False,
    gpu: bool | None = None,
    connect_timeout: float = 10.0,
    progress: bool | None = None,
) -> ShardedMatrix:
    """:func:`logitrank.shards.extract` with the shards computed by dask workers.

    Parameters
    ----------
    model_factory : picklable callable returning a SequenceModel, called once on each worker
    histories, futures, shard_rows, top_k, token_rule, dtype, model_id, rng, progress :
        as in :func:`logitrank.shards.extract` (the default ``model_id`` is the fingerprint of the model a
        worker built). ``token_rule="mean"`` with ``top_k`` runs the first pass (per-shard future sums) as
        tasks too, accumulated in shard order so the tokens equal those of a local run.
    client : dask.distributed.Client, optional ; scheduler_address : str, optional
        Where to run; neither: a LocalCluster owned (and closed) by this call.
    n_workers, processes, gpu : the LocalCluster's workers, whether they are processes, CUDA workers
    connect_timeout : seconds to wait for ``scheduler_address``

    Returns
    -------
    ShardedMatrix over ``out``.
    """
    connect_timeout = float(connect_timeout)
    if not connect_timeout > 0:
        raise ValueError(f"connect_timeout: must be > 0 seconds, got {connect_timeout}")
    n_workers = check_positive_int("n_workers", n_workers)
    check_writable_dir(out)
    cl, own = _connect(client, scheduler_address, connect_timeout, n_workers, processes, gpu)
    try:
        key = uuid.uuid4().hex
        plan = _plan_remotely(cl, model_factory, key, histories, futures, out, model_id=model_id,
                              shard_rows=shard_rows, top_k=top_k, token_rule=token_rule, dtype=dtype, rng=rng)
        F_remote = cl.scatter(plan.futures, broadcast=True)
        show = progress if progress is not None else len(plan.bounds) > 20
        if plan.manifest["top_k"] is not None and plan.manifest["tokens"] is None:
            _remote_token_means(cl, plan, model_factory, key, F_remote, show)
        _remote_shards(cl, plan, model_factory, key, F_remote, show)
    finally:
        if own is not None:
            cl.close()
            own.close()
    return open_shards(plan.out)


def _plan_remotely(cl: Any, model_factory: Callable[[], SequenceModel], key: str,
                   histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]], out: str | Path, *,
                   model_id: str | None, shard_rows: int, top_k: int | None, token_rule: str, dtype: str,
                   rng: RngLike) -> ShardPlan:
    """The extraction's plan, with the vocabulary, horizon and fingerprint of the model a worker builds;
    partial files of killed runs are removed."""
    raw = check_prefixes("histories", histories, 1 << 62, None)
    F0 = check_prefixes("futures", futures, 1 << 62, None)
    probe = [(), raw[0] + F0[0]]
    V, T, fingerprint = cl.submit(_model_info, model_factory, key, probe, pure=False).result()
    plan = plan_extraction(out, raw, F0, vocab_size=V, horizon=T,
                           model_id=fingerprint if model_id is None else model_id, shard_rows=shard_rows,
                           top_k=top_k, token_rule=token_rule, dtype=dtype, rng=rng)
    for stale in plan.out.glob("*.tmp"):
        stale.unlink(missing_ok=True)
    return plan


def _remote_token_means(cl: Any, plan: ShardPlan, model_factory: Callable[[], SequenceModel], key: str,
                        F_remote: Any, show: bool) -> None:
    """The "mean" first pass on the workers: per-shard future sums, saved after each shard (resumable),
    then the top-k tokens recorded in the manifest."""
    H = plan.histories
    sums, done = plan.pending_means()
    todo = [i for i in range(len(plan.bounds)) if not done[i]]
    jobs = [cl.submit(_sums_task, model_factory, key, H[slice(*plan.bounds[i])], F_remote, pure=False)
            for i in todo]
    for i, job in tqdm(list(zip(todo, jobs, strict=True)), disable=not show, desc="token means"):
        sums = sums + job.result()  # in shard order, as the local path, for identical tokens
        done = done.copy()
        done[i] = True
        plan.save_means(sums, done)
    plan.set_tokens(sums)


def _remote_shards(cl: Any, plan: ShardPlan, model_factory: Callable[[], SequenceModel], key: str,
                   F_remote: Any, show: bool) -> None:
    """Compute the plan's missing shards on the workers (each worker writes its shard file)."""
    H, tokens = plan.histories, plan.tokens
    jobs = [cl.submit(_shard_task, model_factory, key, str(plan.out), i, H[slice(*plan.bounds[i])],
                      F_remote, tokens, plan.manifest["dtype"], pure=False) for i in plan.missing()]
    distributed = _require_dask()
    for job in tqdm(distributed.as_completed(jobs), total=len(jobs), disable=not show, desc="shards"):
        job.result()


def extract_here_or_on_dask(
    model: SequenceModel,
    model_factory: Callable[[], SequenceModel],
    histories: Sequence[Sequence[int]],
    futures: Sequence[Sequence[int]],
    out: str | Path,
    *,
    scheduler_address: str | None = None,
    local_cluster: bool = False,
    n_workers: int = 2,
    connect_timeout: float = 10.0,
    **kwargs: Any,
) -> ShardedMatrix:
    """:func:`logitrank.shards.extract` of ``model`` in this process when neither ``scheduler_address`` nor
    ``local_cluster`` is given, else :func:`extract_distributed` of ``model_factory`` on that scheduler or a
    ``LocalCluster`` of ``n_workers`` (the same shard directory either way). ``kwargs``: ``shard_rows``,
    ``top_k``, ``token_rule``, ``dtype``, ``model_id``, ``rng``, ``progress``."""
    if scheduler_address is None and not local_cluster:
        from .shards import extract

        return extract(model, histories, futures, out, **kwargs)
    return extract_distributed(model_factory, histories, futures, out, scheduler_address=scheduler_address,
                               n_workers=n_workers, connect_timeout=connect_timeout, **kwargs)


def _load_block(path: str, start: int, stop: int) -> np.ndarray:
    mm = np.load(path, mmap_mode="r")
    block = np.array(mm[:, start:stop])
    del mm
    return block


def shards_as_dask_array(path: str | Path, *, column_chunk: int | None = None) -> Any:
    """A complete shard directory as a lazy ``dask.array`` of shape ``(|H|, |F| k)`` in the stored dtype.

    Chunks: one row chunk per shard; ``column_chunk`` columns per column chunk (default: about 64 MiB
    per chunk). Nothing is read until computed.
    """
    _require_dask()
    import dask
    import dask.array as da

    sm = open_shards(path)
    miss = sm.missing()
    if miss:
        raise ValueError(f"path: {str(sm.path)!r} is incomplete ({len(miss)} shards missing, e.g. "
                         f"{miss[:5]}); re-run the extraction to finish")
    sm.verify()  # every shard against its recorded size and SHA-256 before dask reads it
    nh, n = sm.shape
    if column_chunk is None:
        rows = max(b - a for a, b in sm.bounds)
        column_chunk = max(1, (64 << 20) // (rows * sm.dtype.itemsize))
    column_chunk = check_positive_int("column_chunk", column_chunk)
    load = dask.delayed(_load_block, pure=True)
    grid = [[da.from_delayed(load(str(sm.path / shard_name(i)), c, min(n, c + column_chunk)),
                             shape=(b - a, min(n, c + column_chunk) - c), dtype=sm.dtype)
             for c in range(0, n, column_chunk)] for i, (a, b) in enumerate(sm.bounds)]
    return da.block(grid)


def dask_singular_values(
    path: str | Path,
    rank: int,
    client: Any = None,
    *,
    n_power_iter: int = 2,
    oversample: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Top-``rank`` singular values of a shard directory by ``dask.array.linalg.svd_compressed``.

    Randomized range finder on ``L`` (cast to float64) with ``n_power_iter`` QR-re-orthonormalised power
    iterations (``iterator="QR"``) and ``oversample`` extra columns: error ~
    ``(sigma_{rank+oversample+1}/sigma_i)^(2 n_power_iter + 1)``.

    Parameters
    ----------
    path : shard directory ; rank : int, ``1 <= rank <= min(shape)``
    client : dask.distributed.Client, optional (default: dask's current scheduler)
    n_power_iter, oversample : int, ``>= 0`` ; seed : int

    Returns
    -------
    array, shape (rank,), float64, descending.
    """
    _require_dask()
    import dask.array as da

    a = shards_as_dask_array(path).astype(np.float64)
    rank = check_positive_int("rank", rank, maximum=min(a.shape))
    n_power_iter = check_int("n_power_iter", n_power_iter, minimum=0)
    oversample = check_int("oversample", oversample, minimum=0)
    _, s, _ = da.linalg.svd_compressed(a, rank, iterator="QR", n_power_iter=n_power_iter,
                                       n_oversamples=oversample, seed=seed)
    values = client.compute(s).result() if client is not None else s.compute()
    return np.asarray(values, dtype=np.float64)
