"""Experiment: learning from logit queries vs learning from samples (the figure ``learning``).

- ``curves``: the logit-query learner's KL(target ‖ learned) per sequence and its queries for each rank cap,
  on a random exact ISAN (exact once the cap reaches ``d``) and on an HMM (approximately low rank);
- ``scaling``: queries the learner needs (its defaults) vs ``d``, ``V`` and ``T`` of random ISANs, and the
  fitted log-log ``exponents`` (polynomial, SPEC §1);
- ``parity``: noisy parity (``n`` uniform bits, then the parity of a hidden ``k``-subset flipped w.p.
  ``eta``): the query learner (queries) against sample-only baselines (samples) — KL on the label step
  (position ``n``) — and the trivial predictor's KL;
- ``subset_search``: the brute-force reference over the class of ``k``-subset parities.

What each sample baseline can see of a sample (so what its failure means; ``seen`` records the learners'
settings this rests on):

- spectral WFA: the empirical Hankel matrix over prefixes and suffixes of at most ``basis_length`` tokens, so
  only the first ``2 basis_length + 1`` tokens of each sample (7 by default) — the label at position ``n``
  never enters its estimate; its label prediction is an extrapolation of the automaton. It is built with
  ``validation_fraction=0.0``: the learner's default held-out selection (of the rank and of a
  position-unigram mixture) scores every position, the label's included.
- smoothed n-gram of order ``m``: the label together with the ``m - 1`` bits before it.  A parity of ``k``
  uniform bits is independent of any ``k - 1`` of them, so for ``m - 1 < k`` the best n-gram *is* the
  trivial predictor at every sample size: a representation limit, not hardness.
- ISAN maximum likelihood: whole sequences, and the class contains the target (a dimension-1 ISAN with
  ``A_{t,z} = -1`` on the subset tracks the parity); it fails for optimisation/statistical reasons.
- brute-force subset search: whole sequences, the class of ``k``-subset parities.  For each of the
  ``C(n, k)`` subsets ``S'`` count the disagreements of ``parity_{S'}(x)`` with the label (bit-packed: XOR
  of the ``k`` packed columns, popcount), keep the best ``S^`` and ``eta^`` = its disagreement rate.  Its
  label KL is exact, not sampled: ``KL(Bern(1-eta) ‖ Bern(1-eta^))`` if ``S^ = S``, otherwise
  ``(KL(Bern(1-eta) ‖ Bern(1-eta^)) + KL(Bern(1-eta) ‖ Bern(eta^))) / 2`` (for ``S^ != S`` the two parities
  agree on exactly half of the uniform bit strings).  A few hundred samples suffice information-
  theoretically; the cost is the ``C(n, k)`` subsets (1.8e5 at ``n = 20, k = 10``, about ``2^n / sqrt(n)``
  in general), so the hardness of parity from samples is asymptotic in ``n``, not a shortage of samples at
  ``n = 20``.

The learner, access, evaluation, MLE and sample streams of each measurement are spawned from its seed
(:func:`logitrank.validation.spawn_seeds`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from logitrank.validation import RngLike, check_int, spawn_rngs, spawn_seeds
from theory.learning import scaling_exponent

from .base import ExperimentConfig, NoInputs, Presets, ResultBase

__all__ = ["SUBSET_SEARCH_SAMPLES", "Config", "Result", "run", "learning_curve", "learning_queries",
           "noisy_parity_comparison", "subset_search", "subset_search_curve", "subset_search_label_kl",
           "trivial_label_kl"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("theory.learning", "simulators.isan", "simulators.families", "simulators.parity",
                            "simulators.learners.query_learner", "simulators.learners.spectral",
                            "simulators.learners.ngram_baseline", "simulators.learners.mle",
                            "simulators.learners.access", "simulators.learners.evaluation")

SUBSET_SEARCH_SAMPLES = (25, 50, 100, 200, 400)
"""Sample sizes of the subset search besides the baselines' (where it turns from failing to exact)."""


@dataclass(frozen=True)
class Config(ExperimentConfig):
    """Targets (ISAN ``V``, ``d``, ``T`` and the scaling sweeps), noisy parity and evaluation sizes."""

    learn_vocab: int = 4
    learn_dim: int = 3
    learn_horizon: int = 6
    learn_scaling_dims: tuple[int, ...] = (2, 4, 8)
    learn_scaling_vocabs: tuple[int, ...] = (4, 8, 16)
    learn_scaling_horizons: tuple[int, ...] = (4, 8, 16)
    parity_bits: int = 20
    parity_subset: int = 10
    parity_noise: float = 0.1
    parity_samples: tuple[int, ...] = (1000, 10000)
    parity_mle_steps: int = 400
    learn_eval: int = 400
    PRESETS: ClassVar[Presets] = {
        "tiny": {"learn_vocab": 2, "learn_dim": 2, "learn_horizon": 4, "learn_scaling_dims": (1, 2),
                 "learn_scaling_vocabs": (2, 3), "learn_scaling_horizons": (3, 4), "parity_bits": 4,
                 "parity_subset": 2, "parity_samples": (50, 200), "parity_mle_steps": 10, "learn_eval": 50},
        "full": {"learn_scaling_dims": (2, 4, 8, 16), "learn_scaling_vocabs": (4, 8, 16, 32),
                 "learn_scaling_horizons": (4, 8, 16, 32), "parity_samples": (10**3, 10**4, 10**5)},
    }


@dataclass
class Result(ResultBase):
    """``curves``: one :func:`learning_curve` per target (exact ISAN, HMM); ``scaling``: parameter
    (``dim``, ``vocab``, ``horizon``) -> one :func:`learning_queries` per value; ``exponents``: parameter ->
    log-log exponent of queries on it (nan under 3 points); ``parity``: :func:`noisy_parity_comparison`;
    ``subset_search``: :func:`subset_search_curve`; ``seen``: the baselines' settings that decide what they
    see (``wfa_window``: tokens of a sample the spectral WFA reads, ``ngram_order``)."""

    curves: list[dict[str, Any]]
    scaling: dict[str, list[dict[str, Any]]]
    exponents: dict[str, float]
    parity: dict[str, Any]
    subset_search: dict[str, Any]
    seen: dict[str, int]


def run(inputs: NoInputs, config: Config, *, rng: RngLike = 0) -> Result:
    """Every measurement of :class:`Config`; an integer ``rng`` is the seed of each (one seed spawned from a
    Generator)."""
    from simulators.learners import NGramLearner, SpectralWFALearner

    seed = rng if isinstance(rng, int) else spawn_seeds(rng, 1)[0]
    V, d, T, n_eval = config.learn_vocab, config.learn_dim, config.learn_horizon, config.learn_eval
    curves = [learning_curve("isan", V, d, T, list(range(1, d + 2)), seed, n_eval=n_eval),
              learning_curve("hmm", V, d, T, [r for r in (1, 2, 4, 8, 16, 32) if r <= V ** 3], seed,
                             n_eval=n_eval)]
    scaling = {}
    for param, values in (("dim", config.learn_scaling_dims), ("vocab", config.learn_scaling_vocabs),
                          ("horizon", config.learn_scaling_horizons)):
        knobs = {"dim": d, "vocab": V, "horizon": T}
        scaling[param] = [learning_queries(**{**knobs, param: int(v)}, seed=seed, n_eval=n_eval)
                          for v in values]
    exponents = {p: scaling_exponent([q[p] for q in pts], [q["queries"] for q in pts])
                 for p, pts in scaling.items()}
    parity = noisy_parity_comparison(config.parity_bits, config.parity_subset, config.parity_noise,
                                     list(config.parity_samples), seed, mle_steps=config.parity_mle_steps,
                                     n_eval=n_eval)
    search = subset_search_curve(config.parity_bits, config.parity_subset, config.parity_noise,
                                 sorted({*SUBSET_SEARCH_SAMPLES, *config.parity_samples}), seed)
    seen = {"wfa_window": 2 * SpectralWFALearner().basis_length + 1, "ngram_order": NGramLearner().order}
    return Result(curves=curves, scaling=scaling, exponents=exponents, parity=parity, subset_search=search,
                  seen=seen)


def _fit_and_evaluate(target: Any, learner: Any, access: Any, n_eval: int, seed: int) -> dict[str, Any]:
    from simulators.learners import evaluate

    fitted = learner.fit(access)
    ev = evaluate(target, getattr(fitted, "model_", fitted), n_sequences=n_eval, rng=seed)
    return {"kl": ev.kl, "kl_se": ev.kl_se, "kl_per_position": list(ev.kl_per_position),
            "used": int(access.used)}


def learning_curve(family: str, vocab: int, dim: int, horizon: int, ranks: list[int], seed: int,
                   n_eval: int = 200) -> dict[str, Any]:
    """KL(target ‖ learned) and queries of the logit-query learner for each rank cap in ``ranks``.

    ``family="isan"``: a random exact ISAN of dimension ``dim`` (exact once the cap reaches ``dim``);
    other families (``simulators.families``) are approximately low rank, so KL falls gradually."""
    from simulators import TimeVaryingISAN
    from simulators.families import build_model
    from simulators.learners import LogitQueryLearner, QueryAccess

    target: Any
    if family == "isan":
        target = TimeVaryingISAN.random(vocab, dim, horizon, rng=seed)
        label = f"exact ISAN V={vocab}, d={dim}, T={horizon}"
    else:
        target = build_model(family, vocab_size=vocab, dim=dim, horizon=horizon, rng=seed)
        label = f"{family.upper() if family == 'hmm' else family} V={vocab}, T={horizon} (approx. low rank)"
    s_learn, s_access, s_eval = spawn_seeds(seed, 3)
    points = [_fit_and_evaluate(target, LogitQueryLearner(rank=r, rng=s_learn),
                                QueryAccess(target, rng=s_access), n_eval, s_eval) for r in ranks]
    return {"family": family, "ranks": list(ranks), "queries": [p["used"] for p in points],
            "kl": [p["kl"] for p in points], "kl_se": [p["kl_se"] for p in points], "label": label}


def learning_queries(vocab: int, dim: int, horizon: int, seed: int, n_eval: int = 100) -> dict[str, Any]:
    """Queries the logit-query learner (defaults) uses on a random ISAN, and the KL it reaches."""
    from simulators import TimeVaryingISAN
    from simulators.learners import LogitQueryLearner, QueryAccess

    target = TimeVaryingISAN.random(vocab, dim, horizon, rng=seed)
    s_learn, s_access, s_eval = spawn_seeds(seed, 3)
    p = _fit_and_evaluate(target, LogitQueryLearner(rng=s_learn), QueryAccess(target, rng=s_access), n_eval,
                          s_eval)
    return {"dim": dim, "vocab": vocab, "horizon": horizon, "queries": p["used"], "kl": p["kl"]}


def trivial_label_kl(noise: float) -> float:
    """KL(true ‖ uniform) on a noisy-parity label, ``log 2 - H(eta)`` nats (predicting without the bits)."""
    eta = float(noise)
    h = -sum(p * np.log(p) for p in (eta, 1 - eta) if p > 0)
    return float(np.log(2) - h)


def noisy_parity_comparison(n_bits: int, subset: int, noise: float, samples: list[int], seed: int,
                            n_eval: int = 400, mle_steps: int = 400) -> dict[str, Any]:
    """Noisy parity: the logit-query learner vs the sample-only baselines (spectral WFA, smoothed n-gram,
    ISAN maximum likelihood with ``mle_steps`` gradient steps) at each sample budget; KL on the label step
    (position ``n_bits``)."""
    from simulators.learners import (
        LogitQueryLearner,
        MLELearner,
        NGramLearner,
        QueryAccess,
        SampleAccess,
        SpectralWFALearner,
    )
    from simulators.parity import NoisyParity

    target = NoisyParity.random(n_bits, subset, noise, rng=seed)
    s_learn, s_access, s_eval, s_mle, s_samples = spawn_seeds(seed, 5)
    q = _fit_and_evaluate(target, LogitQueryLearner(rng=s_learn), QueryAccess(target, rng=s_access), n_eval,
                          s_eval)
    # no held-out selection: it would score the label position, and the legend says the WFA never sees it
    factories = {"spectral WFA": lambda: SpectralWFALearner(validation_fraction=0.0),
                 "smoothed n-gram": lambda: NGramLearner(),
                 "ISAN MLE (torch)": lambda: MLELearner(steps=mle_steps, rng=s_mle)}
    baselines = {}
    for name, make in factories.items():
        kls = [_fit_and_evaluate(target, make(), SampleAccess(target, budget=m, rng=s_samples), n_eval,
                                 s_eval)["kl_per_position"][n_bits] for m in samples]
        baselines[name] = {"samples": list(samples), "kl": kls}
    return {"n_bits": n_bits, "subset": subset, "noise": noise,
            "query": {"queries": q["used"], "kl": q["kl_per_position"][n_bits], "kl_total": q["kl"]},
            "baselines": baselines, "trivial_kl": trivial_label_kl(noise)}


def _pack(bits: np.ndarray) -> np.ndarray:
    """``(N, c)`` 0/1 array -> ``(c, W)`` uint64 words, sample ``i`` at bit ``i % 64`` of word ``i // 64``
    (zero padding, which contributes nothing to a disagreement count)."""
    N = bits.shape[0]
    padded = np.zeros((bits.shape[1], -(-N // 64) * 64), dtype=np.uint8)
    padded[:, :N] = bits.T
    return np.packbits(padded, axis=1, bitorder="little").view(np.uint64)


def subset_search(bits: np.ndarray, labels: np.ndarray, k: int) -> tuple[tuple[int, ...], int]:
    """The ``k``-subset whose parity disagrees least with ``labels``, and that number of disagreements.

    Parameters
    ----------
    bits : (N, n) array of 0/1 ; labels : (N,) array of 0/1 ; k : int, ``0 <= k <= n``

    Returns
    -------
    (subset, disagreements) — ties go to the first subset in lexicographic order.
    """
    n = bits.shape[1]
    k = check_int("k", k, minimum=0, maximum=n)
    cols, y = _pack(np.asarray(bits, dtype=np.uint8)), _pack(np.asarray(labels, dtype=np.uint8)[:, None])[0]
    combos = np.array(list(itertools.combinations(range(n), k)), dtype=np.intp).reshape(math.comb(n, k), k)
    chunk = max(1, 2**22 // max(1, k * cols.shape[1]))  # about 32 MB of words per step
    best, best_count = 0, np.iinfo(np.int64).max
    for lo in range(0, len(combos), chunk):
        c = combos[lo:lo + chunk]
        par = np.bitwise_xor.reduce(cols[c], axis=1) if k else np.zeros((len(c), cols.shape[1]), np.uint64)
        counts = np.bitwise_count(par ^ y).sum(axis=1, dtype=np.int64)
        i = int(np.argmin(counts))
        if counts[i] < best_count:
            best, best_count = lo + i, int(counts[i])
    return tuple(int(j) for j in combos[best]), best_count


def _kl_bern(p: float, q: float) -> float:
    return sum(a * math.log(a / b) for a, b in ((p, q), (1 - p, 1 - q)) if a > 0)


def subset_search_label_kl(found: bool, noise: float, eta_hat: float) -> float:
    """Exact label KL of "label = parity of S^ flipped w.p. eta_hat" against the target's parity of S
    flipped w.p. ``noise``, over uniform bits (module docstring): ``found`` says whether ``S^ = S``."""
    kl = _kl_bern(1 - noise, 1 - eta_hat)
    return kl if found else 0.5 * (kl + _kl_bern(1 - noise, eta_hat))


def subset_search_curve(n_bits: int, subset: int, noise: float, samples: list[int],
                        seed: int) -> dict[str, Any]:
    """Brute-force subset search on the noisy-parity target of :func:`noisy_parity_comparison` (same
    ``seed``) at each sample size: the exact label KL of the predictor "label = parity of S^ flipped w.p.
    eta^" (module docstring) and whether S^ = S.

    No wall-clock time: results must not depend on the machine."""
    from simulators.parity import NoisyParity

    target = NoisyParity.random(n_bits, subset, noise, rng=seed)  # the target of the baselines' step
    truth = tuple(sorted(int(j) for j in target.subset))
    kls, found = [], []
    for m, gen in zip(samples, spawn_rngs(seed, len(samples)), strict=True):
        seqs = target.sample(int(m), rng=gen)
        best, wrong = subset_search(seqs[:, :n_bits], seqs[:, n_bits], subset)
        eta_hat = min(max(wrong / m, 0.5 / m), 0.5)
        found.append(best == truth)
        kls.append(subset_search_label_kl(found[-1], noise, eta_hat))
    return {"samples": [int(m) for m in samples], "kl": kls, "found": found,
            "subsets": math.comb(n_bits, subset)}
