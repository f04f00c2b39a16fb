"""Users: argon2 password hashes, creation, and checking a sign-in."""

from __future__ import annotations

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from server.audit import services as audit
from server.auth.models import ROLES, User
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
    username: str, password: str, role: str, community_slugs: list[str], display_name: str = ""
) -> User:
    """A new console user with a role in one or more communities."""
    username = username.strip()
    if not username or len(username) > 64 or any(ch.isspace() for ch in username):
        raise InvalidInput("a user name has 1 to 64 characters and no spaces", "bad_username")
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", "bad_role")
    if not community_slugs:
        raise InvalidInput("give at least one community", "no_community")
    check_password_rules(password)
    if db.session.execute(sa.select(User.id).where(User.username == username)).first():
        raise Conflict(f"a user named {username!r} exists already", "user_exists")
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=_hasher.hash(password),
        role=role,
        communities=[community_by_slug(slug) for slug in community_slugs],
    )
    db.session.add(user)
    db.session.flush()
    return user


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


def users_in(scope: frozenset[int]) -> list[User]:
    """Users sharing at least one community with `scope`, by name."""
    from server.auth.models import user_community

    ids = sa.select(user_community.c.user_id).where(user_community.c.community_id.in_(scope))
    return list(
        db.session.execute(sa.select(User).where(User.id.in_(ids)).order_by(User.username))
        .scalars()
        .all()
    )


def end_sessions(user: User) -> None:
    """End every session the user has open: their cookies name the old generation."""
    user.session_generation += 1
    db.session.flush()


def deactivate(user: User) -> None:
    """Stop a user signing in and end every session they have open now."""
    user.is_active = False
    end_sessions(user)


def _audit_user_change(admin: User, user: User, community_ids: set[int], what: str) -> None:
    """One audit row per community the change concerns, so each one's trail shows it."""
    for community_id in sorted(community_ids):
        audit.record(admin.label, admin.id, community_id, "change", what, "users page")


def reset_password(admin: User, user: User, password: str) -> None:
    """Give a user a new password and end their open sessions (audited)."""
    check_password_rules(password)
    user.password_hash = _hasher.hash(password)
    end_sessions(user)
    _audit_user_change(
        admin, user, set(user.community_ids), f"user {user.username}: password reset"
    )


def update_user(admin: User, user: User, role: str, community_slugs: list[str]) -> None:
    """Set a user's role and, among the admin's communities, which ones they work for.

    Communities outside the admin's own are kept as they are: an admin grants and removes
    only what they manage. The user keeps at least one community.
    """
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", "bad_role")
    managed = admin.community_ids
    chosen = [community_by_slug(slug) for slug in dict.fromkeys(community_slugs)]
    if any(c.id not in managed for c in chosen):
        raise NotFound("no such community")
    before = sorted(c.slug for c in user.communities)
    kept = [c for c in user.communities if c.id not in managed]
    if not kept + chosen:
        raise InvalidInput("give at least one community", "no_community")
    touched = set(user.community_ids) | {c.id for c in chosen}
    old_role = user.role
    user.role = role
    user.communities = kept + chosen
    db.session.flush()
    after = sorted(c.slug for c in user.communities)
    _audit_user_change(
        admin,
        user,
        touched,
        f"user {user.username}: role {old_role} → {role}; "
        f"communities {', '.join(before)} → {', '.join(after)}",
    )
