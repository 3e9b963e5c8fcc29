"""The library calls behind ``logitrank spectrum`` and ``extract`` on their own: the picklable recipe of a
synthetic model, index sets with defaults valid for every family, the spectrum run and the spectrum of a
shard directory."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest
from conftest import tol

from logitrank import extended_logit_matrix, extract, shard_spectrum, singular_values
from simulators import TimeVaryingISAN
from simulators.index_sets import distinct_count
from simulators.synthetic_spectrum import SyntheticModel, index_sets, parse_settings, synthetic_spectrum


def logits_built_elsewhere(recipe: SyntheticModel, seqs: np.ndarray) -> np.ndarray:
    """Run in a worker process: the recipe arrives pickled, as it does on a Dask worker."""
    return recipe().logits_along_sequences(seqs)


def in_a_worker_process(recipe: SyntheticModel, seqs: np.ndarray) -> np.ndarray:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        return pool.submit(logits_built_elsewhere, recipe, seqs).result()


def test_the_recipe_is_picklable_and_rebuilds_the_same_model_in_another_process() -> None:
    recipe = SyntheticModel("planted", 8, 6, 6, tuple(parse_settings(["alpha=0.7"]).items()), seed=3)
    a = recipe()
    seqs = a.sample(4, rng=0)
    np.testing.assert_array_equal(in_a_worker_process(recipe, seqs), a.logits_along_sequences(seqs))
    other = SyntheticModel("planted", 8, 6, 6, (("alpha", 0.7),), seed=4)()
    assert not np.array_equal(a.logits_along_sequences(seqs), other.logits_along_sequences(seqs))
    plain = SyntheticModel(dim=3, horizon=5, seed=1)()  # a plain "isan" is TimeVaryingISAN.random
    np.testing.assert_array_equal(plain.A, TimeVaryingISAN.random(16, 3, 5, rng=1).A)
    assert recipe.model_id(a) == "planted:V=8:d=6:T=6:seed=3"


def test_settings_are_json_then_float_then_text_and_malformed_ones_are_refused() -> None:
    assert parse_settings(["alpha=0.7", "order=3", "kind=sticky", "x=nan", "l=[1, 2]"]) == \
        {"alpha": 0.7, "order": 3, "kind": "sticky", "x": pytest.approx(float("nan"), nan_ok=True),
         "l": [1, 2]}
    with pytest.raises(ValueError, match="set: must look like KEY=VALUE, got 'alpha'"):
        parse_settings(["alpha"])


def test_index_sets_clip_a_default_size_with_a_note_and_refuse_a_given_size_too_large(capsys) -> None:  # type: ignore[no-untyped-def]
    model = TimeVaryingISAN.random(2, 2, 4, rng=0)  # t = 2: 4 histories; futures of lengths 0..1: 1 + 2 = 3
    t, H, F, _ = index_sets(model, history_length=None, n_histories=None, n_futures=None, default_size=256,
                            seed=0, name="tiny")
    assert (t, len(H), len(F)) == (2, 4, 3) and len(set(H)) == 4 and len(set(F)) == 3
    err = capsys.readouterr().err
    assert "note: tiny has only 4 distinct histories of length 2 over 2 tokens: |H| = 4 instead of the " \
           "default 256" in err and "|F| = 3" in err
    with pytest.raises(ValueError, match=r"histories: must be <= 4 \(the number of distinct histories of "
                                         r"length 2 over 2 tokens\), got 5"):
        index_sets(model, history_length=None, n_histories=5, n_futures=None, default_size=256, seed=0)
    with pytest.raises(ValueError, match=r"history-length: must lie in \[0, 3\]"):
        index_sets(model, history_length=4, n_histories=None, n_futures=None, default_size=8, seed=0)
    assert distinct_count(16, range(0, 100), 256) == 256 and distinct_count(3, range(2), 256) == 4


def test_the_spectrum_run_of_an_isan_has_rank_d_and_writes_its_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    recipe = SyntheticModel("isan", 5, 3, 8, seed=2)
    model = recipe()
    t, H, F, rng = index_sets(model, history_length=None, n_histories=40, n_futures=40, default_size=256,
                              seed=2)
    run = synthetic_spectrum(recipe, model, t, H, F, rng, out=tmp_path, progress=False)
    assert run.summary["numerical_rank"] == 3 == run.summary["rank_bound"]  # exact rank d of an ISAN
    assert run.rtol == 1e-10 and run.matrix.shape == (40, 40 * 5)
    assert [p.name for p in run.files] == ["matrix.npz", "summary.json"]
    assert (tmp_path / "model.npz").is_file()
    assert json.loads((tmp_path / "summary.json").read_text())["numerical_rank"] == 3


def test_the_spectrum_of_a_shard_directory_equals_the_dense_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = TimeVaryingISAN.random(4, 3, 8, rng=0)
    _, H, F, _ = index_sets(model, history_length=None, n_histories=30, n_futures=30, default_size=256,
                            seed=1)
    extract(model, H, F, tmp_path / "shards", shard_rows=7, dtype="float64", model_id="isan-test",
            progress=False)
    sm, summary = shard_spectrum(tmp_path / "shards", tmp_path / "out", rng=0, progress=False)
    dense = singular_values(extended_logit_matrix(model, H, F))
    np.testing.assert_allclose(summary["singular_values"][:3], dense[:3], **tol(np.float64, scale=1e3))
    assert summary["numerical_rank"] == 3 and summary["rtol"] == 1e-6 and summary["model_id"] == "isan-test"
    assert sm.n_shards == 5 and json.loads((tmp_path / "out" / "summary.json").read_text()) == \
        json.loads(json.dumps(summary))


def test_extract_sends_the_frozen_recipe_to_the_workers_never_the_namespace(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What ``logitrank extract`` hands the Dask path as the model factory is the picklable recipe (a worker
    rebuilds the very model from it), not the parsed command line."""
    import argparse

    import logitrank.distributed as distributed
    from logitrank_cli.main import main

    seen = {}

    def fake(model, factory, H, F, out, **kw):  # type: ignore[no-untyped-def]
        seen.update(model=model, factory=factory, model_id=kw["model_id"])
        return extract(model, H, F, out, shard_rows=8, model_id=kw["model_id"], progress=False)

    monkeypatch.setattr(distributed, "extract_here_or_on_dask", fake)
    assert main(["extract", "--model", "planted", "--set", "alpha=0.6", "--vocab", "4", "--dim", "5",
                 "--horizon", "6", "--histories", "20", "--futures", "20", "--seed", "3", "--out",
                 str(tmp_path), "--no-progress"]) == 0
    factory = seen["factory"]
    assert isinstance(factory, SyntheticModel) and not isinstance(factory, argparse.Namespace)
    assert factory == SyntheticModel("planted", 4, 5, 6, (("alpha", 0.6),), 3)
    model = seen["model"]
    seqs = model.sample(3, rng=0)
    np.testing.assert_array_equal(in_a_worker_process(factory, seqs), model.logits_along_sequences(seqs))
    assert seen["model_id"] == "planted:V=4:d=5:T=6:seed=3"
