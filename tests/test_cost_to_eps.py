"""Cost-to-eps curves (theory/cost_to_eps.py, experiments/cost_to_eps.py): the bisection finds the smallest
sufficient budget; the sweep's presets, its Result round trip and its axes' independent streams."""

from __future__ import annotations

import warnings

import pytest

from experiments import NoInputs
from experiments.cost_to_eps import AXES, Config, Result, run
from simulators import TimeVaryingISAN
from simulators.learners import BudgetExceeded, QueryAccess, SpannerLPLearner, evaluate
from theory.cost_to_eps import cost_to_eps
from theory.learning_claims import validation_size


def test_bisection_returns_a_budget_that_suffices_and_one_a_little_smaller_that_does_not():
    target = TimeVaryingISAN.random(3, 2, 5, rng=4)
    out = cost_to_eps(target, 0.05, rel_tol=0.1, n_eval=300, rng=7)
    assert out["reached"] and out["queries"] <= out["validated_queries"]  # reaching costs <= certifying
    # replay the bisection's own fits (same spawned seeds) at the found budget and 20% below it
    from logitrank.validation import spawn_seeds

    seed = spawn_seeds(7, 1)[0]
    learner_seed, access_seed, eval_seed = spawn_seeds(seed, 3)

    def tv_at(budget: int) -> float:
        learner = SpannerLPLearner(n_validation=validation_size(0.05, 0.1), rng=learner_seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                learner.fit(QueryAccess(target, budget=budget, rng=access_seed))
            except BudgetExceeded:
                return 1.0
        return evaluate(target, learner.model_, n_sequences=300, rng=eval_seed).tv

    assert tv_at(int(out["queries"])) <= 0.05
    assert tv_at(int(out["queries"] / 1.2)) > 0.05


def test_presets_result_round_trip_and_a_tiny_run():
    assert Config.tiny().seeds < Config.quick().seeds <= Config.full().seeds == 5
    full = Config.full()
    assert all(len(getattr(full, a)) >= 6 for a in AXES)  # >= 6 points over >= 1.5 decades per axis
    assert all(max(getattr(full, a)) / min(getattr(full, a)) >= 10**1.5 for a in AXES)
    res = run(NoInputs(), Config.tiny(), rng=0, axes=("T",))
    assert list(res.axes) == ["T"] and Result.from_dict(res.to_dict()).to_dict() == res.to_dict()
    rows = res.axes["T"]["rows"]
    assert len(rows) == 2 and all(len(per) == 2 and all(r["reached"] for r in per) for per in rows)
    assert min(r["queries"] for r in rows[1]) > max(r["queries"] for r in rows[0])  # longer T costs more
    # axes run one at a time give the same numbers as together (each axis has its own stream)
    assert run(NoInputs(), Config.tiny(), rng=0, axes=("T", "d")).axes["T"]["rows"] == rows


def test_figure_verdict_says_when_there_are_too_few_points_for_an_exponent():
    from paper_figures import fig_cost_to_eps as fig

    res = run(NoInputs(), Config.tiny(), rng=0, axes=("V",)).to_dict()
    out = fig.summarize(res)
    assert "too few points" in out["verdict"] and "queries exponent in V" in out["numbers"]
    with pytest.raises(ValueError, match="learner: must be one of"):
        from theory.broken_learners import make_learner

        make_learner("nope")
