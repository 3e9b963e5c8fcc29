"""The experiments on tiny models: planted answers (exact low-rank generators) and plumbing."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import tol  # noqa: E402

import simulators  # noqa: E402
from experiments import ModelInputs  # noqa: E402
from experiments import angles as angles_exp  # noqa: E402
from experiments import emergence as emergence_exp  # noqa: E402
from experiments import spectrum as spectrum_exp  # noqa: E402
from experiments.angles import subspace_angles  # noqa: E402
from experiments.emergence import emergence_across_checkpoints  # noqa: E402
from experiments.hidden_dim import hidden_dim_recovery  # noqa: E402
from experiments.kl_scales import kl_across_scales  # noqa: E402
from experiments.lingen import lingen_experiment  # noqa: E402
from experiments.spectrum import logit_spectrum  # noqa: E402
from experiments.synthetic_rank import synthetic_rank_comparison  # noqa: E402
from llm_bridge import HFModel, init_transformer, resolve_config, train_tiny_lm  # noqa: E402
from llm_bridge.windows import WindowSpec, draw_windows  # noqa: E402
from logitrank import (  # noqa: E402
    extended_logit_matrix,
    extended_logits,
    kl_vs_rank,
    lingen_coefficients,
    lingen_fit,
    principal_angles,
    singular_values,
)
from logitrank.power_law import loglog_fit  # noqa: E402

V = 20
STREAM = np.random.default_rng(0).integers(0, V, size=3000)


@pytest.fixture(scope="module")
def tiny() -> HFModel:
    return HFModel(init_transformer(resolve_config("tiny", context=40), V, seed=0))


def test_spectrum_and_scales(tiny: HFModel) -> None:
    res = logit_spectrum(tiny, STREAM, WindowSpec(24, 8, 12, 4, 10), rng=0)
    assert res.shape == (24, 120) and res.singular_values.shape == (24,)
    # the spectrum is the matrix's own: the same windows and token rule through the core give it exactly
    H, F = draw_windows(STREAM, WindowSpec(24, 8, 12, 4, 10), np.random.default_rng(0))
    L = extended_logit_matrix(tiny, H, F, top_k=10, progress=False)
    np.testing.assert_allclose(res.singular_values, singular_values(L), **tol(scale=100))  # two SVD calls
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
    assert np.all(res.kl[:, 0] >= res.kl[:, 1]) and np.all(res.kl_se > 0)
    # training moves the weights: the spectrum differs between step 0 and step 4
    assert not np.allclose(res.singular_values[0], res.singular_values[-1])


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
    with pytest.raises(ValueError, match="tokens: corpus of 50 tokens is too short for 36 disjoint windows"):
        logit_spectrum(tiny, STREAM[:50], WindowSpec(24, 8, 12, 4, 10), rng=0)


def test_untrained_spectrum_flattens_with_the_initialisation_scale() -> None:
    """At a tiny init scale attention is uniform and blocks are near-linear: the untrained network averages
    its history's embeddings and L_k(H, F) decays fast; at fan-in scale (1/sqrt(16) = 0.25) it mixes the
    history nonlinearly and the spectrum is much flatter (measured: alpha 3.0 vs 0.9 on 3 seeds)."""
    from experiments.init_scale import init_scale_sweep
    from llm_bridge import load_shakespeare

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


@pytest.mark.slow
@pytest.mark.parametrize("n_embd", [32, 64, 96])
def test_hidden_dim_of_trained_gpt2_recovered(tmp_path, n_embd) -> None:  # type: ignore[no-untyped-def]
    """The issue's widths: for GPT-2 (fan-in init, 5 training steps) rank L(H, {empty}) is exactly n_embd
    in float64 (LayerNorm's trained shift adds back the direction its mean subtraction removes) and
    n_embd - 1 untrained."""
    vocab = 160
    stream = np.random.default_rng(n_embd).integers(0, vocab, size=4000)
    cfg = resolve_config("shakespeare-char", n_embd=n_embd, n_layer=1, context=32, batch_size=4,
                         warmup_steps=1, eval_every=5, eval_batches=1)
    train_tiny_lm(stream, cfg, 5, 5, tmp_path, seed=0, progress=False)
    rng = np.random.default_rng(1)
    H = [tuple(int(t) for t in rng.integers(0, vocab, 6)) for _ in range(2 * n_embd + 20)]
    res = hidden_dim_recovery(tmp_path / "checkpoint-000005", H)
    assert res.true_dim == n_embd
    # exact in float64: the trained LayerNorm shift adds its direction back (d), the fresh net shows d - 1
    from llm_bridge.checkpoints import load_causal_lm
    from logitrank import estimate_hidden_dim

    assert estimate_hidden_dim(_spectrum64(load_causal_lm(tmp_path / "checkpoint-000005"), H)).dim == n_embd
    assert estimate_hidden_dim(_spectrum64(init_transformer(cfg, vocab, seed=0), H)).dim == n_embd - 1
    # float32 (the experiment's path): that direction lies ~100x above the round-off floor after 5 steps,
    # so the largest gap is at d or d - 1 (measured 31, 64, 95); never the d + 1 of an output bias
    assert res.estimate in (n_embd - 1, n_embd)


def _spectrum64(net: torch.nn.Module, H: list) -> np.ndarray:
    """Singular values of the centered next-token logits of ``net`` on ``H`` (one length), in float64."""
    m = net.double().eval()
    with torch.no_grad():
        lg = m(input_ids=torch.tensor([list(h) for h in H])).logits[:, -1].numpy()
    return np.linalg.svd(lg - lg.mean(axis=1, keepdims=True), compute_uv=False)


def test_every_experiment_module_has_config_presets_result_run() -> None:
    """The one shape every registered experiment has (whatever the registry lists): a Config whose quick
    preset is its defaults and whose tiny preset is no larger, a Result with to_dict/from_dict, and
    run(inputs, config, *, rng)."""
    import dataclasses
    import inspect

    from experiments import EXPERIMENTS, ExperimentConfig, ResultBase, experiment

    assert len(EXPERIMENTS) >= 9
    for name in EXPERIMENTS:
        mod = experiment(name)
        assert issubclass(mod.Config, ExperimentConfig) and issubclass(mod.Result, ResultBase), name
        assert dataclasses.is_dataclass(mod.Result), name
        params = inspect.signature(mod.run).parameters
        assert list(params)[:2] == ["inputs", "config"], name
        assert params["rng"].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert mod.Config.quick() == dataclasses.replace(mod.Config(), **mod.Config.PRESETS.get("quick", {}))
        for preset in ("tiny", "full"):
            assert isinstance(mod.Config.preset(preset), mod.Config), (name, preset)
    with pytest.raises(ValueError, match="experiment: must be one of .*, got 'nope'"):
        experiment("nope")
    with pytest.raises(ValueError, match="preset: must be one of 'tiny', 'quick', 'full', got 'huge'"):
        experiment("spectrum").Config.preset("huge")


def test_result_round_trips_through_to_dict_and_from_dict() -> None:
    """Result.from_dict(Result.to_dict()) rebuilds arrays and nested dataclasses (the runner stores the
    dict; views read it back)."""
    isan = simulators.TimeVaryingISAN.random(3, 3, 8, rng=0)
    stream = isan.sample(200, rng=1).reshape(-1)
    res = spectrum_exp.run(ModelInputs.of(isan, stream), spectrum_exp.Config(12, 3, 12, 2, None), rng=0)
    back = spectrum_exp.Result.from_dict(json.loads(json.dumps(res.to_dict())))
    np.testing.assert_array_equal(back.singular_values, res.singular_values)
    assert back.fit.alpha == res.fit.alpha and back.fit.alpha_ci == tuple(res.fit.alpha_ci)
    assert back.shape == tuple(res.shape) and dataclasses.astuple(back.spec) == dataclasses.astuple(res.spec)


def test_lingen_run_aggregates_both_settings_and_its_demo_is_exact_on_an_isan() -> None:
    """run() is the two lingen_experiment calls (same seed) averaged at the last step; on an exact ISAN the
    demo's LINGEN continuation samples the model's own tokens (same stream, exact logits)."""
    from experiments import lingen

    isan = simulators.TimeVaryingISAN.random(3, 4, 12, rng=1)
    stream = isan.sample(300, rng=2).reshape(-1)
    cfg = lingen.Config(n_targets=3, n_samples=2, steps=5, n_basis=20, n_futures=12, history_length=4,
                        future_length=3, short_history=1, n_show=2)
    res = lingen.run(ModelInputs.of(isan, stream), cfg, rng=3)
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


# ---------------------------------------------------------------------------------------------
# the evidence of issue 14: planted answers for the uncertainty and shape helpers


def test_fit_range_sensitivity_recovers_a_planted_exponent_on_every_range() -> None:
    s = 3.0 * np.arange(1, 201, dtype=float) ** -0.7
    out = spectrum_exp.fit_range_sensitivity(s, rng=0)
    assert [e["range"] for e in out.values()] == [[2, 50], [2, 100], [5, 100], [2, 150]]
    for e in out.values():
        assert e["alpha"] == pytest.approx(0.7, abs=1e-10)
    bent = s * np.exp(-np.arange(200) / 60.0)  # a spectrum that bends down: later ranges fit steeper
    alphas = [e["alpha"] for e in spectrum_exp.fit_range_sensitivity(bent, rng=0).values()]
    assert alphas[0] < alphas[1] and alphas[0] < alphas[3]


def test_alpha_over_draws_is_each_spawned_draw_refitted(tiny: HFModel) -> None:
    from logitrank.validation import spawn_seeds

    spec = WindowSpec(16, 6, 8, 3, 6)
    d = spectrum_exp.alpha_over_draws(tiny, STREAM, spec, 3, rng=7)
    one = [logit_spectrum(tiny, STREAM, spec, rng=s).alpha for s in spawn_seeds(7, 3)]
    np.testing.assert_allclose(d["alpha"], one, **tol())
    assert d["sd"] == pytest.approx(np.std(one, ddof=1), rel=1e-12) and d["sd"] > 0  # independent draws
    with pytest.raises(ValueError, match="n_draws: must be >= 2, got 1"):
        spectrum_exp.alpha_over_draws(tiny, STREAM, spec, 1)


def test_random_token_ablation_keeps_k_random_columns(tiny: HFModel) -> None:
    spec = WindowSpec(12, 6, 6, 3, 5)
    top = logit_spectrum(tiny, STREAM, spec, rng=2)
    rnd = logit_spectrum(tiny, STREAM, spec, rng=2, token_rule="random")
    assert rnd.shape == top.shape == (12, 30)
    assert not np.allclose(rnd.singular_values, top.singular_values)  # other columns, other spectrum
    H, _ = draw_windows(STREAM, spec, np.random.default_rng(2))
    same = logit_spectrum(tiny, STREAM, spec, rng=2, windows=(H, H))
    assert same.shape == (12, 12 * 5)


def test_loglog_fit_exact_power_law_noise_and_a_bend() -> None:
    r = np.array([1, 2, 3, 5, 8, 12, 20, 32, 50, 80, 100, 128], dtype=float)
    f = loglog_fit(r, 2.0 * r**-0.8, r_min=5, r_max=100)
    assert f["slope"] == pytest.approx(-0.8, abs=1e-12) and f["r_squared"] == pytest.approx(1.0, abs=1e-12)
    assert f["n_points"] == 8 and f["range"] == [5.0, 100.0] and f["ci"][1] - f["ci"][0] < 1e-9
    gen = np.random.default_rng(0)
    covered = 0
    for _ in range(200):  # the 95% t interval covers the true slope about 95% of the time
        y = 2.0 * r**-0.8 * np.exp(0.05 * gen.standard_normal(r.size))
        lo, hi = loglog_fit(r, y)["ci"]
        covered += lo <= -0.8 <= hi
    assert 180 <= covered <= 198
    bend = loglog_fit(r, np.exp(-r / 30.0))  # not a power law: a visibly poorer fit
    assert bend["r_squared"] < 0.95
    assert np.isnan(loglog_fit(r, r**-1.0, r_min=200)["slope"])  # no points in range


def test_kl_across_scales_reports_the_largest_spectrum_exponent(tiny: HFModel) -> None:
    ks = kl_across_scales(tiny, STREAM, 16, [1, 4], history_length=8, future_length=4, top_k=8, rng=0)
    assert np.isfinite(ks.alpha) and ks.alpha_ci[0] < ks.alpha_ci[1]


def test_truncation_kl_with_se_matches_kl_vs_rank() -> None:
    from logitrank import block_softmax_kl

    gen = np.random.default_rng(3)
    L = gen.standard_normal((20, 4 * 6))
    kl, se = emergence_exp.truncation_kl_with_se(L, np.array([1, 3, 30]), block=6)
    np.testing.assert_allclose(kl[:2], kl_vs_rank(L, [1, 3], 6).kl, **tol(scale=100))  # two SVDs
    assert np.isnan(kl[2]) and np.isnan(se[2])  # rank above min(L.shape)
    U, s, Wt = np.linalg.svd(L, full_matrices=False)
    rows = block_softmax_kl(L, (U[:, :1] * s[:1]) @ Wt[:1], 6).mean(axis=1)
    assert se[0] == pytest.approx(rows.std(ddof=1) / np.sqrt(20), rel=1e-8) and se[0] > 0


def test_emergence_shape_planted_and_negative_controls() -> None:
    steps = np.array([0, 50, 100, 200, 400, 800, 1200])
    se = np.full(7, 0.01)
    dip = np.array([1.0, 0.4, 0.3, 0.25, 0.3, 0.35, 0.4])  # the paper's shape
    sh = emergence_exp.emergence_shape(steps, dip, se)
    assert sh["shape_holds"] and sh["min_step"] == 200
    assert sh["drop"] == pytest.approx(0.75) and sh["rise"] == pytest.approx(0.15)
    assert sh["drop_se"] == pytest.approx(np.hypot(0.01, 0.01))
    assert not emergence_exp.emergence_shape(steps, np.linspace(1.0, 0.2, 7), se)["shape_holds"]  # no rise
    assert not emergence_exp.emergence_shape(steps, dip, np.full(7, 0.2))["shape_holds"]  # within noise
    late = np.array([1.0, 0.9, 0.8, 0.7, 0.6, 0.2, 0.3])  # minimum after half of training
    assert not emergence_exp.emergence_shape(steps, late, se)["early"]
    fast = np.array([1.0, 0.4, 0.3, 0.2, 0.6, 0.9, 1.1])  # rises more than it dropped
    assert not emergence_exp.emergence_shape(steps, fast, se)["slower"]


def test_centering_removes_a_shared_mean_direction() -> None:
    gen = np.random.default_rng(4)
    ones = np.ones((60, 1))
    A = 50.0 * ones @ gen.standard_normal((1, 40)) + gen.standard_normal((60, 40))
    B = 50.0 * ones @ gen.standard_normal((1, 40)) + gen.standard_normal((60, 40))  # independent otherwise
    raw = principal_angles(A, B, 3)
    cen = principal_angles(angles_exp.center_over_histories(A), angles_exp.center_over_histories(B), 3)
    assert raw[0] > 0.999  # the shared mean direction alone gives one cosine near 1
    assert cen[0] < 0.8  # centered, nothing is shared
    np.testing.assert_allclose(angles_exp.center_over_histories(A).mean(axis=0), 0.0, atol=1e-12)


def test_angles_report_centered_and_uncentered_against_random_pairs(tiny: HFModel) -> None:
    other = HFModel(init_transformer(resolve_config("tiny", context=40), V, seed=5))
    res = subspace_angles(tiny, STREAM, 3, WindowSpec(24, 8, 12, 4, None), other_model=other, rng=1,
                          n_draws=40)
    assert res.centered and res.random_fraction_above is not None and res.random_fraction_above.shape == (40,)
    assert res.random_mean_cosine is not None and res.random_mean_cosine.shape == (40,)
    assert res.model_vs_model_uncentered is not None
    assert not np.allclose(res.model_vs_model, res.model_vs_model_uncentered)  # centering changes them
