"""A synthetic model named by its family and sizes, its index sets, and the spectrum of its logit matrix.

The work behind ``logitrank spectrum`` and the synthetic side of ``logitrank extract``, as typed library
calls (the CLI in :mod:`logitrank_cli` turns its options into them):

- :class:`SyntheticModel` — a frozen, picklable recipe ``(family, V, d, T, keywords, seed)``; calling it
  builds the model (so it is also the factory a Dask worker rebuilds the model from);
- :func:`index_sets` — ``H`` (``|H|`` random histories of length ``t``) and ``F`` (random futures of lengths
  ``0..T-1-t``), drawn by :func:`simulators.index_sets.synthetic_index_sets`, with a default size valid for
  every family: a size not given is clipped, with a note on stderr, to the number of distinct sequences
  there are; a size given that a family cannot take is an error;
- :func:`synthetic_spectrum` — the matrix, its spectrum summary (:func:`logitrank.summarize_spectrum`) and
  the files ``matrix.npz``, ``model.npz`` and ``summary.json``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from logitrank import (
    LogitMatrix,
    SequenceModel,
    extended_logit_matrix,
    save_json,
    singular_values,
    summarize_spectrum,
)

from .index_sets import distinct_count, synthetic_index_sets

__all__ = ["SpectrumRun", "SyntheticModel", "index_sets", "parse_settings", "synthetic_spectrum"]


def parse_settings(items: Iterable[str]) -> dict[str, object]:
    """``KEY=VALUE`` strings as family keywords: values parsed as JSON where they are JSON, else as a float
    where Python reads one (``nan``, ``inf``: the family's own check then refuses them), else strings."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"set: must look like KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


@dataclass(frozen=True)
class SyntheticModel:
    """Recipe of a synthetic model: ``build_model(family, vocab_size=vocab, dim=dim, horizon=horizon,
    rng=seed, **settings)``, except that a plain ``"isan"`` (no settings) is
    ``TimeVaryingISAN.random(vocab or 16, dim, horizon, rng=seed)``.

    Frozen and picklable: calling it builds the model, the same one on every call and in every process.
    ``vocab=None`` leaves ``V`` to the family (16, or 2 for the binary families); ``settings`` holds the
    family keywords as ``(key, value)`` pairs (:func:`parse_settings`, then ``tuple(d.items())``).
    """

    family: str = "isan"
    vocab: int | None = None
    dim: int = 8
    horizon: int = 12
    settings: tuple[tuple[str, Any], ...] = ()
    seed: int = 0

    def __call__(self) -> SequenceModel:
        if self.family == "isan" and not self.settings:
            from .isan import TimeVaryingISAN

            return TimeVaryingISAN.random(16 if self.vocab is None else self.vocab, self.dim, self.horizon,
                                          rng=self.seed)
        from .families import build_model

        return build_model(self.family, vocab_size=self.vocab, dim=self.dim, horizon=self.horizon,
                           rng=self.seed, **dict(self.settings))

    def model_id(self, model: SequenceModel) -> str:
        """``family:V=..:d=..:T=..:seed=..`` with the built model's ``V`` and ``T`` (the shards' identity)."""
        return f"{self.family}:V={model.vocab_size}:d={self.dim}:T={model.horizon}:seed={self.seed}"


def note(text: str) -> None:
    """A ``note: ...`` line on stderr."""
    print(f"note: {text}", file=sys.stderr)


def index_sets(model: SequenceModel, *, history_length: int | None, n_histories: int | None,
               n_futures: int | None, default_size: int, seed: int, name: str = "the model"
               ) -> tuple[int, list[tuple[int, ...]], list[tuple[int, ...]], np.random.Generator]:
    """History length ``t`` (default ``T // 2``), ``H``, ``F`` and the generator that drew them.

    ``H`` holds ``n_histories`` random histories of length ``t``, ``F`` ``n_futures`` random futures of
    lengths ``0..T-1-t``, both drawn from ``np.random.default_rng(seed)`` (which then goes on to the
    matrix's top-k rule and the bootstrap). A size of ``None`` is ``default_size``, clipped with a note naming
    ``name`` to the number of distinct sequences of those lengths; a size given above it is an error."""
    V, T = model.vocab_size, model.horizon
    t = T // 2 if history_length is None else history_length
    if not 0 <= t <= T - 1:
        raise ValueError(f"history-length: must lie in [0, {T - 1}] (horizon - 1), got {t}")
    sizes = {}
    for kind, given, lengths in (("histories", n_histories, range(t, t + 1)),
                                 ("futures", n_futures, range(T - t))):
        n = default_size if given is None else given
        most = distinct_count(V, lengths, n)
        span = f"length {t}" if kind == "histories" else f"lengths 0..{T - 1 - t}"
        if n > most and given is not None:
            raise ValueError(f"{kind}: must be <= {most} (the number of distinct {kind} of {span} over {V} "
                             f"tokens), got {n}")
        if n > most:
            note(f"{name} has only {most} distinct {kind} of {span} over {V} tokens: "
                 f"|{kind[0].upper()}| = {most} instead of the default {n}")
        sizes[kind] = min(n, most)
    rng = np.random.default_rng(seed)
    _, H, F = synthetic_index_sets(V, T, sizes["histories"], sizes["futures"], history_length=t, rng=rng)
    return t, H, F, rng


@dataclass(frozen=True)
class SpectrumRun:
    """What :func:`synthetic_spectrum` computed and wrote: ``summary`` is ``summary.json``'s content
    (:func:`logitrank.summarize_spectrum` plus the model, the index sets and the method), ``rtol`` the
    numerical-rank tolerance used, ``files`` the paths written (``matrix.npz``, ``summary.json``)."""

    summary: dict[str, Any]
    matrix: LogitMatrix
    rtol: float
    files: tuple[Path, ...]


def synthetic_spectrum(recipe: SyntheticModel, model: SequenceModel, history_length: int,
                       H: list[tuple[int, ...]], F: list[tuple[int, ...]], rng: np.random.Generator, *,
                       out: str | Path, top_k: int | None = None, token_rule: str = "mean",
                       method: str = "exact", rtol: float | None = None,
                       progress: bool | None = None) -> SpectrumRun:
    """The extended logit matrix ``L(H, F)`` of ``model`` (built from ``recipe``), its singular values by
    ``method`` and their summary, saved under ``out`` with the model itself when it can save.

    ``rtol`` defaults to 1e-10 for the dense SVD and 1e-6 for the Gram route (its round-off is
    ``~sqrt(eps) sigma_1``); ``rng`` (from :func:`index_sets`) serves the top-k rule and the bootstrap."""
    L = extended_logit_matrix(model, H, F, top_k=top_k, token_rule=token_rule, rng=rng, progress=progress)
    s = singular_values(L, method=method)
    rtol = rtol if rtol is not None else (1e-10 if method == "exact" else 1e-6)
    summary = summarize_spectrum(s, rtol=rtol, rng=rng)
    bound = getattr(model, "rank_bound", None)
    summary.update(model=repr(model), model_family=recipe.family, seed=recipe.seed,
                   history_length=history_length, n_histories=len(H), n_futures=len(F), top_k=top_k,
                   token_rule=token_rule, shape=list(L.shape), method=method,
                   rank_bound=bound(history_length) if callable(bound) else None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    L.metadata.update(seed=recipe.seed, model_family=recipe.family)
    L.save(out / "matrix.npz")
    if hasattr(model, "save"):
        model.save(out / "model.npz")
    save_json(summary, out / "summary.json")
    return SpectrumRun(summary, L, rtol, (out / "matrix.npz", out / "summary.json"))
