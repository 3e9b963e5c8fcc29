"""The learning figure's cached steps: the logit-query learner and the sample-only baselines of
``simulators.learners`` on synthetic targets, as plain dicts for :class:`experiments.store.StepCache`.
The learner, access, evaluation, MLE and sample streams are spawned from the step's seed
(:func:`logitrank.validation.spawn_seeds`).

Each function only wires library calls (a target from ``simulators``, a learner's ``fit`` on an access
object, :func:`simulators.learners.evaluate`); the learners' own module is the natural long-term home.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from logitrank.validation import spawn_seeds

__all__ = ["learning_curve", "learning_queries", "noisy_parity_comparison", "trivial_label_kl"]


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
    factories = {"spectral WFA": lambda: SpectralWFALearner(),
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
