"""Synthetic sequence models with known logit-rank structure, learners, and the benchmark suite."""

from .base import MODEL_REGISTRY, SyntheticModel, load_model
from .isan import TimeInvariantISAN, TimeVaryingISAN, random_orthogonal

__all__ = [
    "MODEL_REGISTRY",
    "SyntheticModel",
    "TimeInvariantISAN",
    "TimeVaryingISAN",
    "load_model",
    "random_orthogonal",
]
