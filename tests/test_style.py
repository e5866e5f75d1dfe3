"""The source as ruff formats it (no `# fmt: skip`), in small files and functions, with one hub:
no import circle, and no stage importing offerwise.pipeline."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "offerwise"


def test_source_is_formatted_and_has_no_format_escapes() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", str(SRC)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    escapes = [str(p) for p in SRC.rglob("*.py") if "fmt: skip" in p.read_text()]
    assert escapes == []


def _modules() -> dict[str, Path]:
    """offerwise's modules by dotted name (a package by its own name)."""
    names = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The offerwise modules a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("offerwise"):
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("offerwise")}
    return {m for m in found if m in modules}


def test_no_file_over_400_lines_and_no_function_over_80() -> None:
    long_files = [f"{p.relative_to(SRC)}: {n}" for p in SRC.rglob("*.py") if (n := p.read_text().count("\n")) > 400]
    long_functions = [
        f"{p.relative_to(SRC)}:{node.name}: {node.end_lineno - node.lineno + 1}"
        for p in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 80
    ]
    assert long_files == [] and long_functions == []


def test_no_import_circle_and_no_stage_imports_the_hub() -> None:
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    hub = [name for name, deps in graph.items() if not name.startswith(("offerwise.pipeline", "offerwise.cli")) and any(
        d.startswith("offerwise.pipeline") for d in deps)]  # fmt: skip
    assert hub == []
    sccs = [c for c in _strongly_connected(graph) if len(c) > 1]
    assert sccs == []


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative over the import graph's nodes."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                on_stack.discard(w)
                component.append(w)
            on_stack.discard(v)
            found.append([*component, v])

    for node in graph:
        if node not in index:
            visit(node)
    return found
