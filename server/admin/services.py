"""Each admin change: the feature's own service (the one the CLI calls), then its audit row.

A community admin changes only their communities (the routes load every record through
`server.auth.access`); what belongs to every community (categories, tokens for all
communities, new communities) is an all-communities admin's.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from server.audit import services as audit
from server.audit.actor import Actor
from server.communities import services as communities
from server.communities.models import Community, Room
from server.dispatch import services as dispatch
from server.dispatch.models import Agency, Team
from server.errors import InvalidInput, NotFound
from server.extensions import db
from server.kiosks import services as kiosks
from server.kiosks.models import Kiosk
from server.requests.models import Category
from server.staffapi import services as tokens
from server.staffapi.models import ApiToken
from server.volunteers import services as volunteers

CLI = Actor("command line")
"""Who acts in `linli server ...` commands (they change through these services too)."""


def _why(actor: Actor) -> str:
    return "admin screens" if actor.user_id is not None else "command line"


DEADLINE_MAX_MINUTES = 60 * 24 * 30


def create_community(actor: Actor, slug: str, name: str, phone: str | None) -> Community:
    """A new community (an all-communities admin's step)."""
    community = communities.create_community(slug, name, phone)
    audit.record(actor, community.id, "create", f"community {slug}", _why(actor))
    return community


def update_settings(actor: Actor, community: Community, given: communities.Settings) -> None:
    """Change a community's name, duty phone, time zone or points rate."""
    changed = communities.update_settings(community, given)
    if changed:
        audit.record(actor, community.id, "change", f"settings: {', '.join(changed)}", _why(actor))


def add_room(actor: Actor, community: Community, building: str, unit: str, number: str) -> Room:
    """Add one room."""
    room = communities.add_room(community, building, unit, number)
    audit.record(actor, community.id, "create", f"room {room.code}", _why(actor))
    return room


def import_rooms(
    actor: Actor, community: Community, rows: list[communities.RoomRow], filename: str
) -> communities.ImportResult:
    """Import the rows of a rooms file checked in its preview."""
    result = communities.import_rooms(community, rows)
    what = f"rooms import {filename}: {result.added} added, {result.present} present"
    audit.record(actor, community.id, "create", what, _why(actor))
    return result


def retire_room(actor: Actor, community: Community, room_id: int) -> Room:
    """Retire a room."""
    room = communities.retire_room(community, room_id)
    audit.record(actor, community.id, "delete", f"room {room.code} retired", _why(actor))
    return room


@dataclass(frozen=True)
class TeamInput:
    """A team as the admin form gives it."""

    name: str
    categories: list[str]
    lead: str | None
    focus: str


def _check_categories(codes: list[str]) -> list[str]:
    known = set(db.session.execute(sa.select(Category.code)).scalars())
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise InvalidInput(_("未知的类别：%(codes)s", codes=", ".join(unknown)), "bad_category")
    return codes


def create_team(actor: Actor, community: Community, given: TeamInput) -> Team:
    """A new team with its scope (categories), lead and focus list."""
    team = dispatch.create_team(community.slug, given.name, _check_categories(given.categories))
    if given.lead:
        dispatch.set_team_lead(team, given.lead)
    if given.focus.strip():
        volunteers.set_focus(team, given.focus)
    audit.record(actor, community.id, "create", f"team {team.name}", _why(actor))
    return team


def update_team(actor: Actor, team: Team, given: TeamInput) -> None:
    """Change a team's name, scope, lead or focus list."""
    dispatch.update_team(team, given.name, _check_categories(given.categories), given.lead)
    volunteers.set_focus(team, given.focus)
    audit.record(actor, team.community_id, "change", f"team {team.name}", _why(actor))


def create_agency(actor: Actor, community: Community, given: dispatch.AgencyInput) -> Agency:
    """A new agency with its contact and escalation webhook."""
    contact = (given.contact_name or "", given.contact_phone or "")
    agency = dispatch.create_agency(
        community.slug,
        given.name,
        given.kind,
        given.endpoint_url,
        contact,
        given.delivery,
        given.reply_days,
    )
    audit.record(actor, community.id, "create", f"agency {agency.name}", _why(actor))
    return agency


def update_agency(actor: Actor, agency: Agency, given: dispatch.AgencyInput) -> None:
    """Change an agency's name, kind, contact or webhook."""
    dispatch.set_agency(agency, given)
    audit.record(actor, agency.community_id, "change", f"agency {agency.name}", _why(actor))


def enrol_kiosk(actor: Actor, community: Community, name: str, hours: int) -> tuple[Kiosk, str]:
    """A one-time enrolment code for a new kiosk, or for re-enrolling one of the community's."""
    kiosk, code = kiosks.new_enrollment_code(community.slug, name, hours)
    audit.record(actor, community.id, "create", f"kiosk {kiosk.name}: enrolment code", _why(actor))
    return kiosk, code


def rename_kiosk(actor: Actor, kiosk: Kiosk, name: str) -> None:
    """Rename a kiosk."""
    old = kiosk.name
    kiosks.rename(kiosk, name)
    audit.record(
        actor, kiosk.community_id, "change", f"kiosk {old} renamed {kiosk.name}", _why(actor)
    )


def revoke_kiosk(actor: Actor, kiosk: Kiosk) -> None:
    """Revoke a kiosk's token (enrol it again to resume)."""
    kiosks.revoke(kiosk.name)
    audit.record(actor, kiosk.community_id, "delete", f"kiosk {kiosk.name} revoked", _why(actor))


def _all_communities() -> list[int]:
    return list(db.session.execute(sa.select(Community.id)).scalars())


def set_deadline(actor: Actor, code: str, minutes: int | None) -> Category:
    """Set a category's deadline (minutes to a helper on site; None: none), for every
    community (categories are shared)."""
    category = db.session.execute(
        sa.select(Category).where(Category.code == code)
    ).scalar_one_or_none()
    if category is None:
        raise NotFound(_("没有这个类别"), "unknown_category")
    if minutes is not None and not 1 <= minutes <= DEADLINE_MAX_MINUTES:
        raise InvalidInput(
            _("时限须在1到%(most)s分钟之间", most=DEADLINE_MAX_MINUTES), "bad_deadline"
        )
    category.deadline_minutes = minutes
    db.session.flush()
    what = f"category {code}: deadline {minutes if minutes is not None else '-'} min"
    for community_id in _all_communities():
        audit.record(actor, community_id, "change", what, _why(actor))
    return category


def create_token(actor: Actor, name: str, slugs: list[str]) -> tuple[ApiToken, str]:
    """A new API token for these communities (none: all); the secret is returned once."""
    token, secret = tokens.create_api_token(name, slugs)
    ids = [c.id for c in token.communities] or _all_communities()
    for community_id in ids:
        audit.record(actor, community_id, "create", f"API token {token.name}", _why(actor))
    return token, secret


def revoke_token(actor: Actor, token: ApiToken) -> None:
    """Revoke an API token."""
    tokens.revoke_api_token(token.name)
    ids = [c.id for c in token.communities] or _all_communities()
    for community_id in ids:
        audit.record(actor, community_id, "delete", f"API token {token.name} revoked", _why(actor))
