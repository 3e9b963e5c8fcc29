"""The experiments behind the phase-transition and equivalence figures (issue 21: figures become views):
each runs from its tiny preset, its Result round-trips through to_dict/from_dict exactly, and the planted
structure (the theorems) is recovered."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from experiments import NoInputs, experiment
from experiments import equivalence as eq_exp
from experiments import phase_transition as pt_exp
from logitrank.paper import PAPER


def same_json(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@pytest.fixture(scope="module")
def phase() -> pt_exp.Result:
    return pt_exp.run(NoInputs(), pt_exp.Config.tiny(), rng=0)


def test_phase_transition_tiny_round_trips_and_is_registered(phase: pt_exp.Result) -> None:
    assert experiment("phase_transition") is pt_exp
    back = pt_exp.Result.from_dict(phase.to_dict())
    assert same_json(back.to_dict(), phase.to_dict())
    assert back.alphas == phase.alphas and back.numeric == phase.numeric
    assert PAPER["alpha_olmo7b"] in pt_exp.Config.tiny().alphas  # looked up by name, never copied


def test_phase_transition_recovers_the_three_regimes(phase: pt_exp.Result) -> None:
    """Exact ranks agree with the Euler–Maclaurin rank within one; above 1/2 they never exceed the
    N = oo constant; below 1/2 r/N stays near its limit (1 - eps)^{1/(1 - 2 alpha)}; the paper's alpha has
    an astronomically large constant."""
    eps, sizes = phase.eps, phase.sizes
    for a, num, form in zip(phase.alphas, phase.numeric, phase.formula, strict=True):
        assert all(abs(n - f) <= 1 for n, f in zip(num, form, strict=True)), a
        assert list(num) == sorted(num), a  # the tail ratio grows with N: so does the rank
        if a > 0.5:
            assert max(num) <= math.ceil(phase.constants[str(a)]), a
        if a < 0.5:
            limit = (1 - eps) ** (1 / (1 - 2 * a))
            assert abs(num[-1] / sizes[-1] - limit) < 0.05, a
    assert phase.regimes == ["below", "critical", "above", "above"]
    assert phase.paper_alpha_constant > 1e14 and phase.constants[str(PAPER["alpha_olmo7b"])] > 1e14


def test_phase_transition_growth_exponents_are_the_log_log_slopes(phase: pt_exp.Result) -> None:
    """The figure's growth exponents live in the Result: per alpha the least-squares slope of log r_eps on
    log N (brute force: numpy's polyfit), near 1 below 1/2 and falling as alpha grows past it."""
    assert len(phase.growth) == len(phase.alphas)
    for num, g in zip(phase.numeric, phase.growth, strict=True):
        slope = np.polyfit(np.log(phase.sizes), np.log(np.maximum(num, 1)), 1)[0]
        assert math.isclose(g, slope, rel_tol=1e-9)
    assert phase.growth[0] > 0.9 and phase.growth == sorted(phase.growth, reverse=True)
    assert phase.growth[-1] < 0.6  # alpha = 3/4: bounded in N, the slope already well below linear


def test_equivalence_tiny_round_trips_and_proves_the_theorem() -> None:
    """The random ISAN's cut ranks stay <= d and the ISAN rebuilt from logits has exactly the measured
    rank per step and reproduces every model to round-off; capped at d it fails on the 3-gram, whose rank
    exceeds d."""
    assert experiment("equivalence") is eq_exp
    res = eq_exp.run(NoInputs(), eq_exp.Config.tiny(), rng=0)
    back = eq_exp.Result.from_dict(res.to_dict())
    assert same_json(back.to_dict(), res.to_dict())
    assert list(res.models) == list(eq_exp.MODELS)
    d = res.dim
    assert max(res.models["isan"]["ranks"]) <= d
    assert max(res.models["ngram"]["ranks"]) > d  # V^2 = 4 > d = 2
    for m in res.models.values():
        assert m["rebuilt_dims"] == m["ranks"] and m["rebuilt_error"] < 1e-10
    assert res.models["isan"]["capped_error"] < 1e-10 < res.models["ngram"]["capped_error"]
    other = eq_exp.run(NoInputs(), eq_exp.Config.tiny(), rng=1)  # another seed: other random models
    assert other.models["hmm"]["capped_error"] != res.models["hmm"]["capped_error"]
