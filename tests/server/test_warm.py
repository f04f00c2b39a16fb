"""server/warm.py: a gunicorn worker is readied before its first request."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from server.warm import warm_worker


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """The test process's heap is thawed again afterwards (the rest of the suite collects it)."""
    yield
    gc.unfreeze()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_warming_compiles_every_template_and_freezes_the_heap(app: Flask, unfrozen: None) -> None:
    templates = sorted(p.name for p in Path(app.root_path).rglob("templates/**/*.html"))
    warmed = warm_worker(app)
    assert warmed.templates == len(templates) > 50
    assert warmed.frozen > 10_000
    assert gc.get_freeze_count() >= warmed.frozen - 10  # the frozen stay frozen
    assert warmed.line().startswith(f"worker ready: {warmed.templates} templates compiled, ")
    # Compiled: a second fetch is the cached template, no compile.
    cache_size = len(app.jinja_env.cache or {})
    assert cache_size >= warmed.templates
