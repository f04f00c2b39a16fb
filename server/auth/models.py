"""Console users and their role in each community they work for."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import gettext
from flask_login import UserMixin

from server.auth.words import role_words
from server.communities.models import Community
from server.extensions import db
from server.timeutil import UTCDateTime, utcnow

ROLES = ("admin", "social_worker", "team_lead", "viewer")


class Membership(db.Model):  # type: ignore[name-defined,misc]
    """A user's role in one community: a user may be `admin` in one and `viewer` in another."""

    __tablename__ = "user_community"
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user_account.id"), primary_key=True)
    community_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("community.id"), primary_key=True)
    role: so.Mapped[str] = so.mapped_column(sa.String(16))

    community: so.Mapped[Community] = so.relationship(lazy="joined")


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    """A person who signs in to the console; works only in the communities of their memberships.

    `all_communities_role` is set only for a user made with `linli server user create
    --all-communities`: they have that role in every community, present and future, and no
    memberships. The console never grants it.
    """

    __tablename__ = "user_account"
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    username: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    display_name: so.Mapped[str] = so.mapped_column(sa.String(100), default="")
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    all_communities_role: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    is_active: so.Mapped[bool] = so.mapped_column(default=True)
    session_generation: so.Mapped[int] = so.mapped_column(default=1)
    """Bumped to end every session of this user at once (password change, deactivation)."""
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_login_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    language: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    """The console language this user chose (server.i18n.LANGUAGES); None: the cookie's."""

    memberships: so.Mapped[list[Membership]] = so.relationship(
        lazy="selectin", cascade="all, delete-orphan"
    )
    communities: so.Mapped[list[Community]] = so.relationship(
        secondary="user_community", viewonly=True, order_by=Community.slug
    )
    """The communities of the memberships (empty for an all-communities user)."""

    def get_id(self) -> str:
        """Flask-Login's session key: id and generation, so bumping it ends old sessions."""
        return f"{self.id}:{self.session_generation}"

    def roles(self) -> dict[int, str]:
        """The user's role in each community they work for, by community id."""
        if self.all_communities_role is not None:
            ids = db.session.execute(sa.select(Community.id)).scalars()
            return dict.fromkeys(ids, self.all_communities_role)
        return {m.community_id: m.role for m in self.memberships}

    @property
    def community_ids(self) -> frozenset[int]:
        """Ids of the communities this user works for, whatever the role."""
        return frozenset(self.roles())

    @property
    def role_summary(self) -> str:
        """The roles in words, e.g. `admin: lanqiao; viewer: feicui` in the reader's language."""
        if self.all_communities_role is not None:
            return str(gettext("%(role)s：全部社区", role=role_words(self.all_communities_role)))
        by_role: dict[str, list[str]] = {}
        for m in sorted(self.memberships, key=lambda m: m.community.slug):
            by_role.setdefault(m.role, []).append(m.community.slug)
        return "; ".join(
            gettext(
                "%(role)s：%(communities)s", role=role_words(role), communities=", ".join(slugs)
            )
            for role, slugs in by_role.items()
        )

    @property
    def label(self) -> str:
        """How the user appears in timelines and audit rows."""
        return self.display_name or self.username


class SignInFailure(db.Model):  # type: ignore[name-defined,misc]
    """Failed sign-ins for one user name, known or not, behind the lockout's growing delay.

    Keyed by the lower-cased name as typed, not by user id: unknown names lock out exactly as
    real ones do, so the lockout does not tell an attacker which names exist.
    """

    __tablename__ = "sign_in_failure"
    name: so.Mapped[str] = so.mapped_column(sa.String(64), primary_key=True)
    failures: so.Mapped[int] = so.mapped_column(default=0)
    locked_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_failed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, index=True)
