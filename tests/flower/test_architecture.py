"""Layout of the Flower layer: no import circles, one module owns the message protocol, backends plug
in through the registry."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tests.flower.helpers import EQUIVALENCE_ATOL, make_settings, run_inprocess

from backends.flower import protocol, registry  # noqa: E402
from backends.flower.settings import FlowerSettings  # noqa: E402

pytestmark = pytest.mark.flower

PACKAGE = Path(__file__).resolve().parents[2] / "backends" / "flower"
#: Record / config / metric keys of the train exchange: only ``protocol`` may spell them out.
PROTOCOL_STRINGS = ("num-examples", "partition-id", "lambda-mean", "solver-severity", "local-steps", "round-index",
                    "server-round", "skipped-steps")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parents[1]).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> modules of backends.flower it imports (anywhere in its code, deferred imports too)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (a list of modules, first = last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_flower_package_has_no_import_circle():
    graph = import_graph()
    assert "backends.flower.rlhf.client" in graph and graph["backends.flower.strategy"]  # the graph was read
    assert find_cycle(graph) is None, find_cycle(graph)


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_protocol_module_spells_the_message_keys():
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "protocol.py":
            continue
        strings = [n.value for n in ast.walk(ast.parse(path.read_text()))
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        found = sorted({key for key in PROTOCOL_STRINGS for s in strings if s == key})
        if found:
            offenders[str(path.relative_to(PACKAGE))] = found
    assert offenders == {}
    assert protocol.WEIGHT_KEY == "num-examples" and protocol.CLIENT_ID_KEY == "partition-id"


def test_protocol_round_trips_the_train_config_and_run_config():
    settings = make_settings(3, rounds=4, participation=2, preference=(0.3, 0.7))
    config = protocol.TrainConfig.from_record(settings.train_config(2, 2))
    assert (config.round_index, config.local_steps, config.preference, config.backend) == (2, 3, (0.3, 0.7), "numpy")
    assert config.problem_spec == settings.problem
    again = FlowerSettings.from_run_config(settings.to_run_config())
    assert again == dataclasses.replace(settings, timeout=settings.timeout)
    with pytest.raises(protocol.ProtocolError, match="'mode'"):
        protocol.TrainConfig.from_record(settings.train_config(0, 2).__class__({**settings.train_config(0, 2), "mode": "x"}))


def test_metric_spec_rejects_wrong_types_and_ranges():
    spec = protocol.MetricSpec("int", low=0, high=2)
    assert spec.check("k", 1) == 1
    for bad in (True, 1.0, float("nan"), 3, -1, [1]):
        with pytest.raises(protocol.ProtocolError, match="'k'"):
            spec.check("k", bad)
    floats = protocol.MetricSpec("floats", length=2)
    assert floats.check("v", [0.5, 1]) == [0.5, 1]
    for bad in ([0.5], [0.5, float("inf")], 0.5, [0.5, True]):
        with pytest.raises(protocol.ProtocolError, match="'v'"):
            floats.check("v", bad)
    with pytest.raises(ValueError, match="`length`"):
        protocol.MetricSpec("floats")


def test_a_plugin_backend_runs_through_the_registry(monkeypatch):
    """A backend registered under a new name (here the numpy jobs again) is validated, sent to the
    clients in the train config, and runs like the built-in one."""
    monkeypatch.setattr(registry, "_BACKENDS", dict(registry._BACKENDS))
    registry.register_backend("numpy_again", spec="backends.flower.problems", client="backends.flower.numpy_client",
                              strategy="backends.flower.strategy", allows_dp=False)
    base = make_settings(3, rounds=2)
    plugin = dataclasses.replace(base, backend="numpy_again")
    assert plugin.train_config(0, 2)[protocol.K_BACKEND] == "numpy_again"
    ours, grid = run_inprocess(plugin)
    builtin, _ = run_inprocess(base)
    np.testing.assert_allclose(ours.history.final_x, builtin.history.final_x, rtol=0, atol=EQUIVALENCE_ATOL)
    train = [m for m in grid.sent_log if m.metadata.message_type == "train"]
    assert train and all(m.content["config"][protocol.K_BACKEND] == "numpy_again" for m in train)
    from backends.flower.settings import DPSettings

    with pytest.raises(ValueError, match="`dp.mode`"):  # allows_dp=False is enforced
        dataclasses.replace(plugin, dp=DPSettings(mode="client-fixed"))


def test_the_registry_refuses_bad_entries():
    with pytest.raises(ValueError, match="`backend`.*'nope'"):
        registry.backend_entry("nope")
    with pytest.raises(ValueError, match="`spec`"):
        registry.register_backend("x", spec="not a path", client="a.b", strategy="a.b")
    with pytest.raises(ValueError, match="`job`"):
        registry.load_job("numpy", "server")
    assert registry.backend_names()[:2] == ("numpy", "rlhf")
