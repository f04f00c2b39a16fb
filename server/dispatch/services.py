"""Teams, agencies, and delivering escalations to agencies (tracked, retried, flagged)."""

from __future__ import annotations

from datetime import timedelta

import requests
import sqlalchemy as sa
from flask import current_app

from server.audit.actor import SYSTEM, Actor
from server.communities.services import community_by_slug
from server.dispatch.models import AGENCY_KINDS, Agency, Escalation, Team
from server.errors import Conflict, InvalidInput
from server.extensions import db
from server.requests.models import HelpRequest, RequestEvent
from server.timeutil import utcnow


def create_team(community_slug: str, name: str, category_codes: list[str]) -> Team:
    """A team of a community taking the given categories."""
    community = community_by_slug(community_slug)
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("a team name has 1 to 100 characters", "bad_name")
    exists = sa.select(Team.id).where(Team.community_id == community.id, Team.name == name)
    if db.session.execute(exists).first():
        raise Conflict(f"team {name!r} exists already", "team_exists")
    team = Team(community_id=community.id, name=name, category_codes=category_codes)
    db.session.add(team)
    db.session.flush()
    return team


def create_agency(community_slug: str, name: str, kind: str, endpoint_url: str) -> Agency:
    """An outside agency of a community, reached by POSTing JSON to `endpoint_url`."""
    community = community_by_slug(community_slug)
    if kind not in AGENCY_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(AGENCY_KINDS)}", "bad_kind")
    if not endpoint_url.startswith(("http://", "https://")):
        raise InvalidInput("the endpoint must be an http(s) URL", "bad_url")
    agency = Agency(
        community_id=community.id, name=name.strip(), kind=kind, endpoint_url=endpoint_url
    )
    db.session.add(agency)
    db.session.flush()
    return agency


def new_escalation(req: HelpRequest, agency: Agency, note: str | None) -> Escalation:
    """The hand-off record; its payload carries no name or phone number."""
    escalation = Escalation(
        request_id=req.id,
        agency_id=agency.id,
        agency=agency,
        delivery_status="pending",
        attempts=0,
        payload={
            "ticket": req.ticket,
            "category": req.category.code,
            "address_id": req.room.code,
            "description": req.details,
            "note": note,
            "received_at": req.received_at.isoformat(),
        },
    )
    db.session.add(escalation)
    db.session.flush()
    escalation.payload = {
        **escalation.payload,
        "idempotency_key": f"linli-escalation-{escalation.id}",
    }
    return escalation


def deliver(escalation: Escalation, actor: Actor) -> None:
    """Try to deliver now; on failure schedule a retry, or flag it once attempts are used up."""
    config = current_app.config
    escalation.attempts += 1
    try:
        answer = requests.post(
            escalation.agency.endpoint_url,
            json=escalation.payload,
            timeout=config["LINLI_ESCALATION_TIMEOUT"],
        )
        error = None if answer.status_code < 300 else f"HTTP {answer.status_code}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    now = utcnow()
    if error is None:
        escalation.delivery_status = "delivered"
        escalation.delivered_at = now
        escalation.next_attempt_at = None
        escalation.last_error = None
        note = f"delivered to {escalation.agency.name}"
    elif escalation.attempts >= config["LINLI_ESCALATION_MAX_ATTEMPTS"]:
        escalation.delivery_status = "failed"
        escalation.next_attempt_at = None
        escalation.last_error = error
        note = f"delivery to {escalation.agency.name} FAILED after {escalation.attempts} attempts"
    else:
        escalation.delivery_status = "pending"
        escalation.last_error = error
        wait = config["LINLI_ESCALATION_RETRY_MINUTES"] * 2 ** (escalation.attempts - 1)
        escalation.next_attempt_at = now + timedelta(minutes=wait)
        note = f"delivery attempt {escalation.attempts} to {escalation.agency.name} failed"
    db.session.add(
        RequestEvent(
            request_id=escalation.request_id,
            at=now,
            actor=actor.label,
            note=note + (f" ({error})" if error else ""),
            kind="delivery",
        )
    )
    db.session.flush()


def retry(escalation: Escalation, actor: Actor) -> None:
    """Staff try a failed or pending delivery again now."""
    if escalation.delivery_status == "delivered":
        raise Conflict("this escalation was delivered already", "delivered")
    escalation.attempts = min(
        escalation.attempts, current_app.config["LINLI_ESCALATION_MAX_ATTEMPTS"] - 1
    )
    deliver(escalation, actor)


def deliver_due(actor: Actor = SYSTEM) -> int:
    """Retry every pending delivery whose time has come (run by the nightly/periodic job)."""
    due = db.session.execute(
        sa.select(Escalation).where(
            Escalation.delivery_status == "pending",
            sa.or_(Escalation.next_attempt_at.is_(None), Escalation.next_attempt_at <= utcnow()),
        )
    ).scalars()
    count = 0
    for escalation in due:
        deliver(escalation, actor)
        count += 1
    return count


def set_team_lead(team: Team, username: str) -> None:
    """Make a user (a team lead of the team's community) the team's lead."""
    from server.auth.models import User

    user = db.session.execute(sa.select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or user.roles().get(team.community_id) != "team_lead":
        raise InvalidInput(f"no team lead {username!r} in the team's community", "bad_lead")
    team.lead_user_id = user.id
    db.session.flush()
