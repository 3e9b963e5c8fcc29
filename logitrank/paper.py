"""The numbers reported by Golowich, Liu & Shetty (arXiv 2510.24966), as restated in SPEC §1: one table.

Every layer compares against :data:`PAPER` (``llm_bridge`` experiments, ``paper_figures``); keys are
spelled once, in ``snake_case``: LINGEN methods ``lingen``, ``single_token``, ``short_history``,
``earlier_checkpoint`` and settings ``in_distribution``, ``nonsense``. Display labels live with the
figures that print them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PAPER", "LINGEN_METHODS", "LINGEN_SETTINGS"]

LINGEN_METHODS = ("lingen", "single_token", "short_history", "earlier_checkpoint")
LINGEN_SETTINGS = ("in_distribution", "nonsense")

PAPER: dict[str, Any] = {
    "alpha_olmo7b": 0.536,
    "alpha_top_k": 50,  # k of the paper's top-k matrix for alpha_olmo7b
    # ablations of the top-k matrix (OLMo-7b): top-200 tokens with F = H; 50 uniformly random tokens
    # per future
    "alpha_ablation_futures_eq_histories": 0.543,
    "alpha_ablation_futures_eq_histories_k": 200,
    "alpha_ablation_random_tokens": 0.527,
    "alpha_ablation_random_tokens_k": 50,
    "alpha_olmo1b_step0": 0.374,
    "kl_rank_range": [5, 500],
    "kl_scale_factors": [2, 4, 8, 16],
    # cumulative KL over 15 generated steps, OLMo-1b, 50 targets x 5 samples: method -> setting -> nats
    "lingen": {
        "lingen": {"in_distribution": 2.85, "nonsense": 4.95},
        "single_token": {"in_distribution": 10.79, "nonsense": 14.41},
        "short_history": {"in_distribution": 17.77, "nonsense": 17.56},
        "earlier_checkpoint": {"in_distribution": 6.46, "nonsense": 6.55},
    },
    "lingen_setup": "OLMo-1b, 50 targets x 5 samples, 15 steps",
    "angles": "cosines mostly near 1, far above random subspaces of the same dimension",
    "hidden_dim": "rank of L(H, {empty}) ~ d_model (d_model - 1 for a fresh GPT-2 with beta = 0)",
}
