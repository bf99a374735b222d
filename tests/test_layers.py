"""The layers of ARCHITECTURE.md hold: no module imports a layer above its own, and no modules
import each other in a loop. Read from the source (ast), so a new import that breaks either fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lowest first: a module may import its own layer and the ones before it.
LAYERS = [
    ("components", ("components",)),
    ("inputs", ("boutique.inputs",)),
    ("plans", ("boutique.plans",)),
    ("program", ("boutique.program",)),
    ("tools", ("boutique.cli", "boutique.__main__", "boutique", "tools", "benchmarks", "e2e")),
]
SOURCE_DIRS = ("components", "boutique", "tools", "benchmarks", "e2e")


def layer_of(module: str) -> int:
    best, best_len = None, -1
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = rank, len(prefix)
    assert best is not None, f"{module} belongs to no layer: add it to LAYERS and ARCHITECTURE.md"
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for d in SOURCE_DIRS for p in sorted((ROOT / d).rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules this file imports, at any depth of the file (function-level imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from boutique.plans import mesh` imports boutique.plans.mesh
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `pkg.mod.Class` -> `pkg.mod`
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(graph.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]


def test_every_module_has_a_layer():
    for module in project_modules():
        layer_of(module)


def test_no_module_imports_a_layer_above_its_own():
    assert upward_imports(import_graph()) == []


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_components_never_import_boutique():
    graph = import_graph()
    assert [m for m in graph if m.startswith("components") and any(t.startswith("boutique") for t in graph[m])] == []


# The checkers themselves: each must catch what it is for, or the tests above prove nothing.
def test_the_cycle_finder_finds_a_loop():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize(
    ("module", "target"),
    [
        ("boutique.inputs.settings", "boutique.plans.security"),
        ("boutique.plans.stack", "boutique.program"),
        ("components.kube", "boutique.inputs.catalog"),
        ("boutique.program", "boutique.cli.render"),
    ],
)
def test_an_upward_import_is_reported(module, target):
    assert len(upward_imports({module: {target}, target: set()})) == 1


def test_function_level_imports_count(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from boutique.plans import security\n")
    modules = {"boutique.plans.security": ROOT / "boutique/plans/security.py"}
    assert "boutique.plans.security" in imports_of(source, modules)
