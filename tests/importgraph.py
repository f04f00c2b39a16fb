"""The import graph between the features of a top-level package, and its cycles.

Every import counts, including those inside functions and under ``if TYPE_CHECKING``: a cycle
hidden in a function body is still a cycle. A feature is the first name below the top-level
package (``server.requests.services`` belongs to ``requests``); a module directly under the
top-level package (``server.errors``) is its own feature.

Run it: ``python -m tests.importgraph server`` prints every edge between features and then the
cycles (strongly connected groups of features); it exits 1 when there is a cycle.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Edge:
    """`source` imports `target`: the first place it does, as file:line."""

    source: str
    target: str
    where: str


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _feature(module: str, top: str) -> str | None:
    parts = module.split(".")
    if parts[0] != top or len(parts) < 2:
        return None
    return parts[1]


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The absolute module names one import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".")
            if not is_package:
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        # `from server.x import y` may import the module server.x.y or a name in server.x.
        return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]
    return []


def edges(top: str) -> list[Edge]:
    """Every edge between two different features of package `top`, first occurrence each."""
    found: dict[tuple[str, str], Edge] = {}
    for path in sorted((ROOT / top).rglob("*.py")):
        module = _module_name(path)
        source = _feature(module, top)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for name in _imported(node, module, path.name == "__init__.py"):
                target = _feature(name, top)
                if target is None or target == source:
                    continue
                key = (source, target)
                if key not in found:
                    where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                    found[key] = Edge(source, target, where)
    return sorted(found.values(), key=lambda e: (e.source, e.target))


def cycles(graph_edges: list[Edge]) -> list[list[str]]:
    """The strongly connected groups of more than one feature (Tarjan), each sorted."""
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in graph_edges:
        graph[edge.source].add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def mutual_pairs(graph_edges: list[Edge]) -> list[tuple[Edge, Edge]]:
    """Pairs of features that import each other directly."""
    by_key = {(e.source, e.target): e for e in graph_edges}
    return [
        (edge, by_key[(edge.target, edge.source)])
        for edge in graph_edges
        if edge.source < edge.target and (edge.target, edge.source) in by_key
    ]


def main(argv: list[str]) -> int:
    top = argv[0] if argv else "server"
    graph_edges = edges(top)
    for edge in graph_edges:
        print(f"{edge.source} -> {edge.target}    ({edge.where})")
    pairs = mutual_pairs(graph_edges)
    groups = cycles(graph_edges)
    print(f"\n{len(graph_edges)} edges between features of {top}/")
    print(f"{len(pairs)} pairs import each other:")
    for forward, back in pairs:
        print(f"  {forward.source} <-> {forward.target}    ({forward.where}; {back.where})")
    print(f"{len(groups)} cycles:")
    for group in groups:
        print("  " + " -> ".join(group))
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
