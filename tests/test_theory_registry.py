"""The claims registry, `run_claims` and the `logitrank verify` CLI: metadata, bad input, JSON, exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theory
from logitrank_cli.main import main
from simulators import TimeVaryingISAN
from theory import registry


def test_every_claim_is_documented_and_its_defaults_lie_within_its_hypotheses():
    ids = [c.id for c in theory.claims()]
    assert len(ids) == len(set(ids)) >= 14
    for c in theory.claims():
        assert c.statement and c.latex and c.hypotheses and c.reference.startswith("SPEC") and c.margin
        assert c.defaults["instances"] >= 1
        c.validate({})  # the defaults are inside the bounds
        for name, (lo, hi) in c.bounds.items():
            assert lo <= c.defaults[name] <= hi


def test_unknown_claim_id_lists_the_valid_ids():
    with pytest.raises(ValueError, match="unknown id 'no.such'.*centering.*bottleneck"):
        theory.get_claim("no.such")


@pytest.mark.parametrize("claim", [c.id for c in theory.claims()])
def test_parameters_outside_a_claims_hypotheses_raise_naming_the_limit(claim):
    c = theory.get_claim(claim)
    for name, (_, hi) in c.bounds.items():
        with pytest.raises(ValueError, match=rf"{name}: claim '{claim}' is checked for .* <= {hi}"):
            c.check(0, **{name: hi + 1})
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['not_a_param'\]; accepted: \["):
        c.check(0, not_a_param=1)
    with pytest.raises(ValueError, match="instances: must be >= 1"):
        c.check(0, instances=0)


def test_exhaustive_enumeration_refuses_large_vocab_power_horizon_quickly():
    big = TimeVaryingISAN.random(4, 2, 10, rng=0)  # 4**10 = 1048576 > MAX_ENUMERATION
    with pytest.raises(ValueError, match=r"V\*\*T <= 131072 .*MAX_ENUMERATION.*4\*\*10 = 1048576"):
        theory.cut_ranks(big)
    with pytest.raises(ValueError,
                       match=r"limited to V\*\*T <= 131072 \(theory\.enumeration\.MAX_ENUMERATION\), "
                             r"got 4\*\*10"):
        theory.isan_from_logits(big)


def test_a_negative_margin_makes_the_evidence_fail_with_its_counterexample():
    t = registry.Tally("x")
    t.add(0.5, instance=0)
    t.add(-2.0, instance=1, lhs=3)
    t.add(float("nan"), instance=2)  # NaN never passes
    ev = t.evidence()
    assert not ev.holds and ev.worst_margin == -np.inf and ev.instances == 3
    assert ev.counterexample == {"margin": -2.0, "instance": 1, "lhs": 3}
    json.dumps(ev.to_dict())  # -inf becomes a string


def test_run_claims_is_reproducible_per_seed_and_json_ready():
    a = theory.run_claims(["centering", "tv"], instances=4, seed=3)
    b = theory.run_claims(["tv"], instances=4, seed=3)  # a claim's instances do not depend on the others
    assert a[1].evidence.worst_margin == b[0].evidence.worst_margin
    assert all(r.ok and r.control is not None and not r.control.holds for r in a)
    text = theory.format_table(a)
    assert "centering" in text and "all hold" in text
    json.dumps([r.to_dict() for r in a])


def test_cli_verify_json_list_and_errors(capsys):
    assert main(["verify", "--claim", "centering", "--claim", "kl.block", "--instances", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and [c["id"] for c in out["claims"]] == ["centering", "kl.block"]
    assert out["claims"][0]["evidence"]["instances"] == 3
    assert out["claims"][0]["negative_control"]["holds"] is False
    assert main(["verify", "--list"]) == 0
    assert "equivalence.backward" in capsys.readouterr().out
    assert main(["verify", "--claim", "nope"]) == 2
    assert "valid ids" in capsys.readouterr().err


def test_cli_verify_exits_nonzero_when_a_claim_fails(monkeypatch, capsys):
    def always_fails(gen, *, instances):
        t = registry.Tally("test.false")
        for i in range(instances):
            t.add(-1.0, instance=i)
        return t.evidence()

    bad = registry.Claim(id="test.false", statement="a false claim", latex="0=1", hypotheses="none",
                         bounds={}, reference="SPEC.md (test)", defaults={"instances": 2}, margin="-1",
                         checker=always_fails)
    monkeypatch.setitem(registry._REGISTRY, "test.false", bad)
    assert main(["verify", "--claim", "test.false", "--no-progress"]) == 1
    assert "FAILS" in capsys.readouterr().out


@pytest.mark.parametrize("claim", [c.id for c in theory.claims()])
@settings(max_examples=3)
@given(data=st.data())
def test_each_claim_holds_anywhere_inside_its_declared_hypotheses(claim, data):
    # the strategy is the claim's own bounds: any parameter values it declares valid must verify
    c = theory.get_claim(claim)
    params = {name: data.draw(st.integers(int(lo), int(hi)), label=name)
              for name, (lo, hi) in c.bounds.items()}
    ev = c.check(data.draw(st.integers(0, 2**31 - 1), label="seed"), instances=1, **params)
    assert ev.holds and ev.instances == 1, ev.counterexample
