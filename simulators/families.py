"""A registry of the synthetic model families, built from the common knobs ``vocab_size, dim, horizon``.

Used by the ``logitrank spectrum`` CLI, the paper figures and the benchmark suite. Each family maps the
common knobs onto its own parameters (the table below; ``FAMILIES[name].description`` says the same);
family-specific options go in ``**kw``.

============== ================================================================== ==========================
name           model                                                              extra keywords (default)
============== ================================================================== ==========================
isan           ``TimeVaryingISAN.random(V, dim, T)``                              ``logit_scale`` (2.0)
isan-invariant ``TimeInvariantISAN.random(V, dim, T)`` (rank <= dim + 1)          ``logit_scale`` (2.0)
noisy-parity   ``NoisyParity(T - 1 bits, random subset of min(dim, T-1), noise)`` ``noise`` (0.1); V = 2
sparse-poly    ``SparsePolynomialBits.random(T bits, dim monomials)``             ``max_degree`` (2),
                                                                                  ``scale`` (1.0); V = 2
ngram          ``NGram.random(V, order, T)``, default order = largest k >= 2      ``order``,
               with ``V^(k-1) <= max(dim, V)``                                    ``concentration`` (1.0)
hmm            ``HMM.random(V, dim states, T)``                                   ``concentration`` (1.0)
copy           ``Copying(V, T / 2, sharpness)``; T even; ``dim`` unused            ``sharpness`` (4.0)
planted        ``PlantedSpectrum.random(V, dim, T, alpha)``                       ``alpha`` (0.5), ``C`` (1.0)
perturbed      ``PerturbedModel(TimeVaryingISAN.random(V, dim, T), eps)``         ``eps`` (0.1),
                                                                                  ``logit_scale`` (2.0)
============== ================================================================== ==========================

For the binary families ``vocab_size`` must be 2 (or ``None``); anything else is an error rather than
being silently replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logitrank.validation import RngLike, as_rng, check_positive_int, spawn_rngs

from .base import SyntheticModel
from .copying import Copying
from .hmm import HMM
from .isan import TimeInvariantISAN, TimeVaryingISAN
from .ngram import NGram
from .parity import NoisyParity, SparsePolynomialBits
from .perturbed import PerturbedModel
from .planted import PlantedSpectrum

__all__ = ["FAMILIES", "Family", "build_model", "default_ngram_order"]


@dataclass(frozen=True)
class Family:
    """A named model family: ``build(vocab_size, dim, horizon, rng, **kw) -> SyntheticModel``."""

    name: str
    description: str
    build: Callable[..., SyntheticModel]
    keywords: tuple[str, ...]
    binary: bool = False


def default_ngram_order(vocab_size: int, dim: int) -> int:
    """Largest order ``k >= 2`` with ``V^(k-1) <= max(dim, V)`` (so the rank bound is about ``dim``)."""
    k = 2
    while vocab_size ** k <= max(dim, vocab_size):
        k += 1
    return k


def _parity(V: int, d: int, T: int, gen: Any, noise: float = 0.1) -> SyntheticModel:
    n = check_positive_int("horizon", T, minimum=2) - 1
    return NoisyParity.random(n, min(d, n), noise, rng=gen)


def _sparse(V: int, d: int, T: int, gen: Any, max_degree: int = 2, scale: float = 1.0) -> SyntheticModel:
    T = check_positive_int("horizon", T, minimum=2)  # T bits; named here, not as SparsePolynomialBits' n_bits
    return SparsePolynomialBits.random(T, d, max_degree=max_degree, scale=scale, rng=gen)


def _ngram(V: int, d: int, T: int, gen: Any, order: int | None = None,
           concentration: float = 1.0) -> SyntheticModel:
    k = default_ngram_order(V, d) if order is None else order
    return NGram.random(V, k, T, concentration=concentration, rng=gen)


def _perturbed(V: int, d: int, T: int, gen: Any, eps: float = 0.1,
               logit_scale: float = 2.0) -> SyntheticModel:
    base_rng, hash_rng = spawn_rngs(gen, 2)
    return PerturbedModel(TimeVaryingISAN.random(V, d, T, rng=base_rng, logit_scale=logit_scale), eps,
                          rng=hash_rng)


def _copy(V: int, d: int, T: int, gen: Any, sharpness: float = 4.0) -> SyntheticModel:
    if T % 2:
        raise ValueError(f"horizon: the copy family needs an even horizon (2n: a string of n, then its "
                         f"copy), got {T}")
    return Copying(V, T // 2, sharpness)


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("isan", "random time-varying ISAN of dimension dim (Haar-orthogonal transitions)",
           lambda V, d, T, gen, **kw: TimeVaryingISAN.random(V, d, T, rng=gen, **kw), ("logit_scale",)),
    Family("isan-invariant", "random time-invariant ISAN with bias, dimension dim (logit rank <= dim + 1)",
           lambda V, d, T, gen, **kw: TimeInvariantISAN.random(V, d, T, rng=gen, **kw), ("logit_scale",)),
    Family("noisy-parity", "horizon-1 uniform bits then a noisy parity of a random subset of min(dim, T-1) "
           "of them (V = 2, logit rank 1)", _parity, ("noise",), binary=True),
    Family("sparse-poly", "bits with sparse-polynomial log-odds, dim random monomials "
           "(V = 2, rank <= dim + 1)",
           _sparse, ("max_degree", "scale"), binary=True),
    Family("ngram", "Dirichlet n-gram; order from dim unless given (logit rank <= V^(order-1))", _ngram,
           ("order", "concentration")),
    Family("hmm", "random HMM with dim hidden states (approximately low logit rank)",
           lambda V, d, T, gen, **kw: HMM.random(V, d, T, rng=gen, **kw), ("concentration",)),
    Family("copy", "random string of T/2 tokens then a tempered copy (dim unused)", _copy, ("sharpness",)),
    Family("planted", "ISAN of dimension dim with planted spectrum sigma_i ~ C i^-alpha",
           lambda V, d, T, gen, **kw: PlantedSpectrum.random(V, d, T, rng=gen, **kw), ("alpha", "C")),
    Family("perturbed", "random time-varying ISAN of dimension dim plus eps C g(x), g hash-seeded per prefix "
           "(misspecified: approximately rank dim)", _perturbed, ("eps", "logit_scale")),
)}


def build_model(name: str, *, vocab_size: int | None = None, dim: int = 8, horizon: int = 12,
                rng: RngLike = None, **kw: Any) -> SyntheticModel:
    """Build a model of family ``name`` (see the module docstring for how the knobs map).

    Parameters
    ----------
    name : str, a key of :data:`FAMILIES`
    vocab_size : int, optional
        ``V`` (default 2 for the binary families, 16 otherwise; binary families accept only 2).
    dim : int, ``>= 1`` — hidden dimension, number of states/monomials, or subset size
    horizon : int, ``>= 1``
    rng : Generator or seed
    **kw : family-specific keywords (listed in ``FAMILIES[name].keywords``)
    """
    if name not in FAMILIES:
        raise ValueError(f"name: unknown model family {name!r}; valid: {', '.join(FAMILIES)}")
    fam = FAMILIES[name]
    unknown = sorted(set(kw) - set(fam.keywords))
    if unknown:
        raise ValueError(f"kw: family {name!r} takes keywords {list(fam.keywords)}, got unknown {unknown}")
    if fam.binary:
        if vocab_size not in (None, 2):
            raise ValueError(f"vocab_size: family {name!r} is binary and needs vocab_size 2 (or None), "
                             f"got {vocab_size}")
        V = 2
    else:
        V = check_positive_int("vocab_size", 16 if vocab_size is None else vocab_size, minimum=2)
    d = check_positive_int("dim", dim)
    T = check_positive_int("horizon", horizon)
    model: SyntheticModel = fam.build(V, d, T, as_rng(rng), **kw)
    return model
