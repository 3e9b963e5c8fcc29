"""The learning experiments (experiments/learning.py, experiments/provable_learning.py) at their tiny
presets: registered, run through the runner, ``Result`` round-trips exactly through JSON, and the planted
structure is recovered (an exact ISAN's rank, a noisy parity's subset, exact targets learned to TV ~ 0)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from experiments import Job, NoInputs, Runner, experiment
from experiments import learning as learning_exp
from experiments import provable_learning as provable_exp
from logitrank.results_io import to_jsonable


def as_json(d: dict[str, Any]) -> str:
    """Canonical JSON text (NaN written as NaN, so two dicts with NaN compare by their text)."""
    return json.dumps(to_jsonable(d), sort_keys=True)


def run_and_round_trip(name: str, module: Any, tmp_path: Path) -> dict[str, Any]:
    """The tiny preset through the runner (stored and read back); ``Result.from_dict`` of the stored dict
    gives it back exactly, and a second run is served from the store."""
    assert experiment(name) is module
    job = Job(name, module.Config.tiny(), NoInputs(), seed=0)
    runner = Runner(tmp_path)
    stored = runner.run(job)
    back = module.Result.from_dict(json.loads(json.dumps(to_jsonable(stored))))
    assert isinstance(back, module.Result) and as_json(back.to_dict()) == as_json(stored)
    again = Runner(tmp_path)
    assert as_json(again.run(job)) == as_json(stored)
    assert runner.cache.computed == [name] and again.cache.loaded == [name] and again.cache.computed == []
    return stored


def test_learning_tiny_recovers_the_isan_rank_and_the_parity_subset(tmp_path: Path) -> None:
    res = run_and_round_trip("learning", learning_exp, tmp_path)
    isan = res["curves"][0]
    assert isan["family"] == "isan" and isan["ranks"] == [1, 2, 3]  # the tiny target has d = 2
    kl = np.asarray(isan["kl"])
    assert kl[0] > 1e-2 and np.all(kl[1:] < 1e-12)  # exact once the rank cap reaches the planted d
    par, search = res["parity"], res["subset_search"]
    assert par["trivial_kl"] == learning_exp.trivial_label_kl(0.1)
    assert math.isclose(par["trivial_kl"], math.log(2) + 0.1 * math.log(0.1) + 0.9 * math.log(0.9))
    assert par["query"]["kl"] < 1e-9 < par["trivial_kl"]  # queries find the parity
    assert search["subsets"] == math.comb(4, 2) and search["found"][-1]
    assert res["seen"]["wfa_window"] == 7  # what the legend says each baseline sees rests on this
    assert set(res["exponents"]) == {"dim", "vocab", "horizon"}
    assert all(math.isnan(e) for e in res["exponents"].values())  # 2 points per sweep: no exponent


def test_provable_learning_tiny_learns_exact_targets_and_witnesses_start_above_d3(tmp_path: Path) -> None:
    res = run_and_round_trip("provable_learning", provable_exp, tmp_path)
    for sweep in res["scaling"]:  # exact ISANs, no oracle error: both learners reach TV ~ 0
        assert all(r[name]["tv"] < 1e-10 for r in sweep["rows"] for name in provable_exp.LEARNERS)
    rows = res["witnesses"]["rows"]
    assert [r["d"] for r in rows] == [2, 4] and rows[0]["max_per_position"] == 0  # one-token futures suffice
    assert all(r["max_per_position"] <= 4 * r["d"] <= r["d_log"] <= r["explicit"] for r in rows)
    for kind in ("eps", "xi"):
        for name in provable_exp.LEARNERS:
            assert all(r["low"] < r["ratio"] < r["high"] for r in res[kind]["ratio"][name])
    m_star = res["sampled"]["m_star"]
    assert all(np.diff(m_star) > 0)  # larger logits need more samples per query


def test_plain_log_ticks_label_a_short_log_axis_in_plain_numbers() -> None:
    """The views' log axes spanning under a decade (learning (a), provable_learning (a, b)) get plain
    labels inside the view; a longer axis keeps matplotlib's decade labels."""
    from paper_figures.plotting import plain_log_ticks, subplots

    fig, axes = subplots(2)
    short, long = axes[0]
    short.loglog([520, 1100], [1, 2])
    short.set_xlim(490, 1170)
    plain_log_ticks(short.xaxis)
    assert list(short.get_xticks()) == [500, 600, 700, 800, 900, 1000]
    assert [t.get_text() for t in short.get_xticklabels()] == ["500", "600", "700", "800", "900", "1000"]
    long.loglog([1, 1000], [1, 2])
    before = list(long.get_xticks())
    plain_log_ticks(long.xaxis)  # three decades: nothing to fix
    assert list(long.get_xticks()) == before


def test_the_parity_comparisons_spectral_wfa_has_no_held_out_selection(monkeypatch: Any) -> None:
    """The legend's "never the label" rests on the WFA reading only its Hankel window: its default held-out
    selection (rank and a position-unigram mixture) scores every position, the label's too, so the
    comparison must build it with ``validation_fraction=0.0``."""
    import simulators.learners

    made: list[float] = []

    class Spy(simulators.learners.SpectralWFALearner):  # type: ignore[misc]
        def fit(self, *args: Any, **kwargs: Any) -> Any:
            made.append(self.validation_fraction)
            return super().fit(*args, **kwargs)

    monkeypatch.setattr(simulators.learners, "SpectralWFALearner", Spy)
    res = learning_exp.noisy_parity_comparison(4, 2, 0.1, [40], 0, n_eval=40, mle_steps=3)
    assert made == [0.0] and len(res["baselines"]["spectral WFA"]["kl"]) == 1
