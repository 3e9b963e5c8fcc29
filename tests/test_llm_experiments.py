"""The llm_bridge experiments on tiny models: planted answers (exact low-rank generators) and plumbing."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import simulators  # noqa: E402
from llm_bridge import HFModel, init_transformer, resolve_config, train_tiny_lm  # noqa: E402
from llm_bridge.experiments import (  # noqa: E402
    WindowSpec,
    emergence_across_checkpoints,
    hidden_dim_recovery,
    kl_across_scales,
    lingen_experiment,  # noqa: E402
    logit_spectrum,
    subspace_angles,
    synthetic_rank_comparison,
)
from logitrank import extended_logit_matrix, extended_logits, lingen_coefficients, lingen_fit  # noqa: E402

V = 20
STREAM = np.random.default_rng(0).integers(0, V, size=3000)


@pytest.fixture(scope="module")
def tiny() -> HFModel:
    return HFModel(init_transformer(resolve_config("tiny", context=40), V, seed=0))


def test_spectrum_and_scales(tiny: HFModel) -> None:
    res = logit_spectrum(tiny, STREAM, WindowSpec(24, 8, 12, 4, 10), rng=0)
    assert res.shape == (24, 120) and res.singular_values.shape == (24,)
    assert np.isfinite(res.alpha) and res.fit.alpha_ci[0] <= res.alpha <= res.fit.alpha_ci[1]
    json.dumps(res.to_dict())
    ks = kl_across_scales(tiny, STREAM, 16, [1, 4, 8, 12], history_length=8, future_length=4, top_k=8, rng=0)
    assert ks.kl.shape == (4, 4) and list(ks.sizes) == [16, 8, 4, 2]
    for row, bound in zip(ks.kl, ks.frobenius_bound):
        ok = ~np.isnan(row)
        assert np.all(np.diff(row[ok]) <= 1e-12)  # more rank, less KL
        assert np.all(row[ok] <= bound[ok] + 1e-12)  # D_avg <= ||L - L_r||_F^2 / (|H||F|)
    assert np.isnan(ks.kl[3, 2])  # rank 8 > 2 = min(shape) of the 2-history sub-matrix
    assert ks.kl[2, 1] == pytest.approx(0.0, abs=1e-12)  # rank 4 = full rank of the 4-history sub-matrix


def test_angles_model_against_itself_and_random(tiny: HFModel) -> None:
    res = subspace_angles(tiny, STREAM, 4, WindowSpec(24, 8, 12, 4, None), other_model=tiny, rng=1)
    np.testing.assert_allclose(res.model_vs_model, 1.0, atol=1e-6)  # identical models: identical subspaces
    assert res.random_baseline.shape == (4,) and res.random_baseline.mean() < 0.9
    assert np.all((res.real_vs_nonsense >= 0) & (res.real_vs_nonsense <= 1))
    json.dumps(res.to_dict())


def test_emergence_over_saved_checkpoints(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = train_tiny_lm(STREAM, resolve_config("tiny", vocab_size=V), 4, 2, tmp_path, seed=0)
    spec = WindowSpec(16, 6, 8, 3, 8)
    res = emergence_across_checkpoints(run.checkpoints, STREAM, spec, ranks=(1, 4), rng=0)
    assert list(res.steps) == [0, 2, 4] and res.kl.shape == (3, 2)
    assert np.all(res.alpha_lo <= res.alpha) and np.all(res.alpha <= res.alpha_hi)
    assert np.all(res.kl[:, 0] >= res.kl[:, 1])


def test_hidden_dim_recovery_reports_truth() -> None:
    rng = np.random.default_rng(0)
    H = [tuple(int(t) for t in rng.integers(0, 64, 3)) for _ in range(60)]
    net = init_transformer(resolve_config("tiny-llama", n_embd=24, n_head=2), 64, seed=0)
    res = hidden_dim_recovery(net, H, bos_token_id=0)
    assert (res.estimate, res.true_dim) == (24, 24)  # RMSNorm, no output bias: exactly d_model


def test_synthetic_rank_planted() -> None:
    isan = simulators.TimeVaryingISAN.random(3, 3, 7, rng=0)
    # the generator compared with itself: same rank, and its rank-d truncation loses nothing
    res = synthetic_rank_comparison(isan, isan, 3, n_histories=27, n_futures=40, rng=0)
    assert res.rank_bound == 3 and res.generator_rank == res.model_rank == 3
    assert res.kl_at_bound < 1e-12


def test_lingen_planted_on_an_exact_low_rank_model() -> None:
    """On an ISAN of dimension 4 with V = 3, LINGEN with spanning futures is exact; the single-token fit sees
    only V - 1 = 2 < 4 directions of the state and is not."""
    isan = simulators.TimeVaryingISAN.random(3, 4, 12, rng=1)
    stream = isan.sample(300, rng=2).reshape(-1)
    res = lingen_experiment(isan, stream, n_targets=3, n_samples=2, steps=5, n_basis=20, n_futures=12,
                            history_length=4, future_length=3, short_history=1, rng=3, progress=False)
    table = res.table
    assert table["lingen"] < 1e-8
    assert table["single_token"] > 1e-4 and table["short_history"] > 1e-4
    nonsense = lingen_experiment(isan, stream, setting="nonsense", n_targets=2, n_samples=1, steps=4,
                                 n_basis=20, n_futures=12, history_length=4, future_length=3, rng=4,
                                 progress=False)
    assert nonsense.table["lingen"] < 1e-8  # linear relations transfer from nonsense histories/futures
    json.dumps(res.to_dict())
    # 12 windows of length 3 over 3 tokens: the prefixes are the empty future, <= 3 of length 1, ...
    windows_only = lingen_experiment(isan, stream, n_targets=1, n_samples=1, steps=2, n_basis=20,
                                     n_futures=12, history_length=4, future_length=3, rng=3,
                                     progress=False, prefix_closed=False)
    assert windows_only.n_fit_futures == 12
    assert 1 + 2 + 3 <= res.n_fit_futures <= 1 + 3 + 9 + 12


def test_fit_coefficients_matches_core_lingen_fit() -> None:
    isan = simulators.TimeVaryingISAN.random(3, 4, 8, rng=5)
    rng = np.random.default_rng(6)
    H = [tuple(int(t) for t in rng.integers(0, 3, 3)) for _ in range(10)]
    F = [tuple(int(t) for t in rng.integers(0, 3, 2)) for _ in range(6)]
    target = (2, 0, 1)
    for ridge in (0.0, 0.1):
        core = lingen_fit(isan, target, H, F, ridge=ridge)
        L = extended_logit_matrix(isan, H, F).values
        v, r = lingen_coefficients(L, extended_logits(isan, [target], F)[0].reshape(-1), ridge)
        np.testing.assert_allclose(v, core.coefficients, atol=1e-9)
        assert r == pytest.approx(core.residual, abs=1e-9)


def test_experiment_errors(tiny: HFModel) -> None:
    with pytest.raises(ValueError, match="setting: must be one of"):
        lingen_experiment(tiny, STREAM, setting="gibberish")
    with pytest.raises(ValueError, match="history_length \\+ max\\(steps, future_length\\) must be <="):
        lingen_experiment(tiny, STREAM, history_length=30, steps=15)
    with pytest.raises(ValueError, match="too short"):
        logit_spectrum(tiny, STREAM[:50], WindowSpec(24, 8, 12, 4, 10), rng=0)


def test_untrained_spectrum_flattens_with_the_initialisation_scale() -> None:
    """At a tiny init scale attention is uniform and blocks are near-linear: the untrained network averages
    its history's embeddings and L_k(H, F) decays fast; at fan-in scale (1/sqrt(16) = 0.25) it mixes the
    history nonlinearly and the spectrum is much flatter (measured: alpha 3.0 vs 0.9 on 3 seeds)."""
    from llm_bridge import load_shakespeare
    from llm_bridge.experiments import WindowSpec, init_scale_sweep

    text = load_shakespeare().validation[:50_000]
    r = init_scale_sweep([0.02, 0.25], text, 84, WindowSpec(64, 16, 64, 4, 16), config="tiny", seed=0, rng=0)
    assert r.init_stds.tolist() == [0.02, 0.25] and len(r.spectra) == 2
    assert r.alpha[0] > r.alpha[1] + 1.0
    assert np.all(r.alpha_lo <= r.alpha) and np.all(r.alpha <= r.alpha_hi)
    with pytest.raises(ValueError,
                       match=r"init_stds: must be a non-empty sequence of positive numbers, got \[0\.0\]"):
        init_scale_sweep([0.0], text, 84)
    with pytest.raises(ValueError, match=r"vocab_size: must exceed every token id \(max 82\), got 10"):
        init_scale_sweep([0.1], text, 10)


@pytest.mark.parametrize("n_embd", [32, 64, 96])
def test_hidden_dim_of_trained_gpt2_recovered(tmp_path, n_embd) -> None:  # type: ignore[no-untyped-def]
    """The issue's widths: for GPT-2 (fan-in init, 5 training steps) rank L(H, {empty}) lies within one of
    n_embd (d - 1 while LayerNorm's shift is ~0, up to d + 1 once it is not); measured 31, 64, 95."""
    vocab = 160
    stream = np.random.default_rng(n_embd).integers(0, vocab, size=4000)
    cfg = resolve_config("shakespeare-char", n_embd=n_embd, n_layer=1, context=32, batch_size=4,
                         warmup_steps=1, eval_every=5, eval_batches=1)
    train_tiny_lm(stream, cfg, 5, 5, tmp_path, seed=0, progress=False)
    rng = np.random.default_rng(1)
    H = [tuple(int(t) for t in rng.integers(0, vocab, 6)) for _ in range(2 * n_embd + 20)]
    res = hidden_dim_recovery(tmp_path / "checkpoint-000005", H)
    assert res.true_dim == n_embd
    assert abs(res.estimate - n_embd) <= 1


def test_every_experiment_module_has_config_result_run() -> None:
    import dataclasses
    import inspect

    from llm_bridge.experiments import EXPERIMENTS, experiment

    assert set(EXPERIMENTS) == {"spectrum", "kl_scales", "emergence", "angles", "hidden_dim",
                                "synthetic_rank", "lingen", "init_scale"}
    for name in EXPERIMENTS:
        mod = experiment(name)
        assert dataclasses.is_dataclass(mod.Config) and dataclasses.is_dataclass(mod.Result), name
        params = inspect.signature(mod.run).parameters
        assert list(params)[:3] == ["model", "tokens", "config"], name
        assert params["rng"].kind is inspect.Parameter.KEYWORD_ONLY, name
        mod.Config()  # every field has a default
    with pytest.raises(ValueError, match="name: must be one of .*, got 'nope'"):
        experiment("nope")


def test_lingen_run_aggregates_both_settings_and_its_demo_is_exact_on_an_isan() -> None:
    """run() is the two lingen_experiment calls (same seed) averaged at the last step; on an exact ISAN the
    demo's LINGEN continuation samples the model's own tokens (same stream, exact logits)."""
    from llm_bridge.experiments import lingen

    isan = simulators.TimeVaryingISAN.random(3, 4, 12, rng=1)
    stream = isan.sample(300, rng=2).reshape(-1)
    cfg = lingen.Config(n_targets=3, n_samples=2, steps=5, n_basis=20, n_futures=12, history_length=4,
                        future_length=3, short_history=1, n_show=2)
    res = lingen.run(isan, stream, cfg, rng=3)
    for setting in ("in_distribution", "nonsense"):
        one = lingen_experiment(isan, stream, setting=setting, n_targets=3, n_samples=2, steps=5, n_basis=20,
                                n_futures=12, history_length=4, future_length=3, short_history=1, rng=3,
                                progress=False)
        last = one.cumulative_kl["short_history"][:, :, -1].reshape(-1)
        assert res.table["short_history"][setting] == pytest.approx(last.mean(), rel=1e-12)
        assert res.se["short_history"][setting] == pytest.approx(last.std(ddof=1) / np.sqrt(6), rel=1e-12)
    assert res.table["lingen"]["in_distribution"] < 1e-8 and "earlier_checkpoint" not in res.table
    assert len(res.continuations) == 2
    for c in res.continuations:
        assert len(c["history"]) == 4 and len(c["model"]) == 5 and c["lingen"] == c["model"]
    json.dumps(res.to_dict())
