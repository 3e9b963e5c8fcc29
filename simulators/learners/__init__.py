"""Learners of sequence models: the logit-query learner and sample-only baselines, with their access objects."""

from .access import BudgetExceeded, QueryAccess, SampleAccess
from .query_learner import LogitQueryLearner

__all__ = ["BudgetExceeded", "LogitQueryLearner", "QueryAccess", "SampleAccess"]
