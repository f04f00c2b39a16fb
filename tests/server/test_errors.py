"""The one error path: a page with the site's layout to browsers, the JSON shape to programs."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from tests.server.conftest import World, login

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON = {"Accept": "application/json"}


def _is_page(answer: object, status: int) -> str:
    """The body of an HTML error page with the console's layout, checked."""
    assert answer.status_code == status, answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert answer.mimetype == "text/html"  # type: ignore[attr-defined]
    body: str = answer.get_data(as_text=True)  # type: ignore[attr-defined]
    assert '<header class="top">' in body
    assert 'href="/static/console.css' in body
    assert f"<h1>{status} · " in body
    assert 'role="alert"' in body
    return body


def _is_json(answer: object, status: int, code: str) -> dict[str, object]:
    assert answer.status_code == status  # type: ignore[attr-defined]
    assert answer.mimetype == "application/json"  # type: ignore[attr-defined]
    body: dict[str, object] = answer.get_json()  # type: ignore[attr-defined]
    assert body["error"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def test_a_browser_gets_a_page_for_a_missing_console_page(
    client: FlaskClient, world: World
) -> None:
    body = _is_page(client.get("/console/nope", headers=BROWSER), 404)
    assert "找不到此页" in body
    login(client, "social_worker_lanqiao")
    body = _is_page(client.get("/volunteers/999999", headers=BROWSER), 404)
    assert ">队列<" in body, "the signed-in user's navigation is on the page"
    _is_page(client.get("/console/requests/999999", headers=BROWSER), 404)


def test_a_browser_gets_pages_for_forbidden_and_bad_requests(
    client: FlaskClient, world: World
) -> None:
    login(client, "team_lead_lanqiao")
    body = _is_page(client.get("/console/queue", headers=BROWSER), 403)
    assert "无权访问" in body
    rid = world.requests["lanqiao"]
    # No CSRF token: refused before the view runs.
    _is_page(client.post(f"/console/jobs/{rid}/accept", headers=BROWSER), 400)


def test_method_not_allowed_is_a_page_with_allow_for_browsers_and_json_for_programs(
    client: FlaskClient, world: World
) -> None:
    page = client.get("/logout", headers=BROWSER)
    _is_page(page, 405)
    assert "POST" in page.headers["Allow"]
    api = client.get("/api/sync/v1/push", headers=BROWSER)
    _is_json(api, 405, "method_not_allowed")
    assert "POST" in api.headers["Allow"]


def test_programs_keep_the_json_shape(client: FlaskClient, world: World) -> None:
    # API paths answer JSON even to a browser.
    _is_json(client.get("/api/v1/nope", headers=BROWSER), 404, "not_found")
    _is_json(client.get("/api/sync/v1/nope", headers=BROWSER), 404, "not_found")
    _is_json(client.get("/api/v1/requests", headers=BROWSER), 401, "unauthorized")
    _is_json(client.post("/healthz", headers=BROWSER), 405, "method_not_allowed")
    # Elsewhere a client with no preference for HTML gets JSON too.
    _is_json(client.get("/console/nope"), 404, "not_found")
    _is_json(client.get("/console/nope", headers={"Accept": "*/*"}), 404, "not_found")
    _is_json(client.get("/console/nope", headers=JSON), 404, "not_found")
    login(client, "team_lead_lanqiao")
    _is_json(client.get("/console/queue", headers=JSON), 403, "role_forbidden")


def _failing_route(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """A console page that writes a community and then fails with a secret in its message."""
    from server.auth import access
    from server.communities.services import create_community
    from server.extensions import db

    def explode() -> str:
        create_community("halfdone", "半途社区")
        db.session.flush()
        raise RuntimeError("SECRET-13800000001 in a stack frame")

    app.add_url_rule("/console/explode", "explode", explode)
    monkeypatch.setitem(access.POLICY, "explode", access.PUBLIC)


@pytest.mark.parametrize("headers", [BROWSER, JSON], ids=["browser", "program"])
def test_a_failure_rolls_back_logs_and_never_shows_the_traceback(
    app: Flask,
    client: FlaskClient,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    headers: dict[str, str],
) -> None:
    from server.communities.models import Community
    from server.extensions import db

    _failing_route(app, monkeypatch)
    with caplog.at_level(logging.ERROR, logger="server.errors"):
        answer = client.get("/console/explode", headers=headers)
    body = answer.get_data(as_text=True)
    if headers is BROWSER:
        assert "服务器出错" in _is_page(answer, 500)
    else:
        _is_json(answer, 500, "internal_error")
    assert "SECRET" not in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body
    logged = [r for r in caplog.records if r.name == "server.errors"]
    assert logged, "the failure is logged"
    assert logged[0].exc_info is not None
    assert "/console/explode" in logged[0].getMessage()
    with app.app_context():
        half = sa.select(Community).where(Community.slug == "halfdone")
        assert db.session.execute(half).first() is None, "the failed request's work is gone"
