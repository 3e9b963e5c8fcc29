"""The bundled tasks: the ``core`` controls (exact low rank, exact oracle) and the ``hard`` suite.

``hard`` is built for headroom (SPEC §4: on ``core`` the query learner reaches KL <= 1.5e-11): misspecified
and approximately-low-rank targets, oracle error, logit queries simulated from samples, sample-only access,
and (registered by :mod:`llm_bridge.bench_task`, which sits above this package) a real transformer.
``quick`` is a three-task smoke suite.  Every synthetic target goes through
:func:`simulators.build_model` (:class:`FamilyTarget`); see ``logitrank bench --list``.
"""

from __future__ import annotations

from .tasks import Task, family, register_task

__all__ = ["CORE", "HARD"]

_Q = (10**4, 10**5, 10**6)  # the query ladder of the hard suite
_S = (10**3, 10**4, 10**5)  # the sample ladder of the hard suite

CORE = [
    Task("isan-v16-d8-t16", "random time-varying ISAN, V=16, d=8, T=16 (exact logit rank 8)",
         family("isan", 16, 8, 16), suites=("core", "quick")),
    Task("isan-v32-d16-t32", "random time-varying ISAN, V=32, d=16, T=32 (exact logit rank 16)",
         family("isan", 32, 16, 32), query_budgets=(10**5, 10**6, 4 * 10**6), suites=("core",)),
    Task("planted-alpha0.7", "planted power-law spectrum sigma_i ~ i^-0.7, V=8, d=32, T=8 (exact rank 32)",
         family("planted", 8, 32, 8, alpha=0.7), suites=("core",)),
    Task("hmm-s8-v8", "random HMM, 8 states, V=8, T=10", family("hmm", 8, 8, 10),
         hardness="approximately low rank (log of a mixture), but small", suites=("core",)),
    Task("ngram3-v8", "random trigram model, V=8, T=10 (logit rank <= V^2)",
         family("ngram", 8, 64, 10, order=3), access="sample",
         hardness="a control for sample learners: an exact trigram (the n-gram baseline's own class), "
                  "sample access by default (logit queries offered too)", suites=("core", "quick")),
    Task("noisy-parity-n20", "20 uniform bits, label = parity of a hidden 10-subset flipped w.p. 0.1",
         family("noisy-parity", None, 10, 21, noise=0.1), query_budgets=(10**4, 10**5),
         hardness="learning parity with noise: hard from samples, logit rank 1 from queries",
         suites=("core", "quick")),
    Task("sparse-poly-n16-m4", "16 bits, log-odds of each bit a 4-monomial sparse polynomial",
         family("sparse-poly", None, 4, 16), suites=("core",)),
    Task("copy-n6-v4", "6 random tokens over V=4, then copied (T=12)", family("copy", 4, 1, 12),
         suites=("core",)),
]

HARD = [
    Task("hard-perturbed-isan-eavg1e-3",
         "ISAN V=16, d=8, T=16 plus a hash-seeded perturbation, eps=0.0021 (eps_avg ~ 1e-3, average L1)",
         family("perturbed", 16, 8, 16, eps=0.0021), query_budgets=_Q,
         hardness="misspecified: no exact low-rank model fits; small eps_avg", suites=("hard",)),
    Task("hard-perturbed-isan-eavg1e-1",
         "ISAN V=16, d=8, T=16 plus a hash-seeded perturbation, eps=0.207 (eps_avg ~ 1e-1, average L1)",
         family("perturbed", 16, 8, 16, eps=0.207), query_budgets=_Q,
         hardness="misspecified: every prefix carries its own unstructured logit error", suites=("hard",)),
    Task("hard-hmm-s16-v16-t20", "random HMM, 16 states, V=16, T=20, sticky Dirichlet(0.1) rows",
         family("hmm", 16, 16, 20, concentration=0.1), query_budgets=_Q,
         hardness="approximately low rank with slow mixing (long memory); many queries per position",
         suites=("hard",)),
    Task("hard-isan-v8-d8-t64", "random time-varying ISAN, V=8, d=8, T=64 (exact rank 8)",
         family("isan", 8, 8, 64), query_budgets=_Q,
         hardness="long horizon: query cost grows with T, errors add over 64 positions", suites=("hard",)),
    Task("hard-planted-d256-a0.6", "planted power-law spectrum sigma_i ~ i^-0.6, V=8, d=256, T=12",
         family("planted", 8, 256, 12, alpha=0.6), query_budgets=_Q,
         hardness="a slowly decaying spectrum with no exact cut within reach of the budget",
         suites=("hard",)),
    Task("hard-fixed-noise-isan", "ISAN V=16, d=8, T=16 behind a fixed-error oracle, xi=1e-2",
         family("isan", 16, 8, 16), query_budgets=_Q, oracle="fixed-noise", noise=1e-2,
         hardness="oracle error that repeating a query cannot average away (GLS2's setting)",
         suites=("hard",)),
    Task("hard-sampled-logits-isan",
         "ISAN V=4, d=4, T=8; logit queries estimated from m=100 next-token samples",
         family("isan", 4, 4, 8), query_budgets=(10**6, 10**7, 10**8), oracle="sampled-logits",
         samples_per_query=100,
         hardness="GLS2 Remark 5.8: each query costs m samples and is answered with sampling error "
                  "~ 1/sqrt(m p); budgets count samples", suites=("hard",)),
    Task("hard-sample-hmm-s8-v8", "random HMM, 8 states, V=8, T=12, from samples only",
         family("hmm", 8, 8, 12), access="sample", offers=("sample",), sample_budgets=_S,
         hardness="sample-only access: statistical error of the baselines", suites=("hard",)),
    Task("hard-sample-isan-v8-d4-t12", "random time-varying ISAN, V=8, d=4, T=12, from samples only",
         family("isan", 8, 4, 12), access="sample", offers=("sample",), sample_budgets=_S,
         hardness="sample-only access to an exact low-rank model (no n-gram structure)", suites=("hard",)),
    Task("hard-sample-parity-n16-k8", "16 uniform bits, label = parity of a hidden 8-subset flipped w.p. 0.1",
         family("noisy-parity", None, 8, 17, noise=0.1), access="sample", offers=("sample",),
         sample_budgets=_S,
         hardness="learning parity with noise from samples: the bundled sample learners see too little of "
                  "it (WFA, n-gram) or search unreliably (MLE); brute force over C(16,8) = 12870 subsets "
                  "would, so it is hard only asymptotically in n",
         suites=("hard",)),
]

for _task in CORE + HARD:
    register_task(_task)
