"""``logitrank measure``: the paper's measurements on a user's own HuggingFace causal LM, resumable.

:func:`run` loads a checkpoint (:mod:`llm_bridge.measure_inputs` checks it, its tokenizer, the text and the
device, refusing what cannot work), tokenizes the text and runs, each from its own spawned seed:

``spectrum``
    the top-k ``L_{M,k}(H, F)`` of disjoint corpus windows, extracted through the sharded, resumable
    :func:`logitrank.shards.extract` (or :func:`logitrank.distributed.extract_distributed` on dask workers,
    one model replica per worker); its singular values and the power law ``sigma_i ~ C i^(-alpha)`` with a
    bootstrap interval. Same windows, tokens and fit as :func:`experiments.spectrum.run` with
    that seed (the matrix is stored in float64).
``kl_scales``
    ``D_avg(L, L_r)`` vs ``r`` on the nested sub-matrices ``n/s`` of that same matrix (as
    :mod:`experiments.kl_scales` does on its own matrix; no second extraction).
``hidden_dim``, ``angles``, ``lingen``
    the experiments' own ``run`` (:mod:`experiments`); the hidden dimension is compared with what
    SPEC's rule expects from the model's final norm (:func:`expected_hidden_dim`), and ``--earlier`` adds the
    earlier-checkpoint LINGEN baseline and model-vs-model angles.

First, whatever ``only`` says, ``loss``: the model's own mean next-token loss (nats/token, standard error
over windows) on the spectrum's histories (:func:`experiments.loss.on_histories`). The model is
any source :mod:`llm_bridge.sources` resolves, with the BOS ``--bos`` chooses (``info["bos"]`` says why).

Resuming: ``out/measure.json`` records the run's identity (model, tokenizer, text hash, configuration); a
directory of a different run is refused. Each finished measurement is ``out/steps/<name>.json`` and the
spectrum's shards live in ``out/shards/spectrum``, so a killed run re-run with the same command skips what
is done and finishes with identical numbers. Figures and the report: :mod:`paper_figures.measure_figures`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from llm_bridge.measure_inputs import (
    check_top_k,
    check_windows,
    load_checked,
    model_id,
    model_vocab_size,
    open_hf_model,
)
from llm_bridge.windows import draw_windows
from logitrank import as_rng, fit_power_law, singular_values
from logitrank.paper import PAPER
from logitrank.power_law import loglog_fit
from logitrank.results_io import load_json, save_json, to_jsonable
from logitrank.run_folder import claim
from logitrank.sharded_matrix import open_shards
from logitrank.validation import check_choice, check_positive_int, spawn_seeds

from . import angles as ang_exp
from . import hidden_dim as hd_exp
from . import kl_scales as kl_exp
from . import lingen as lin_exp
from . import loss as loss_exp
from . import spectrum as spec_exp
from .base import ModelInputs, ResultBase
from .runner import Job, Runner

__all__ = ["MEASUREMENTS", "PRESET_NAMES", "Config", "Inputs", "Result", "MeasureRequest", "prepare",
           "run_measure", "expected_hidden_dim", "window_needs"]

#: the modules holding this experiment's computation besides its own (hashed into its code version)
DEPENDS: tuple[str, ...] = ("experiments.spectrum", "experiments.kl_scales", "experiments.hidden_dim",
                            "experiments.angles", "experiments.lingen", "experiments.loss")

MEASUREMENTS = ("spectrum", "kl_scales", "hidden_dim", "angles", "lingen")
PRESET_NAMES = ("tiny", "quick", "full")


#: rows per spectrum shard of each preset (the experiments' own presets give every size)
SHARD_ROWS = {"tiny": 8, "quick": 32, "full": 64}


@dataclass(frozen=True)
class Config:
    """Which measurements, their experiments' configs (each from that experiment's own preset table:
    :meth:`preset`) and how to run them; the defaults are the ``quick`` preset.

    ``kl_scales``: only its ``ranks`` and ``scales`` are read here (``measure`` truncates the spectrum's own
    matrix instead of drawing another). ``hidden_dim.n_histories`` is raised to ``d + max(32, d // 4)`` for a
    model of width ``d`` (the estimate needs ``|H| > d``). ``max_matrix_bytes``: above it the spectrum is
    Gram-streamed from the shards and ``kl_scales`` keeps the scales whose sub-matrix fits."""

    spectrum: spec_exp.Config = spec_exp.Config.quick()
    kl_scales: kl_exp.Config = kl_exp.Config.quick()
    hidden_dim: hd_exp.Config = hd_exp.Config.quick()
    angles: ang_exp.Config = ang_exp.Config.quick()
    lingen: lin_exp.Config = lin_exp.Config.quick()
    shard_rows: int = SHARD_ROWS["quick"]
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    only: tuple[str, ...] = MEASUREMENTS
    max_matrix_bytes: int = 1 << 30
    progress: bool | None = None

    @classmethod
    def preset(cls, name: str = "quick", *, top_k: int | None = None, **fields: Any) -> Config:
        """The named preset of every experiment (``tiny``: seconds on a toy model; ``quick``; ``full``: the
        paper's LINGEN sizes), ``top_k`` replacing k of the spectrum and angles, ``fields`` replacing any
        field."""
        check_choice("preset", name, PRESET_NAMES)
        cfg = cls(spectrum=spec_exp.Config.preset(name), kl_scales=kl_exp.Config.preset(name),
                  hidden_dim=hd_exp.Config.preset(name), angles=ang_exp.Config.preset(name),
                  lingen=lin_exp.Config.preset(name), shard_rows=SHARD_ROWS[name])
        if top_k is not None:
            cfg = replace(cfg, spectrum=replace(cfg.spectrum, top_k=top_k),
                          angles=replace(cfg.angles, top_k=top_k))
        only = fields.pop("only", None)
        if only is not None:
            bad = [o for o in only if o not in MEASUREMENTS]
            if bad or not only:
                raise ValueError(f"only: must be a non-empty subset of {MEASUREMENTS}, got {list(only)}")
            fields["only"] = tuple(m for m in MEASUREMENTS if m in only)
        return replace(cfg, **fields)

    def identity(self) -> dict[str, Any]:
        """The fields that determine the numbers (not ``only``, ``progress``, ``max_matrix_bytes``)."""
        d = to_jsonable(asdict(self))
        for k in ("only", "progress", "max_matrix_bytes"):
            d.pop(k)
        return d  # type: ignore[no-any-return]


@dataclass
class Inputs:
    """What :func:`prepare` checked and loaded: the model (:class:`llm_bridge.HFModel`), an optional earlier
    checkpoint, the tokenizer, the corpus tokens and a JSON-ready description ``info``."""

    source: str
    model: Any
    earlier: Any
    tokenizer: Any
    tokens: np.ndarray
    info: dict[str, Any]

    def identity(self) -> dict[str, Any]:
        """What determines the numbers of these inputs (the model's id, BOS, text hash, ...; not the text's
        description)."""
        return {k: v for k, v in self.info.items() if k != "text"}

    def experiment_inputs(self) -> ModelInputs:
        """The same inputs as the experiments read them."""
        return ModelInputs.of(self.model, self.tokens, earlier=self.earlier, tokenizer=self.tokenizer,
                              identity=self.identity())


@dataclass
class Result(ResultBase):
    """``model`` (what was measured), ``config`` (:meth:`Config.identity`), ``measurements`` (name ->
    JSON-ready dict), ``timing_s`` (name -> seconds the measurement took when it was computed, by this
    call or the killed run it resumes), ``out``, ``loss`` (the model's mean next-token loss,
    :class:`experiments.loss.Result` as a dict)."""

    model: dict[str, Any]
    config: dict[str, Any]
    measurements: dict[str, dict[str, Any]]
    timing_s: dict[str, float] = field(default_factory=dict)
    out: str = ""
    loss: dict[str, Any] = field(default_factory=dict)


def expected_hidden_dim(model: Any) -> tuple[int, str]:
    """The rank of the centered ``L(H, {empty})`` SPEC's hidden-dimension rule predicts, and the rule.

    ``d`` with RMSNorm (``d + 1`` with an output bias); with LayerNorm, ``d - 1`` when its shift ``beta``
    is zero and there is no output bias (a fresh GPT-2), else ``d``."""
    import torch

    d = int(getattr(model.config, "hidden_size", None) or model.config.n_embd)
    head = model.get_output_embeddings()
    head_bias = getattr(head, "bias", None) is not None and bool(torch.any(head.bias != 0))
    norms = [m for m in model.modules() if "norm" in type(m).__name__.lower()]
    final = norms[-1] if norms else None
    if final is None or "rms" in type(final).__name__.lower():
        return d + int(head_bias), "RMSNorm: d" + (" + 1 (output bias)" if head_bias else " (no output bias)")
    beta = getattr(final, "bias", None)
    shift = beta is not None and bool(torch.any(beta != 0))
    if shift or head_bias:
        return d, "LayerNorm with a shift (beta != 0) or output bias: d"
    return d - 1, "LayerNorm with beta = 0 and no output bias: d - 1"


def window_needs(config: Config) -> dict[str, tuple[int, int]]:
    """Per measurement: (tokens its disjoint windows total, longest history + continuation in tokens)."""
    s, h, a, g = config.spectrum, config.hidden_dim, config.angles, config.lingen
    spec_need = (s.n_histories * s.history_length + s.n_futures * s.future_length,
                 s.history_length + s.future_length)
    lin_total = max((g.n_targets + g.n_basis) * g.history_length, (g.n_basis + g.n_show) * g.history_length)
    return {"spectrum": spec_need, "kl_scales": spec_need,
            "hidden_dim": (h.n_histories * h.history_length, h.history_length),
            "angles": (a.n_histories * a.history_length + a.n_futures * a.future_length,
                       a.history_length + a.future_length),
            "lingen": (lin_total + g.n_futures * g.future_length,
                       g.history_length + max(g.steps, g.future_length))}


def prepare(model: str | Path, config: Config, *, text: str | Path | None = None, corpus: str | None = None,
            tokenizer: str = "auto", earlier: str | Path | None = None, bos: str = "auto"
            ) -> tuple[Inputs, Config]:
    """Check and load everything (see :mod:`llm_bridge.measure_inputs` for the refusals); returns the inputs
    and the config with ``hidden_dim.n_histories`` adapted to the model's width (``bos``: for both models)."""
    ld = load_checked(model, tokenizer=tokenizer, text=text, corpus=corpus, device=config.device,
                      dtype=config.dtype, bos=bos)
    source, hf, m, tok = ld.source, ld.hf, ld.model, ld.tokenizer
    V = m.vocab_size
    expected, rule = expected_hidden_dim(hf)
    early = None
    if earlier is not None:
        early = load_checked(earlier, tokenizer=tokenizer, text=text, corpus=corpus, device=config.device,
                             dtype=config.dtype, bos=bos).model
        if early.vocab_size != V:
            raise ValueError(f"earlier: must share the model's vocabulary V = {V}, got "
                             f"V = {early.vocab_size}")
    if {"spectrum", "kl_scales"} & set(config.only):  # F04: only what runs is checked
        check_top_k(config.spectrum.top_k, V, "spectrum")
    if "angles" in config.only:
        check_top_k(config.angles.top_k, V, "angles")
    d = int(getattr(hf.config, "hidden_size", None) or hf.config.n_embd)
    n_h = max(config.hidden_dim.n_histories, d + max(32, d // 4))
    config = replace(config, hidden_dim=replace(config.hidden_dim, n_histories=n_h))
    tokens = tok.encode(ld.text)
    needs = window_needs(config)
    for name in config.only:
        check_windows(*needs[name], m.horizon, tokens.size, f"{name} (preset sizes)", ld.text_desc)
        if early is not None and name in ("angles", "lingen"):  # the two that run the earlier model
            check_windows(*needs[name], early.horizon, tokens.size,
                          f"{name} (preset sizes) on the --earlier model {str(earlier)!r}", ld.text_desc)
    text_desc, body = ld.text_desc, ld.text
    assert ld.resolved is not None
    info = {"source": source, "model_id": model_id(ld, config.dtype, config.device),
            "description": ld.resolved.description, "bos": ld.bos, "architecture": type(hf).__name__,
            "hidden_size": d, "expected_hidden_dim": expected,
            "hidden_dim_rule": rule, "vocab_size": V, "model_vocab_size": model_vocab_size(hf),
            "context": m.n_ctx, "tokenizer": f"{type(tok).__name__}({tokenizer}, V={tok.vocab_size})",
            "text": text_desc, "n_tokens": int(tokens.size),
            "text_sha256": hashlib.sha256(body.encode()).hexdigest(),
            "earlier": None if earlier is None else str(earlier)}
    return Inputs(source, m, early, tok, tokens, info), config


def _spectrum_matrix(inp: Inputs, config: Config, out: Path, seed: int, dist: dict[str, Any] | None
                     ) -> tuple[Any, np.ndarray, Any, np.random.Generator]:
    """Draw the spectrum's windows, extract (resumably) the shards; returns (shards, s, matrix or None, rng).

    The generator is consumed as :func:`experiments.spectrum.logit_spectrum` consumes it."""
    gen = as_rng(seed)
    H, F = draw_windows(inp.tokens, config.spectrum, gen)
    path = out / "shards" / "spectrum"
    if (path / "manifest.json").exists() and open_shards(path).complete:
        sm = open_shards(path)  # finished by an earlier step of this run (measure.json fixed its identity)
    else:
        sm = _extract(inp, config, path, H, F, gen, dist)
    nh, n = sm.shape
    if nh * n * 8 <= config.max_matrix_bytes:
        L = sm.to_logit_matrix(max_bytes=config.max_matrix_bytes)
        return sm, singular_values(L), L, gen
    return sm, sm.singular_values(method="gram", progress=config.progress), None, gen


def _extract(inp: Inputs, config: Config, path: Path, H: list, F: list, gen: np.random.Generator,
             dist: dict[str, Any] | None) -> Any:
    """The spectrum's shards, in this process or on dask workers (one model replica each)."""
    from logitrank.distributed import extract_here_or_on_dask

    spec = config.spectrum
    k = None if spec.top_k is None else min(spec.top_k, inp.model.vocab_size)
    factory = functools.partial(open_hf_model, inp.source, device=config.device, dtype=config.dtype,
                                vocab_size=inp.model.vocab_size, bos=inp.info["bos"]["mode"])
    return extract_here_or_on_dask(inp.model, factory, H, F, path, **(dist or {}),
                                   shard_rows=config.shard_rows, top_k=k, token_rule="mean", dtype="float64",
                                   model_id=inp.info["model_id"], rng=gen, progress=config.progress)


def _measure_loss(inp: Inputs, config: Config, out: Path, seed: int, dist: Any) -> dict[str, Any]:
    return loss_exp.on_histories(inp.model, inp.tokens, config.spectrum, rng=seed)


def _measure_spectrum(inp: Inputs, config: Config, out: Path, seed: int, dist: Any) -> dict[str, Any]:
    sm, s, L, gen = _spectrum_matrix(inp, config, out, seed, dist)
    fit = fit_power_law(s, rng=gen)
    res = spec_exp.Result(singular_values=s, fit=fit, shape=sm.shape, spec=config.spectrum)
    return {**res.to_dict(), "alpha": fit.alpha, "alpha_ci": list(fit.alpha_ci), "shards": str(sm.path),
            "by_fit_range": spec_exp.fit_range_sensitivity(s, rng=gen),
            "n_shards": sm.n_shards, "spectrum_method": "exact" if L is not None else "gram-shards"}


def _measure_kl(inp: Inputs, config: Config, out: Path, seed: int, dist: Any) -> dict[str, Any]:
    sm, s_all, L, gen = _spectrum_matrix(inp, config, out, seed, dist)
    fit = fit_power_law(s_all, rng=gen)  # the spectrum step's fit: same matrix, same generator state
    k = int(sm.manifest["k"])
    nh, nf = sm.shape[0], sm.shape[1] // k

    def sub_matrix(mh: int, mf: int) -> np.ndarray | None:
        if L is not None:
            return L.values[:mh, : mf * k]
        if mh * mf * k * 8 > config.max_matrix_bytes:
            return None
        return np.concatenate([np.asarray(b, dtype=np.float64)[:, : mf * k] for b in sm.row_blocks()])[:mh]

    ranks = np.asarray(config.kl_scales.ranks, dtype=np.int64)
    scales = config.kl_scales.scales
    curves = kl_exp.curves_at_scales(sub_matrix, nh, nf, k, ranks, scales)
    res = kl_exp.Result(ranks=ranks, **curves, alpha=float(fit.alpha),
                        alpha_ci=(float(fit.alpha_ci[0]), float(fit.alpha_ci[1])))
    lo, hi = PAPER["kl_rank_range"]
    r_min = min(lo, int(ranks.max()) // 4 or 1)
    slope = loglog_fit(ranks, res.kl[0], r_min=r_min, r_max=hi)
    l1_slope = loglog_fit(ranks, res.l1_error[0], r_min=r_min, r_max=hi)  # type: ignore[index]
    return {**res.to_dict(), "scales": list(scales), "n_futures": [nf // s for s in scales],
            "slope_fit": slope, "l1_slope_fit": l1_slope, "one_minus_2alpha": 1.0 - 2.0 * float(fit.alpha)}


def _measure_hidden_dim(inp: Inputs, config: Config, out: Path, seed: int, dist: Any) -> dict[str, Any]:
    res = hd_exp.run(inp.experiment_inputs(), config.hidden_dim, rng=seed)
    V = inp.model.vocab_size
    expected = inp.info["expected_hidden_dim"]
    identifiable = V - 1 > expected and config.hidden_dim.n_histories > expected
    return {**res.to_dict(), "true_dim": inp.info["hidden_size"], "expected": expected,
            "rule": inp.info["hidden_dim_rule"], "identifiable": identifiable,
            "n_histories": config.hidden_dim.n_histories}


#: measurement -> (experiment, how measure computes it: None is the experiment's own ``run``)
STEPS: dict[str, tuple[str, Any]] = {
    "loss": ("loss", _measure_loss), "spectrum": ("spectrum", _measure_spectrum),
    "kl_scales": ("kl_scales", _measure_kl), "hidden_dim": ("hidden_dim", _measure_hidden_dim),
    "angles": ("angles", None), "lingen": ("lingen", None)}


def _check_identity(out: Path, identity: dict[str, Any]) -> None:
    path = out / "measure.json"
    if path.exists():
        old = load_json(path)
        diffs = [k for k in sorted(set(old) | set(identity)) if old.get(k) != identity.get(k)]
        if diffs:
            raise ValueError(f"out: {str(out)!r} holds measurements of a different run (differences: "
                             f"{', '.join(diffs)}); refusing to mix results, use a new directory")
    else:
        save_json(identity, path, indent=1)


@dataclass(frozen=True)
class MeasureRequest:
    """One ``logitrank measure`` run: what :func:`run_measure` needs, typed.

    Attributes
    ----------
    model : checkpoint folder, ``.gguf`` file, ``smollm2-135m`` or hub name
        (:func:`llm_bridge.sources.resolve_source`)
    out : output folder (re-running the same request resumes)
    config : Config (sizes, seed, device, dtype, which measurements)
    text, corpus : a text file or directory, or ``"shakespeare"`` (exactly one)
    tokenizer : ``"auto"`` (the model's own), ``"char"`` or ``"bpe-N"`` (built from the text)
    earlier : an earlier checkpoint of the same model (LINGEN baseline, model-vs-model angles)
    scheduler, local_cluster, workers : the spectrum's shards on a dask scheduler at that address, or on a
        ``LocalCluster`` of ``workers`` workers (one model replica each); neither: in this process
    bos : ``"auto"`` (the model's own), ``"always"``, ``"never"``: :func:`llm_bridge.sources.choose_bos`
    """

    model: str | Path
    out: str | Path = "logitrank-results/measure"
    config: Config = Config()
    text: str | Path | None = None
    corpus: str | None = None
    tokenizer: str = "auto"
    earlier: str | Path | None = None
    scheduler: str | None = None
    local_cluster: bool = False
    workers: int = 2
    bos: str = "auto"


def _job(name: str, inp: Inputs, config: Config, seed: int) -> Job:
    """The runner's job of measurement ``name`` (kl_scales and loss read the spectrum's windows: its config
    is part of their key)."""
    exp = STEPS[name][0]
    cfg = config.spectrum if name == "loss" else getattr(config, name)
    identity = {**inp.identity(), "spectrum": config.spectrum.to_dict(), "shard_rows": config.shard_rows,
                "max_matrix_bytes": config.max_matrix_bytes}
    inputs = ModelInputs(identity=identity, load=lambda: (inp.model, inp.tokens, inp.earlier, inp.tokenizer))
    return Job(exp, cfg, inputs, seed=seed, name=name)


def run_measure(request: MeasureRequest) -> Result:
    """Measure ``request.model`` on its text; resumable (see the module docstring). The output folder is
    claimed first (:func:`logitrank.run_folder.claim`): one run at a time, never another command's folder.

    Returns
    -------
    Result (also written, one file per measurement, under ``out/steps``)
    """
    with claim(request.out, "measure"):  # issue 24: F06, F15, F18
        return _measure(request)


def _measure(request: MeasureRequest) -> Result:
    out_dir = Path(request.out)
    inp, config = prepare(request.model, request.config, text=request.text, corpus=request.corpus,
                          tokenizer=request.tokenizer, earlier=request.earlier, bos=request.bos)
    dist = None
    if request.scheduler is not None or request.local_cluster:
        dist = {"scheduler_address": request.scheduler, "local_cluster": request.local_cluster,
                "n_workers": check_positive_int("workers", request.workers)}
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_identity(out_dir, to_jsonable({"model": inp.identity(), "config": config.identity()}))
    seeds = dict(zip(MEASUREMENTS, spawn_seeds(config.seed, len(MEASUREMENTS)), strict=True))
    seeds["kl_scales"] = seeds["loss"] = seeds["spectrum"]  # one matrix serves both
    runner = Runner(out_dir / "steps")
    results: dict[str, dict[str, Any]] = {}
    bar = tqdm(["loss", *config.only], disable=not (config.progress or config.progress is None),
               desc="measure", unit="measurement")
    for name in bar:  # the loss first, whatever ``only`` says
        fn = STEPS[name][1]
        compute = None if fn is None else functools.partial(_compute_step, fn, inp, config, out_dir, dist)
        results[name] = runner.run(_job(name, inp, config, seeds[name]), compute)
    loss = results.pop("loss")
    return Result(model=inp.info, config=config.identity(), measurements=results, timing_s=runner.seconds,
                  out=str(out_dir), loss=loss)


def _compute_step(fn: Any, inp: Inputs, config: Config, out: Path, dist: Any, job: Job, key: Any
                  ) -> dict[str, Any]:
    return to_jsonable(fn(inp, config, out, job.seed, dist))  # type: ignore[no-any-return]
