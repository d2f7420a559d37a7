"""The layout shows the architecture: no import circles among app/, core/, taxonomy/ and db/
(deferred imports inside functions count too), configs never reach back into the engine
that applies them, and the web app never loads torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "core", "taxonomy", "db")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path
            for package in PACKAGES for path in sorted((REPO_ROOT / package).rglob("*.py"))
            if "migrations" not in path.parts}


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its file (top level, inside
    functions, under TYPE_CHECKING): every import a reader would follow."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # `from app import page_ids` imports the module app.page_ids.
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            graph[name] |= {target for target in targets if target in modules and target != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    # Tarjan's strongly connected components: any component of two or more modules is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_imports_it_should():
    graph = import_graph()
    assert "app.page_ids" in graph["app.navigation"]
    assert "core.recipes.base" in graph["core.techniques.registry"]
    # A deferred import (inside a function) is an edge like any other.
    assert "core.jobs.executor" in graph["app.cli"]


def test_no_module_imports_itself_back_through_others():
    assert _cycles(import_graph()) == []


def test_a_circle_would_be_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_configs_never_import_the_engine_that_applies_them():
    graph = import_graph()
    back = {(name, target) for name, targets in graph.items() if name.startswith("core.recipes")
            for target in targets if target.startswith(("core.techniques", "core.quantization",
                                                        "core.pruning", "core.inference",
                                                        "core.lowrank", "core.distillation"))}
    assert back == set()


def test_views_link_pages_without_importing_the_navigation():
    graph = import_graph()
    importers = {name for name, targets in graph.items() if "app.navigation" in targets}
    assert importers <= {"app.main"}


def test_the_app_loads_no_torch():
    # A fresh interpreter: every app module (but the entry file and the page scripts, which
    # render when run), the navigation and the job store the app reads through.
    names = sorted(name for name in _modules()
                   if name.startswith("app") and not name.startswith("app.routes")
                   and name != "app.main")
    names += ["app.navigation", "core.jobs.store", "core.recipes.handler_source"]
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "    assert 'torch' not in sys.modules, f'{name} imported torch'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
