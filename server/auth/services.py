"""Users: argon2 password hashes, creation, and checking a sign-in."""

from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.audit import services as audit
from server.auth.models import ROLES, Membership, User
from server.communities.services import community_by_slug
from server.errors import Conflict, InvalidInput, NotFound
from server.extensions import db
from server.timeutil import utcnow

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()
# Verified against when the user name is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("linli-no-such-user-password")


def check_password_rules(password: str) -> None:
    """`InvalidInput` unless the password is long enough."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", "weak_password"
        )


def create_user(
    username: str,
    password: str,
    role: str,
    community_slugs: list[str],
    display_name: str = "",
    *,
    all_communities: bool = False,
) -> User:
    """A new console user with one role in each of these communities, or (only from the
    command line) in every community."""
    if all_communities:
        if community_slugs:
            raise InvalidInput("give communities or all communities, not both", "bad_scope")
        return create_user_with_roles(username, password, {}, display_name, all_role=role)
    return create_user_with_roles(
        username, password, dict.fromkeys(community_slugs, role), display_name
    )


def create_user_with_roles(
    username: str,
    password: str,
    roles: dict[str, str],
    display_name: str = "",
    *,
    all_role: str | None = None,
) -> User:
    """A new console user with a role per community slug (or `all_role` in every community)."""
    username = username.strip()
    if not username or len(username) > 64 or any(ch.isspace() for ch in username):
        raise InvalidInput("a user name has 1 to 64 characters and no spaces", "bad_username")
    for role in [*roles.values(), *([all_role] if all_role is not None else [])]:
        _check_role(role)
    if not roles and all_role is None:
        raise InvalidInput("give at least one community", "no_community")
    check_password_rules(password)
    if db.session.execute(sa.select(User.id).where(User.username == username)).first():
        raise Conflict(f"a user named {username!r} exists already", "user_exists")
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=_hasher.hash(password),
        all_communities_role=all_role,
        memberships=[
            Membership(community=community_by_slug(slug), role=role) for slug, role in roles.items()
        ],
    )
    db.session.add(user)
    db.session.flush()
    return user


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", "bad_role")


def authenticate(username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same work either way)."""
    user = db.session.execute(
        sa.select(User).where(User.username == username.strip())
    ).scalar_one_or_none()
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def load_session_user(session_id: str) -> User | None:
    """The user a session names (`<id>:<generation>`), if still active and not ended."""
    user_id, _, generation = session_id.partition(":")
    if not user_id.isdigit() or not generation.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_generation != int(generation):
        return None
    return user


def users(visible: sa.ColumnElement[bool]) -> list[User]:
    """The users matching `visible` (see `access.managed_users`), by name."""
    return list(
        db.session.execute(sa.select(User).where(visible).order_by(User.username)).scalars().all()
    )


def end_sessions(user: User) -> None:
    """End every session the user has open: their cookies name the old generation."""
    user.session_generation += 1
    db.session.flush()


def _audit_user_change(admin: User, community_ids: set[int], what: str) -> None:
    """One audit row per community the change concerns, so each one's trail shows it."""
    for community_id in sorted(community_ids):
        audit.record(admin.label, admin.id, community_id, "change", what, "users page")


def deactivate(admin: User, user: User) -> None:
    """Stop a user signing in and end every session they have open now (audited)."""
    user.is_active = False
    end_sessions(user)
    _audit_user_change(admin, set(user.community_ids), f"user {user.username}: deactivated")


def reset_password(admin: User, user: User, password: str) -> None:
    """Give a user a new password and end their open sessions (audited)."""
    check_password_rules(password)
    user.password_hash = _hasher.hash(password)
    end_sessions(user)
    _audit_user_change(admin, set(user.community_ids), f"user {user.username}: password reset")


def _describe(roles: dict[str, str]) -> str:
    return ", ".join(f"{slug} {role}" for slug, role in sorted(roles.items())) or "none"


def audit_created(admin: User, user: User) -> None:
    """Audit a user made on the users page, in each community they were given."""
    roles = {m.community.slug: m.role for m in user.memberships}
    _audit_user_change(
        admin, set(user.community_ids), f"user {user.username} created: {_describe(roles)}"
    )


def update_roles(admin: User, user: User, roles: dict[str, str], granted: frozenset[int]) -> None:
    """Replace a user's roles with `roles` (community slug → role), audited.

    The caller has checked the admin manages the user (`access.manages`); `granted` are the
    communities the admin administers: a role anywhere else, or for an all-communities user,
    is refused.
    """
    if user.all_communities_role is not None:
        raise InvalidInput(
            "an all-communities user is changed with the linli command, not here", "all_communities"
        )
    for role in roles.values():
        _check_role(role)
    chosen = {community_by_slug(slug): role for slug, role in roles.items()}
    if any(c.id not in granted for c in chosen):
        raise NotFound("no such community")
    if not chosen:
        raise InvalidInput("give at least one community", "no_community")
    before = {m.community.slug: m.role for m in user.memberships}
    touched = set(user.community_ids) | {c.id for c in chosen}
    kept = {m.community_id: m for m in user.memberships}
    memberships = []
    for community, role in chosen.items():
        membership = kept.get(community.id) or Membership(community=community, role=role)
        membership.role = role
        memberships.append(membership)
    user.memberships = memberships
    db.session.flush()
    db.session.expire(user, ["communities"])
    after = {c.slug: role for c, role in chosen.items()}
    _audit_user_change(
        admin, touched, f"user {user.username}: roles {_describe(before)} → {_describe(after)}"
    )
