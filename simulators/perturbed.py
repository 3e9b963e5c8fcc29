"""Misspecified targets: a low-rank base model plus a deterministic pseudo-random logit perturbation.

SPEC §1 "Misspecification, oracle error, sampled logits":

.. math::

    \\ell_M(x) = \\ell_{base}(x) + \\varepsilon\\, C g(x), \\qquad g(x) \\in [-1, 1]^V,

with ``C = I - 11^T / V`` the centering and ``g`` a *hash-seeded* function of the prefix: the same ``x``
always gets the same ``g(x)``, different prefixes get (pseudo-)independent uniform entries.  Each entry of
the perturbation is at most ``2 eps`` in absolute value; the *average misspecification* is GLS2's average
L1 (entrywise absolute) error

.. math::

    \\varepsilon_{avg} = E_{x \\sim M} \\lVert \\varepsilon C g(x) \\rVert_1 / V

(``x`` a prefix ``y_{<t}`` of a sequence ``y ~ M``, ``t`` uniform in ``0..T-1``), estimated on samples by
:meth:`PerturbedModel.estimate_eps_avg`; it is proportional to ``eps`` (for uniform ``g`` and large ``V``
about ``eps / 2``).  (A squared error ``||.||^2 / V`` would be ``~ eps^2``, making a slope of 1/2 in any
TV-vs-``eps_avg`` plot a property of the definition rather than of a learner.)

The hash (:func:`prefix_states`, :func:`hash_uniforms`) is a splitmix64 chain over the tokens, vectorised
in numpy ``uint64`` arithmetic (which wraps modulo 2^64 by design); :class:`~simulators.learners.QueryAccess`
uses the same machinery for its fixed ("deterministic in the prefix") oracle error.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank import center_logits
from logitrank.validation import RngLike, check_float, check_positive_int, check_prefixes, spawn_seeds

from .base import MODEL_REGISTRY, SyntheticModel

__all__ = ["PerturbedModel", "extend_states", "hash_uniforms", "pair_states", "prefix_states"]

EPS_MAX = 1e6
"""Largest accepted ``eps`` of :class:`PerturbedModel` (point-mass distributions long before, no overflow)."""

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, elementwise on a uint64 array (a bijection of 64-bit words)."""
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return np.asarray(z ^ (z >> np.uint64(31)), dtype=np.uint64)


def extend_states(states: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """Hash states of ``x . z`` from those of ``x`` (elementwise over ``states`` and ``tokens``)."""
    return _splitmix(states ^ (np.asarray(tokens, dtype=np.uint64) + np.uint64(1)))


def prefix_states(prefixes: Sequence[Sequence[int]] | np.ndarray, seed: int) -> np.ndarray:
    """64-bit hash state of each prefix: ``s(()) = mix(seed)``, ``s(x . z) = mix(s(x) xor (z + 1))``.

    Parameters
    ----------
    prefixes : int array (n, t) or a list of token sequences (any lengths)
    seed : int, ``0 <= seed < 2**64``

    Returns
    -------
    uint64 array, shape (n,)
    """
    root = _splitmix(np.array([seed], dtype=np.uint64))[0]
    if isinstance(prefixes, np.ndarray) and prefixes.ndim == 2:
        s = np.full(prefixes.shape[0], root, dtype=np.uint64)
        for j in range(prefixes.shape[1]):
            s = extend_states(s, prefixes[:, j])
        return s
    rows = [tuple(p) for p in prefixes]
    lengths = np.array([len(p) for p in rows], dtype=np.int64)
    s = np.full(len(rows), root, dtype=np.uint64)
    longest = int(lengths.max()) if len(rows) else 0
    padded = np.zeros((len(rows), longest), dtype=np.int64)
    for i, p in enumerate(rows):
        padded[i, : len(p)] = p
    for j in range(longest):
        live = lengths > j
        s[live] = extend_states(s[live], padded[live, j])
    return s


def hash_uniforms(states: np.ndarray, vocab_size: int, stream: int = 0) -> np.ndarray:
    """``V`` pseudo-uniform numbers in ``[0, 1)`` per hash state, shape ``states.shape + (V,)``.

    Entry ``z`` is ``mix(s xor k_z) / 2^64`` (top 53 bits) with a key ``k_z`` per token and ``stream``,
    so that different streams of the same prefix are independent."""
    keys = _splitmix(np.arange(vocab_size, dtype=np.uint64) + np.uint64(vocab_size) * np.uint64(stream)
                     + np.uint64(0x5851F42D4C957F2D))
    words = _splitmix(np.asarray(states, dtype=np.uint64)[..., None] ^ keys)
    return (words >> np.uint64(11)).astype(np.float64) * 2.0**-53


class PerturbedModel(SyntheticModel):
    """A misspecified target ``l(x) = l_base(x) + eps C g(x)`` (see the module docstring).

    Parameters
    ----------
    base : SyntheticModel
        The exactly low-rank model (e.g. a :class:`~simulators.TimeVaryingISAN`).
    eps : float, ``0 <= eps <= EPS_MAX``
        Size of the perturbation (entries of ``g`` lie in ``[-1, 1]``).  Beyond ``EPS_MAX = 1e6`` the logits'
        scale overflows the sampler's and the estimators' float64 arithmetic (``eps = 1e300`` gave
        ``(inf, nan)``), and every next-token distribution is already a point mass.
    rng : Generator or int
        Draws the hash seed of ``g`` (once); the model itself is deterministic.
    """

    kind = "perturbed"

    def __init__(self, base: SyntheticModel, eps: float, *, rng: RngLike = None, seed: int | None = None):
        if not isinstance(base, SyntheticModel):
            raise TypeError(f"base: must be a SyntheticModel (it is saved with the perturbation), "
                            f"got {type(base).__name__}")
        self.base = base
        self.eps = check_float("eps", eps, low=0.0, high=EPS_MAX)
        self.seed = spawn_seeds(rng, 1)[0] if seed is None else int(seed)
        self.vocab_size, self.horizon = int(base.vocab_size), int(base.horizon)

    # --- the perturbation ----------------------------------------------------------------------
    def _g(self, states: np.ndarray) -> np.ndarray:
        return 2.0 * hash_uniforms(states, self.vocab_size) - 1.0

    def perturbation(self, prefixes: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
        """``eps C g(x)`` of each prefix, shape ``(n, V)``."""
        return self.eps * center_logits(self._g(prefix_states(prefixes, self.seed)))

    def _logits_batch(self, prefixes: np.ndarray) -> np.ndarray:
        return self.base._logits_batch(prefixes) + self.perturbation(prefixes)

    def logits_along(self, sequences: np.ndarray) -> np.ndarray:
        """Centered logits at every position of ``(n, L)`` sequences, ``(n, L, V)``."""
        seqs = np.asarray(sequences, dtype=np.int64)
        out = np.array(self.base.logits_along_sequences(seqs), dtype=np.float64)
        s = prefix_states(seqs[:, :0], self.seed)
        for t in range(seqs.shape[1]):
            out[:, t] += self.eps * center_logits(self._g(s))
            s = extend_states(s, seqs[:, t])
        return out

    def extended_logits(
        self, histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]]
    ) -> np.ndarray:
        """``(|H|, |F|, V)``: the base's extended logits plus ``eps C g(h . f)``."""
        H = check_prefixes("histories", histories, self.vocab_size, self.horizon - 1)
        F = check_prefixes("futures", futures, self.vocab_size, self.horizon - 1)
        from logitrank import extended_logits

        out = np.array(extended_logits(self.base, H, F), dtype=np.float64)
        return out + self.eps * center_logits(self._g(pair_states(H, F, self.seed)))

    def estimate_eps_avg(self, n_sequences: int = 1000, *, rng: RngLike = None) -> tuple[float, float]:
        """Monte-Carlo ``eps_avg = E_{x ~ M} ||eps C g(x)||_1 / V`` (GLS2's average L1 error) over the
        prefixes of ``n_sequences`` sampled sequences (every position of each, ``t`` uniform in ``0..T-1``).

        Returns
        -------
        (estimate, standard error) : tuple of float
        """
        n = check_positive_int("n_sequences", n_sequences)
        seqs = self.sample(n, rng=rng)
        s = prefix_states(seqs[:, :0], self.seed)
        per_seq = np.zeros(n)
        for t in range(self.horizon):
            per_seq += np.abs(self.eps * center_logits(self._g(s))).sum(axis=1) / self.vocab_size
            s = extend_states(s, seqs[:, t])
        per_seq /= self.horizon
        se = float(per_seq.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        return float(per_seq.mean()), se

    # --- structure, save/load -----------------------------------------------------------------
    def rank_bound(self, t: int) -> int:
        """No low-rank guarantee: the trivial bound ``min(V^t, (V-1) #futures)`` (the base has
        ``base.rank_bound(t)``; the perturbation makes the matrix generically full rank)."""
        V, T = self.vocab_size, self.horizon
        n_futures = sum(V**k for k in range(T - t))
        return int(min(V**t, (V - 1) * n_futures))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {f"base__{k}": v for k, v in self.base._arrays().items()}

    def _params(self) -> dict[str, Any]:
        return {"eps": self.eps, "seed": self.seed, "base_kind": self.base.kind,
                "base_params": self.base._params(), "horizon": self.horizon}

    @classmethod
    def _from_saved(cls, arrays: dict[str, np.ndarray], params: dict[str, Any]) -> PerturbedModel:
        kind = params["base_kind"]
        if kind not in MODEL_REGISTRY:
            raise ValueError(f"base_kind: unknown model kind {kind!r}; known: {sorted(MODEL_REGISTRY)}")
        base_arrays = {k[len("base__"):]: v for k, v in arrays.items() if k.startswith("base__")}
        base = MODEL_REGISTRY[kind]._from_saved(base_arrays, params["base_params"])
        return cls(base, params["eps"], seed=int(params["seed"]))


def pair_states(histories: Sequence[Sequence[int]], futures: Sequence[Sequence[int]],
                seed: int) -> np.ndarray:
    """Hash states of every concatenation ``h . f``, shape ``(|H|, |F|)`` (the states of ``h`` once)."""
    sh = prefix_states(histories, seed)
    out = np.empty((sh.shape[0], len(futures)), dtype=np.uint64)
    for j, f in enumerate(futures):
        s = sh
        for z in f:
            s = extend_states(s, np.full(s.shape, z))
        out[:, j] = s
    return out
