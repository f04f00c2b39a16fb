"""What the console shows of notifications: a request's, the channels, the failed ones."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask_babel import gettext

from server.dispatch.models import Team
from server.errors import NotFound
from server.extensions import db
from server.notify.models import Notification, NotifyChannel


def notifications_of(request_id: int) -> list[Notification]:
    """Every notification told of one request, oldest first (with its channel)."""
    return list(
        db.session.execute(
            sa.select(Notification)
            .where(Notification.request_id == request_id)
            .options(sa.orm.joinedload(Notification.channel))
            .order_by(Notification.id)
        ).scalars()
    )


def channels_of(community_ids: Iterable[int]) -> list[NotifyChannel]:
    """The channels of these communities, by community and name."""
    return list(
        db.session.execute(
            sa.select(NotifyChannel)
            .where(NotifyChannel.community_id.in_(list(community_ids)))
            .order_by(NotifyChannel.community_id, NotifyChannel.name, NotifyChannel.id)
        ).scalars()
    )


def failed_channels(community_ids: Iterable[int]) -> list[NotifyChannel]:
    """Active channels of these communities whose last notification was given up."""
    ids = list(community_ids)
    if not ids:
        return []
    return list(
        db.session.execute(
            sa.select(NotifyChannel)
            .where(
                NotifyChannel.community_id.in_(ids),
                NotifyChannel.is_active,
                NotifyChannel.failed_at.is_not(None),
            )
            .order_by(NotifyChannel.name)
        ).scalars()
    )


def teams_of(community_ids: Iterable[int]) -> list[Team]:
    """Active teams of these communities (a channel may belong to one)."""
    return list(
        db.session.execute(
            sa.select(Team)
            .where(Team.community_id.in_(list(community_ids)), Team.is_active)
            .order_by(Team.name)
        ).scalars()
    )


def team_named(community_id: int, name: str) -> Team:
    """The community's team of that name, else NotFound."""
    found = db.session.execute(
        sa.select(Team).where(Team.community_id == community_id, Team.name == name.strip())
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(gettext("本社区没有名为 %(name)s 的队伍", name=repr(name)), "no_team")
    return found


def channel(channel_id: int, community_ids: Iterable[int]) -> NotifyChannel:
    """One channel of these communities, else NotFound (another community's looks absent)."""
    found = db.session.get(NotifyChannel, channel_id)
    if found is None or found.community_id not in set(community_ids):
        raise NotFound(gettext("没有这条记录"))
    return found
