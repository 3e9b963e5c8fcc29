"""experiments.spectra (Figure 1's experiment: the synthetic families and a run's checkpoints): tiny preset
through the runner, exact round trip, the parts equal to the experiments they compose, and planted structure
(a rank-d checkpoint's spectrum, the shared windows of step 0 and the final step)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import tol

import simulators
from experiments import Job, NoInputs, Runner, experiment, spectra, spectrum, synthetic_spectra
from experiments.base import CheckpointInputs
from logitrank.results_io import to_jsonable

V, T = 6, 17  # horizon 17: the F = H ablation's futures are as long as the histories (8 + 8 tokens)
DIMS = {0: 4, 3: 5}  # step -> dimension of that checkpoint (an exact ISAN)


def series(dims: dict[int, int] = DIMS) -> CheckpointInputs:
    def load(step: int) -> simulators.TimeVaryingISAN:
        return simulators.TimeVaryingISAN.random(V, dims[step], T, rng=dims[step])

    return CheckpointInputs(identity={"run": "isan", "dims": list(dims.values())}, steps=tuple(dims),
                            val_loss={3: 1.25}, load=load,
                            load_tokens=lambda: load(max(dims)).sample(300, rng=1).reshape(-1))


def test_tiny_preset_runs_through_the_runner_and_round_trips_exactly(tmp_path: Path) -> None:
    assert experiment("spectra") is spectra
    res = Runner(tmp_path).run(Job("spectra", spectra.Config.tiny(), series(), seed=0))
    back = spectra.Result.from_dict(res)
    assert json.dumps(back.to_dict()) == json.dumps(res)
    assert (res["transformer"]["steps"], res["transformer"]["val_loss"]) == (3, 1.25)
    assert (res["transformer_step0"]["steps"], res["transformer_step0"]["val_loss"]) == (0, None)
    assert list(res["ablations"]) == ["random_tokens", "futures_eq_histories"]
    assert len(res["draws"]["alpha"]) == 3 and res["draws"]["n_histories"] == 12


def test_parts_are_the_composed_experiments_and_planted_ranks_show() -> None:
    cfg = spectra.Config.tiny()
    res = spectra.run(series(), cfg, rng=0)
    fams = synthetic_spectra.run(NoInputs(), cfg.synthetic, rng=0).families
    assert json.dumps(to_jsonable(res.families)) == json.dumps(to_jsonable(fams))
    alone = spectrum.run(series().at(3), spectrum.Config(24, 8, 24, 3, 8), rng=0)
    np.testing.assert_array_equal(res.transformer["s"], alone.singular_values)
    for entry, d in ((res.transformer, DIMS[3]), (res.transformer_step0, DIMS[0])):
        s = np.asarray(entry["s"])
        assert np.sum(s > 1e-8 * s[0]) == d  # a random exact ISAN of dimension d: logit rank d


def test_step0_and_final_share_windows_and_random_tokens_at_k_ge_v_is_the_main_matrix() -> None:
    same = series({0: 5, 3: 5})  # the same weights at both steps
    res = spectra.run(same, spectra.Config.tiny(), rng=1)
    np.testing.assert_array_equal(res.transformer["s"], res.transformer_step0["s"])
    # k = 8 >= V = 6: "k random tokens per future" keeps every token, so only the column order differs
    np.testing.assert_allclose(res.ablations["random_tokens"]["s"], res.transformer["s"], **tol())


def test_the_series_must_hold_step_0() -> None:
    with pytest.raises(ValueError, match=r"spectra needs the step-0 checkpoint .*`checkpoints`.*\[3, 5\]"):
        spectra.run(series({3: 4, 5: 5}), spectra.Config.tiny(), rng=0)
