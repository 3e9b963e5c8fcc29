"""The experiments layer's runner: one stored result per (experiment, config, inputs identity, seed, code),
computed once, read back identically, never served for another configuration (issue 21; F14's cause)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import simulators
from experiments import EXPERIMENTS, Job, ModelInputs, NoInputs, Runner, experiment, synthetic_spectra
from experiments import spectrum as spectrum_exp


def isan_inputs(name: str = "isan-a") -> ModelInputs:
    isan = simulators.TimeVaryingISAN.random(3, 3, 8, rng=0)
    return ModelInputs.of(isan, isan.sample(200, rng=1).reshape(-1), identity={"model": name})


def test_a_job_is_computed_once_and_read_back_identically(tmp_path: Path) -> None:
    config = spectrum_exp.Config(12, 3, 12, 2, None)
    first = Runner(tmp_path).run(Job("spectrum", config, isan_inputs(), seed=4))
    again = Runner(tmp_path)
    second = again.run(Job("spectrum", config, isan_inputs(), seed=4))
    assert again.cache.loaded == ["spectrum"] and again.cache.computed == []
    assert json.dumps(first) == json.dumps(second)
    direct = spectrum_exp.run(isan_inputs(), config, rng=4).to_dict()
    np.testing.assert_array_equal(second["singular_values"], direct["singular_values"])
    assert second["fit"]["alpha"] == direct["fit"]["alpha"]


@pytest.mark.parametrize("change", ["seed", "config", "inputs"])
def test_another_seed_config_or_model_is_recomputed_not_served(tmp_path: Path, change: str) -> None:
    config = spectrum_exp.Config(12, 3, 12, 2, None)
    base = Runner(tmp_path).run(Job("spectrum", config, isan_inputs(), seed=4))
    job = {"seed": Job("spectrum", config, isan_inputs(), seed=5),
           "config": Job("spectrum", spectrum_exp.Config(10, 3, 12, 2, None), isan_inputs(), seed=4),
           "inputs": Job("spectrum", config, isan_inputs("isan-b"), seed=4)}[change]
    runner = Runner(tmp_path)
    with pytest.warns(UserWarning, match="function or parameters changed"):
        other = runner.run(job)
    assert runner.cache.computed == ["spectrum"]
    if change != "inputs":  # the same model under another name gives the same numbers, recomputed
        assert other["singular_values"] != base["singular_values"]


def test_every_registered_experiment_has_presets_and_synthetic_spectra_runs_tiny(tmp_path: Path) -> None:
    """The registry is the one list; the synthetic spectra run from their tiny preset through the runner
    (planted family: the fit lands near its true alpha)."""
    assert {"spectrum", "hidden_dim_width", "synthetic_spectra"} <= set(EXPERIMENTS)
    assert experiment("synthetic_spectra") is synthetic_spectra
    res = Runner(tmp_path).run(Job("synthetic_spectra", synthetic_spectra.Config.tiny(), NoInputs(), seed=0))
    assert list(res["families"]) == [f for f, *_ in synthetic_spectra.FAMILIES]
    back = synthetic_spectra.Result.from_dict(res)
    assert set(back.families) == set(res["families"])
    isan = res["families"]["isan"]
    s = np.asarray(isan["s"])
    assert np.sum(s > 1e-8 * s[0]) <= 3  # an exact ISAN of dimension d = 3 has logit rank <= 3


def test_a_part_param_named_seed_does_not_stand_in_for_the_jobs_seed(tmp_path: Path) -> None:
    """``part("p", f, seed=0)`` under jobs of seeds 0 and 1 stores and serves each job's own value (the
    param once overwrote the job's ``seed`` in the key, so seed 1 was served seed 0's part)."""
    from experiments import part

    def compute(job: Job, key: dict) -> dict:
        return {"value": part("p", lambda: job.seed, seed=0)}

    config = spectrum_exp.Config(12, 3, 12, 2, None)
    zero = Runner(tmp_path).run(Job("spectrum", config, NoInputs(), seed=0), compute)
    with pytest.warns(UserWarning, match="function or parameters changed"):
        one = Runner(tmp_path).run(Job("spectrum", config, NoInputs(), seed=1), compute)
    assert (zero["value"], one["value"]) == (0, 1)


def test_code_version_follows_the_modules_an_experiment_depends_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing a module named in DEPENDS (here: spectrum, under spectra) changes the code version; a module
    outside the dependencies does not; every name in every DEPENDS imports."""
    import importlib

    from experiments import runner

    for name in EXPERIMENTS:
        for dep in getattr(experiment(name), "DEPENDS", ()):
            importlib.import_module(dep)
    assert {"experiments.spectrum", "experiments.synthetic_spectra"} <= set(
        runner.dependencies("experiments.spectra"))
    before = runner.code_version("spectra")
    real = runner.source_hash

    def edited(changed: str) -> object:
        return lambda name: real(name) + ("-edited" if name == changed else "")
    monkeypatch.setattr(runner, "source_hash", edited("experiments.spectrum"))
    assert runner.code_version("spectra") != before
    monkeypatch.setattr(runner, "source_hash", edited("experiments.kl_scales"))
    assert runner.code_version("spectra") == before
