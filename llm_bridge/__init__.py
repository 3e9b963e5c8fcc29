"""llm_bridge layer of logit-rank (see SPEC.md section 2)."""
