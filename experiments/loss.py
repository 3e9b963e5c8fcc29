"""Experiment: the model's own mean next-token loss (nats/token) on corpus windows, with its standard error.

For ``n`` windows ``w_1 .. w_n`` of ``L`` tokens, window ``i`` scores every token after its first:

.. math::

    \\ell_i = -\\frac{1}{L-1} \\sum_{t=1}^{L-1} \\log p(w_i[t] \\mid [\\mathrm{BOS}]\\, w_i[:t])

(``p`` renormalised over the model's first ``V`` logits, as :class:`llm_bridge.HFModel` does). The first
token is never scored, so that the loss with and without BOS covers the same tokens, each conditioned on at
least one token of its window. Reported: the mean ``(1/n) sum_i l_i`` and its standard error over windows,
``sd(l) / sqrt(n)`` (``ddof = 1``; disjoint windows, treated as independent).

An :class:`llm_bridge.HFModel` is scored with one forward pass per window through its torch module (BOS
prepended when it has one); any other :class:`logitrank.SequenceModel` through ``logits`` of every prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llm_bridge.windows import WindowSpec, draw_windows
from logitrank.validation import RngLike, check_positive_int

from .base import ExperimentConfig, ModelInputs, ResultBase

__all__ = ["Config", "Result", "run", "window_loss", "on_histories"]

LOGIT_BYTES = 2**28  # ceiling on the float32 logits of one forward (rows x L x V x 4 bytes)


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """``n_windows`` disjoint corpus windows of ``window_length`` tokens."""

    n_windows: int = 64
    window_length: int = 32


@dataclass
class Result(ResultBase):
    """Mean next-token loss over windows.

    Attributes
    ----------
    mean, se : float — nats/token: the mean of the per-window means, and its standard error
    n_windows, window_length, n_scored : int — ``n``, ``L`` and the tokens scored per window (``L - 1``)
    bos_token_id : int or None — the BOS the model prepended
    per_window : array, shape (n,) — ``l_i``
    """

    mean: float
    se: float
    n_windows: int
    window_length: int
    n_scored: int
    bos_token_id: int | None
    per_window: np.ndarray


def window_loss(model: Any, windows: Sequence[Sequence[int]]) -> Result:
    """Mean next-token loss of ``model`` on equal-length ``windows``, shape (n, L), ``n >= 2``, ``L >= 2``."""
    w = np.asarray(windows, dtype=np.int64)
    if w.ndim != 2 or w.shape[0] < 2 or w.shape[1] < 2:
        raise ValueError(f"windows: must be at least 2 windows of equal length >= 2 (shape (n, L)), got "
                         f"shape {w.shape}")
    if w.min() < 0 or w.max() >= model.vocab_size:
        raise ValueError(f"windows: tokens must lie in [0, V = {model.vocab_size}), got values in "
                         f"[{w.min()}, {w.max()}]")
    if hasattr(model, "model") and hasattr(model.model, "forward"):
        logp = _scored_logprobs_hf(model, w)
    else:
        logp = _scored_logprobs_generic(model, w)
    per = -logp.mean(axis=1)
    n = per.size
    return Result(mean=float(per.mean()), se=float(per.std(ddof=1) / np.sqrt(n)), n_windows=n,
                  window_length=int(w.shape[1]), n_scored=int(w.shape[1] - 1),
                  bos_token_id=getattr(model, "bos_token_id", None), per_window=per)


def _scored_logprobs_hf(model: Any, w: np.ndarray) -> np.ndarray:
    """``log p(w[:, t] | [BOS] w[:, :t])`` for ``t = 1 .. L-1``, shape (n, L-1), one forward per window."""
    import torch

    n, L = w.shape
    V = model.vocab_size
    bos = getattr(model, "bos_token_id", None)
    ids = w[:, :-1] if bos is None else np.concatenate([np.full((n, 1), bos, dtype=np.int64), w[:, :-1]], 1)
    first = 0 if bos is None else 1  # the input position whose output predicts w[:, 1]
    rows = max(1, LOGIT_BYTES // (ids.shape[1] * V * 4))
    out = np.empty((n, L - 1))
    with torch.inference_mode():
        for s in range(0, n, rows):
            x = torch.as_tensor(ids[s : s + rows], device=model.device)
            logits = model.model(input_ids=x, use_cache=False).logits[:, first:, :V]
            logp = torch.log_softmax(logits.float() if logits.element_size() < 4 else logits, dim=-1)
            target = torch.as_tensor(w[s : s + rows, 1:], device=model.device).unsqueeze(-1)
            out[s : s + rows] = logp.gather(-1, target).squeeze(-1).double().cpu().numpy()
    return out


def _scored_logprobs_generic(model: Any, w: np.ndarray) -> np.ndarray:
    """The same numbers from ``model.logits`` of every prefix ``w[i, :t]`` (any SequenceModel)."""
    n, L = w.shape
    prefixes = [tuple(int(v) for v in w[i, :t]) for i in range(n) for t in range(1, L)]
    lg = np.asarray(model.logits(prefixes), dtype=np.float64)
    top = lg.max(axis=1, keepdims=True)
    logp = lg - (top + np.log(np.exp(lg - top).sum(axis=1, keepdims=True)))
    return logp[np.arange(len(prefixes)), w[:, 1:].reshape(-1)].reshape(n, L - 1)


def run(inputs: ModelInputs, config: Config, *, rng: RngLike = None) -> Result:
    """:func:`window_loss` of ``inputs.model`` on ``config.n_windows`` disjoint windows of ``inputs.tokens``
    (seeded by ``rng``)."""
    n = check_positive_int("n_windows", config.n_windows)
    L = check_positive_int("window_length", config.window_length)
    H, _ = draw_windows(inputs.tokens, WindowSpec(n, L, 1, 1, 1), rng=rng)
    return window_loss(inputs.model, H)


def on_histories(model: Any, tokens: np.ndarray, spec: WindowSpec, *, rng: RngLike = None) -> dict[str, Any]:
    """:func:`window_loss` on the histories :func:`llm_bridge.windows.draw_windows` draws for ``spec``
    (seeded by ``rng``: the same windows an experiment of that spec reads), as a JSON-ready dict with
    ``windows`` saying which; on a text too short for them, on as many disjoint windows of that length as
    it holds (``skipped`` when fewer than 2)."""
    need = spec.n_histories * spec.history_length + spec.n_futures * spec.future_length
    if need <= tokens.size:
        H, _ = draw_windows(tokens, spec, rng=rng)
        return {**window_loss(model, H).to_dict(), "windows": f"the {len(H)} histories of the spectrum"}
    L = min(spec.history_length, model.horizon - 1)
    n = min(spec.n_histories, (tokens.size - 1) // max(L, 1))
    if n < 2 or L < 2:
        return {"skipped": f"text too short for 2 windows of {L} tokens: {tokens.size} tokens"}
    res = run(ModelInputs.of(model, tokens), Config(n, L), rng=rng)
    return {**res.to_dict(), "windows": f"{n} disjoint windows (the text is too short for the spectrum's)"}
