"""The hidden-state fast path of :class:`llm_bridge.HFModel`: final hidden states with key/value reuse, and
the output head as a linear readout.

When a causal LM computes its logits as ``lm_head(g)`` with ``g`` the base model's ``last_hidden_state``
(already through the final norm in Llama, GPT-2 and most others) and ``lm_head`` an ``nn.Linear``, the raw
logits are ``W g + b`` and the core (:mod:`logitrank.linear_readout`, :mod:`logitrank.hidden_path`) builds
top-k matrices from ``g`` without full-vocabulary logits at every position.

When it applies (:func:`probe_readout`, once per model):

* the output embedding is an ``nn.Linear`` (a bias is allowed) and the model has a base model distinct from
  itself (``model.base_model``) whose output has ``last_hidden_state``;
* no logit soft-capping (``final_logit_softcapping`` in the config or its text config: ``c tanh(x / c)`` is
  not linear; ``attn_logit_softcapping`` acts inside the body and does not matter); a constant scale of the
  logits (Cohere's ``logit_scale``, Granite's ``1 / logits_scaling``) is folded into ``W`` and ``b``;
* a numerical probe agrees: on one short prefix, ``W g + b`` from the base model equals the model's own logits
  within the round-off of its dtype (relative to the largest logit: 1e-9 in float64, 1e-3 in float32, 3e-2 in
  16-bit types). The probe is the arbiter: any other post-processing of the logits (an extra norm, a scale
  the config does not name) fails it, and the model keeps the full path.

:func:`final_hidden` runs the plan of :meth:`HFModel.extended_logits` (:mod:`llm_bridge.pair_blocks`:
histories grouped by length, each block run once through the base model, its cache repeated over blocks of the
maximal futures), reading the hidden state at every future position: only ``d`` numbers per position leave the
body instead of ``V``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from logitrank.validation import check_prefixes

from .kv_runner import KVRunner, check_pairs
from .pair_blocks import history_blocks, pair_blocks, plan_futures

__all__ = ["HiddenReadout", "HiddenStatePath", "probe_readout", "final_hidden"]

PROBE_RTOL = {8: 1e-9, 4: 1e-3, 2: 3e-2}
"""Probe tolerance by the model's itemsize, relative to the largest logit (see the module docstring)."""


@dataclass
class HiddenReadout:
    """What :func:`probe_readout` found.

    Attributes
    ----------
    W : array, shape (V, d), float64, or None ; b : array, shape (V,), float64, or None
        The output head restricted to the first ``V`` tokens, scale folded in; ``W`` is ``None`` when the fast
        path does not apply.
    base : the base model (``last_hidden_state`` provider), or None
    cache_arg : name of the base model's cache argument
    reason : why the fast path does not apply ("" when it does)
    """

    W: np.ndarray | None
    b: np.ndarray | None
    base: Any
    cache_arg: str
    reason: str


def _logit_scale(cfg: Any) -> float:
    """Constant factor the model applies to ``lm_head(g)`` according to its config."""
    scale = 1.0
    if getattr(cfg, "logit_scale", None) is not None:  # Cohere: logits * logit_scale
        scale *= float(cfg.logit_scale)
    if getattr(cfg, "logits_scaling", None) is not None:  # Granite: logits / logits_scaling
        scale /= float(cfg.logits_scaling)
    return scale


def probe_readout(model: Any, vocab_size: int, bos: list[int]) -> HiddenReadout:
    """Decide whether ``model``'s logits are ``W g + b`` of its base model's last hidden state ``g``.

    Parameters
    ----------
    model : a ``transformers`` causal LM (eval mode, on its device and dtype)
    vocab_size : int, ``V``: ``W`` and ``b`` keep the first ``V`` rows
    bos : list of int, the token prepended to every input (empty for none)

    Returns
    -------
    HiddenReadout (``W`` is ``None`` with the ``reason`` when the fast path does not apply)
    """
    import torch

    cfg = model.config
    text = cfg.get_text_config(decoder=True) if hasattr(cfg, "get_text_config") else cfg
    base = getattr(model, "base_model", None)
    params = inspect.signature(base.forward).parameters if base is not None else {}
    cache_arg = "cache" if "cache" in params else "past_key_values"
    found = HiddenReadout(None, None, None if base is model else base, cache_arg, "")
    capped = [n for n in ("final_logit_softcapping",) if getattr(text, n, None) or getattr(cfg, n, None)]
    head = model.get_output_embeddings()
    if capped:
        found.reason = f"logits are soft-capped ({capped[0]} = {getattr(text, capped[0], None)})"
    elif not isinstance(head, torch.nn.Linear):
        found.reason = f"the output head is a {type(head).__name__}, not an nn.Linear"
    elif found.base is None:
        found.reason = "the model has no base model distinct from itself"
    if found.reason:
        return found
    scale = _logit_scale(text)
    W = head.weight[:vocab_size].detach().double().cpu().numpy() * scale
    b = None if head.bias is None else head.bias[:vocab_size].detach().double().cpu().numpy() * scale
    ids = torch.as_tensor([bos + [t % vocab_size for t in range(1, 9)]], device=head.weight.device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, :, :vocab_size].double().cpu().numpy()
        out = found.base(input_ids=ids)
        g = getattr(out, "last_hidden_state", None)
    if g is None or g.shape[-1] != W.shape[1]:
        found.reason = "the base model returns no last_hidden_state of the head's width"
        return found
    pred = g[0].double().cpu().numpy() @ W.T + (0.0 if b is None else b)
    err, size = float(np.abs(pred - logits).max()), float(np.abs(logits).max())
    rtol = PROBE_RTOL.get(head.weight.element_size(), 3e-2)
    if not err <= rtol * max(size, 1e-30):
        found.reason = (f"the logits are not W g + b of the last hidden state (probe: max error {err:.3g} "
                        f"against max |logit| {size:.3g})")
        return found
    found.W, found.b = W, b
    return found


class HiddenStatePath:
    """The hidden-state fast path of :class:`llm_bridge.HFModel` (a base class of it): :meth:`readout` with
    :meth:`final_hidden`, the optional protocol of :mod:`logitrank.hidden_path`.

    The host provides ``fast_path``, ``model``, ``vocab_size``, ``horizon``, ``progress`` and ``runner`` (its
    :class:`llm_bridge.kv_runner.KVRunner`); the probe's verdict is kept per instance, computed on first use.
    """

    _hidden: HiddenReadout | None = None
    fast_path: bool
    model: Any
    vocab_size: int
    horizon: int
    progress: bool | None
    runner: KVRunner

    def readout(self) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The output head ``(W (V, d), b (V,) or None)``, float64, when the raw logits are exactly
        ``W g + b`` of the final hidden state ``g``, else None (``fast_path`` False, or
        :attr:`fast_path_reason`). The probe (:func:`probe_readout`, one forward of 9 tokens) runs on the
        first call."""
        if not self.fast_path:
            return None
        if self._hidden is None:
            self._hidden = probe_readout(self.model, self.vocab_size, self.runner.bos)
        return None if self._hidden.W is None else (self._hidden.W, self._hidden.b)

    @property
    def hidden_fast_path(self) -> bool:
        """Whether the hidden-state fast path applies (:meth:`readout` is not None)."""
        return self.readout() is not None

    @property
    def fast_path_reason(self) -> str:
        """Why the hidden-state fast path does not apply ("" when it does)."""
        if not self.fast_path:
            return "fast_path=False"
        self.readout()
        return "" if self._hidden is None else self._hidden.reason

    def final_hidden(self, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]], *,
                     progress: bool | None = None) -> np.ndarray:
        """Final hidden states ``g(h . f)``, shape (|H|, |F|, d), float32 (float64 for a float64 model),
        with the key/value reuse of ``extended_logits`` (:func:`final_hidden`)."""
        H = self.runner.check("histories", histories, self.horizon - 1)
        F = check_prefixes("futures", futures, self.vocab_size, self.horizon - 1)
        check_pairs(H, F, self.horizon)
        if not self.hidden_fast_path or self._hidden is None:
            raise ValueError(f"final_hidden: needs the hidden-state fast path, which does not apply to this "
                             f"model: {self.fast_path_reason}")
        show = progress if progress is not None else self.progress
        return final_hidden(self.runner, self._hidden, H, F, progress=bool(show))


def final_hidden(run: KVRunner, readout: HiddenReadout, H: list[tuple[int, ...]], F: list[tuple[int, ...]], *,
                 progress: bool = False) -> np.ndarray:
    """Final hidden states ``g(h . f)`` of validated sets, reusing each history's key/value cache.

    Parameters
    ----------
    run : KVRunner (the model's device, BOS, batch sizing and cache expansion)
    readout : HiddenReadout from :func:`probe_readout` (its base model)
    H, F : validated histories and futures (``len(h) + len(f) <= horizon - 1``: ``kv_runner.check_pairs``)

    Returns
    -------
    array, shape (|H|, |F|, d): float64 for a float64 model, float32 otherwise (bfloat16 and float16 widen
    exactly).
    """
    import torch

    if readout.W is None:
        raise ValueError(f"final_hidden: the hidden-state fast path does not apply to this model "
                         f"({readout.reason}), got a call")
    plan = plan_futures(F)
    out = np.empty((len(H), len(F), readout.W.shape[1]),
                   dtype=np.float64 if run.dtype == torch.float64 else np.float32)
    lg = plan.padded.shape[1]
    with torch.inference_mode(), tqdm(total=len(H), disable=not progress, desc="final hidden states",
                                      unit="history") as bar:
        for rows_h, block in history_blocks(H, run.bos, lambda th: run.rows(th, kept=0)):
            res = _run(run, readout, block, run.new_cache())
            out[np.ix_(rows_h, plan.empty)] = _numpy(res.last_hidden_state[:, -1:])
            cache = getattr(res, readout.cache_arg)
            for pb in pair_blocks(len(rows_h), plan, run.pairs(block.shape[1], lg, 0)):
                past = run.expand_cache(cache, pb.start, pb.count, len(pb.futures), room=lg)
                hidden = _run(run, readout, pb.inputs(), past).last_hidden_state
                hidden = hidden.reshape(pb.count, len(pb.futures), lg, -1)
                out[np.ix_(rows_h[pb.start : pb.start + pb.count], pb.targets)] = _numpy(
                    hidden[:, torch.as_tensor(pb.which, device=run.device),
                           torch.as_tensor(pb.position, device=run.device)])
            bar.update(len(rows_h))
    return out


def _run(run: KVRunner, readout: HiddenReadout, ids: np.ndarray, cache: Any) -> Any:
    import torch

    kwargs = {"input_ids": torch.as_tensor(ids, dtype=torch.long, device=run.device), "use_cache": True,
              readout.cache_arg: cache}
    return readout.base(**kwargs)


def _numpy(t: Any) -> np.ndarray:
    return (t if t.dtype.itemsize == 8 else t.float()).cpu().numpy()
