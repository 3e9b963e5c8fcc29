"""The layering of SPEC §2, read from the source with ``ast`` (nothing is imported): the core imports no
package above it, ``simulators`` and ``theory`` do not import ``llm_bridge``, no circle between the
top-level packages, and the command line's ``argparse.Namespace`` never leaves ``logitrank_cli``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ABOVE_CORE = ("logitrank_cli", "simulators", "theory", "llm_bridge", "experiments", "paper_figures")
PACKAGES = ("logitrank", *ABOVE_CORE)


def modules(package: str) -> Iterator[tuple[str, bool, ast.Module]]:
    """``(dotted name, is a package, parsed source)`` of every module of ``package`` (none if absent)."""
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        yield ".".join(parts[:-1] if is_package else parts), is_package, ast.parse(path.read_text())


def imported(name: str, tree: ast.Module, *, is_package: bool = False) -> set[str]:
    """Absolute names of the modules ``tree`` imports anywhere (inside functions too), relative imports
    resolved against the module ``name``."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + is_package]
                out.add(".".join(base + ([node.module] if node.module else [])))
            elif node.module:
                out.add(node.module)
    return out


def top_level_imports(package: str) -> dict[str, set[str]]:
    """For every module of ``package``: the other packages of :data:`PACKAGES` it imports."""
    found = {}
    for name, is_package, tree in modules(package):
        tops = {m.split(".")[0] for m in imported(name, tree, is_package=is_package)}
        found[name] = {t for t in tops if t in PACKAGES and t != package}
    return found


def test_relative_imports_resolve_to_the_right_modules() -> None:
    """The checker itself: ``from ..x import y`` in ``a.b.c`` and in the package ``a.b`` is ``a.x``."""
    tree = ast.parse("from ..families import f\nfrom . import catalog\nimport os.path\n")
    assert imported("simulators.bench.tasks", tree) == {"simulators.families", "simulators.bench", "os.path"}
    assert imported("simulators.bench", tree, is_package=True) == {"simulators.families", "simulators.bench",
                                                                   "os.path"}
    nested = ast.parse("def f():\n    import llm_bridge.bench_task\n")
    assert imported("x", nested) == {"llm_bridge.bench_task"}  # imports inside functions count


def test_the_core_imports_no_package_above_it() -> None:
    found = top_level_imports("logitrank")
    assert {name: sorted(tops) for name, tops in found.items() if tops} == {}
    assert len(found) > 20 and "logitrank.cli" not in found  # the scan saw the core; the CLI left it


def test_simulators_and_theory_stay_below_llm_bridge_and_the_views() -> None:
    """``logitrank <- simulators <- theory``: neither imports ``llm_bridge`` (the bench's transformer task
    is registered from above), the experiments layer, the figures or the CLI."""
    for package, allowed in (("simulators", {"logitrank"}), ("theory", {"logitrank", "simulators"})):
        bad = {name: sorted(tops - allowed) for name, tops in top_level_imports(package).items()}
        assert {name: tops for name, tops in bad.items() if tops} == {}, package


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """The nodes of ``graph`` that reach themselves."""

    def reaches(start: str, goal: str, seen: frozenset[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n}))
                   for n in graph.get(start, ()))

    return [p for p in graph if reaches(p, p, frozenset())]


def test_no_circle_between_top_level_packages() -> None:
    graph = {p: set().union(*top_level_imports(p).values()) for p in PACKAGES if (ROOT / p).is_dir()}
    assert cycles(graph) == []
    assert graph["logitrank_cli"] >= {"logitrank", "simulators", "theory", "llm_bridge"}  # it sits on top
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c"]  # negative control


def namespace_annotations(tree: ast.Module) -> list[str]:
    """``function: annotation`` of every parameter or return annotation in ``tree`` that names a
    ``Namespace``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            notes = [arg.annotation for arg in (*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg)
                     if arg is not None and arg.annotation is not None] + [node.returns]
            found += [f"{node.name}: {ast.unparse(n)}" for n in notes
                      if n is not None and "Namespace" in ast.unparse(n)]
    return found


@pytest.mark.parametrize("package", [p for p in PACKAGES if p != "logitrank_cli"])
def test_no_library_function_takes_or_returns_a_namespace(package: str) -> None:
    found = {name: namespace_annotations(tree) for name, _, tree in modules(package)}
    built = [name for name, _, tree in modules(package)
             if any(isinstance(n, ast.Attribute) and n.attr == "Namespace" for n in ast.walk(tree))]
    assert ({k: v for k, v in found.items() if v}, built) == ({}, [])
    bad = ast.parse("def f(args: argparse.Namespace) -> int:\n    return 0\n")
    assert namespace_annotations(bad) == ["f: argparse.Namespace"]  # negative control


def namespace_leaks(trees: dict[str, ast.Module]) -> list[str]:
    """Calls in ``trees`` that pass the parsed ``args`` (as an argument, ``*args`` or a keyword value) to a
    function not defined in ``trees`` (``getattr`` reads one option; ``SUBCOMMANDS[...][1]`` is a
    subcommand's own ``run``)."""
    own = {n.name for tree in trees.values() for n in ast.walk(tree)
           if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    own |= {"getattr", "SUBCOMMANDS[args.command][1]"}

    def is_args(v: ast.expr) -> bool:
        v = v.value if isinstance(v, ast.Starred) else v
        return isinstance(v, ast.Name) and v.id == "args"

    leaks = []
    for name, tree in trees.items():
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            callee = ast.unparse(call.func)
            if any(is_args(v) for v in [*call.args, *(k.value for k in call.keywords)]) and \
                    not {callee, callee.split(".")[-1]} & own:
                leaks.append(f"{name}:{call.lineno} {callee}")
    return leaks


def test_the_cli_hands_its_namespace_only_to_its_own_functions() -> None:
    """In ``logitrank_cli`` the parsed ``args`` is an argument only of functions defined in the package:
    each subcommand's ``run`` turns it into typed library calls."""
    trees = {name: tree for name, _, tree in modules("logitrank_cli")}
    assert {"logitrank_cli.main", "logitrank_cli.spectrum", "logitrank_cli.extract"} <= set(trees)
    assert namespace_leaks(trees) == []
    bad = {"m": ast.parse("def run(args):\n    helper(args)\n    return library.work(x, key=args)\n\n"
                          "def helper(args):\n    vars(args)\n    other(*args)\n")}
    assert namespace_leaks(bad) == ["m:3 library.work", "m:6 vars", "m:7 other"]  # negative control


def test_every_subcommand_module_has_the_one_shape() -> None:
    """``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` in each subcommand module,
    and ``logitrank_cli.main`` lists exactly those modules."""
    from logitrank_cli import main

    found = sorted(p.stem for p in (ROOT / "logitrank_cli").glob("*.py")
                   if p.stem not in ("__init__", "__main__", "main", "options"))
    assert sorted(m.__name__.rsplit(".", 1)[1] for m in main.MODULES) == found
    for m in main.MODULES:
        assert m.NAME == m.__name__.rsplit(".", 1)[1] and isinstance(m.HELP, str)
        assert list(m.add_arguments.__annotations__) == ["p", "return"]
        assert m.run.__annotations__ == {"args": "argparse.Namespace", "return": "int"}


#: fitting functions a figure must not call or import (with ``logitrank.power_law``): fits are experiments'
FITS = {"fit_power_law", "loglog_fit", "fit_scaling", "scaling_exponent", "fit_both", "fit_range_sensitivity"}


def test_every_figure_is_a_view_of_one_registered_experiment() -> None:
    """Each figure module has ``NAME``, ``TITLE``, ``EXPERIMENT`` (a name of the one registry), ``INPUTS``,
    ``plot`` and ``summarize``, and computes nothing itself: no ``compute``, ``make`` or ``Config``, and no
    import of the experiment code that produces numbers (``run``) nor of a fit (``logitrank.power_law``,
    :data:`FITS`) — read from the source."""
    from experiments.registry import EXPERIMENTS
    from paper_figures.pipeline import FIGURES

    assert len(set(FIGURES)) == len(FIGURES)
    for name, module in FIGURES.items():
        tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text())
        top = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
        assigned = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                    if isinstance(t, ast.Name)}
        assert {"plot", "summarize"} <= top and not top & {"compute", "make", "Config"}, (name, top)
        assert {"NAME", "TITLE", "EXPERIMENT", "INPUTS"} <= set(assigned), name
        experiment = assigned["EXPERIMENT"]
        assert isinstance(experiment, ast.Constant) and experiment.value in EXPERIMENTS, name
        calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute)}
        assert "run" not in calls and not calls & FITS, name
        for node in ast.walk(tree):  # a fit is the experiment's to compute: its number goes in the Result
            if isinstance(node, ast.Import | ast.ImportFrom):
                modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                           else [node.module or ""])
                imported = {a.name for a in node.names}
                assert not any(m.endswith("power_law") for m in modules) and not imported & FITS, \
                    (name, ast.unparse(node))
