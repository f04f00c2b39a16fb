"""The request lifecycle service: legal paths, illegal transitions, priority, deadlines,
cancellations, duplicates, escalation delivery, and what the kiosk learns."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from server.requests import services as lc
from tests.server.conftest import World, make_request

ME = lc.Actor("tester")


@pytest.fixture
def ctx(app: Flask, world: World) -> Iterator[World]:
    """An app context; the session is rolled back at the end."""
    from server.extensions import db

    with app.app_context():
        yield world
        db.session.rollback()


def _req(rid: int):
    from server.extensions import db
    from server.requests.models import HelpRequest

    return db.session.get_one(HelpRequest, rid)


def _cat(code: str):
    from server.extensions import db
    from server.requests.models import Category

    return db.session.execute(sa.select(Category).where(Category.code == code)).scalar_one()


def _team(world: World, slug: str = "lanqiao"):
    from server.dispatch.models import Team
    from server.extensions import db

    return db.session.get_one(Team, world.teams[slug])


def _events(rid: int) -> list[tuple[str | None, str | None, str]]:
    return [(e.from_status, e.to_status, e.kind) for e in lc.timeline(_req(rid))]


def test_full_loop_records_every_step_and_tells_the_kiosk(ctx: World) -> None:
    from server.extensions import db
    from server.synclog.models import Change

    with db.session.no_autoflush:
        pass
    from server.kiosks.models import Kiosk

    kiosk = Kiosk(community_id=ctx.community["lanqiao"], name="hall", ticket_prefix="A")
    db.session.add(kiosk)
    db.session.flush()
    rid = make_request(ctx.community["lanqiao"], "3-2-302", phone=None, kiosk_id=kiosk.id)
    req = _req(rid)
    lc.triage(req, ME, _cat("electrical"), "normal", "light is dead")
    assert req.status == "triaged"
    lc.dispatch(req, ME, _team(ctx), "张师傅", None)
    assert req.status == "dispatched"
    assert req.public_note == f"已派单 — {_team(ctx).name} 张师傅"
    lc.accept(req, ME)
    lc.arrive(req, ME)
    assert req.arrived_at is not None
    lc.complete(req, ME, "replaced the bulb", 1.5)
    lc.follow_up(req, ME, "fixed", 5, "happy")
    lc.close(req, ME, None)
    assert req.status == "closed_fixed"
    transitions = [(f, t) for f, t, kind in _events(rid) if kind == "status"]
    assert transitions == [
        (None, "received"),
        ("received", "triaged"),
        ("triaged", "dispatched"),
        ("dispatched", "accepted"),
        ("accepted", "on_site"),
        ("on_site", "completed"),
        ("completed", "followed_up"),
        ("followed_up", "closed_fixed"),
    ]
    change = db.session.execute(
        sa.select(Change).where(Change.entity == "request", Change.key == str(req.client_id))
    ).scalar_one()
    assert change.data["status"] == "closed_fixed"
    # Every kiosk of the community hears of it (issue 13), not only the one that made it.
    assert (change.community_id, change.kiosk_id) == (ctx.community["lanqiao"], None)


def test_not_fixed_closes_as_not_fixed(ctx: World) -> None:
    req = _req(ctx.requests["lanqiao"])
    lc.triage(req, ME, _cat("plumbing"), "normal", None)
    lc.dispatch(req, ME, _team(ctx), None, None)
    lc.accept(req, ME)
    lc.arrive(req, ME)
    lc.complete(req, ME, "tried", 1)
    lc.follow_up(req, ME, "partly", 3, None)
    lc.close(req, ME, None)
    assert req.status == "closed_not_fixed"


@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("dispatch", lambda r, w: lc.dispatch(r, ME, _team(w), None, None)),
        ("accept", lambda r, w: lc.accept(r, ME)),
        ("arrive", lambda r, w: lc.arrive(r, ME)),
        ("complete", lambda r, w: lc.complete(r, ME, "x", 1)),
        ("follow_up", lambda r, w: lc.follow_up(r, ME, "fixed", 5, None)),
        ("close", lambda r, w: lc.close(r, ME, None)),
        ("external_feedback", lambda r, w: lc.record_external_feedback(r, ME, "done")),
        ("reopen", lambda r, w: lc.reopen(r, ME, "again")),
    ],
)
def test_illegal_transitions_raise_409_and_change_nothing(ctx: World, action: str, call) -> None:
    req = _req(ctx.requests["lanqiao"])
    before = _events(req.id)
    with pytest.raises(lc.IllegalTransition) as caught:
        call(req, ctx)
    assert caught.value.status == 409
    assert req.status == "received"
    assert _events(req.id) == before
    assert action not in lc.available_actions(req)


def test_decline_goes_back_to_triaged_without_team(ctx: World) -> None:
    req = _req(ctx.requests["lanqiao"])
    lc.triage(req, ME, _cat("electrical"), "normal", None)
    lc.dispatch(req, ME, _team(ctx), None, None)
    with pytest.raises(lc.InvalidInput):
        lc.decline(req, ME, "  ")
    lc.decline(req, ME, "nobody free")
    assert (req.status, req.team_id) == ("triaged", None)
    assert "dispatch" in lc.available_actions(req)


def test_priority_raised_for_living_alone_and_emergency(ctx: World) -> None:
    from server.extensions import db
    from server.people.models import Resident

    req = _req(ctx.requests["lanqiao"])
    lc.triage(req, ME, _cat("electrical"), "normal", None)
    assert req.resident_id == ctx.residents["lanqiao"]  # room and phone matched exactly one
    assert req.priority == "high"

    resident = db.session.get_one(Resident, ctx.residents["lanqiao"])
    resident.is_living_alone = False
    resident.birth_year = lc.utcnow().year - 60
    assert lc.effective_priority(_cat("electrical"), resident, "normal") == "normal"
    resident.birth_year = lc.utcnow().year - 85
    assert lc.effective_priority(_cat("electrical"), resident, "normal") == "high"
    assert lc.effective_priority(_cat("emergency"), None, "normal") == "emergency"


def test_uncertain_match_is_left_for_a_social_worker(ctx: World) -> None:
    rid = make_request(ctx.community["lanqiao"], "3-2-301", phone="13999999999")
    req = _req(rid)
    lc.triage(req, ME, _cat("electrical"), "normal", None)
    assert req.resident_id is None
    assert req.priority == "normal"


def test_overdue_after_category_deadline(ctx: World) -> None:
    from server.extensions import db
    from server.requests.models import Category, HelpRequest

    req = _req(ctx.requests["lanqiao"])
    assert not lc.is_overdue(req)
    req.received_at = lc.utcnow() - timedelta(minutes=121)
    db.session.flush()
    assert lc.is_overdue(req)
    categories = list(db.session.execute(sa.select(Category)).scalars())
    overdue_ids = db.session.execute(
        sa.select(HelpRequest.id).where(lc.overdue_clause(categories, lc.utcnow()))
    ).scalars()
    assert list(overdue_ids) == [req.id]
    lc.triage(req, ME, _cat("electrical"), "normal", None)
    lc.dispatch(req, ME, _team(ctx), None, None)
    lc.accept(req, ME)
    lc.arrive(req, ME)
    assert not lc.is_overdue(req)


def test_kiosk_cancellation_request_refused_then_accepted(ctx: World) -> None:
    req = _req(ctx.requests["lanqiao"])
    lc.triage(req, ME, _cat("electrical"), "normal", None)
    lc.dispatch(req, ME, _team(ctx), None, None)
    with pytest.raises(lc.Conflict):
        lc.answer_cancel_request(req, ME, True, "no request")
    req.is_cancel_requested = True
    lc.answer_cancel_request(req, ME, False, "the electrician is already on the way")
    assert req.status == "dispatched"
    assert not req.is_cancel_requested
    assert req.public_note == "未取消 — the electrician is already on the way"
    req.is_cancel_requested = True
    lc.answer_cancel_request(req, ME, True, "fixed by a neighbour")
    assert req.status == "cancelled"
    assert not req.is_cancel_requested


def test_merge_duplicate_keeps_both_and_their_residents(ctx: World) -> None:
    first = _req(ctx.requests["lanqiao"])
    first.resident_id = ctx.residents["lanqiao"]
    second = _req(make_request(ctx.community["lanqiao"], "3-2-302", phone=None))
    with pytest.raises(lc.InvalidInput):
        lc.merge_duplicate(second, second, ME, None)
    with pytest.raises(lc.InvalidInput):
        lc.merge_duplicate(second, _req(ctx.requests["feicui"]), ME, None)
    lc.merge_duplicate(second, first, ME, "same light")
    assert (second.status, second.duplicate_of_id) == ("duplicate", first.id)
    assert first.status == "received"
    assert first.resident_id == ctx.residents["lanqiao"]
    assert any(kind == "merge" for _, _, kind in _events(first.id))
    with pytest.raises(lc.IllegalTransition):
        lc.merge_duplicate(second, first, ME, None)


def test_reopen_goes_back_through_triage(ctx: World) -> None:
    req = _req(ctx.requests["lanqiao"])
    lc.cancel(req, ME, "not needed")
    lc.reopen(req, ME, "needed after all")
    assert req.status == "reopened"
    lc.triage(req, ME, _cat("electrical"), "normal", None)
    assert req.status == "triaged"


class _Agency(http.server.BaseHTTPRequestHandler):
    received: list[bytes] = []  # noqa: RUF012  (shared with the test on purpose)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Agency.received.append(body)
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_escalation_delivery_failure_is_retried_then_flagged(ctx: World, app: Flask) -> None:
    from server.dispatch import services as ds
    from server.dispatch.models import Agency
    from server.outbox import delivery
    from server.outbox import services as outbox

    app.config["LINLI_ESCALATION_MAX_ATTEMPTS"] = 2
    req = _req(ctx.requests["lanqiao"])
    agency = lc.db.session.get_one(Agency, ctx.agencies["lanqiao"])
    escalation = lc.escalate(req, ME, agency, "needs the power company")
    assert req.status == "escalated"
    assert (escalation.delivery_status, escalation.attempts) == ("pending", 0), "not sent yet"
    lc.db.session.commit()
    assert delivery.send_committed() == 1  # sent after the commit: the agency is down
    assert (escalation.delivery_status, escalation.attempts) == ("pending", 1)
    assert escalation.next_attempt_at is not None
    assert delivery.deliver_due() == 0  # the retry is not due yet
    message = outbox.message_for(ds.ESCALATION_KIND, escalation.id)
    assert message is not None
    message.next_attempt_at = lc.utcnow() - timedelta(seconds=1)
    lc.db.session.commit()
    assert delivery.deliver_due() == 1
    assert (escalation.delivery_status, escalation.attempts) == ("failed", 2)
    assert "13800000001" not in str(escalation.payload)
    notes = [e.note or "" for e in lc.timeline(req) if e.kind == "delivery"]
    assert "失败：已尝试 2 次" in notes[-1]

    server = http.server.HTTPServer(("127.0.0.1", 0), _Agency)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        agency.endpoint_url = f"http://127.0.0.1:{server.server_port}/in"
        ds.retry(escalation, ME)
        lc.db.session.commit()
        assert delivery.send_committed() == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert escalation.delivery_status == "delivered"
    assert b"idempotency_key" in _Agency.received[-1]
    lc.record_external_feedback(req, ME, "power restored")
    lc.follow_up(req, ME, "fixed", 4, None)
    assert req.status == "followed_up"


def test_emergency_priority_has_a_twenty_minute_deadline(ctx: World) -> None:
    req = _req(ctx.requests["lanqiao"])
    lc.triage(req, ME, _cat("electrical"), "emergency", None)
    assert lc.deadline_minutes(req) == 20
    req.received_at = lc.utcnow() - timedelta(minutes=21)
    assert lc.is_overdue(req)


def test_team_suggestions_rank_scope_then_skills_then_load(ctx: World) -> None:
    from server.dispatch.services import create_team
    from server.extensions import db
    from server.volunteers.models import TeamMember, Volunteer

    skilled = create_team("lanqiao", "电工组", ["electrical"])
    outside = create_team("lanqiao", "助餐队", ["meals"])
    volunteer = Volunteer(
        community_id=ctx.community["lanqiao"], name="张师傅", phone="13700000000",
        skills=["electrical"],
    )  # fmt: skip
    db.session.add(volunteer)
    db.session.flush()
    db.session.add(TeamMember(team_id=skilled.id, volunteer_id=volunteer.id))
    db.session.flush()
    req = _req(ctx.requests["lanqiao"])
    names = [s.team.name for s in lc.suggest_teams(req)]
    assert names == ["电工组", _team(ctx).name, "助餐队"]
    assert outside.id not in [s.team.id for s in lc.suggest_teams(req) if s.takes_category]

    # Load breaks ties between equally skilled teams that take the category.
    volunteer.is_active = False
    other = _req(make_request(ctx.community["lanqiao"], "3-1-101", phone=None))
    lc.triage(other, ME, _cat("electrical"), "normal", None)
    lc.dispatch(other, ME, skilled, None, None)
    ranked = lc.suggest_teams(req)
    assert [s.team.name for s in ranked][:2] == [_team(ctx).name, "电工组"]
    assert ranked[1].load == 1
