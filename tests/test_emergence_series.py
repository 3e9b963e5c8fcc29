"""experiments.emergence over a checkpoint series (:class:`experiments.base.CheckpointInputs`, the
emergence figure's inputs): tiny preset through the runner, exact round trip, the validation losses carried,
each checkpoint measured on the same windows as alone, and planted ranks recovered step by step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import simulators
from experiments import Job, ModelInputs, Runner, emergence, experiment
from experiments.base import CheckpointInputs

V, T = 6, 12
DIMS = {0: 3, 5: 4, 10: 6}  # step -> planted dimension of that "checkpoint" (an exact ISAN)


def isan(step: int) -> simulators.TimeVaryingISAN:
    return simulators.TimeVaryingISAN.random(V, DIMS[step], T, rng=step)


def tokens() -> np.ndarray:
    return isan(10).sample(300, rng=1).reshape(-1)


def series(loaded: list[int] | None = None) -> CheckpointInputs:
    def load(step: int) -> simulators.TimeVaryingISAN:
        if loaded is not None:
            loaded.append(step)
        return isan(step)

    return CheckpointInputs(identity={"run": "isan"}, steps=tuple(DIMS), val_loss={0: 2.5, 10: 1.5},
                            load=load, load_tokens=tokens)


def test_tiny_preset_runs_through_the_runner_and_round_trips_exactly(tmp_path: Path) -> None:
    assert experiment("emergence") is emergence
    loaded: list[int] = []
    res = Runner(tmp_path).run(Job("emergence", emergence.Config.tiny(), series(loaded), seed=0))
    assert loaded == [0, 5, 10]  # each checkpoint loaded once, in step order
    assert res["steps"] == [0, 5, 10] and res["val_loss"] == [2.5, None, 1.5] and res["ranks"] == [2]
    back = emergence.Result.from_dict(res)
    assert json.dumps(back.to_dict()) == json.dumps(res)
    again = Runner(tmp_path)
    assert again.run(Job("emergence", emergence.Config.tiny(), series(loaded), seed=0)) == res
    assert again.cache.loaded == ["emergence"] and loaded == [0, 5, 10]  # a cache hit loads no model


def test_each_checkpoint_is_measured_as_alone_on_the_same_windows() -> None:
    cfg = emergence.Config.tiny()
    whole = emergence.run(series(), cfg, rng=3)
    for i, step in enumerate(DIMS):
        alone = emergence.run(ModelInputs.of([(step, isan(step))], tokens()), cfg, rng=3)
        np.testing.assert_array_equal(alone.kl[0], whole.kl[i])
        assert (alone.alpha[0], alone.alpha_lo[0]) == (whole.alpha[i], whole.alpha_lo[i])


def test_planted_dimensions_show_in_the_truncation_kl() -> None:
    res = emergence.run(series(), emergence.Config.tiny(ranks=(2, 3, 4, 6)), rng=0)
    for i, d in enumerate(DIMS.values()):
        exact = res.ranks >= d  # a rank-d model's truncation at rank >= d loses nothing
        assert np.all(res.kl[i][exact] < 1e-12) and np.all(res.kl[i][~exact] > 1e-4), (d, res.kl[i])
        assert np.sum(res.singular_values[i] > 1e-8 * res.singular_values[i][0]) <= d


def test_a_step_outside_the_series_is_refused() -> None:
    with pytest.raises(ValueError, match="step: must be one of 0, 5, 10, got 3"):
        series().model(3)


def test_a_killed_series_resumes_from_its_finished_checkpoints(tmp_path: Path) -> None:
    # the run dies while loading the last checkpoint; the re-run loads only that one and gives the numbers
    # of an uninterrupted run (each checkpoint is a stored part of the job)
    loaded: list[int] = []

    def dying(step: int) -> simulators.TimeVaryingISAN:
        if step == 10:
            raise KeyboardInterrupt
        loaded.append(step)
        return isan(step)

    killed = CheckpointInputs(identity={"run": "isan"}, steps=tuple(DIMS), val_loss={0: 2.5, 10: 1.5},
                              load=dying, load_tokens=tokens)
    job = Job("emergence", emergence.Config.tiny(), killed, seed=0)
    with pytest.raises(KeyboardInterrupt):
        Runner(tmp_path).run(job)
    assert loaded == [0, 5]
    resumed: list[int] = []
    res = Runner(tmp_path).run(Job("emergence", emergence.Config.tiny(), series(resumed), seed=0))
    assert resumed == [10]
    assert res == Runner(tmp_path / "fresh").run(Job("emergence", emergence.Config.tiny(), series(), seed=0))
    # another seed is another job: its parts are not served from this one's
    other: list[int] = []
    Runner(tmp_path).run(Job("emergence", emergence.Config.tiny(), series(other), seed=1))
    assert other == [0, 5, 10]
