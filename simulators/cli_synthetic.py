"""The synthetic-family side of ``logitrank spectrum`` and ``logitrank extract`` (moved out of
:mod:`logitrank.cli`, unchanged): the model of ``--model/--vocab/--dim/--horizon/--set/--seed``, its
index sets ``H`` and ``F`` with the defaults valid for every family, and the ``spectrum`` subcommand's work.
:mod:`logitrank.cli` declares the arguments and imports this module inside the subcommands only.
"""

from __future__ import annotations

import argparse
import sys

from logitrank.cli import DEFAULT_DIM, DEFAULT_HORIZON, DEFAULT_INDEX_SET  # sizes when not given

from .index_sets import distinct_count, synthetic_index_sets

__all__ = ["DEFAULT_INDEX_SET", "parse_settings", "model_from_args", "distinct_count", "model_and_index_sets",
           "run_spectrum", "spectrum_from_shards"]


def parse_settings(items: list[str]) -> dict[str, object]:
    """``--set KEY=VALUE`` items as a dict (values parsed as JSON where they are JSON, else as a float
    where Python reads one -- ``nan``, ``inf`` -- so the family's own check refuses them; else strings)."""
    import json

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


def model_from_args(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The synthetic model of ``--model/--vocab/--dim/--horizon/--set/--seed`` (picklable via partial)."""
    settings = parse_settings(getattr(args, "set", None) or [])
    dim = DEFAULT_DIM if args.dim is None else args.dim
    horizon = DEFAULT_HORIZON if args.horizon is None else args.horizon
    if args.model == "isan" and not settings:
        from simulators import TimeVaryingISAN

        return TimeVaryingISAN.random(16 if args.vocab is None else args.vocab, dim, horizon, rng=args.seed)
    try:
        from simulators.families import build_model
    except ImportError as exc:
        raise ValueError(
            f"model: only 'isan' is available (simulators.families is missing), got {args.model!r}"
        ) from exc
    try:
        return build_model(args.model, vocab_size=args.vocab, dim=dim, horizon=horizon, rng=args.seed,
                           **settings)
    except (ValueError, TypeError) as exc:  # name the option the user typed: --set KEY=VALUE
        key = str(exc).partition(":")[0]
        if key in settings:
            raise type(exc)(f"--set {exc}") from exc
        raise


def note(text: str) -> None:
    """A ``note: ...`` line on stderr."""
    print(f"note: {text}", file=sys.stderr)


def model_and_index_sets(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The model, its history length ``t``, ``H`` (``|H|`` random histories of length ``t``), ``F`` (random
    futures of lengths ``0..T-1-t``) and the generator that drew them.

    Defaults work for every family: without ``--vocab`` a family gets its own ``V`` (16, or 2 for the binary
    ones), and the default ``|H| = |F| = 256`` is clipped, with a note on stderr, to the number of distinct
    sequences there are. An explicit value a family cannot take is an error."""
    import numpy as np

    model = model_from_args(args)
    V, T = model.vocab_size, model.horizon
    t = T // 2 if args.history_length is None else args.history_length
    if not 0 <= t <= T - 1:
        raise ValueError(f"history-length: must lie in [0, {T - 1}] (horizon - 1), got {t}")
    for name, lengths in (("histories", range(t, t + 1)), ("futures", range(T - t))):
        n = DEFAULT_INDEX_SET if getattr(args, name) is None else getattr(args, name)
        most = distinct_count(V, lengths, n)
        span = f"length {t}" if name == "histories" else f"lengths 0..{T - 1 - t}"
        if n > most and getattr(args, name) is not None:
            raise ValueError(f"{name}: must be <= {most} (the number of distinct {name} of {span} over {V} "
                             f"tokens), got {n}")
        if n > most:
            note(f"{args.model} has only {most} distinct {name} of {span} over {V} tokens: "
                  f"|{name[0].upper()}| = {most} instead of the default {n}")
        setattr(args, name, min(n, most))
    rng = np.random.default_rng(args.seed)
    _, H, F = synthetic_index_sets(V, T, args.histories, args.futures, history_length=t, rng=rng)
    return model, t, H, F, rng




def run_spectrum(args: argparse.Namespace) -> int:
    from pathlib import Path

    from logitrank import extended_logit_matrix, save_json, singular_values, summarize_spectrum

    if getattr(args, "from_dir", None) is not None:
        return spectrum_from_shards(args)
    model, t, H, F, rng = model_and_index_sets(args)
    T = model.horizon
    L = extended_logit_matrix(model, H, F, top_k=args.top_k, token_rule=args.token_rule, rng=rng,
                              progress=False if args.no_progress else None)
    s = singular_values(L, method=args.method)
    rtol = args.rtol if args.rtol is not None else (1e-10 if args.method == "exact" else 1e-6)
    summary = summarize_spectrum(s, rtol=rtol, rng=rng)
    bound = getattr(model, "rank_bound", None)
    summary.update(model=repr(model), model_family=args.model, seed=args.seed, history_length=t,
                   n_histories=len(H), n_futures=len(F), top_k=args.top_k, token_rule=args.token_rule,
                   shape=list(L.shape), method=args.method,
                   rank_bound=bound(t) if callable(bound) else None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    L.metadata.update(seed=args.seed, model_family=args.model)
    L.save(out / "matrix.npz")
    if hasattr(model, "save"):
        model.save(out / "model.npz")
    save_json(summary, out / "summary.json")

    print(f"{summary['model']}: L(H, F) is {L.shape[0]} x {L.shape[1]} ({len(H)} histories of length {t}, "
          f"{len(F)} futures of length 0..{T - 1 - t}{'' if args.top_k is None else f', top-{args.top_k}'})")
    print(f"numerical rank (sigma_i > {rtol:g} sigma_1): {summary['numerical_rank']}"
          + ("" if summary["rank_bound"] is None else f"   (ground-truth bound {summary['rank_bound']})"))
    print("approx rank (relative squared Frobenius error): "
          + ", ".join(f"eps={e} -> {r}" for e, r in summary["approx_rank"].items()))
    fit = summary["power_law"]
    if fit is None:
        print(f"power law: not fitted ({summary['power_law_error']})")
    else:
        lo, hi = fit["alpha_ci"]
        print(f"power law sigma_i ~ C i^-alpha: alpha = {fit['alpha']:.3f} [{lo:.3f}, {hi:.3f}] "
              f"({fit['confidence']:.0%} {fit['bootstrap']} bootstrap), R^2 = {fit['r_squared']:.3f}, "
              f"indices {fit['index_range'][0]}..{fit['index_range'][1]}")
    print(f"wrote {out / 'matrix.npz'}, {out / 'summary.json'}")
    return 0




def spectrum_from_shards(args: argparse.Namespace) -> int:
    """``logitrank spectrum --from DIR``: the Gram-streamed spectrum of a shard directory."""
    from pathlib import Path

    from logitrank import save_json, summarize_spectrum
    from logitrank.shards import open_shards

    sm = open_shards(args.from_dir)
    s = sm.singular_values(method="gram", progress=False if args.no_progress else None)
    rtol = 1e-6 if args.rtol is None else args.rtol  # Gram round-off ~ sqrt(eps) sigma_1
    summary = summarize_spectrum(s, rtol=rtol, rng=args.seed)
    summary.update(source=str(sm.path), model_id=sm.manifest["model_id"], shape=list(sm.shape),
                   top_k=sm.manifest["top_k"], token_rule=sm.manifest["token_rule"], method="gram-shards")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_json(summary, out / "summary.json")
    print(f"{sm.manifest['model_id']}: L(H, F) is {sm.shape[0]} x {sm.shape[1]} from {sm.n_shards} shards")
    print(f"numerical rank (sigma_i > {rtol:g} sigma_1): {summary['numerical_rank']}")
    fit = summary["power_law"]
    print("power law: " + (f"not fitted ({summary['power_law_error']})" if fit is None
                           else f"alpha = {fit['alpha']:.3f}, R^2 = {fit['r_squared']:.3f}"))
    print(f"wrote {out / 'summary.json'}")
    return 0
