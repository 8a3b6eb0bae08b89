"""The package's imports form layers: no cycle, and nothing the triggerer runs reaches the operators."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import airflow_provider_luma

PACKAGE = Path(airflow_provider_luma.__file__).parent
NAME = "airflow_provider_luma"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, dict[str, bool]]:
    """Module -> {imported module of the package: whether only under ``TYPE_CHECKING``}."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, dict[str, bool]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        type_only = {
            id(node)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for node in ast.walk(block)
        }
        edges: dict[str, bool] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name} imports relatively: the graph reads absolute imports"
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:  # a name from a module: that module
                    target = target.rpartition(".")[0]
                if target and target not in (name, NAME):
                    edges[target] = edges.get(target, True) and id(node) in type_only
        graph[name] = edges
    return graph


def reachable(graph: dict[str, dict[str, bool]], start: str, *, type_only: bool) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target, only_for_types in graph[todo.pop()].items():
            if target not in seen and (type_only or not only_for_types):
                seen.add(target)
                todo.append(target)
    return seen


def test_the_graph_sees_the_imports_it_checks():
    graph = import_graph()
    assert graph[f"{NAME}.operators.luma"][f"{NAME}.kinds"] is False  # imported to run
    assert graph[f"{NAME}.runs"][f"{NAME}.hooks.luma"] is True  # only for types
    assert f"{NAME}.hooks._transport" in graph[f"{NAME}.hooks.luma"]  # a from-import of a submodule


def test_no_module_imports_itself_back_even_for_types():
    graph = import_graph()
    cycles = sorted(name for name in graph if name in reachable(graph, name, type_only=True))
    assert cycles == []


def test_nothing_the_triggerer_runs_reaches_the_operators_package():
    graph = import_graph()
    triggerer_side = [name for name in graph if name.startswith(f"{NAME}.triggers")]
    reached = set().union(*(reachable(graph, name, type_only=True) for name in triggerer_side))
    assert sorted(name for name in reached if name.startswith(f"{NAME}.operators")) == []


def test_importing_the_triggers_loads_no_operator_module():
    code = (
        "import sys, airflow_provider_luma.triggers.luma\n"
        f"print(sorted(m for m in sys.modules if m.startswith('{NAME}.operators')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
