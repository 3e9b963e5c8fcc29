"""Logit queries simulated from conditional samples (GLS2 Remark 5.8): error vs m, the lambda law, a learn.

1. Entrywise error of ``SampledLogitAccess`` vs m at centered-logit bound lambda in {1, 2, 3, 4}; the m
   reaching median error 0.5; the fitted slope of log m* vs lambda against the law's 2 (m ~ e^{2 lambda}).
2. Both learners end to end from ``SampledLogitAccess`` on a small ISAN (V = 3, d = 2, T = 4), with the
   total number of conditional samples.

    python benchmarks/provable_sampled.py [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: BLAS threads only contend

import argparse  # noqa: E402

from experiments.provable_learning import LEARNERS, sampled_end_to_end, sampled_logit_cost  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    out = sampled_logit_cost(repeats=20 if args.quick else 100)
    print(f"median entrywise error of sampled logits (V = 8) at lambda = {out['lambdas']}")
    print(f"{'m':>9s} " + " ".join(f"{'lambda=' + str(lam):>10s}" for lam in out["lambdas"]))
    for j, m in enumerate(out["m"]):
        print(f"{m:9d} " + " ".join(f"{c[j]:10.3f}" for c in out["error_curves"]))
    pairs = zip(out["lambdas"], out["m_star"])
    print("m* at error 0.5: " + ", ".join(f"lambda={lam}: {m:.0f}" for lam, m in pairs))
    print(f"fitted d log m* / d lambda = {out['exponent']:.2f} (law: {out['law_exponent']:g}; "
          f"within +-0.5: {abs(out['exponent'] - 2) <= 0.5})")
    print("\nend to end from SampledLogitAccess (V = 3, d = 2, T = 4, logit scale 1)")
    for m in ([20_000] if args.quick else [2_000, 20_000, 200_000]):
        r = sampled_end_to_end(m)
        print(f"  m = {m:7d}: " + " | ".join(f"{n} TV {r[n]['tv']:.2e} +- {r[n]['tv_se']:.0e} with "
                                           f"{r[n]['samples']:.3g} samples" for n in LEARNERS))


if __name__ == "__main__":
    main()
