"""A console action that fails re-shows the request page with the phone and the room's
profiles: that view is audited even though the failed action is rolled back."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from tests.server.conftest import World, login, post


def _views(app: Flask, request_id: int) -> list[tuple[str, str, int | None]]:
    from server.audit.models import AuditEntry
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.action, AuditEntry.what, AuditEntry.resident_id)
            .where(AuditEntry.request_id == request_id)
            .order_by(AuditEntry.id)
        ).all()
        return [(a, w, r) for a, w, r in rows]


def _status(app: Flask, request_id: int) -> str:
    from server.extensions import db
    from server.requests.models import HelpRequest

    with app.app_context():
        return db.session.get_one(HelpRequest, request_id).status


def test_a_refused_action_still_audits_the_page_it_shows_again(app: Flask, world: World) -> None:
    rid = world.requests["lanqiao"]
    client = app.test_client()
    login(client, "social_worker_lanqiao")
    assert _views(app, rid) == []

    # "accept" is not allowed on a received request: a domain error, rolled back.
    answer = post(client, f"/console/requests/{rid}/accept", {})
    assert answer.status_code == 409
    html = answer.get_data(as_text=True)
    assert "13800000001" in html, "the page shows the phone"
    assert "RESIDENT-LANQIAO" in html, "and the room's profiles"
    assert _status(app, rid) == "received", "the failed action changed nothing"
    assert _views(app, rid) == [("view", f"request #{rid}: phone and room's profiles", None)]


def test_a_refused_action_keeps_no_audit_row_of_what_it_did_not_do(
    app: Flask, world: World
) -> None:
    from server.audit.models import AuditEntry
    from server.extensions import db

    rid = world.requests["lanqiao"]
    client = app.test_client()
    login(client, "social_worker_lanqiao")
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count(AuditEntry.id)))
    # Linking a resident of another community fails after the form is valid.
    answer = post(
        client, f"/console/requests/{rid}/link", {"resident": str(world.residents["feicui"])}
    )
    assert answer.status_code == 400
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEntry.action).where(AuditEntry.id > (before or 0))
        ).scalars()
        assert list(rows) == ["view"], "only the page shown again, no 'link' row"
