"""Reference predictors, the aggregate score and the markdown leaderboard.

References (per task and seed, on the *same* evaluation sequences as the learners):

- ``uniform``: ``q_t = 1/V``; its KL per sequence is ``T log V - H``, so the target's entropy per sequence
  is ``H = E_x [-log P(x)] = E_x sum_t H(p_t) = T log V - KL(P || uniform)`` (same Monte-Carlo mean and
  error);
- ``unigram``: a position-wise unigram ``q_t = E_x p_t(. | x_<t)``, the average of the target's own next-token
  distributions over sequences from the separate ``reference`` stream (the best history-blind predictor up to
  that Monte-Carlo error).

**Score** of a learner on a task: the mean over the budget ladder of ``log10 max(KL, 1e-10)`` (KL in nats per
sequence, averaged over seeds); a rung where the learner failed or ran over budget counts as the uniform
predictor's KL (a learner can always answer uniform).  Lower is better; ``-10`` is perfect at every rung.  The
overall score of a learner is the mean of its task scores over the tasks it could run (``unsupported`` runs
are left out and counted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from logitrank import SequenceModel, center_logits, log_softmax, logits_along, sample_sequences

from ..learners.evaluation import evaluate
from .tasks import Task

__all__ = ["KL_FLOOR", "PositionUnigram", "UniformModel", "headroom", "leaderboard", "reference_record",
           "scores"]

KL_FLOOR = 1e-10


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
    for name, model in (("uniform", UniformModel(V, T)), ("unigram", PositionUnigram(probs))):
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
        else:
            runs.setdefault((rec["task"], rec["learner"], int(rec["budget"])), []).append(rec)
    return refs, runs


def _rung_pairs(runs: dict[tuple[str, str, int], list[dict[str, Any]]]) -> set[tuple[str, str]]:
    """``(task, learner)`` pairs with at least one supported run."""
    return {(t, lr) for (t, lr, _), recs in runs.items()
            if not all(r["status"] == "unsupported" for r in recs)}


def _cell_kl(recs: list[dict[str, Any]], uniform_by_seed: dict[int, float]) -> float:
    """Mean over seeds of KL, a failed / over-budget run counting as the uniform predictor's KL."""
    vals = [r["kl"] if r["status"] == "ok" else uniform_by_seed.get(r["seed"], np.nan) for r in recs]
    return float(np.mean(vals))


def scores(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``{learner: {task: score, ..., "overall": mean}}`` (see the module docstring)."""
    refs, runs = _groups(results)
    uniform = {t: {r["seed"]: r["uniform"]["kl"] for r in rs} for t, rs in refs.items()}
    by: dict[str, dict[str, list[float]]] = {}
    for (task, learner, _), recs in runs.items():
        if all(r["status"] == "unsupported" for r in recs):
            continue
        kl = _cell_kl(recs, uniform.get(task, {}))
        by.setdefault(learner, {}).setdefault(task, []).append(float(np.log10(max(kl, KL_FLOOR))))
    out: dict[str, dict[str, float]] = {}
    for learner, tasks in by.items():
        out[learner] = {t: float(np.mean(v)) for t, v in tasks.items()}
        out[learner]["overall"] = float(np.mean(list(out[learner].values())))
    return out


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


def _run_row(learner: str, budget: int, recs: list[dict[str, Any]]) -> str:
    ok = [r for r in recs if r["status"] == "ok"]
    used = [r["used"] for r in recs if r.get("used") is not None]
    used_s = f"{np.mean(used):.0f}" if used else ""
    if ok:
        kl, kl_se = _mean_se([r["kl"] for r in ok], ok[0]["kl_se"])
        tv, tv_se = _mean_se([r["tv"] for r in ok], ok[0]["tv_se"])
        cells = [f"{_fmt(kl)} ± {_fmt(kl_se)}", f"{_fmt(tv)} ± {_fmt(tv_se)}"]
    else:
        cells = ["", ""]
    bad = [r for r in recs if r["status"] != "ok"]
    status = f"{len(ok)}/{len(recs)} ok"
    if bad:
        status += f"; {bad[0]['status']}: " + str(bad[0]["error"]).replace("|", "/")[:90]
    return f"| {learner} | {budget:.0e} | " + " | ".join(cells) + f" | {used_s} | {status} |"


def leaderboard(results: Sequence[dict[str, Any]], tasks: dict[str, Task] | None = None) -> str:
    """Markdown: per task, KL and TV per learner and budget (mean ± standard error over seeds, or the
    Monte-Carlo error for one seed), the reference rows and the scores; then a summary of scores."""
    refs, runs = _groups(results)
    sc = scores(results)
    task_names = list(dict.fromkeys([r["task"] for r in results]))
    lines = ["# Leaderboard", "",
             "KL(target ‖ learned) and TV per sequence (nats), mean ± standard error. Score: mean over the "
             "budget ladder of log10 max(KL, 1e-10), a failed or over-budget rung counting as the uniform "
             "predictor (lower is better).", ""]
    for task in task_names:
        ref = refs.get(task, [])
        head = f"## {task}"
        if tasks and task in tasks:
            t = tasks[task]
            noise = f" xi={t.noise:g}" if t.noise else ""
            oracle = f", oracle {t.oracle}{noise}" if "query" in t.offers else ""
            head += f" ({'/'.join(t.offers)} access{oracle})"
        lines += [head, ""]
        if ref:
            h, h_se = _mean_se([r["entropy"] for r in ref], ref[0]["entropy_se"])
            extra = ""
            if "eps_avg" in ref[0]:
                e, e_se = _mean_se([r["eps_avg"] for r in ref], ref[0]["eps_avg_se"])
                extra = f"; measured eps_avg {_fmt(e)} ± {_fmt(e_se)}"
            lines += [f"target entropy {_fmt(h)} ± {_fmt(h_se)} nats/sequence (V={ref[0]['vocab_size']}, "
                      f"T={ref[0]['horizon']}){extra}", ""]
        lines += ["| learner | budget | KL | TV | used | runs |", "|---|---|---|---|---|---|"]
        unsupported = []
        for (t_name, learner, budget), recs in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][2])):
            if t_name != task:
                continue
            if all(r["status"] == "unsupported" for r in recs):
                unsupported.append(learner)
            else:
                lines.append(_run_row(learner, budget, recs))
        for name in ("uniform", "unigram"):
            if ref:
                kl, kl_se = _mean_se([r[name]["kl"] for r in ref], ref[0][name]["kl_se"])
                tv, tv_se = _mean_se([r[name]["tv"] for r in ref], ref[0][name]["tv_se"])
                lines.append(f"| ({name}) | – | {_fmt(kl)} ± {_fmt(kl_se)} | {_fmt(tv)} ± {_fmt(tv_se)} "
                             f"| 0 | reference |")
        task_scores = [f"{learner} {_fmt(s[task])}" for learner, s in sc.items() if task in s]
        lines += ["", "score: " + (", ".join(task_scores) if task_scores else "n/a")]
        if unsupported:
            lines.append("not run (the task does not offer the access they need): "
                         + ", ".join(dict.fromkeys(unsupported)))
        lines.append("")
    learners = list(sc)
    if learners:
        lines += ["## Scores (mean log10 KL over the ladder; lower is better)", "",
                  "| task | " + " | ".join(learners) + " |", "|---|" + "---|" * len(learners)]
        for task in task_names:
            lines.append(f"| {task} | " + " | ".join(_fmt(sc[lr].get(task, np.nan)) if task in sc[lr] else "–"
                                                    for lr in learners) + " |")
        lines.append("| **overall** | " + " | ".join(_fmt(sc[lr]["overall"]) for lr in learners) + " |")
        room = headroom(results)
        n_hard = sum(kl >= 1e-2 for _, kl in room["top"].values())
        lines += ["", "## Headroom", "",
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
    return "\n".join(lines) + "\n"
