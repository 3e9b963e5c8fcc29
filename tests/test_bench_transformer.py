"""The frozen transformer task: trained once by llm_bridge into the user's cache, then loaded; a sequence
model over the reduced Shakespeare alphabet; learnable from logit queries through the bench; exported; and
skipped with a clear message without torch.  Tests use a tiny recipe (the same code path, fewer steps and a
smaller width) so that they take seconds."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

import llm_bridge.bench_task as tr
from simulators import bench
from simulators.learners import LogitQueryLearner

TINY = tr.FrozenTransformer(horizon=4, n_layer=1, n_embd=16, n_head=2, steps=6, batch_size=8, n_rows=2000,
                               n_validation=64)


def test_llm_bridge_registers_the_task_and_the_bench_does_not_import_llm_bridge():
    """The bench knows the transformer task only through its registry: a fresh interpreter that imports
    simulators.bench has neither llm_bridge nor the task; importing llm_bridge.bench_task registers it in the
    hard and transformer suites, after the bundled hard tasks."""
    import subprocess
    import sys

    code = ("import sys; from simulators import bench; "
            "print('llm_bridge' in sys.modules, 'transformer-shakespeare-t16' in bench.TASKS); "
            "import llm_bridge.bench_task as t; "
            "print(bench.suite('hard')[-1], bench.suite('transformer'), "
            "bench.TASKS[t.TRANSFORMER_TASK.name] is t.TRANSFORMER_TASK)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["False False",
                                "transformer-shakespeare-t16 ['transformer-shakespeare-t16'] True"]
    assert isinstance(bench.TASKS["transformer-shakespeare-t16"].build, tr.FrozenTransformer)


def test_text_is_reduced_to_the_31_symbol_alphabet():
    ids = tr.encode_text("Ham. To be, or NOT to be: that's -- it!\n**[Exit]**")
    assert "".join(tr.ALPHABET[i] for i in ids) == "ham. to be, or not to be, that's    it.\nexit"
    assert len(tr.ALPHABET) == 31 == TINY.vocab_size


def test_cache_root_follows_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tr.cache_root() == tmp_path / "logit-rank"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert tr.cache_root().parts[-2:] == (".cache", "logit-rank")


def test_missing_torch_skips_the_task_with_a_clear_message(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))
    with pytest.raises(bench.MissingDependency, match='needs torch: pip install -e ".\\[llm\\]"'):
        TINY(None)
    task = bench.Task("t-tiny-lm-skip", "tiny", TINY)
    bench.register_task(task)
    try:
        with pytest.warns(RuntimeWarning, match="task 't-tiny-lm-skip': skipped, the frozen transformer "
                                                "target needs torch"):
            results = bench.run("query", ["t-tiny-lm-skip"], 1, budgets=[10], progress=False)
        assert results == []
    finally:
        del bench.TASKS["t-tiny-lm-skip"]


@pytest.mark.slow
def test_trained_once_then_loaded_and_learned_from_queries(monkeypatch, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    model = TINY(None)
    assert (model.vocab_size, model.horizon) == (31, 4)
    frozen = json.loads((TINY.directory() / "frozen.json").read_text())
    assert frozen["key"] == TINY.key() and frozen["steps"] == 6
    assert TINY.directory().parent == tmp_path / "logit-rank" / "bench"

    import llm_bridge

    def no_training(*a, **k):
        raise AssertionError("trained again")

    monkeypatch.setattr(llm_bridge, "train_tiny_lm", no_training)
    again = TINY(None)  # loaded from the cache
    seqs = np.array([[1, 5, 6, 7], [0, 30, 2, 3]])
    np.testing.assert_array_equal(again.logits_along(seqs), model.logits_along(seqs))
    assert tr.FrozenTransformer(horizon=4, steps=7).key() != TINY.key()

    task = bench.Task("t-tiny-lm", "tiny transformer", TINY, query_budgets=(10**5,), n_eval=50)
    bench.register_task(task)
    try:
        def small_query(rng=None):
            return LogitQueryLearner(rank=4, n_samples=8, n_validation=8, max_rounds=2, max_extensions=8,
                                     rng=rng)

        small_query.access_kind = "query"
        out = tmp_path / "res"
        results = bench.run(small_query, ["t-tiny-lm"], 1, out=out, progress=False)
        ref, run = results
        assert ref["kind"] == "reference" and 0 < ref["entropy"] < 4 * np.log(31)
        assert run["status"] == "ok" and 0 < run["used"] <= 10**5 and np.isfinite(run["kl"])
        assert run["kl"] < ref["uniform"]["kl"]  # it learned something
        path, js = bench.export_task("t-tiny-lm", 0, tmp_path / "export")
        desc = json.loads(js.read_text())
        assert desc["target"]["cache_key"] == TINY.key() and (path / "config.json").is_file()
        from llm_bridge import HFModel

        exported = HFModel(path, device="cpu", bos_token_id=31, vocab_size=31)
        np.testing.assert_array_equal(exported.logits_along(seqs), model.logits_along(seqs))
    finally:
        del bench.TASKS["t-tiny-lm"]
