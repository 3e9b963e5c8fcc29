"""theory layer of logit-rank (see SPEC.md section 2)."""
