"""theory layer of logit-rank: every claim of SPEC.md section 1 as a named, executable check.

``theory.claims()`` lists the claims; ``claim.check(rng, **params)`` tests one on random instances and
returns :class:`Evidence`; ``theory.run_claims()`` runs them all (the ``logitrank verify`` command).
Also here: the constructive equivalence :func:`isan_from_logits`, the sympy derivation of the alpha = 1/2
phase transition (:func:`derive_phase_transition`, :func:`phase_transition_table`) and exhaustive cut
matrices (:func:`cut_ranks`).
"""

from .bottleneck import LinearReadoutModel
from .enumeration import MAX_ENUMERATION, RANK_RTOL, check_enumerable, cut_matrix, cut_ranks, cut_spectra
from .equivalence import (
    REPRODUCTION_TOL,
    RebuiltISAN,
    isan_from_logits,
    rebuild_random_isans,
    reproduction_error,
)
from .kl_bounds import quarter_bound, softmax_kl
from .phase_transition import (
    PhaseTransitionDerivation,
    asymptotic_rank,
    derive_phase_transition,
    formula_rank,
    next_order_rank,
    numeric_rank,
    phase_transition_table,
    r_eps_constant,
)
from .registry import Claim, ClaimResult, Evidence, claims, format_table, get_claim, run_claims
from .tv_bound import softmax_tv, tight_tv_pair, tv_bound

__all__ = [
    "MAX_ENUMERATION",
    "RANK_RTOL",
    "REPRODUCTION_TOL",
    "Claim",
    "ClaimResult",
    "Evidence",
    "LinearReadoutModel",
    "PhaseTransitionDerivation",
    "RebuiltISAN",
    "asymptotic_rank",
    "check_enumerable",
    "claims",
    "cut_matrix",
    "cut_ranks",
    "cut_spectra",
    "derive_phase_transition",
    "format_table",
    "formula_rank",
    "get_claim",
    "isan_from_logits",
    "next_order_rank",
    "numeric_rank",
    "phase_transition_table",
    "quarter_bound",
    "r_eps_constant",
    "rebuild_random_isans",
    "reproduction_error",
    "run_claims",
    "softmax_kl",
    "softmax_tv",
    "tight_tv_pair",
    "tv_bound",
]
