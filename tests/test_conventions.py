"""Conventions the code keeps, checked on the source: import direction, documented settings
and commands, working --help, SQLAlchemy 2.0 style, and commits in one place only.
"""

from __future__ import annotations

import ast
import re
from dataclasses import fields
from functools import cache
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kiosk.config import KioskSettings
from server.config import Settings
from sync.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "kiosk", "sync")
DOCS = (ROOT / "README.md", ROOT / "deploy" / "README.md")

FORBIDDEN_IMPORTS = {
    "sync": {"server", "kiosk", "flask", "sqlalchemy", "sqlite3", "webview"},
    "server": {"kiosk"},
    "kiosk": {"server"},
}
"""Top-level modules each package may not import (sync/ is the pure contract between them)."""


def sources(package: str) -> list[Path]:
    """Every Python file of a package, in a stable order."""
    return sorted((ROOT / package).rglob("*.py"))


@cache
def parse(path: Path) -> ast.Module:
    """The syntax tree of one source file (parsed once per session)."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def where(path: Path, node: ast.AST) -> str:
    """`file:line` for a message."""
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


def imported_modules(tree: ast.Module) -> list[tuple[ast.AST, str]]:
    """Every absolute import in a file (inside functions too), as (node, top-level module)."""
    found: list[tuple[ast.AST, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node, node.module.split(".")[0]))
    return found


def docs_text() -> str:
    """The README and the deploy README, whichever exist."""
    return "\n".join(p.read_text(encoding="utf-8") for p in DOCS if p.is_file())


def documented(name: str, text: str) -> bool:
    """Whether `name` (a variable or a command path) appears in `text` as a whole word."""
    words = r"[ \t]+".join(re.escape(word) for word in name.split())
    return re.search(rf"(?<![\w-]){words}(?![\w-])", text) is not None


def _undocumented_report(kind: str, missing: list[str]) -> str:
    present = [str(p.relative_to(ROOT)) for p in DOCS if p.is_file()] or ["neither exists"]
    return (
        f"{len(missing)} {kind} not documented in README.md or deploy/README.md "
        f"(read: {', '.join(present)}):\n  " + "\n  ".join(missing)
    )


# --- (a) import direction -------------------------------------------------------------------


def _is_forbidden(package: str, module: str) -> bool:
    banned = FORBIDDEN_IMPORTS[package]
    # Flask extensions (flask_sqlalchemy, flask_login...) are the web framework too.
    return module in banned or ("flask" in banned and module.startswith("flask_"))


@pytest.mark.parametrize("package", PACKAGES)
def test_import_direction(package: str) -> None:
    files = sources(package)
    assert files, f"no Python files under {package}/"
    violations = [
        f"{where(path, node)} imports {module}"
        for path in files
        for node, module in imported_modules(parse(path))
        if _is_forbidden(package, module)
    ]
    assert not violations, (
        f"{package}/ must not import {sorted(FORBIDDEN_IMPORTS[package])}:\n  "
        + "\n  ".join(violations)
    )


def test_import_check_sees_imports_inside_functions() -> None:
    tree = ast.parse("def f():\n    from server.extensions import db\n    import sqlite3.dbapi2\n")
    assert [m for _, m in imported_modules(tree)] == ["server", "sqlite3"]
    assert _is_forbidden("sync", "flask_sqlalchemy")
    assert not _is_forbidden("server", "flask")


# --- (b) every setting is documented --------------------------------------------------------


def setting_names() -> list[str]:
    """Every environment variable the typed settings read."""
    server = [f"LINLI_{f.name}" for f in fields(Settings) if f.name != "extra"]
    kiosk = [f"LINLI_KIOSK_{f.name}" for f in fields(KioskSettings)]
    return server + kiosk


def test_every_setting_is_documented() -> None:
    text = docs_text()
    missing = [name for name in setting_names() if not documented(name, text)]
    assert not missing, _undocumented_report("settings", missing)


def test_every_linli_variable_in_the_code_is_documented() -> None:
    # Variables read directly (not through the settings classes) need documenting too.
    names = set()
    for package in PACKAGES:
        for path in sources(package):
            names.update(re.findall(r"\bLINLI_[A-Z0-9_]*[A-Z0-9]\b", path.read_text("utf-8")))
    # The prefix itself (f"LINLI_KIOSK_{name}") and the settings, checked by the test above.
    names -= {"LINLI_KIOSK", *setting_names()}
    text = docs_text()
    missing = sorted(name for name in names if not documented(name, text))
    assert not missing, _undocumented_report("environment variables", missing)


def test_documented_matches_whole_names_only() -> None:
    text = "Set `LINLI_KIOSK_PORT=8000`, then run\n    linli server run --port 8000\n"
    assert documented("LINLI_KIOSK_PORT", text)
    assert not documented("LINLI_PORT", text)
    assert not documented("LINLI_KIOSK", text)
    assert documented("linli server run", text)
    assert not documented("linli server", "linli server-tools")
    assert not documented("linli sync once", "linli sync\nonce")


# --- (c) and (d) every command is documented and has --help --------------------------------


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group under `linli`, plugins included, as word tuples."""
    found: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...], parent: click.Context | None) -> None:
        found.append(path)
        if isinstance(command, click.Group):
            ctx = click.Context(command, info_name=path[-1], parent=parent)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"{' '.join(path)} lists {name!r} but cannot load it"
                walk(sub, (*path, name), ctx)

    walk(cli, ("linli",), None)
    return found


COMMANDS = command_paths()
LEAVES = [p for p in COMMANDS if p not in {q[:-1] for q in COMMANDS}]


def test_the_command_tree_holds_every_side() -> None:
    groups = {p[1] for p in COMMANDS if len(p) > 1}
    assert {"server", "kiosk", "sync"} <= groups, f"plugin groups loaded: {sorted(groups)}"
    assert ("linli", "server", "kiosk", "enroll") in LEAVES


def test_every_command_is_documented() -> None:
    text = docs_text()
    missing = [" ".join(p) for p in LEAVES if not documented(" ".join(p), text)]
    assert not missing, _undocumented_report("commands", missing)


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path[1:], "--help"], prog_name="linli")
    assert result.exit_code == 0, f"{' '.join(path)} --help: {result.output}{result.exception!r}"
    assert result.output.startswith(f"Usage: {' '.join(path)}")
    command: click.Command = cli
    ctx = click.Context(cli, info_name="linli")
    for name in path[1:]:
        assert isinstance(command, click.Group)
        sub = command.get_command(ctx, name)
        assert sub is not None
        command, ctx = sub, click.Context(sub, info_name=name, parent=ctx)
    assert (command.help or "").strip(), f"{' '.join(path)} has no help text (a docstring)"


# --- (e) SQLAlchemy 2.0 style, migrations only ----------------------------------------------


def _final_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def legacy_database_calls(tree: ast.Module, label: str) -> list[str]:
    """`Model.query` (legacy Query API) and `create_all(` (schema outside migrations)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "query"
            and _final_name(node.value)[:1].isupper()
        ):
            found.append(
                (node.lineno, f"{label}:{node.lineno} uses {_final_name(node.value)}.query")
            )
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "create_all"
        ):
            found.append(
                (node.lineno, f"{label}:{node.lineno} calls create_all(); use a migration")
            )
    return [message for _, message in sorted(found)]


def test_no_legacy_query_api_and_no_create_all_in_server() -> None:
    found = [
        line
        for path in sources("server")
        for line in legacy_database_calls(parse(path), str(path.relative_to(ROOT)))
    ]
    assert not found, "\n".join(found)


def test_legacy_check_finds_what_it_looks_for() -> None:
    code = (
        "HelpRequest.query.all()\n"
        "models.Kiosk.query.get(1)\n"
        "db.create_all()\n"
        "request.query\n"
        "db.session.execute(sa.select(Kiosk))\n"
    )
    assert legacy_database_calls(ast.parse(code), "sample.py") == [
        "sample.py:1 uses HelpRequest.query",
        "sample.py:2 uses Kiosk.query",
        "sample.py:3 calls create_all(); use a migration",
    ]


# --- (f) services flush, never commit -------------------------------------------------------


def service_modules() -> list[Path]:
    """server/**/services.py and modules of any server/**/services/ package."""
    return sorted(
        {*(ROOT / "server").rglob("services.py"), *(ROOT / "server").rglob("services/*.py")}
    )


def commits(tree: ast.Module, label: str) -> list[str]:
    """Every `.commit(` call in a file."""
    return [
        f"{label}:{node.lineno} calls .commit()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "commit"
    ]


def test_services_never_commit() -> None:
    modules = service_modules()
    assert modules, "no server/**/services.py found"
    found = [line for path in modules for line in commits(parse(path), str(path.relative_to(ROOT)))]
    assert not found, "services flush; the request handler commits once:\n" + "\n".join(found)


def test_commit_check_finds_commits() -> None:
    code = "def f():\n    db.session.flush()\n    db.session.commit()\n"
    assert commits(ast.parse(code), "services.py") == ["services.py:3 calls .commit()"]
