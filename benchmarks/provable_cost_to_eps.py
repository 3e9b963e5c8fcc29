"""Cost-to-eps curves of GLS2's learner (experiments.cost_to_eps): exponents in d, V, T, 1/eps with intervals.

Runs the chosen preset axis by axis, saving ``<out>/cost_to_eps.json`` after each (a killed run resumes with
the axes already saved), then prints per axis the fitted exponent of the queries needed to reach the TV
target (bisection on the budget), its 95% bootstrap interval, the power-vs-affine verdict, the exponent of
a validated fit's cost, and the theory's worst-case exponent beside them.

Run: ``python benchmarks/provable_cost_to_eps.py [--preset full|quick|tiny] [--out results/]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from experiments import NoInputs
from experiments.cost_to_eps import AXES, Config, Result, run
from logitrank.results_io import to_jsonable


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", choices=("tiny", "quick", "full"), default="full")
    p.add_argument("--out", type=Path, default=Path("results"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    config = Config.preset(args.preset)
    path = args.out / "cost_to_eps.json"
    done = Result.from_dict(json.loads(path.read_text())) if path.exists() else None
    if done is not None and done.config != config.to_dict():
        done = None  # another preset: start again
    result = done or Result(config=config.to_dict())
    for axis in AXES:
        if axis in result.axes:
            continue
        result.axes.update(run(NoInputs(), config, rng=args.seed, axes=(axis,), progress=True).axes)
        args.out.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(to_jsonable(result.to_dict()), indent=1))
        tmp.replace(path)
    print(f"cost to eps (GLS2's learner, random exact ISANs, {config.seeds} seeds per point, base (V, d, T, "
          f"eps) = {config.base})")
    print("| axis | values | median queries | exponent [95% CI] | power vs affine | validated-fit exponent | "
          "theory (worst-case bound) |")
    print("|---|---|---|---|---|---|---|")
    for axis, ax in result.axes.items():
        med = [sorted(r["queries"] for r in per)[len(per) // 2] for per in ax["rows"]]
        f, v = ax["fit_queries"], ax["fit_validated_queries"]
        ci = f"{f['exponent']:.2f} [{f['exponent_ci'][0]:.2f}, {f['exponent_ci'][1]:.2f}]" if f else "-"
        vci = f"{v['exponent']:.2f} [{v['exponent_ci'][0]:.2f}, {v['exponent_ci'][1]:.2f}]" if v else "-"
        verdict = f"{f['verdict']} ({f['power_wins']:.2f})" if f else "-"
        print(f"| {axis} | {ax['values']} | {[int(m) for m in med]} | {ci} | {verdict} | {vci} | "
              f"{ax['theory_exponent']:g} |")


if __name__ == "__main__":
    main()
