"""logit-rank: the low logit rank of sequence models, measured, generated with, proved and learned.

The core layer (numpy/scipy only): it imports no other package of the repository (``simulators``, ``theory``,
``llm_bridge``, ``experiments``, ``paper_figures`` and the command line ``logitrank_cli`` all sit above it;
``tests/test_architecture.py`` checks this from the source). See ``SPEC.md`` section 1 for the mathematics.
"""

from .continuations import Continuations, continuation_logits
from .hidden_dim import HiddenDimEstimate, estimate_hidden_dim
from .index_sets import random_futures, random_histories
from .linear_readout import (
    centered_readout_logits,
    readout_factor,
    readout_gram,
    readout_singular_values,
    token_entries,
    top_tokens,
)
from .lingen import LingenFit, LingenSamples, lingen_coefficients, lingen_fit, lingen_generate, lingen_logits
from .logit_matrix import (
    LogitMatrix,
    all_futures,
    all_sequences,
    extended_logit_matrix,
    extended_logits,
    select_tokens,
)
from .power_law import PowerLawFit, approx_rank, default_index_range, fit_power_law, summarize_spectrum
from .results_io import load_json, save_json
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
from .sharded_matrix import ShardedMatrix, open_shards, shard_spectrum
from .shards import extract
from .sketch import single_pass_svd
from .spectra import (
    accumulate_gram,
    gram_singular_values,
    numerical_rank,
    randomized_singular_values,
    singular_values,
    singular_values_from_gram,
    streamed_singular_values,
)
from .subspaces import principal_angles, random_subspace_cosines, random_subspace_mean_cos2
from .truncation_kl import KLCurve, block_softmax_kl, kl_vs_rank
from .validation import as_rng

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
    "centered_readout_logits",
    "readout_factor",
    "readout_gram",
    "readout_singular_values",
    "token_entries",
    "top_tokens",
    "sequence_log_prob",
    "HiddenDimEstimate",
    "estimate_hidden_dim",
    "random_futures",
    "random_histories",
    "LingenFit",
    "LingenSamples",
    "Continuations",
    "continuation_logits",
    "lingen_coefficients",
    "lingen_fit",
    "lingen_generate",
    "lingen_logits",
    "PowerLawFit",
    "approx_rank",
    "default_index_range",
    "fit_power_law",
    "summarize_spectrum",
    "load_json",
    "save_json",
    "gram_singular_values",
    "accumulate_gram",
    "singular_values_from_gram",
    "numerical_rank",
    "randomized_singular_values",
    "singular_values",
    "streamed_singular_values",
    "ShardedMatrix",
    "extract",
    "open_shards",
    "shard_spectrum",
    "single_pass_svd",
    "principal_angles",
    "random_subspace_cosines",
    "random_subspace_mean_cos2",
    "KLCurve",
    "block_softmax_kl",
    "kl_vs_rank",
]
