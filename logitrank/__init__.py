"""logit-rank: the low logit rank of sequence models, measured, generated with, proved and learned.

The core layer (numpy/scipy only). See ``SPEC.md`` section 1 for the mathematics.
"""

from ._checks import as_rng
from .logit_matrix import (
    LogitMatrix,
    all_futures,
    all_sequences,
    extended_logit_matrix,
    extended_logits,
    select_tokens,
)
from .sequence_model import (
    QueryCounter,
    SequenceModel,
    center_logits,
    log_softmax,
    logits_along,
    model_logits,
    sample_sequences,
    sequence_log_prob,
)

__version__ = "0.1.0"

__all__ = [
    "LogitMatrix",
    "QueryCounter",
    "SequenceModel",
    "all_futures",
    "all_sequences",
    "as_rng",
    "center_logits",
    "extended_logit_matrix",
    "extended_logits",
    "log_softmax",
    "logits_along",
    "model_logits",
    "sample_sequences",
    "select_tokens",
    "sequence_log_prob",
]
