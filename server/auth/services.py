"""Users: argon2 password hashes, creation, and checking a sign-in."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from server.audit import services as audit
from server.audit.actor import Actor
from server.auth.models import ROLES, Membership, SignInFailure, User
from server.communities.services import community_by_slug
from server.errors import Conflict, InvalidInput, LinliError, NotFound
from server.extensions import db
from server.i18n import LANGUAGES
from server.timeutil import utcnow

MIN_PASSWORD_LENGTH = 12
HASH_COSTS = {
    "standard": PasswordHasher(),
    # Only for tests: hashing with production's cost makes each test user take a noticeable time.
    "test": PasswordHasher(time_cost=1, memory_cost=64, parallelism=1),
}
# Verified against when the user name is unknown, so both cases take the same time.
_DUMMY_HASHES = {cost: h.hash("linli-no-such-user-password") for cost, h in HASH_COSTS.items()}


def _hasher() -> PasswordHasher:
    """The password hasher of the app's `LINLI_PASSWORD_HASH_COST`."""
    return HASH_COSTS[current_app.config["LINLI_PASSWORD_HASH_COST"]]


def _dummy_hash() -> str:
    return _DUMMY_HASHES[current_app.config["LINLI_PASSWORD_HASH_COST"]]


def check_password_rules(password: str) -> None:
    """`InvalidInput` unless the password is long enough."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            gettext("密码至少需要 %(n)s 个字符", n=MIN_PASSWORD_LENGTH), "weak_password"
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
            raise InvalidInput(gettext("请指定社区或全部社区，不能两者都给"), "bad_scope")
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
        raise InvalidInput(gettext("用户名为 1 到 64 个字符，不含空格"), "bad_username")
    for role in [*roles.values(), *([all_role] if all_role is not None else [])]:
        _check_role(role)
    if not roles and all_role is None:
        raise InvalidInput(gettext("请至少给一个社区"), "no_community")
    check_password_rules(password)
    if db.session.execute(sa.select(User.id).where(User.username == username)).first():
        raise Conflict(gettext("已有名为 %(name)s 的用户", name=repr(username)), "user_exists")
    user = User(
        username=username,
        display_name=display_name.strip(),
        password_hash=_hasher().hash(password),
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
        raise InvalidInput(
            gettext("角色须为以下之一：%(roles)s", roles=", ".join(ROLES)), "bad_role"
        )


class LockedOut(LinliError):
    """Too many failed sign-ins for this user name: refused, unchecked, until the lock ends."""

    status = 429
    code = "sign_in_locked"


class TooManyTries(LinliError):
    """Over a sign-in rate limit of this address (Flask-Limiter's refusal, in our words)."""

    status = 429
    code = "sign_in_rate_limited"


class HashingBusy(LinliError):
    """Every password-hashing slot of this process is taken: try again in a moment."""

    status = 503
    code = "sign_in_busy"


HASH_SLOTS = "linli_hash_slots"
"""Key in `app.extensions` of the process's semaphore around password checks."""
HASH_WAIT_SECONDS = 0.2
"""How long a sign-in waits for a hashing slot before it is told to come back."""
LOCK_MAX = timedelta(days=1)
FAILURES_FORGOTTEN_AFTER = timedelta(days=1)


def _failure_key(username: str) -> str:
    return username.strip().lower()[:64]


def _check_lock(key: str, now: datetime) -> None:
    """`LockedOut` while the name's lock holds (the same for names that exist and not)."""
    locked_until = db.session.execute(
        sa.select(SignInFailure.locked_until).where(SignInFailure.name == key)
    ).scalar_one_or_none()
    if locked_until is not None and locked_until > now:
        wait = math.ceil((locked_until - now).total_seconds())
        raise LockedOut(
            gettext(
                "这个用户名登录失败次数过多：请 %(n)s 分钟后再试，或请管理员解锁",
                n=math.ceil(wait / 60),
            ),
            retry_after=wait,
        )


@contextmanager
def _hashing_slot() -> Iterator[None]:
    """Hold one of the process's password-hashing slots, or answer `HashingBusy` at once."""
    slots = current_app.extensions[HASH_SLOTS]
    if not slots.acquire(timeout=HASH_WAIT_SECONDS):
        raise HashingBusy(gettext("服务器正忙于处理登录：请再试一次"), retry_after=1)
    try:
        yield
    finally:
        slots.release()


def _record_failure(key: str, now: datetime) -> None:
    """Count a failure and lock the name after too many, doubling the lock each time.

    Written in its own transaction: the request's answer (401) rolls its session back, and
    the count must survive that and be seen by every worker at once.
    """
    lock_after = int(current_app.config["LINLI_LOGIN_LOCK_AFTER"])
    first_lock = timedelta(minutes=int(current_app.config["LINLI_LOGIN_LOCK_MINUTES"]))
    table = SignInFailure.__table__
    with db.engine.begin() as conn:
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        first = dialect_insert(table).values(name=key, failures=1, last_failed_at=now)
        upsert = first.on_conflict_do_update(
            index_elements=[table.c.name],
            set_={"failures": table.c.failures + 1, "last_failed_at": now},
        ).returning(table.c.failures)
        failures = conn.execute(upsert).scalar_one()
        if failures >= lock_after:
            lock = min(first_lock * 2 ** min(failures - lock_after, 20), LOCK_MAX)
            conn.execute(
                sa.update(table).where(table.c.name == key).values(locked_until=now + lock)
            )
        conn.execute(
            sa.delete(table).where(
                table.c.last_failed_at < now - FAILURES_FORGOTTEN_AFTER,
                sa.or_(table.c.locked_until.is_(None), table.c.locked_until < now),
            )
        )


def authenticate(username: str, password: str) -> User | None:
    """The active user with these credentials, or None (same work either way).

    A locked-out name is refused before any hashing (`LockedOut`); the password check runs
    in one of a few hashing slots per process (`HashingBusy` when none frees up quickly).
    """
    now = utcnow()
    key = _failure_key(username)
    _check_lock(key, now)
    with _hashing_slot():
        user = db.session.execute(
            sa.select(User).where(User.username == username.strip())
        ).scalar_one_or_none()
        try:
            _hasher().verify(user.password_hash if user else _dummy_hash(), password)
            verified = True
        except (VerificationError, InvalidHashError):
            verified = False
    if user is None or not verified or not user.is_active:
        _record_failure(key, now)
        return None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    user.last_login_at = now
    db.session.execute(sa.delete(SignInFailure).where(SignInFailure.name == key))
    return user


def unlock(username: str, actor: Actor, why: str) -> int:
    """Lift a user's sign-in lock and forget their failures (audited); the failures it had."""
    user = db.session.execute(
        sa.select(User).where(User.username == username.strip())
    ).scalar_one_or_none()
    if user is None:
        raise NotFound(gettext("没有名为 %(name)s 的用户", name=repr(username)))
    key = _failure_key(user.username)
    failure = db.session.get(SignInFailure, key)
    failures = failure.failures if failure else 0
    if failure is not None:
        db.session.delete(failure)
    for community_id in sorted(user.community_ids):
        audit.record(
            actor,
            community_id,
            "change",
            f"user {user.username}: sign-in lock lifted after {failures} failed sign-ins",
            why,
        )
    db.session.flush()
    return failures


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


def set_language(user: User, language: str) -> None:
    """Remember the console language `user` chose (one of server.i18n.LANGUAGES), audited."""
    if language not in LANGUAGES:
        raise InvalidInput(gettext("未知的语言：%(language)s", language=language))
    if user.language != language:
        user.language = language
        db.session.flush()
        _audit_user_change(
            user, set(user.community_ids), f"user {user.username}: language {language}"
        )


def _audit_user_change(admin: User, community_ids: set[int], what: str) -> None:
    """One audit row per community the change concerns, so each one's trail shows it."""
    for community_id in sorted(community_ids):
        audit.record(Actor.of_user(admin), community_id, "change", what, "users page")


def deactivate(admin: User, user: User) -> None:
    """Stop a user signing in and end every session they have open now (audited)."""
    user.is_active = False
    end_sessions(user)
    _audit_user_change(admin, set(user.community_ids), f"user {user.username}: deactivated")


def reset_password(admin: User, user: User, password: str) -> None:
    """Give a user a new password and end their open sessions (audited)."""
    check_password_rules(password)
    user.password_hash = _hasher().hash(password)
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
            gettext("全部社区用户须用 linli 命令修改，不能在这里改"), "all_communities"
        )
    for role in roles.values():
        _check_role(role)
    chosen = {community_by_slug(slug): role for slug, role in roles.items()}
    if any(c.id not in granted for c in chosen):
        raise NotFound(gettext("没有这个社区"))
    if not chosen:
        raise InvalidInput(gettext("请至少给一个社区"), "no_community")
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
