"""Claim ``bottleneck``: the softmax bottleneck — a linear readout of a d-dimensional state has
single-token logit rank ``<= d`` (``<= d + 1`` with an output bias).

A model whose next-token logits are ``W phi(x) + b`` with a hidden state ``phi(x) in R^d`` (any function of
the prefix) and ``W in R^{V x d}`` gives centered logits ``C W phi(x) + C b``: every row of
``L(H, {empty})`` lies in ``span(C W) + span(C b)``, so its rank is ``<= d`` without bias and ``<= d + 1``
with.
For generic parameters, ``|H| > d + 1`` and ``V - 1 >= d + 1`` the bound is attained.
:class:`LinearReadoutModel` is such a model in numpy (a decaying sum of token embeddings through ``tanh``),
the stand-in for a transformer's final hidden layer (SPEC: hidden dimension from logits).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import svdvals

from logitrank import center_logits, extended_logit_matrix, numerical_rank, random_histories
from logitrank.validation import RngLike, as_rng, check_positive_int, check_prefixes

from .registry import Claim, Evidence, Tally, register

__all__ = ["LinearReadoutModel"]


class LinearReadoutModel:
    """Next-token logits ``readout @ phi(x) + bias`` over a nonlinear hidden state of dimension ``d``.

    ``phi(x) = tanh( sum_j decay^{t-1-j} embedding[x_j] + position[t] )`` for a prefix ``x`` of length ``t``.

    Parameters
    ----------
    embedding : array, shape (V, d)
    position : array, shape (T, d)
    readout : array, shape (V, d)
    bias : array, shape (V,) or None
    decay : float in (0, 1]
    """

    def __init__(self, embedding: np.ndarray, position: np.ndarray, readout: np.ndarray,
                 bias: np.ndarray | None = None, decay: float = 0.8):
        self.embedding, self.position, self.readout = (np.asarray(a, dtype=np.float64)
                                                       for a in (embedding, position, readout))
        V, d = self.embedding.shape
        if self.readout.shape != (V, d):
            raise ValueError(f"readout: must have shape (V={V}, d={d}), got {self.readout.shape}")
        if self.position.ndim != 2 or self.position.shape[1] != d:
            raise ValueError(f"position: must have shape (T, d={d}), got {self.position.shape}")
        self.bias = None if bias is None else np.asarray(bias, dtype=np.float64)
        if self.bias is not None and self.bias.shape != (V,):
            raise ValueError(f"bias: must have shape (V={V},), got {self.bias.shape}")
        if not 0 < decay <= 1:
            raise ValueError(f"decay: must lie in (0, 1], got {decay}")
        self.decay = float(decay)
        self.vocab_size, self.hidden_size, self.horizon = V, d, self.position.shape[0]

    @classmethod
    def random(cls, vocab_size: int, hidden_size: int, horizon: int, *, bias: bool = True,
               rng: RngLike = None) -> LinearReadoutModel:
        """Gaussian embeddings, positions, readout (and bias)."""
        V = check_positive_int("vocab_size", vocab_size, minimum=2)
        d = check_positive_int("hidden_size", hidden_size)
        T = check_positive_int("horizon", horizon)
        gen = as_rng(rng)
        return cls(gen.standard_normal((V, d)), gen.standard_normal((T, d)), gen.standard_normal((V, d)),
                   gen.standard_normal(V) if bias else None)

    def hidden_states(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """``phi(x)`` for each prefix, shape ``(n, d)``."""
        P = check_prefixes("prefixes", prefixes, self.vocab_size, self.horizon - 1)
        out = np.empty((len(P), self.hidden_size))
        for i, p in enumerate(P):
            acc = self.position[len(p)].copy()
            for j, z in enumerate(p):
                acc += self.decay ** (len(p) - 1 - j) * self.embedding[z]
            out[i] = np.tanh(acc)
        return out

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        """Centered logits, shape ``(n, V)``."""
        raw = self.hidden_states(prefixes) @ self.readout.T
        return center_logits(raw if self.bias is None else raw + self.bias)


def _instance(gen: np.random.Generator, max_hidden: int, bias: bool) -> tuple[LinearReadoutModel, int, int]:
    d = int(gen.integers(1, max_hidden + 1))
    V = int(gen.integers(d + 3, d + 40))
    T = 8
    m = LinearReadoutModel.random(V, d, T, bias=bias, rng=gen)
    # length >= 2 so that V^t >= (d + 3)^2 >= 3 (d + 2) distinct histories exist
    H = random_histories(V, 3 * (d + 2), int(gen.integers(2, T)), rng=gen)
    L = extended_logit_matrix(m, H, [()])
    return m, numerical_rank(svdvals(L.values), rtol=1e-10), len(H)


def _check(gen: np.random.Generator, *, instances: int, max_hidden: int) -> Evidence:
    tally = Tally("bottleneck")
    attained = 0
    for i in range(instances):
        bias = bool(i % 2)
        m, r, nh = _instance(gen, int(max_hidden), bias)
        bound = m.hidden_size + int(bias)
        attained += r == bound
        tally.add(bound - r, instance=i, V=m.vocab_size, d=m.hidden_size, bias=bias, histories=nh, rank=r)
    tally.details["instances_attaining_the_bound"] = attained
    return tally.evidence()


def _control(gen: np.random.Generator) -> Evidence:
    # with an output bias the rank is d + 1: the bias-free bound d is violated
    tally = Tally("bottleneck")
    for i in range(3):
        m, r, _ = _instance(gen, 12, True)
        tally.add(m.hidden_size - r, instance=i, d=m.hidden_size, rank=r, bound="d (bias ignored)")
    return tally.evidence()


register(Claim(
    id="bottleneck",
    statement="softmax bottleneck: rank L(H, {empty}) <= d for hidden size d (d + 1 with output bias)",
    latex=r"\ell(x)=C(W\phi(x)+b),\ \phi(x)\in\mathbb R^d\Rightarrow\operatorname{rank}L(H,\{\emptyset\})"
          r"\le d+\mathbf 1[b\ne0]",
    hypotheses="logits a linear readout W (V x d) of a d-dimensional hidden state, plus an optional bias",
    bounds={"max_hidden": (1, 64)},
    reference="SPEC.md §1 'Hidden dimension from logits' (softmax bottleneck)",
    defaults={"instances": 20, "max_hidden": 16},
    margin="(d + [bias]) - measured rank (integer)",
    checker=_check,
    control=_control,
    control_description="models with an output bias checked against d (without the +1)",
))
