"""Synthetic sequence models with known logit-rank structure, learners, and the benchmark suite."""

from . import bench, learners  # the learners and the benchmark suite (torch stays lazy)
from .base import MODEL_REGISTRY, SyntheticModel, load_model
from .copying import Copying
from .families import FAMILIES, build_model
from .hmm import HMM
from .isan import TimeInvariantISAN, TimeVaryingISAN, random_orthogonal
from .ngram import NGram
from .parity import NoisyParity, SparsePolynomialBits
from .perturbed import PerturbedModel
from .planted import PlantedSpectrum

__all__ = [
    "FAMILIES",
    "HMM",
    "MODEL_REGISTRY",
    "Copying",
    "NGram",
    "NoisyParity",
    "PerturbedModel",
    "PlantedSpectrum",
    "SparsePolynomialBits",
    "SyntheticModel",
    "TimeInvariantISAN",
    "TimeVaryingISAN",
    "bench",
    "build_model",
    "learners",
    "load_model",
    "random_orthogonal",
]
