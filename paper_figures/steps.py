"""Thin orchestration of the library's experiments into cacheable steps for the figures.

Nothing here re-implements an estimator: each function draws the inputs a figure needs (seeded) and calls
the owning library (``logitrank`` estimators, ``simulators`` models, ``llm_bridge`` experiments), returning
plain dicts of numbers and arrays that :class:`paper_figures.store.StepCache` stores.
"""

from __future__ import annotations

import functools
import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from logitrank import as_rng, extended_logit_matrix, random_futures, random_histories

__all__ = ["synthetic_spectrum", "synthetic_model", "spectrum_entry"]


def synthetic_model(family: str, vocab: int, dim: int, horizon: int, seed: int, **kw: Any) -> Any:
    """A synthetic model of ``family`` (``simulators.families.build_model``; ``kw`` are family options)."""
    from simulators.families import build_model

    return build_model(family, vocab_size=vocab, dim=dim, horizon=horizon, rng=seed, **kw)


def spectrum_entry(s: np.ndarray, seed: int, **extra: Any) -> dict[str, Any]:
    """Singular values with their power-law fit, as a cacheable dict."""
    from logitrank.power_law import fit_power_law

    fit = fit_power_law(s, rng=seed)
    return {"s": np.asarray(s, dtype=np.float64), "alpha": fit.alpha, "ci": list(fit.alpha_ci), "C": fit.c,
            "fit_range": list(fit.index_range), "r_squared": fit.r_squared, **extra}


def synthetic_spectrum(family: str, vocab: int, dim: int, horizon: int, n_histories: int, n_futures: int,
                       seed: int, **kw: Any) -> dict[str, Any]:
    """Spectrum and power-law fit of ``L_M(H, F)`` for a synthetic model: histories of length
    ``horizon // 2`` and futures up to the remaining horizon."""
    from logitrank.spectra import singular_values

    gen = as_rng(seed)
    model = synthetic_model(family, vocab, dim, horizon, seed, **kw)
    t = horizon // 2
    H = random_histories(vocab, min(n_histories, vocab**t), t, rng=gen)
    n_f = min(n_futures, sum(vocab**m for m in range(horizon - t)))
    F = random_futures(vocab, n_f, horizon - 1 - t, rng=gen)
    L = extended_logit_matrix(model, H, F, progress=False)
    s = singular_values(L)
    alpha_true = getattr(model, "alpha", None)
    label = {"isan": f"ISAN d={dim}", "planted": f"planted α={alpha_true}, d={dim}",
             "hmm": f"HMM, {dim} states",
             "ngram": f"{getattr(model, 'order', '')}-gram"}.get(family, family)
    return spectrum_entry(s, seed, family=family, label=label, shape=list(L.shape),
                          alpha_true=None if alpha_true is None else float(alpha_true))


# --- learning (simulators.learners) -------------------------------------------------------------

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
    from simulators.learners import LogitQueryLearner, QueryAccess

    if family == "isan":
        target = TimeVaryingISAN.random(vocab, dim, horizon, rng=seed)
        label = f"exact ISAN V={vocab}, d={dim}, T={horizon}"
    else:
        target = synthetic_model(family, vocab, dim, horizon, seed)
        label = f"{family.upper() if family == 'hmm' else family} V={vocab}, T={horizon} (approx. low rank)"
    points = [_fit_and_evaluate(target, LogitQueryLearner(rank=r, rng=seed + 1),
                                QueryAccess(target, rng=seed + 2), n_eval, seed + 3) for r in ranks]
    return {"family": family, "ranks": list(ranks), "queries": [p["used"] for p in points],
            "kl": [p["kl"] for p in points], "kl_se": [p["kl_se"] for p in points], "label": label}


def learning_queries(vocab: int, dim: int, horizon: int, seed: int, n_eval: int = 100) -> dict[str, Any]:
    """Queries the logit-query learner (defaults) uses on a random ISAN, and the KL it reaches."""
    from simulators import TimeVaryingISAN
    from simulators.learners import LogitQueryLearner, QueryAccess

    target = TimeVaryingISAN.random(vocab, dim, horizon, rng=seed)
    p = _fit_and_evaluate(target, LogitQueryLearner(rng=seed + 1), QueryAccess(target, rng=seed + 2), n_eval,
                          seed + 3)
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
    q = _fit_and_evaluate(target, LogitQueryLearner(rng=seed + 1), QueryAccess(target, rng=seed + 2), n_eval,
                          seed + 3)
    factories = {"spectral WFA": lambda: SpectralWFALearner(),
                 "smoothed n-gram": lambda: NGramLearner(),
                 "ISAN MLE (torch)": lambda: MLELearner(steps=mle_steps, rng=seed + 4)}
    baselines = {}
    for name, make in factories.items():
        kls = [_fit_and_evaluate(target, make(), SampleAccess(target, budget=m, rng=seed + 5), n_eval,
                                 seed + 3)["kl_per_position"][n_bits] for m in samples]
        baselines[name] = {"samples": list(samples), "kl": kls}
    return {"n_bits": n_bits, "subset": subset, "noise": noise,
            "query": {"queries": q["used"], "kl": q["kl_per_position"][n_bits], "kl_total": q["kl"]},
            "baselines": baselines, "trivial_kl": trivial_label_kl(noise)}


# --- the shared trained transformer (llm_bridge) ------------------------------------------------

def _train(run_dir: str, preset: str, steps: int, checkpoint_every: int, max_seconds: float | None, seed: int,
           progress: bool | None, device: str | None = None, **overrides: Any) -> dict[str, Any]:
    from llm_bridge.train import train_shakespeare

    res = train_shakespeare(run_dir, preset=preset, steps=steps, checkpoint_every=checkpoint_every, seed=seed,
                            max_seconds=max_seconds, progress=progress, device=device, **overrides)
    return {"step": res.step, "completed": res.completed, "n_params": res.n_params,
            "val_losses": [list(v) for v in res.val_losses],
            "checkpoints": [[int(s), p.name] for s, p in res.checkpoints],
            "train_seconds": res.seconds, "tokens_per_second": res.tokens_per_second}


def trained_transformer(config: Any, cache: Any, *, second: bool = False) -> dict[str, Any]:
    """The shared transformer of every LLM figure (``config.lm_tokenizer`` tokens), trained once per output
    directory.

    Trains ``config.lm_preset`` on the Shakespeare corpus with ``llm_bridge.train_shakespeare`` into
    ``<out>/cache/transformer/run-seed<seed>-<hash>/`` (checkpoints every ``config.lm_checkpoint_every``
    steps, step 0 included) until ``config.lm_steps`` steps or ``config.lm_max_seconds``; a killed training
    resumes.
    ``second=True`` gives the second model (another seed, ``config.second_model_steps``) for model-vs-model
    comparisons. Returns the cached summary with absolute checkpoint paths added (``"paths"``).
    """
    from .store import StepCache

    tcache = StepCache(cache.directory.parent / "transformer", progress=cache.progress)
    seed = config.seed + (1 if second else 0)
    params = {"preset": config.lm_preset, "tokenizer": config.lm_tokenizer,
              "steps": config.second_model_steps if second else config.lm_steps,
              "checkpoint_every": config.lm_checkpoint_every,
              "max_seconds": config.second_model_max_seconds if second else config.lm_max_seconds,
              "seed": seed}
    key = f"seed{seed}-{zlib.crc32(json.dumps(params, sort_keys=True).encode()):08x}"
    run_dir = tcache.directory / f"run-{key}"
    # the device is not part of the cache key: a model trained on either device serves both
    fn = functools.partial(_train, str(run_dir), progress=config.progress, device=config.device)
    info = tcache.step(f"train-{key}", fn, **params)
    info["key"] = key
    info["paths"] = {int(s): str(run_dir / name) for s, name in info["checkpoints"]}
    info["final_step"] = max(info["paths"])
    info["val_by_step"] = {int(s): float(v) for s, v in info["val_losses"]}
    return info


@functools.lru_cache(maxsize=4)
def _corpus(run_dir: str | None = None) -> Any:
    """The Shakespeare corpus, tokenized as the run in ``run_dir`` was (its saved tokenizer); characters
    when ``None``."""
    from llm_bridge.corpus import load_shakespeare, load_tokenizer

    if run_dir is None:
        return load_shakespeare()
    first = sorted(p for p in Path(run_dir).glob("checkpoint-*") if p.is_dir())[0]
    return load_shakespeare(tokenizer=load_tokenizer(first))


def _corpus_of(checkpoint: str) -> Any:
    """The corpus tokenized like the checkpoint directory ``checkpoint``."""
    return _corpus(str(Path(checkpoint).parent))


def _spec(n_histories: int, history_len: int, n_futures: int, future_len: int, top_k: int) -> Any:
    from llm_bridge.experiments import WindowSpec

    return WindowSpec(n_histories, history_len, n_futures, future_len, top_k)


def _hf(path: str, device: str) -> Any:
    from llm_bridge import HFModel

    return HFModel(path, device=device, progress=False)


def _lm_spectrum(path: str, device: str, step: int, val_loss: float | None, n_histories: int, n_futures: int,
                 history_len: int, future_len: int, top_k: int, seed: int, kl_rank: int | None = None,
                 **_key: Any) -> dict[str, Any]:
    """``llm_bridge.experiments.logit_spectrum`` (or ``emergence_across_checkpoints`` when ``kl_rank`` is
    given, which also measures the rank-r KL) on the validation plays."""
    from llm_bridge.experiments import emergence_across_checkpoints, logit_spectrum

    spec = _spec(n_histories, history_len, n_futures, future_len, top_k)
    extra: dict[str, Any] = {"steps": step, "val_loss": val_loss, "k": top_k}
    if kl_rank is None:
        r = logit_spectrum(_hf(path, device), _corpus_of(path).validation, spec, rng=seed)
        s, fit, shape = r.singular_values, r.fit, list(r.shape)
        extra["shape"] = shape
        return {"s": np.asarray(s), "alpha": fit.alpha, "ci": list(fit.alpha_ci), "C": fit.c,
                "fit_range": list(fit.index_range), "r_squared": fit.r_squared, **extra}
    # one checkpoint at a time (each cached on its own); the same seed draws the same H, F every time
    e = emergence_across_checkpoints([(step, _hf(path, device))], _corpus_of(path).validation, spec,
                                     ranks=(kl_rank,), rng=seed)
    return {"s": np.asarray(e.singular_values[0]), "alpha": float(e.alpha[0]),
            "ci": [float(e.alpha_lo[0]), float(e.alpha_hi[0])], "kl": float(e.kl[0, 0]), "kl_rank": kl_rank,
            **extra}


def transformer_spectrum(config: Any, cache: Any, checkpoint: int | str, name: str,
                         n_histories: int | None = None, kl_rank: int | None = None) -> dict[str, Any]:
    """Spectrum and power-law fit of the shared transformer's ``L_k(H, F)`` at a checkpoint
    (``"final"`` or a step), cached as step ``name``."""
    info = trained_transformer(config, cache)
    step = info["final_step"] if checkpoint == "final" else int(checkpoint)
    n = n_histories or config.lm_histories
    fn = functools.partial(_lm_spectrum, info["paths"][step], config.device)
    return cache.step(name, fn, model=info["key"], step=step, val_loss=info["val_by_step"].get(step),
                      n_histories=n, n_futures=n, history_len=config.lm_history_len,
                      future_len=config.lm_future_len, top_k=config.lm_top_k, seed=config.seed,
                      kl_rank=kl_rank)


def transformer_emergence(config: Any, cache: Any) -> dict[str, Any]:
    """alpha and rank-r KL of the same ``L_k(H, F)`` at each saved checkpoint in ``config.lm_checkpoints``
    (and the final one)."""
    info = trained_transformer(config, cache)
    steps_ = sorted({s for s in config.lm_checkpoints if s in info["paths"]} | {info["final_step"]})
    kl_rank = max(1, config.angle_rank // 2)
    cps = [transformer_spectrum(config, cache, s, f"checkpoint_{s}", n_histories=config.emergence_histories,
                                kl_rank=kl_rank) for s in steps_]
    return {"kl_rank": kl_rank,
            "checkpoints": [{"step": c["steps"], "alpha": c["alpha"], "ci": c["ci"], "kl": c["kl"],
                             "val_loss": c["val_loss"]} for c in cps]}


def _kl_scales(path: str, device: str, scales: list[int], ranks: list[int], history_len: int,
               future_len: int, top_k: int, seed: int, **_key: Any) -> dict[str, Any]:
    from llm_bridge.experiments import kl_across_scales

    n = max(scales)
    r = kl_across_scales(_hf(path, device), _corpus_of(path).validation, n, ranks,
                         scales=[n // m for m in sorted(scales, reverse=True)], history_length=history_len,
                         future_length=future_len, top_k=top_k, rng=seed)
    out = []
    for i, m in enumerate(r.sizes):
        ok = np.isfinite(r.kl[i]) & (r.ranks < m)  # below full rank, where the truncation KL is > 0
        out.append({"n": int(m), "ranks": r.ranks[ok], "kl": r.kl[i][ok], "bound": r.frobenius_bound[i][ok]})
    return {"scales": out, "k": top_k, "history_len": history_len}


def transformer_kl_scales(config: Any, cache: Any) -> dict[str, Any]:
    """KL of rank-r truncations vs r for nested sub-matrices ``|H| = |F| = n, n/2, ...``."""
    info = trained_transformer(config, cache)
    fn = functools.partial(_kl_scales, info["paths"][info["final_step"]], config.device)
    return cache.step("scales", fn, model=info["key"], scales=list(config.kl_scales),
                      ranks=list(config.kl_ranks), history_len=config.lm_history_len,
                      future_len=config.lm_future_len, top_k=config.lm_top_k, seed=config.seed)


def _angles(path: str, path2: str, device: str, n: int, history_len: int, future_len: int, top_k: int,
            rank: int, seed: int, **_key: Any) -> dict[str, Any]:
    from llm_bridge.experiments import subspace_angles

    spec = _spec(n, history_len, n, future_len, top_k)
    r = subspace_angles(_hf(path, device), _corpus_of(path).validation, rank, spec,
                        other_model=_hf(path2, device), rng=seed)
    return {"rank": rank, "n_histories": n, "real_vs_nonsense": r.real_vs_nonsense,
            "model_vs_model": r.model_vs_model, "random": r.random_baseline}


def transformer_angles(config: Any, cache: Any) -> dict[str, Any]:
    """Principal-angle cosines: real vs nonsense futures, the model vs a second seed, random subspaces."""
    info = trained_transformer(config, cache)
    info2 = trained_transformer(config, cache, second=True)
    fn = functools.partial(_angles, info["paths"][info["final_step"]], info2["paths"][info2["final_step"]],
                           config.device)
    return cache.step("angles", fn, model=info["key"], model2=info2["key"], n=config.lm_histories,
                      history_len=config.lm_history_len, future_len=config.lm_future_len,
                      top_k=config.lm_top_k, rank=config.angle_rank, seed=config.seed)


def hidden_dim_point(n_embd: int, preset: str, steps: int, n_histories: int, history_len: int, device: str,
                     seed: int, run_root: str) -> dict[str, Any]:
    """Train a model of width ``n_embd`` for ``steps`` steps (so LayerNorm's shift is no longer 0), then
    ``llm_bridge.experiments.hidden_dim_recovery`` on ``L(H, {∅})`` of validation windows."""
    from llm_bridge.experiments import draw_windows, hidden_dim_recovery

    run = Path(run_root) / f"n_embd{n_embd}-seed{seed}-steps{steps}"
    info = _train(str(run), preset, max(steps, 1), max(steps, 1), None, seed, False, device, n_embd=n_embd,
                  n_head=2 if n_embd % 4 else 4)
    H, _ = draw_windows(_corpus().validation, _spec(n_histories, history_len, 1, 1, 1), rng=seed)
    r = hidden_dim_recovery(_hf(str(run / info["checkpoints"][-1][1]), device), H)
    return {"n_embd": n_embd, "estimate": int(r.estimate), "gap": float(r.gap), "s": r.singular_values,
            "n_histories": n_histories, "steps": steps}


# --- theory: equivalence and the phase transition ----------------------------------------------

def equivalence_point(family: str, vocab: int, horizon: int, dim: int, seed: int) -> dict[str, Any]:
    """Exact cut ranks ``rank L(Σ^t, Σ^{≤T-1-t})`` of one model (``theory.enumeration.cut_ranks``) and the
    ISAN rebuilt from its logits alone (``theory.equivalence.isan_from_logits``): its dimension per step and
    its largest centered-logit error over every prefix, at full measured rank and capped at ``dim``.

    ``family``: ``"isan"`` (random, dimension ``dim``), ``"ngram"`` (order 3, logit rank up to ``V^2``,
    more than ``dim`` when ``V^2 > dim``) or ``"hmm"`` (``dim`` states; not exactly low rank)."""
    from theory.enumeration import cut_ranks
    from theory.equivalence import isan_from_logits

    if family == "isan":
        model = synthetic_model("isan", vocab, dim, horizon, seed)
        label = f"random ISAN, d={dim}"
    elif family == "ngram":
        model = synthetic_model("ngram", vocab, dim, horizon, seed, order=3)
        label = f"3-gram (rank ≤ V²={vocab ** 2})"
    else:
        model = synthetic_model(family, vocab, dim, horizon, seed)
        label = f"HMM, {dim} states" if family == "hmm" else family
    ranks = [int(r) for r in cut_ranks(model, horizon)]
    full = isan_from_logits(model, horizon, progress=False)
    capped = isan_from_logits(model, horizon, max_dim=dim, progress=False)
    return {"family": family, "label": label, "ranks": ranks, "rebuilt_dims": [int(r) for r in full.ranks],
            "rebuilt_error": float(full.max_error), "capped_error": float(capped.max_error),
            "queries": int(full.queries)}


# --- LINGEN (llm_bridge.lingen_experiment over the shared transformer) --------------------------

METHOD_NAMES = {"lingen": "LINGEN", "single_token": "single-token", "short_history": "short history",
                "earlier_checkpoint": "earlier checkpoint"}


def _lingen(path: str, early_path: str, device: str, n_targets: int, n_samples: int, n_steps: int,
            n_basis: int, n_futures: int, history_len: int, future_len: int, short_len: int, n_show: int,
            seed: int, prefix_closed: bool = True, **_key: Any) -> dict[str, Any]:
    from llm_bridge.experiments import draw_windows, lingen_experiment
    from llm_bridge.windows import prefix_closure
    from logitrank import lingen_fit, lingen_generate

    model, early = _hf(path, device), _hf(early_path, device)
    corpus = _corpus_of(path)
    table: dict[str, dict[str, float]] = {}
    se: dict[str, dict[str, float]] = {}
    for setting, key in (("in_distribution", "in_distribution"), ("nonsense", "nonsense")):
        r = lingen_experiment(model, corpus.validation, setting=setting, n_targets=n_targets,
                              n_samples=n_samples, steps=n_steps, n_basis=n_basis, n_futures=n_futures,
                              history_length=history_len, future_length=future_len, short_history=short_len,
                              earlier_model=early, rng=seed, progress=False, prefix_closed=prefix_closed)
        for m, ckl in r.cumulative_kl.items():
            last = ckl[:, :, -1].reshape(-1)
            table.setdefault(METHOD_NAMES[m], {})[key] = float(last.mean())
            se.setdefault(METHOD_NAMES[m], {})[key] = (float(last.std(ddof=1) / np.sqrt(last.size))
                                                       if last.size > 1 else 0.0)
    # a few continuations, as text: the model's own and LINGEN's (fit on other windows)
    H, F = draw_windows(corpus.validation, _spec(n_basis + n_show, history_len, n_futures, future_len, 1),
                        rng=seed + 7)
    if prefix_closed:
        F = prefix_closure(F)
    shown = []
    for i, h in enumerate(H[:n_show]):
        fit = lingen_fit(model, h, H[n_show:], F)
        lin = lingen_generate(model, H[n_show:], fit, n_steps, rng=seed + i, n_samples=1)
        own = lingen_generate(model, [h], np.ones(1), n_steps, rng=seed + i, n_samples=1)
        shown.append({"history": corpus.tokenizer.decode(h[-24:]),
                      "model": corpus.tokenizer.decode(own.tokens[0]),
                      "lingen": corpus.tokenizer.decode(lin.tokens[0])})
    return {"table": table, "se": se, "n_steps": n_steps, "n_targets": n_targets, "n_samples": n_samples,
            "n_basis": n_basis, "n_fit_futures": r.n_fit_futures, "prefix_closed": prefix_closed,
            "continuations": shown}


def transformer_lingen(config: Any, cache: Any) -> dict[str, Any]:
    """LINGEN and its three baselines on the shared transformer, both settings; the earlier checkpoint is
    the last saved one at or before half of training."""
    info = trained_transformer(config, cache)
    final = info["final_step"]
    early = max(s for s in info["paths"] if s <= final // 2)
    fn = functools.partial(_lingen, info["paths"][final], info["paths"][early], config.device)
    res = cache.step("lingen", fn, model=info["key"], early_step=early, n_targets=config.lingen_targets,
                     n_samples=config.lingen_samples, n_steps=config.lingen_steps,
                     n_basis=config.lingen_basis, n_futures=config.lingen_futures,
                     history_len=config.lm_history_len, future_len=config.lm_future_len, short_len=5,
                     n_show=3, seed=config.seed, prefix_closed=True)
    res["early_step"] = early
    return res
