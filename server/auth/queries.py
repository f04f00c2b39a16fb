"""What the sign-in and user pages read: the users and communities an admin manages."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext

from server.auth import access
from server.auth.models import User
from server.communities.models import Community
from server.errors import NotFound
from server.extensions import db


def managed_user(user_id: int) -> User:
    """A user the signed-in admin manages, or 404: others do not exist for them."""
    user = db.session.get(User, user_id)
    if user is None or not access.manages(user):
        raise NotFound(gettext("没有这个用户"))
    return user


def administered_communities() -> list[Community]:
    """The communities the signed-in admin administers, by name."""
    return list(
        db.session.execute(
            sa.select(Community)
            .where(Community.id.in_(access.community_scope(access.ADMINS)))
            .order_by(Community.name)
        ).scalars()
    )
