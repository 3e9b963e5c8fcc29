"""Learners of sequence models: the provable and the practical logit-query learners, sample-only baselines,
and their access objects.

``MLELearner`` needs torch and is imported lazily (``simulators.learners.MLELearner`` loads
``simulators.learners.mle`` on first use), so ``import simulators`` stays torch-free.
"""

from typing import Any

from .access import BudgetExceeded, QueryAccess, SampleAccess, SampledLogitAccess
from .evaluation import Evaluation, evaluate, step_kl
from .ngram_baseline import NGramLearner
from .query_learner import LogitQueryLearner
from .spanner_lp import SpannerLPLearner, SpannerLPModel
from .spectral import SpectralWFALearner, WFAModel

__all__ = [
    "BudgetExceeded",
    "Evaluation",
    "LogitQueryLearner",
    "MLELearner",
    "NGramLearner",
    "QueryAccess",
    "SampleAccess",
    "SampledLogitAccess",
    "SpannerLPLearner",
    "SpannerLPModel",
    "SpectralWFALearner",
    "WFAModel",
    "evaluate",
    "step_kl",
]


def __getattr__(name: str) -> Any:
    if name == "MLELearner":
        from .mle import MLELearner

        return MLELearner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
