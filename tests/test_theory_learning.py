"""The learning theorem's claims (theory/learning.py) and its measurements, as property tests."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import theory
from theory.learning import loglog_slope, robustness_sweep, sampled_logit_cost, witness_bound, witness_sweep

LEARNING = ["learning.exact", "learning.witnesses", "learning.graceful", "learning.sampled_logits"]


def test_learning_claims_are_registered_for_verify():
    ids = [c.id for c in theory.claims()]
    assert all(c in ids for c in LEARNING)
    assert all(theory.get_claim(c).has_negative_control for c in LEARNING)


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_exact_isans_are_learned_and_beta_too_small_fails(seed):
    c = theory.get_claim("learning.exact")
    assert c.check(seed, instances=1, max_dim=3).holds
    assert not c.negative_control(seed).holds  # the same checker with beta = 0.5


@settings(max_examples=2, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_witnesses_are_bounded_and_disabling_them_fails(seed):
    c = theory.get_claim("learning.witnesses")
    ev = c.check(seed, instances=1, max_dim=5)
    assert ev.holds, ev.counterexample
    assert not c.negative_control(seed).holds


@settings(max_examples=3, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_sampled_logit_law_holds_and_dropping_the_exponential_fails(seed):
    c = theory.get_claim("learning.sampled_logits")
    assert c.check(seed, instances=2).holds
    assert not c.negative_control(seed).holds


def test_graceful_degradation_claim_and_its_control():
    c = theory.get_claim("learning.graceful")
    assert c.check(3, instances=2).holds
    assert not c.negative_control(3).holds


def test_tv_decreases_with_fixed_oracle_error_for_both_learners():
    sweep = robustness_sweep("xi", [1e-1, 1e-2, 1e-3], V=4, d=2, T=6, n_eval=300)
    assert all(sweep["monotone"].values()), sweep["tv"]
    assert all(0.5 < s < 1.5 for s in sweep["slope"].values())  # TV ~ xi: linear, as T tanh(O(xi)) says


def test_lambda_exponent_of_the_sampled_logit_cost_is_two():
    out = sampled_logit_cost((1, 2, 3), repeats=40, rng=0)
    assert abs(out["exponent"] - 2.0) < 0.5


def test_witness_sweep_and_bounds():
    out = witness_sweep([2, 5], V=2, T=7, n_eval=100)
    for r in out["rows"]:
        assert r["max_per_position"] <= 4 * r["d"] <= r["d_log"] <= r["explicit"] and r["tv"] < 1e-6
    assert out["rows"][0]["max_per_position"] == 0 < out["rows"][1]["max_per_position"]  # d=2 needs none
    soft, explicit = witness_bound(4, 10, 1.0, eps=0.01, delta=0.1)
    J = np.ceil(np.log2(2 * 10 * 4 / 1e-3)) + 64
    assert soft == 4 * np.log2(8e4) and explicit == 64 * 4 * J


def test_loglog_slope_recovers_a_power():
    x = np.geomspace(1, 100, 5)
    assert abs(loglog_slope(x, 3 * x**1.7) - 1.7) < 1e-10
    assert np.isnan(loglog_slope([1.0], [2.0]))


def _planted_results(witnesses: int, lam_exponent: float, tv_small: float) -> dict:
    sweep = {"x": [1e-1, 1e-2], "tv": {"provable": [0.1, tv_small], "practical": [0.05, 0.005]},
             "slope": {"provable": 1.0, "practical": 1.0},
             "monotone": {"provable": tv_small < 0.1, "practical": True}}
    side = {"tv": 0.02, "coef_max": 1.2, "state_norm_growth": 3.0}
    return {"eps": sweep, "xi": sweep, "long": {"T": 48, "level": 0.01, "provable": side, "practical": side},
            "witnesses": {"rows": [{"d": 4, "max_per_position": witnesses, "explicit": 2e4}]},
            "scaling": [{"axis": "T", "exponent": {"provable": 1.4, "practical": 1.7},
                         "theory_exponent": 13.0}],
            "sampled": {"exponent": lam_exponent}}


def test_figure_verdict_is_computed_from_the_numbers():
    from paper_figures import fig_provable_learning as fig

    good = fig.summarize(_planted_results(3, 2.1, 0.01))["verdict"]
    assert "falls monotonically" in good and "within 4d" in good and "within +-0.5" in good
    bad = fig.summarize(_planted_results(17, 2.9, 0.2))["verdict"]
    assert "NOT monotonically" in bad and "ABOVE 4d" in bad and "OUTSIDE +-0.5" in bad
