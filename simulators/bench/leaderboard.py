"""Reference predictors, the aggregate score and the markdown leaderboard.

References (per task and seed, on the *same* evaluation sequences as the learners):

- ``uniform``: ``q_t = 1/V``; its KL per sequence is ``T log V - H``, so the target's entropy per sequence
  is ``H = E_x [-log P(x)] = E_x sum_t H(p_t) = T log V - KL(P || uniform)`` (same Monte-Carlo mean and
  error);
- ``unigram``: a position-wise unigram ``q_t = E_x p_t(. | x_<t)``, the average of the target's own next-token
  distributions over sequences from the separate ``reference`` stream (the best history-blind predictor up to
  that Monte-Carlo error).

- ``base``: for a misspecified target (``PerturbedModel``), its exact low-rank part — the irreducible error
  of a rank-``d`` learner.

The score (one table per access kind, excess KL over the irreducible error with a floor, the budget to a TV
target) is defined in :mod:`simulators.bench.score`; :func:`leaderboard` renders it with the per-task rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank import SequenceModel, center_logits, log_softmax, logits_along, sample_sequences

from ..learners.evaluation import evaluate
from .score import SCORE_FLOOR, TV_TARGET, Standing, isolation, references, score_tables
from .tasks import Task

__all__ = ["PositionUnigram", "UniformModel", "headroom", "leaderboard", "reference_record"]

REFERENCE_LABELS = {"uniform": "(uniform)", "unigram": "(position unigram)", "base": "(base rank-d model)"}


class UniformModel:
    """``q_t = 1/V`` at every position (centered logits all zero)."""

    def __init__(self, vocab_size: int, horizon: int):
        self.vocab_size, self.horizon = int(vocab_size), int(horizon)

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        return np.zeros((len(prefixes), self.vocab_size))

    def logits_along(self, sequences: np.ndarray) -> np.ndarray:
        n, L = np.asarray(sequences).shape
        return np.zeros((n, L, self.vocab_size))


class PositionUnigram(UniformModel):
    """``q_t(z) = probs[t, z]`` whatever the history; ``probs`` shape ``(T, V)``."""

    def __init__(self, probs: np.ndarray):
        probs = np.asarray(probs, dtype=np.float64)
        super().__init__(probs.shape[1], probs.shape[0])
        self._logits = center_logits(np.log(np.maximum(probs, 1e-300)))

    def logits(self, prefixes: Sequence[Sequence[int]]) -> np.ndarray:
        return self._logits[[len(p) for p in prefixes]]

    def logits_along(self, sequences: np.ndarray) -> np.ndarray:
        n, L = np.asarray(sequences).shape
        return np.broadcast_to(self._logits[:L], (n, L, self.vocab_size)).copy()


def _sample(target: SequenceModel, n: int, rng: int) -> np.ndarray:
    own = getattr(target, "sample", None)
    if callable(own):
        return np.asarray(own(n, rng=rng), dtype=np.int64)
    return sample_sequences(target, n, rng=rng)


def reference_record(task: Task, seed: int, target: SequenceModel, seeds: dict[str, int]) -> dict[str, Any]:
    """The reference predictors of ``(task, seed)`` and the target's entropy per sequence (see the module
    docstring); ``seeds`` are the run's streams."""
    V, T = int(target.vocab_size), int(target.horizon)
    rec: dict[str, Any] = {"kind": "reference", "task": task.name, "seed": int(seed), "vocab_size": V,
                           "horizon": T}
    seqs = _sample(target, task.n_eval, seeds["reference"])
    probs = np.exp(log_softmax(logits_along(target, seqs))).mean(axis=0)  # (T, V)
    refs: list[tuple[str, SequenceModel]] = [("uniform", UniformModel(V, T)),
                                             ("unigram", PositionUnigram(probs))]
    base = getattr(target, "base", None)  # a misspecified target: its exact low-rank part
    if base is not None and hasattr(base, "logits"):
        refs.append(("base", base))
        rec["base_dim"] = int(getattr(base, "dim", 0)) or None
    for name, model in refs:
        ev = evaluate(target, model, n_sequences=task.n_eval, rng=seeds["eval"])
        rec[name] = {"kl": ev.kl, "kl_se": ev.kl_se, "tv": ev.tv, "tv_se": ev.tv_se}
    rec["entropy"] = T * float(np.log(V)) - rec["uniform"]["kl"]
    rec["entropy_se"] = rec["uniform"]["kl_se"]
    eps_avg = getattr(target, "estimate_eps_avg", None)
    if callable(eps_avg):
        est, se = eps_avg(task.n_eval, rng=seeds["reference"])
        rec["eps_avg"], rec["eps_avg_se"] = float(est), float(se)
    return rec


def _mean_se(values: list[float], single_se: float) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), (float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else float(single_se))


def _groups(results: Sequence[dict[str, Any]]) -> tuple[dict[str, list[dict[str, Any]]],
                                                        dict[tuple[str, str, int], list[dict[str, Any]]]]:
    refs: dict[str, list[dict[str, Any]]] = {}
    runs: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for rec in results:
        if rec.get("kind") == "reference":
            refs.setdefault(rec["task"], []).append(rec)
        elif "budget" in rec:
            runs.setdefault((rec["task"], rec["learner"], int(rec["budget"])), []).append(rec)
    return refs, runs


def _ok(rec: dict[str, Any]) -> bool:
    return rec["status"] == "ok" and all(np.isfinite(rec.get(k, np.nan)) for k in ("kl", "tv"))


def _rung_pairs(runs: dict[tuple[str, str, int], list[dict[str, Any]]]) -> set[tuple[str, str]]:
    """``(task, learner)`` pairs with at least one supported run."""
    return {(t, lr) for (t, lr, _), recs in runs.items()
            if not all(r["status"] == "unsupported" for r in recs)}


def _cell_kl(recs: list[dict[str, Any]], uniform_by_seed: dict[int, float]) -> float:
    """Mean over seeds of KL, a failed / over-budget / non-finite run counting as the uniform predictor."""
    vals = [r["kl"] if _ok(r) else uniform_by_seed.get(r["seed"], np.nan) for r in recs]
    return float(np.mean(vals))


def headroom(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per task, the best learner at the top and at the bottom of each learner's ladder (KL averaged over
    seeds, failures at the uniform KL), and per learner the tasks where its bottom rung is below 1e-6.

    Returns
    -------
    dict — ``{"top": {task: (learner, kl)}, "bottom": {task: (learner, kl)},
    "bottom_below_1e-6": {learner: [task, ...]}}``
    """
    refs, runs = _groups(results)
    uniform = {t: {r["seed"]: r["uniform"]["kl"] for r in rs} for t, rs in refs.items()}
    rungs: dict[tuple[str, str], list[int]] = {}
    for (task, learner, budget), recs in runs.items():
        if not all(r["status"] == "unsupported" for r in recs):
            rungs.setdefault((task, learner), []).append(budget)
    top: dict[str, tuple[str, float]] = {}
    bottom: dict[str, tuple[str, float]] = {}
    below: dict[str, list[str]] = {}
    for (task, learner), budgets in rungs.items():
        hi = _cell_kl(runs[(task, learner, max(budgets))], uniform.get(task, {}))
        lo = _cell_kl(runs[(task, learner, min(budgets))], uniform.get(task, {}))
        if task not in top or hi < top[task][1]:
            top[task] = (learner, hi)
        if task not in bottom or lo < bottom[task][1]:
            bottom[task] = (learner, lo)
        below.setdefault(learner, [])
        if lo < 1e-6:
            below[learner].append(task)
    return {"top": top, "bottom": bottom, "bottom_below_1e-6": below}


def _fmt(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.3g}"


def _one_line(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "/")


def _status(recs: list[dict[str, Any]]) -> str:
    ok = [r for r in recs if _ok(r)]
    status = f"{len(ok)}/{len(recs)} ok"
    early = sum(bool(r.get("stopped_early")) for r in ok)
    if early:
        status += f" ({early} stopped early for the budget)"
    for r in recs:
        if not _ok(r):  # the whole message (no cut), and the log file with the traceback when written
            why = r.get("error") or "KL or TV not finite"
            status += f"; {r['status']}: {_one_line(why)}"
            status += f" (traceback: {r['log']})" if r.get("log") else ""
            break
    return status + f"; {isolation(recs[0])}"


def _run_row(learner: str, budget: int, recs: list[dict[str, Any]], ref: dict[str, float] | None) -> str:
    ok = [r for r in recs if _ok(r)]
    used = [r["used"] for r in recs if r.get("used") is not None]
    used_s = f"{np.mean(used):.0f}" if used else ""
    cells = ["", "", "", ""]
    if ok:
        kl, kl_se = _mean_se([r["kl"] for r in ok], ok[0]["kl_se"])
        tv, tv_se = _mean_se([r["tv"] for r in ok], ok[0]["tv_se"])
        cells = [f"{_fmt(kl)} ± {_fmt(kl_se)}", "", f"{_fmt(tv)} ± {_fmt(tv_se)}", ""]
    if ref is not None:
        from .score import rung_score

        kl_all = float(np.mean([r["kl"] if _ok(r) else ref["kl_u"] for r in recs]))
        cells[1] = _fmt(max(kl_all - ref["kl_irr"], 0.0))
        cells[3] = f"{rung_score(kl_all, ref['kl_u'], ref['kl_irr']):.3f}"
    access = recs[0].get("access", "")
    return (f"| {learner} | {access} | {budget:.0e} | " + " | ".join(cells)
            + f" | {used_s} | {_status(recs)} |")


DEFINITION = (
    "KL(target ‖ learned) and TV per sequence (nats), mean ± standard error. **Score** (higher is better, "
    "0 to 1): per rung, the fraction of the decades between the uniform predictor's KL and a floor of "
    f"{SCORE_FLOOR:g} nats that the learner removed from its *excess KL* over the irreducible error (the "
    "base rank-d model's KL for a misspecified target, else 0): "
    "clip(log10(g / max(e, F)) / log10(g / F), 0, 1) with g = KL_uniform − KL_irr, "
    "e = max(KL − KL_irr, 0), F = the floor; a failed, over-budget, not-run or non-finite rung counts as "
    "the uniform predictor (0). Task score: the mean over the task's ladder; overall: the mean over every "
    "task of the table (one table per access kind). **TV at**: the smallest budget with "
    f"TV − TV_irr <= {TV_TARGET:g}; ties in score are broken by the number of tasks reaching it, then by "
    "the budgets it took, else shown as ties (=).")


def _ranking(kind: str, table: list[Standing]) -> list[str]:
    tasks = list(table[0].tasks) if table else []
    lines = [f"## {kind.capitalize()} access: {len(tasks)} tasks", "",
             "| rank | learner | score | tasks at the TV target | runs |", "|---|---|---|---|---|"]
    for st in table:
        rank = f"={st.rank}" if st.tie else str(st.rank)
        lines.append(f"| {rank} | {st.learner} | {st.overall:.3f} | {st.reached}/{len(tasks)} | "
                     f"{st.isolation} |")
    lines += ["", "| task | " + " | ".join(st.learner for st in table) + " |",
              "|---|" + "---|" * len(table)]
    for task in tasks:
        cells = []
        for st in table:
            e = st.tasks[task]
            if not e["ran"]:
                cells.append("0 (not run: uniform)")
            else:
                at = f" (TV at {e['tv_budget']:.0e})" if e["tv_budget"] is not None else ""
                gone = (f"; {', '.join(f'{b:.0e}' for b in e['missing'])} not run: uniform"
                        if e.get("missing") else "")
                cells.append(f"{e['score']:.3f}{at}{gone}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines + [""]


def _task_header(task: str, ref: list[dict[str, Any]], tasks: dict[str, Task] | None) -> list[str]:
    head = f"### {task}"
    if tasks and task in tasks:
        t = tasks[task]
        noise = f" xi={t.noise:g}" if t.noise else ""
        oracle = f", oracle {t.oracle}{noise}" if "query" in t.offers else ""
        head += f" ({'/'.join(t.offers)} access{oracle})"
    lines = [head, ""]
    if ref:
        h, h_se = _mean_se([r["entropy"] for r in ref], ref[0]["entropy_se"])
        extra = ""
        if "eps_avg" in ref[0]:
            e, e_se = _mean_se([r["eps_avg"] for r in ref], ref[0]["eps_avg_se"])
            extra = f"; measured eps_avg {_fmt(e)} ± {_fmt(e_se)}"
        if "base" in ref[0]:
            extra += (f"; irreducible error: the base rank-{ref[0].get('base_dim') or 'd'} model's KL "
                      f"{_fmt(ref[0]['base']['kl'])}")
        lines += [f"target entropy {_fmt(h)} ± {_fmt(h_se)} nats/sequence (V={ref[0]['vocab_size']}, "
                  f"T={ref[0]['horizon']}){extra}", ""]
    return lines


def _task_section(task: str, ref: list[dict[str, Any]],
                  runs: dict[tuple[str, str, int], list[dict[str, Any]]], tasks: dict[str, Task] | None,
                  rref: dict[str, float] | None) -> list[str]:
    lines = _task_header(task, ref, tasks)
    lines += ["| learner | access | budget | KL | excess KL | TV | score | used | runs |",
              "|---|---|---|---|---|---|---|---|---|"]
    unsupported = []
    for (t_name, learner, budget), recs in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if t_name != task:
            continue
        if all(r["status"] == "unsupported" for r in recs):
            unsupported.append(learner)
        else:
            lines.append(_run_row(learner, budget, recs, rref))
    for name, label in REFERENCE_LABELS.items():
        if ref and name in ref[0]:
            kl, kl_se = _mean_se([r[name]["kl"] for r in ref], ref[0][name]["kl_se"])
            tv, tv_se = _mean_se([r[name]["tv"] for r in ref], ref[0][name]["tv_se"])
            excess = "" if rref is None else _fmt(max(kl - rref["kl_irr"], 0.0))
            lines.append(f"| {label} | – | – | {_fmt(kl)} ± {_fmt(kl_se)} | {excess} | {_fmt(tv)} ± "
                         f"{_fmt(tv_se)} | | 0 | reference |")
    if unsupported:
        lines += ["", "not run (the task does not offer the access they need): "
                  + ", ".join(dict.fromkeys(unsupported))]
    return lines + [""]


def _headroom_section(results: Sequence[dict[str, Any]], task_names: list[str],
                      runs: dict[tuple[str, str, int], list[dict[str, Any]]]) -> list[str]:
    room = headroom(results)
    n_hard = sum(kl >= 1e-2 for _, kl in room["top"].values())
    lines = ["## Headroom", "",
             f"Tasks where the best learner at its largest budget stays at KL >= 1e-2: {n_hard} of "
             f"{len(room['top'])}. Tasks below 1e-6 at the smallest budget, per learner: "
             + ", ".join(f"{lr} {len(ts)}/{sum(1 for (t, l) in _rung_pairs(runs) if l == lr)}"
                         for lr, ts in room["bottom_below_1e-6"].items()) + ".", "",
             "| task | best at the largest budget | KL | best at the smallest budget | KL |",
             "|---|---|---|---|---|"]
    for task in task_names:
        if task in room["top"]:
            (a, ka), (b, kb) = room["top"][task], room["bottom"][task]
            lines.append(f"| {task} | {a} | {_fmt(ka)} | {b} | {_fmt(kb)} |")
    return lines


def leaderboard(results: Sequence[dict[str, Any]], tasks: dict[str, Task] | None = None) -> str:
    """Markdown: the ranking and the task-by-learner scores of each access kind, then per task KL, excess
    KL, TV and score per learner and budget (mean ± standard error over seeds, or the Monte-Carlo error for
    one seed) with the reference rows, then the headroom summary."""
    refs, runs = _groups(results)
    rrefs = references(results)
    task_names = list(dict.fromkeys([r["task"] for r in results]))
    lines = ["# Leaderboard", "", DEFINITION, ""]
    for kind, table in score_tables(results).items():
        lines += _ranking(kind, table)
    lines += ["## Tasks", ""]
    for task in task_names:
        lines += _task_section(task, refs.get(task, []), runs, tasks, rrefs.get(task))
    if runs:
        lines += _headroom_section(results, task_names, runs)
    return "\n".join(lines) + "\n"
