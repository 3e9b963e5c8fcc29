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

:func:`final_hidden` mirrors :meth:`HFModel.extended_logits`: histories grouped by length, each block run once
through the base model, its cache repeated (:func:`llm_bridge.kv_cache.repeat_cache`) over blocks of the
maximal futures (:func:`llm_bridge.windows.reduce_futures`), the hidden state read at every future position;
only ``d`` numbers per position leave the body instead of ``V``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .kv_cache import kv_bytes_per_token, new_cache, repeat_cache
from .windows import reduce_futures

__all__ = ["HiddenReadout", "probe_readout", "final_hidden"]

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


def final_hidden(hf: Any, readout: HiddenReadout, H: list[tuple[int, ...]], F: list[tuple[int, ...]], *,
                 progress: bool | None = None) -> np.ndarray:
    """Final hidden states ``g(h . f)`` of validated sets, reusing each history's key/value cache.

    Parameters
    ----------
    hf : HFModel (its model, device, BOS and batch sizing are used)
    readout : HiddenReadout from :func:`probe_readout` (its base model)
    H, F : validated histories and futures (``len(h) + len(f) <= horizon - 1``)

    Returns
    -------
    array, shape (|H|, |F|, d): float64 for a float64 model, float32 otherwise (bfloat16 and float16 widen
    exactly).
    """
    import torch

    if readout.W is None:
        raise ValueError(f"final_hidden: the hidden-state fast path does not apply to this model "
                         f"({readout.reason}), got a call")
    longest = max(len(h) for h in H) + max(len(f) for f in F)
    if longest > hf.horizon - 1:
        raise ValueError(f"histories/futures: len(h) + len(f) must be <= horizon - 1 = {hf.horizon - 1}, "
                         f"got a longest concatenation of length {longest}")
    maximal, which, position = reduce_futures(F)
    out = np.empty((len(H), len(F), readout.W.shape[1]),
                   dtype=np.float64 if hf.dtype == torch.float64 else np.float32)
    lg = max((len(g) for g in maximal), default=0)
    G = np.zeros((len(maximal), lg), dtype=np.int64)  # right padding: never seen by real positions
    for i, g in enumerate(maximal):
        G[i, : len(g)] = g
    groups: dict[int, list[int]] = {}
    for i, h in enumerate(H):
        groups.setdefault(len(h), []).append(i)
    show = bool(progress if progress is not None else hf.progress)
    bar = tqdm(total=len(H), disable=not show, desc="final hidden states", unit="history")
    with torch.inference_mode():
        for idx_list in groups.values():
            hist = np.array([hf._bos + list(H[i]) for i in idx_list], dtype=np.int64)
            hrows = hf._rows(hist.shape[1], kept=0)
            for hs in range(0, len(idx_list), hrows):
                rows_h = np.asarray(idx_list[hs : hs + hrows])
                res = _run(hf, readout, hist[hs : hs + hrows], new_cache(hf.model.config))
                out[np.ix_(rows_h, np.flatnonzero(which < 0))] = _numpy(res.last_hidden_state[:, -1:])
                if maximal:
                    cache = getattr(res, readout.cache_arg)
                    _futures(hf, readout, out, rows_h, hist.shape[1], cache, G, which, position)
                bar.update(len(rows_h))
    bar.close()
    return out


def _run(hf: Any, readout: HiddenReadout, ids: np.ndarray, cache: Any) -> Any:
    import torch

    kwargs = {"input_ids": torch.as_tensor(ids, dtype=torch.long, device=hf.device), "use_cache": True,
              readout.cache_arg: cache}
    return readout.base(**kwargs)


def _numpy(t: Any) -> np.ndarray:
    return (t if t.dtype.itemsize == 8 else t.float()).cpu().numpy()


def _futures(hf: Any, readout: HiddenReadout, out: np.ndarray, rows_h: np.ndarray, th: int, cache: Any,
             G: np.ndarray, which: np.ndarray, position: np.ndarray) -> None:
    """Fill ``out[rows_h, j]`` for the non-empty futures from one block of histories (of length ``th``)."""
    import torch

    nh, (ng, lg) = len(rows_h), G.shape
    # the repeated cache is copied per (history, future) pair: keep one copy within HFModel's chunk ceiling
    per_pair = kv_bytes_per_token(hf.model.config, hf._itemsize) * (th + lg)
    pairs = min(hf._rows(lg, kv_len=th, kept=0), max(1, hf.KV_CHUNK_BYTES // per_pair))
    b = min(ng, pairs)
    a = max(1, min(nh, pairs // b))
    j_nonempty = np.flatnonzero(which >= 0)
    for g0 in range(0, ng, b):
        gsel = G[g0 : g0 + b]
        js = j_nonempty[(which[j_nonempty] >= g0) & (which[j_nonempty] < g0 + len(gsel))]
        if js.size == 0:
            continue
        g_local = torch.as_tensor(which[js] - g0, device=hf.device)
        pos = torch.as_tensor(position[js], device=hf.device)
        for a0 in range(0, nh, a):
            na = min(a, nh - a0)
            rep = torch.arange(a0, a0 + na, device=hf.device).repeat_interleave(len(gsel))
            res = _run(hf, readout, np.tile(gsel, (na, 1)), repeat_cache(cache, rep))
            hidden = res.last_hidden_state.reshape(na, len(gsel), lg, -1)
            out[np.ix_(rows_h[a0 : a0 + na], js)] = _numpy(hidden[:, g_local, pos])
