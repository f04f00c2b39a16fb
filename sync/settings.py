"""Typed settings from prefixed environment variables, shared by the server and the kiosk."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, fields
from typing import Any


def read_prefixed(
    cls: type,
    prefix: str,
    environ: Mapping[str, str] | None = None,
    skip: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Values of the dataclass `cls`'s fields found as `<prefix><NAME>`, converted to each
    field's default type (int, float or str); a bad number names the variable at fault."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in skip or f.default is MISSING:
            continue
        name = f"{prefix}{f.name}"
        raw = env.get(name)
        if raw is None:
            continue
        kind = type(f.default)
        if kind in (int, float):
            try:
                values[f.name] = kind(raw)
            except ValueError as exc:
                what = "a whole number" if kind is int else "a number"
                raise ValueError(f"{name} must be {what}, not {raw!r}") from exc
        else:
            values[f.name] = raw
    return values
