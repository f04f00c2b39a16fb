"""No redirect taken from input leaves the site: the kiosk's language and speaker switches and
the console's sign-in `next`, each checked against targets a browser would read as another site.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from kiosk.app import create_kiosk_app
from kiosk.store import Store
from kiosk.voice import Voice
from sync.redirects import local_path
from tests.ui.kiosk_data import seed_store

NASTY = [
    "/\t/example.com",
    "/%09/example.com",
    "/%0a/example.com",
    "/%0d%0a/example.com",
    "/\n/example.com",
    "/\r/example.com",
    "/ /example.com",
    "/%20/example.com",
    "/\\example.com",
    "/%5cexample.com",
    "/%5Cexample.com",
    "\\\\example.com",
    "//example.com",
    "///example.com",
    "/%2f/example.com",
    "/%2F%2Fexample.com",
    "%2F%2Fexample.com",
    "/%252f%252fexample.com",
    "/%25252f%25252fexample.com",
    "/%2525252f%2525252fexample.com",
    "https://example.com",
    "http:/example.com",
    "javascript:alert(1)",
    "example.com",
    "/\x00/example.com",
    "/\x7f/example.com",
    "/\u3000/example.com",
    "/\u200b/example.com",
    "/" + "a" * 3000,
    "",
]
"""Targets that leave the site once a browser has dropped tabs or read backslashes as slashes."""

GOOD = ["/", "/who?category=plumbing&building=3", "/mine/3-2-301?done=cancelled", "/console"]
"""Local paths that are followed as given."""


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[FlaskClient]:
    """A seeded kiosk app's test client."""
    store: Store = seed_store(tmp_path / "kiosk.sqlite3")
    try:
        app = create_kiosk_app(store, voice=Voice(tmp_path / "v", espeak="/nonexistent"))
        yield app.test_client()
    finally:
        store.close()


@pytest.mark.parametrize("target", NASTY)
def test_the_pure_helper_refuses_every_nasty_target(target: str) -> None:
    assert local_path(target) is None


@pytest.mark.parametrize("target", GOOD)
def test_the_pure_helper_keeps_local_paths(target: str) -> None:
    assert local_path(target) == target


@pytest.mark.parametrize("switch", ["/lang/en", "/lang/zh", "/speaker"])
def test_kiosk_switches_never_leave_the_kiosk(kiosk: FlaskClient, switch: str) -> None:
    for target in NASTY:
        answer = kiosk.get(f"{switch}?next={quote(target, safe='')}")
        assert answer.status_code == 303, target
        assert answer.headers["Location"] == "/", repr(target)
    for target in GOOD[:3]:
        answer = kiosk.get(f"{switch}?next={quote(target, safe='')}")
        assert answer.headers["Location"] == target


def test_the_reported_kiosk_redirect_stays_home(kiosk: FlaskClient) -> None:
    """The finding as reported: `/lang/en?next=/%09/example.com` went to example.com."""
    answer = kiosk.get("/lang/en?next=/%09/example.com")
    assert answer.headers["Location"] == "/"


def test_console_sign_in_next_never_leaves_the_site(app: Flask) -> None:
    from server.auth.routes import _safe_next

    for target in NASTY:
        with app.test_request_context(f"/login?next={quote(target, safe='')}"):
            assert _safe_next(target) == "/console/", repr(target)
    for target in GOOD:
        with app.test_request_context("/login"):
            assert _safe_next(target) == target
