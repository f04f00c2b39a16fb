"""JSON Schema of every sync wire message, written to docs/schemas/ and checked for staleness.

Run `python -m sync.schema docs/schemas` to (re)write the files, or
`python -m sync.schema --check docs/schemas` to exit 1 when any is missing or out of date.
The schemas are pydantic's validation schemas: what a reader of each message accepts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sync.messages import (
    CancelRequestOp,
    CategoryChange,
    CheckinOp,
    CommunityChange,
    CreateRequestOp,
    EnrollRequest,
    EnrollResponse,
    ErrorBody,
    HealthAck,
    HealthReport,
    OpResult,
    PullResponse,
    PushRequest,
    PushResponse,
    ReconcileRequest,
    ReconcileResponse,
    RequestChange,
    RoomChange,
    UnknownOp,
)

MESSAGES: tuple[type[BaseModel], ...] = (
    PushRequest,
    PushResponse,
    PullResponse,
    CategoryChange,
    RoomChange,
    CommunityChange,
    RequestChange,
    OpResult,
    EnrollRequest,
    EnrollResponse,
    ReconcileRequest,
    ReconcileResponse,
    ErrorBody,
    CreateRequestOp,
    CancelRequestOp,
    CheckinOp,
    UnknownOp,
    HealthReport,
    HealthAck,
)
"""Every message that crosses the wire on its own or as a documented part of another."""


def schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every wire message, by message name."""
    return {model.__name__: model.model_json_schema() for model in MESSAGES}


def render(schema: dict[str, Any]) -> str:
    """A schema as the file text: sorted keys, indent 2, trailing newline (stable diffs)."""
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """File name (`<Name>.json`) to the text it should hold."""
    return {f"{name}.json": render(schema) for name, schema in schemas().items()}


def write(directory: Path) -> list[Path]:
    """Write every schema file into `directory` (created if needed); return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in expected_files().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def problems(directory: Path) -> list[str]:
    """One line per schema file in `directory` that is missing or differs from the messages."""
    found = []
    for name, text in expected_files().items():
        path = directory / name
        if not path.is_file():
            found.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"{path}: stale (the message changed since it was generated)")
    return found


def main(argv: list[str] | None = None) -> int:
    """Command line: write the schema files, or with --check report missing and stale ones."""
    parser = argparse.ArgumentParser(
        prog="python -m sync.schema", description="JSON Schema files of the sync wire messages."
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any file is stale"
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="e.g. docs/schemas")
    args = parser.parse_args(argv)
    directory: Path = args.directory
    if args.check:
        found = problems(directory)
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print(f"regenerate with: python -m sync.schema {directory}", file=sys.stderr)
            return 1
        return 0
    for path in write(directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
