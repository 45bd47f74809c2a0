"""The layering is enforced on the real import graph (every import statement, also inside functions):

- firm_core (the library) imports nothing of the application (firm), the backends or the theory checks;
- firm_core imports no third-party package but numpy and scipy, except optional extras behind guarded
  imports, listed in OPTIONAL_CORE_IMPORTS with the module allowed to make each;
- no import cycle anywhere in the project's packages;
- the import-linter contracts in pyproject.toml hold (``lint-imports``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

grimp = pytest.importorskip("grimp")

PACKAGES = ("firm_core", "firm", "backends", "theory_checks")
CORE = "firm_core"
CORE_DEPENDENCIES = {"numpy", "scipy"}
#: optional extra -> the only core modules allowed to import it (each import is guarded and its error
#: names the extra to install)
OPTIONAL_CORE_IMPORTS = {
    "cvxpy": {"firm_core.solvers.cvxpy_ref"},
    "sklearn": {"firm_core.problems.logistic"},
    "hypothesis": {"firm_core.testing.strategies"},
}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, include_external_packages=True)


def _own(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def core_violations(graph) -> list[str]:
    """Imports made by firm_core modules that the layering forbids."""
    bad = []
    for mod in sorted(m for m in graph.modules if m.split(".")[0] == CORE):
        for imported in sorted(graph.find_modules_directly_imported_by(mod)):
            top = imported.split(".")[0]
            if top == CORE or top in CORE_DEPENDENCIES or top in sys.stdlib_module_names:
                continue
            if mod in OPTIONAL_CORE_IMPORTS.get(top, ()):
                continue
            bad.append(f"{mod} -> {imported}")
    return bad


def import_cycles(graph) -> list[list[str]]:
    """Strongly connected components (size > 1, or a module importing itself) of the project's graph."""
    nodes = sorted(m for m in graph.modules if _own(m))
    edges = {m: sorted(i for i in graph.find_modules_directly_imported_by(m) if _own(i)) for m in nodes}
    return strongly_connected(nodes, edges)


def strongly_connected(nodes, edges) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns the components that are cycles."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges[w])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1 or v in edges[v]:
                        out.append(sorted(comp))
    return out


def test_core_imports_only_numpy_scipy_and_guarded_extras(graph):
    assert core_violations(graph) == []


def test_no_import_cycles(graph):
    assert import_cycles(graph) == []


def test_import_linter_contracts_hold():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.fail("lint-imports is not installed: the [dev] extra provides it")
    out = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr


# --- the checkers reject what they must reject -------------------------------------------------------
class FakeGraph:
    def __init__(self, edges):
        self.edges = edges
        self.modules = set(edges) | {i for v in edges.values() for i in v}

    def find_modules_directly_imported_by(self, m):
        return set(self.edges.get(m, ()))


def test_core_check_reports_a_backend_an_app_and_a_heavy_import():
    fake = FakeGraph({"firm_core.a": {"numpy", "json", "backends.flower"}, "firm_core.b": {"tqdm", "firm.cli"},
                      "firm_core.solvers.cvxpy_ref": {"cvxpy"}, "firm_core.c": {"cvxpy"}})
    assert core_violations(fake) == ["firm_core.a -> backends.flower", "firm_core.b -> firm.cli",
                                     "firm_core.b -> tqdm", "firm_core.c -> cvxpy"]


def test_cycle_check_finds_long_and_self_cycles_and_passes_a_dag():
    assert strongly_connected(["a", "b", "c"], {"a": ["b"], "b": ["c"], "c": []}) == []
    assert strongly_connected(["a", "b", "c"], {"a": ["b"], "b": ["c"], "c": ["a"]}) == [["a", "b", "c"]]
    assert strongly_connected(["a"], {"a": ["a"]}) == [["a"]]
    fake = FakeGraph({"firm.x": {"firm.y"}, "firm.y": {"firm.x", "numpy"}, "firm.z": {"firm.x"}})
    assert import_cycles(fake) == [["firm.x", "firm.y"]]
