"""experiments.kl_scales_fit (the scale-consistency figure's experiment): tiny preset through the runner,
exact round trip of its Result, a planted rank recovered at every scale and a planted power law recovered
by the per-scale fits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import tol

import simulators
from experiments import Job, ModelInputs, Runner, experiment, kl_scales
from experiments import kl_scales_fit as exp

D = 3  # the ISAN's dimension: its logit matrices have rank <= D, so rank-D truncations are exact


def isan_inputs() -> ModelInputs:
    isan = simulators.TimeVaryingISAN.random(6, D, 8, rng=0)
    return ModelInputs.of(isan, isan.sample(400, rng=1).reshape(-1), identity={"model": "isan"})


def tiny_config() -> exp.Config:
    return exp.Config.tiny(history_length=4, future_length=3)  # windows inside the ISAN's horizon 8


def test_tiny_preset_runs_and_round_trips_exactly(tmp_path: Path) -> None:
    assert experiment("kl_scales_fit") is exp
    res = Runner(tmp_path).run(Job("kl_scales_fit", tiny_config(), isan_inputs(), seed=0))
    direct = exp.run(isan_inputs(), tiny_config(), rng=0)
    assert json.dumps(direct.to_dict()) == json.dumps(res)  # the runner stores the experiment's own numbers
    back = exp.Result.from_dict(res)
    assert json.dumps(back.to_dict()) == json.dumps(res)
    assert [sc["n"] for sc in back.scales] == [32, 16, 8] and back.k == 8 and back.history_len == 4


def test_planted_rank_gives_zero_kl_from_rank_d_at_every_scale() -> None:
    res = exp.run(isan_inputs(), tiny_config(), rng=0)
    for sc in res.scales:
        r, kl = np.asarray(sc["ranks"]), np.asarray(sc["kl"])
        assert r.max() < sc["n"]  # only ranks below the matrix size are kept
        assert np.all(kl[r >= D] < 1e-12) and np.all(kl[r < D] > 1e-3), sc["n"]


def test_planted_power_law_is_recovered_by_each_scale_fit() -> None:
    ranks = np.array([1, 2, 4, 5, 8, 10, 16, 20, 32, 40, 64])
    sizes = np.array([64, 32])
    kl = np.array([0.3 * ranks**-1.2, 0.5 * ranks**-0.7])
    res = kl_scales.Result(sizes=sizes, ranks=ranks, kl=kl, frobenius_bound=4 * kl)
    fits = exp.scale_fits(res)
    assert [f["n"] for f in fits] == [64, 32]
    assert fits[1]["ranks"].max() < 32 and fits[0]["ranks"].max() == 40
    for f, slope in zip(fits, (-1.2, -0.7), strict=True):
        np.testing.assert_allclose([f["fit"]["slope"], f["tail_fit"]["slope"]], slope, **tol())
        assert f["fit"]["range"][0] == 5 and f["fit"]["range"][1] <= f["n"] / 2


def test_sizes_must_divide_the_largest() -> None:
    with pytest.raises(ValueError, match=r"sizes: each must divide the largest \(32\), got 12"):
        exp.run(isan_inputs(), exp.Config.tiny(sizes=(32, 12)), rng=0)
