"""The server's shape: features import each other in layers, and routes hold no database code.

A cycle between features (also through an import inside a function) fails with every edge of
it as file:line; a `routes.py` that mentions `db.session` fails with the lines that do. Neither
check has an allow-list: queries belong in a feature's `queries.py`, changes in `services.py`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.importgraph import ROOT, Edge, _imported, cycles, edges


def cycle_report(graph_edges: list[Edge]) -> list[str]:
    """One block per cycle: its features, then each edge between two of them with file:line."""
    blocks = []
    for group in cycles(graph_edges):
        members = set(group)
        inside = [e for e in graph_edges if e.source in members and e.target in members]
        lines = [f"cycle: {' -> '.join(group)}"]
        lines += [f"  {e.source} -> {e.target}    ({e.where})" for e in inside]
        blocks.append("\n".join(lines))
    return blocks


def test_server_features_have_no_import_cycle() -> None:
    report = cycle_report(edges("server"))
    assert not report, (
        "server features import each other in a cycle (run `python -m tests.importgraph "
        "server`); move the shared piece down or let the lower feature call up through "
        "server.hooks:\n" + "\n".join(report)
    )


def test_cycle_report_names_the_cycle_and_its_edges() -> None:
    graph = [
        Edge("a", "b", "server/a/x.py:3"),
        Edge("b", "c", "server/b/y.py:9"),
        Edge("c", "a", "server/c/z.py:1"),
        Edge("c", "d", "server/c/z.py:2"),
    ]
    [block] = cycle_report(graph)
    assert block.splitlines()[0] == "cycle: a -> b -> c"
    assert "server/b/y.py:9" in block
    assert "server/c/z.py:1" in block
    assert "server/c/z.py:2" not in block  # c -> d is no part of the cycle
    assert cycle_report(graph[:2]) == []


def test_import_graph_sees_imports_inside_functions() -> None:
    tree = ast.parse("def f():\n    from server.requests.models import HelpRequest\n")
    names = [name for node in ast.walk(tree) for name in _imported(node, "server.x.y", False)]
    assert "server.requests.models" in names


def db_session_mentions(path: Path, root: Path = ROOT) -> list[str]:
    """Each line of `path` that mentions `db.session`, as file:line."""
    return [
        f"{path.relative_to(root)}:{number}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "db.session" in line
    ]


def test_no_routes_module_mentions_db_session() -> None:
    routes = sorted((ROOT / "server").rglob("routes.py"))
    assert routes, "no routes.py under server/"
    found = [where for path in routes for where in db_session_mentions(path)]
    assert not found, (
        "routes read like a table of contents: queries go to the feature's queries.py, "
        "changes to services.py:\n  " + "\n  ".join(found)
    )


def test_db_session_check_finds_mentions(tmp_path: Path) -> None:
    fake = tmp_path / "routes.py"
    fake.write_text("x = 1\nrows = db.session.execute(stmt)\n# db.session\n", encoding="utf-8")
    assert db_session_mentions(fake, tmp_path) == ["routes.py:2", "routes.py:3"]
    fake.write_text("rows = queries.rows()\n", encoding="utf-8")
    assert db_session_mentions(fake, tmp_path) == []
