"""The package layering of ``cds_service``: no import cycle between its packages.

Every ``import`` and ``from … import`` of a ``cds_service`` module counts, wherever it is written
(function bodies and ``TYPE_CHECKING`` blocks included): a package cycle is a cycle whichever way
it is spelled. Each sub-package is one node; a module at the top level is its own node.
"""

from __future__ import annotations

import ast
from pathlib import Path

import cds_service

ROOT = Path(cds_service.__file__).resolve().parent


def _node(parts: list[str]) -> str:
    """The graph node of a module path below ``cds_service`` (``["hooks", "routes"]`` → ``hooks``)."""
    return parts[0] if (ROOT / parts[0]).is_dir() else f"{parts[0]}.py"


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Node → the nodes it imports (itself excluded)."""
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).with_suffix("").parts
        source = _node(list(rel)) if rel != ("__init__",) else "__init__.py"
        modules: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules.append(node.module)
                modules += [f"{node.module}.{a.name}" for a in node.names if node.module == "cds_service"]
            elif isinstance(node, ast.Import):
                modules += [a.name for a in node.names]
        for module in modules:
            parts = module.split(".")
            if parts[0] != "cds_service" or len(parts) < 2:
                continue
            target = _node(parts[1:])
            if target != source:
                graph.setdefault(source, set()).add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_package_cycle() -> None:
    """No two packages of cds_service import each other, directly or through others."""
    assert cycles(package_graph()) == []


def test_protocol_models_are_at_the_bottom() -> None:
    """The protocol package imports no other cds_service package but the shared error module."""
    assert package_graph().get("protocol", set()) <= {"errors.py"}


def test_cycle_finder_sees_a_cycle() -> None:
    """The checker itself reports a two-package cycle and leaves a chain alone."""
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []
