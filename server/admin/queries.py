"""What the admin screens list: only records of the communities the caller administers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext

from server.auth.models import Membership, User
from server.communities.models import Community, Room, RoomRetirement
from server.dispatch.models import Agency, Team
from server.errors import NotFound
from server.extensions import db
from server.kiosks.models import Kiosk
from server.requests.models import Category
from server.staffapi.models import ApiToken
from server.staffapi.models import api_token_community as link
from server.volunteers.models import TeamFocus


def communities(ids: frozenset[int]) -> list[Community]:
    """These communities, by name."""
    return list(
        db.session.execute(
            sa.select(Community).where(Community.id.in_(ids)).order_by(Community.name)
        ).scalars()
    )


def community(ids: frozenset[int], community_id: int) -> Community:
    """One of these communities, or `NotFound`."""
    found = db.session.get(Community, community_id)
    if found is None or found.id not in ids:
        raise NotFound(gettext("没有这条记录"))
    return found


@dataclass(frozen=True)
class RoomRow:
    """A room and when it was retired (None: in use)."""

    code: str
    id: int
    retired_at: datetime | None


def rooms(community_id: int) -> list[RoomRow]:
    """A community's rooms, retired ones last, by code."""
    rows = db.session.execute(
        sa.select(Room.code, Room.id, RoomRetirement.retired_at)
        .outerjoin(RoomRetirement, RoomRetirement.room_id == Room.id)
        .where(Room.community_id == community_id)
        .order_by(RoomRetirement.retired_at.is_not(None), Room.code)
    ).all()
    return [RoomRow(code, room_id, retired) for code, room_id, retired in rows]


def categories(active_only: bool = False) -> list[Category]:
    """The categories in their kiosk order."""
    query = sa.select(Category).order_by(Category.sort_order, Category.code)
    if active_only:
        query = query.where(Category.is_active.is_(True))
    return list(db.session.execute(query).scalars())


@dataclass(frozen=True)
class TeamRow:
    """A team with its lead's user name and focus list."""

    team: Team
    lead: str | None
    focus: list[str]


def teams(community_id: int) -> list[TeamRow]:
    """A community's teams by name."""
    rows = db.session.execute(
        sa.select(Team, User.username, TeamFocus.items)
        .outerjoin(User, User.id == Team.lead_user_id)
        .outerjoin(TeamFocus, TeamFocus.team_id == Team.id)
        .where(Team.community_id == community_id)
        .order_by(Team.name)
    ).all()
    return [TeamRow(team, lead, list(focus or [])) for team, lead, focus in rows]


def team(community_id: int, team_id: int) -> Team:
    """A team of the community, or `NotFound`."""
    found = db.session.get(Team, team_id)
    if found is None or found.community_id != community_id:
        raise NotFound(gettext("没有这条记录"))
    return found


def team_leads(community_id: int) -> list[str]:
    """User names of the community's team leads (who may lead a team)."""
    return list(
        db.session.execute(
            sa.select(User.username)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.community_id == community_id, Membership.role == "team_lead")
            .order_by(User.username)
        ).scalars()
    )


def agencies(community_id: int) -> list[Agency]:
    """A community's agencies by name."""
    return list(
        db.session.execute(
            sa.select(Agency).where(Agency.community_id == community_id).order_by(Agency.name)
        ).scalars()
    )


def agency(community_id: int, agency_id: int) -> Agency:
    """An agency of the community, or `NotFound`."""
    found = db.session.get(Agency, agency_id)
    if found is None or found.community_id != community_id:
        raise NotFound(gettext("没有这条记录"))
    return found


def kiosk(community_id: int, kiosk_id: int) -> Kiosk:
    """A kiosk of the community, or `NotFound`."""
    found = db.session.get(Kiosk, kiosk_id)
    if found is None or found.community_id != community_id:
        raise NotFound(gettext("没有这条记录"))
    return found


def _token_ids(admin_of: frozenset[int], everywhere: bool) -> sa.Select[tuple[int]]:
    """Ids of the tokens the caller manages: all for an all-communities admin, else those
    limited to communities they all administer."""
    if everywhere:
        return sa.select(ApiToken.id)
    outside = sa.select(link.c.token_id).where(link.c.community_id.not_in(admin_of))
    return sa.select(link.c.token_id).where(link.c.token_id.not_in(outside))


def tokens(admin_of: frozenset[int], everywhere: bool) -> list[ApiToken]:
    """The API tokens the caller manages, by name (never their secrets)."""
    return list(
        db.session.execute(
            sa.select(ApiToken)
            .where(ApiToken.id.in_(_token_ids(admin_of, everywhere)))
            .order_by(ApiToken.name)
        ).scalars()
    )


def token(admin_of: frozenset[int], everywhere: bool, token_id: int) -> ApiToken:
    """One token the caller manages, or `NotFound`."""
    found = db.session.execute(
        sa.select(ApiToken).where(
            ApiToken.id == token_id, ApiToken.id.in_(_token_ids(admin_of, everywhere))
        )
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(gettext("没有这条记录"))
    return found
