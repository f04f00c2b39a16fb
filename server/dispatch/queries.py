"""What the console reads of teams and agencies."""

from __future__ import annotations

import sqlalchemy as sa

from server.auth import access
from server.dispatch.models import Agency, Team
from server.extensions import db


def team_scope(within: frozenset[int] | None = None) -> sa.ColumnElement[bool]:
    """Teams the user may work and book hours under: a team lead only the teams they lead
    (only in the communities `within`, when given)."""
    whole, led_only = access.field_split(within)
    return sa.or_(
        Team.community_id.in_(whole),
        sa.and_(Team.community_id.in_(led_only), Team.lead_user_id == access.user().id),
    )


def agencies_of(community_id: int) -> list[Agency]:
    """The community's agencies, by name."""
    return list(
        db.session.execute(
            sa.select(Agency).where(Agency.community_id == community_id).order_by(Agency.name)
        ).scalars()
    )
