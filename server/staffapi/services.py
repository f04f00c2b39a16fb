"""API tokens and the staff read API's queries, always within the token's communities."""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from server.audit.actor import Actor
from server.communities.models import Community, Room
from server.communities.services import community_by_slug
from server.dbutil import hash_secret
from server.errors import Conflict, InvalidInput, NotFound, Unauthorized
from server.extensions import db
from server.kiosks.models import Kiosk
from server.requests.models import Category, HelpRequest
from server.requests.services import Intake, create_by_staff
from server.staffapi.models import ApiToken, IdempotencyKey
from server.synclog import rejections
from server.synclog.models import AppliedOp, SyncConflict
from server.timeutil import utcnow


@dataclass(frozen=True)
class Scope:
    """What a caller may see: `community_ids` None means every community."""

    token_name: str
    community_ids: frozenset[int] | None
    token_id: int | None = None

    def allows(self, community_id: int) -> bool:
        """Whether records of this community are visible."""
        return self.community_ids is None or community_id in self.community_ids


def create_api_token(name: str, community_slugs: list[str]) -> tuple[ApiToken, str]:
    """A new API token (returned once; only its hash is stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(gettext("令牌名称须为1至100个字符"), "bad_name")
    if db.session.execute(sa.select(ApiToken.id).where(ApiToken.name == name)).first():
        raise Conflict(gettext("已有名为 %(name)s 的接口令牌", name=repr(name)), "token_exists")
    secret = "lt_" + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        token_hash=hash_secret(secret),
        communities=[community_by_slug(slug) for slug in community_slugs],
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def list_api_tokens() -> list[ApiToken]:
    """Every API token, revoked ones included, by name (their secrets are not stored)."""
    return list(db.session.execute(sa.select(ApiToken).order_by(ApiToken.name)).scalars())


def api_token_named(name_or_id: str) -> ApiToken:
    """The token named `name_or_id` (or with that id), or `NotFound`."""
    token = db.session.execute(
        sa.select(ApiToken).where(ApiToken.name == name_or_id)
    ).scalar_one_or_none()
    if token is None and name_or_id.isascii() and name_or_id.isdigit() and len(name_or_id) < 10:
        token = db.session.get(ApiToken, int(name_or_id))
    if token is None:
        raise NotFound(gettext("没有名为 %(name)s 的接口令牌", name=repr(name_or_id)), "no_token")
    return token


def revoke_api_token(name_or_id: str) -> ApiToken:
    """Revoke a token named `name_or_id` (or with that id); it is refused from now on."""
    token = api_token_named(name_or_id)
    if token.revoked_at is not None:
        raise Conflict(gettext("接口令牌 %(name)s 已停用", name=repr(token.name)), "revoked")
    token.revoked_at = utcnow()
    db.session.flush()
    return token


def scope_for_token(secret: str | None) -> Scope:
    """The scope of a bearer token, or `Unauthorized`."""
    if not secret:
        raise Unauthorized(gettext("请以 'Authorization: Bearer <token>' 发送接口令牌"))
    token = db.session.execute(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_secret(secret))
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None:
        raise Unauthorized(gettext("这个接口令牌无效或已停用"), "unknown_token")
    ids = frozenset(c.id for c in token.communities)
    return Scope(token_name=token.name, community_ids=ids or None, token_id=token.id)


def encode_page_cursor(last_id: int) -> str:
    """Opaque keyset cursor for the staff API."""
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_page_cursor(text: str) -> int:
    """The last id of the previous page, or `InvalidInput`."""
    try:
        raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode()).decode()
        kind, _, value = raw.partition(":")
        last_id = int(value) if value.isascii() else -1
        if kind != "id" or not 0 <= last_id < 2**31:
            raise ValueError(kind)
        return last_id
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput(gettext("cursor 无效；请不带 cursor 从头开始"), "bad_cursor") from exc


@dataclass(frozen=True)
class RequestFilter:
    """Filters of `GET /api/v1/requests`."""

    community: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _community_clause(scope: Scope, column: Any, community: str | None) -> Any:
    clauses = []
    if scope.community_ids is not None:
        clauses.append(column.in_(scope.community_ids))
    if community is not None:
        target = community_by_slug(community)
        if not scope.allows(target.id):
            raise NotFound(
                gettext("没有标识为 %(slug)s 的社区", slug=repr(community)), "unknown_community"
            )
        clauses.append(column == target.id)
    return sa.and_(sa.true(), *clauses)


def list_requests(
    scope: Scope, filters: RequestFilter, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A keyset page of requests visible to `scope`, oldest first."""
    conditions = [_community_clause(scope, HelpRequest.community_id, filters.community)]
    if filters.status:
        conditions.append(HelpRequest.status == filters.status)
    if filters.since:
        conditions.append(HelpRequest.received_at >= filters.since)
    if filters.until:
        conditions.append(HelpRequest.received_at < filters.until)
    if cursor:
        conditions.append(HelpRequest.id > decode_page_cursor(cursor))
    order: Any = HelpRequest.id
    stmt = sa.select(HelpRequest, Category.code, Room.code, Community.slug, Kiosk.name)
    narrowed = filters.community is not None or filters.since or filters.until
    if narrowed and db.session.get_bind().dialect.name == "postgresql":
        # One community or a period: its ids first (the (community, received) index), the
        # page's ids sorted among them, then those rows. Left to itself the planner walked the
        # primary key in id order hoping to meet the page soon, and a month's requests of one
        # community are the newest: 960,722 rows removed by filter, 145 ms at 1M (bench/city.py's
        # "staff API, one community, a month"). A materialized set has no order to walk.
        matching = sa.select(HelpRequest.id).where(*conditions).cte("matching")
        matching = matching.prefix_with("MATERIALIZED")
        page = sa.select(matching.c.id).order_by(matching.c.id).limit(limit + 1).subquery("page")
        stmt = stmt.select_from(page).join(HelpRequest, HelpRequest.id == page.c.id)
        order = page.c.id
    else:
        stmt = stmt.where(*conditions)
    stmt = (
        stmt.join(Category, HelpRequest.category_id == Category.id)
        .join(Room, HelpRequest.room_id == Room.id)
        .join(Community, HelpRequest.community_id == Community.id)
        .outerjoin(Kiosk, HelpRequest.kiosk_id == Kiosk.id)
        .order_by(order)
        .limit(limit + 1)
    )
    rows = db.session.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        {
            "client_id": str(req.client_id),
            "ticket": req.ticket,
            "community": slug,
            "kiosk": kiosk_name,
            "category": category,
            "room": room,
            "status": req.status,
            "is_urgent": req.is_urgent,
            "is_on_behalf": req.is_on_behalf,
            "channel": req.channel,
            "choice": req.choice_code,
            "preferred_time": req.preferred_time,
            "cancel_requested": req.is_cancel_requested,
            "created_at": req.device_created_at.isoformat(),
            "received_at": req.received_at.isoformat(),
            "updated_at": req.updated_at.isoformat(),
        }
        for req, category, room, slug, kiosk_name in rows
    ]
    next_cursor = encode_page_cursor(rows[-1][0].id) if more else None
    return items, next_cursor


def encode_refusal_cursor(last_rejected: int, last_conflict: int) -> str:
    """Opaque cursor of the rejections list: the last row seen in each of its two tables."""
    raw = f"refusals:{last_rejected}:{last_conflict}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_refusal_cursor(text: str) -> tuple[int, int]:
    """The last rejected-op and conflict ids of the previous page, or `InvalidInput`."""
    try:
        raw = base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode()).decode()
        kind, first, second = raw.split(":")
        ids = (int(first), int(second))
        if kind != "refusals" or not all(0 <= i < 2**31 for i in ids):
            raise ValueError(kind)
        return ids
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise InvalidInput(gettext("cursor 无效；请不带 cursor 从头开始"), "bad_cursor") from exc


def list_rejections(
    scope: Scope, community: str | None, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Operations the server did not apply (rejected ones and sync conflicts), visible to
    `scope`, oldest first, without personal data: no phone, no words, no body."""
    after_rejected, after_conflict = decode_refusal_cursor(cursor) if cursor else (0, 0)
    kiosks = sa.select(Kiosk.id).where(_community_clause(scope, Kiosk.community_id, community))
    # Each list is in its own id order; merging by time keeps that order within each, so
    # the page is a prefix of both and the cursor can name the last id taken from each.
    found = list(
        heapq.merge(
            rejections.rejected_ops(AppliedOp.kiosk_id.in_(kiosks), after_rejected, limit + 1),
            rejections.conflicts(SyncConflict.kiosk_id.in_(kiosks), after_conflict, limit + 1),
            key=lambda r: r.at,
        )
    )
    page = found[:limit]
    names = {
        kiosk_id: (name, slug)
        for kiosk_id, name, slug in db.session.execute(
            sa.select(Kiosk.id, Kiosk.name, Community.slug)
            .join(Community, Kiosk.community_id == Community.id)
            .where(Kiosk.id.in_({r.kiosk_id for r in page}))
        )
    }
    items = [
        {"kiosk": names[r.kiosk_id][0], "community": names[r.kiosk_id][1], **r.summary()}
        for r in page
    ]
    if len(found) <= limit:
        return items, None
    last_rejected = max([after_rejected, *(r.row_id for r in page if r.kind == "rejected")])
    last_conflict = max([after_conflict, *(r.row_id for r in page if r.kind == "conflict")])
    return items, encode_refusal_cursor(last_rejected, last_conflict)


def touch_token(scope: Scope) -> None:
    """Remember when a token was last used."""
    db.session.execute(
        sa.update(ApiToken).where(ApiToken.name == scope.token_name).values(last_used_at=utcnow())
    )


# --- intake: POST /api/v1/requests ------------------------------------------------------------

INTAKE_FIELDS = frozenset(
    {
        "community",
        "room",
        "category",
        "channel",
        "details",
        "phone",
        "reporter",
        "on_behalf",
        "choice",
        "preferred_time",
    }
)
KEY_LENGTH = 200


def _bad(field: str, detail: str) -> InvalidInput:
    return InvalidInput(
        gettext("%(field)s：%(problem)s", field=field, problem=detail), "bad_field", field=field
    )


def _text(body: dict[str, Any], field: str, required: bool) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise _bad(field, gettext("必须填写，且须为字符串") if required else gettext("须为字符串"))
    return value


def _intake(scope: Scope, body: Any) -> tuple[Intake, str]:
    """The checked intake of a POST body and its community's slug, or a 400 naming the field."""
    if not isinstance(body, dict):
        raise InvalidInput(gettext("请求内容须为一个 JSON 对象"), "bad_body")
    unknown = sorted(set(body) - INTAKE_FIELDS)
    if unknown:
        raise _bad(unknown[0], gettext("不认识这个字段"))
    slug = _text(body, "community", True) or ""
    community = db.session.execute(
        sa.select(Community).where(Community.slug == slug)
    ).scalar_one_or_none()
    if community is None or not scope.allows(community.id):
        raise NotFound(
            gettext("没有标识为 %(slug)s 的社区", slug=repr(slug)),
            "unknown_community",
            field="community",
        )
    reporter = body.get("reporter")
    if reporter is not None and (
        not isinstance(reporter, dict) or set(reporter) - {"kind", "name"}
    ):
        raise _bad("reporter", gettext("须为包含 kind 和 name 的对象"))
    reporter = reporter or {}
    for part in ("kind", "name"):
        if reporter.get(part) is not None and not isinstance(reporter[part], str):
            raise _bad(f"reporter.{part}", gettext("须为字符串"))
    on_behalf = body.get("on_behalf", False)
    if not isinstance(on_behalf, bool):
        raise _bad("on_behalf", gettext("须为 true 或 false"))
    intake = Intake(
        community_id=community.id,
        room=_text(body, "room", True) or "",
        category=_text(body, "category", True) or "",
        channel=_text(body, "channel", True) or "",
        details=_text(body, "details", False),
        phone=_text(body, "phone", False),
        reporter_kind=reporter.get("kind"),
        reporter_name=reporter.get("name"),
        on_behalf=on_behalf,
        choice=_text(body, "choice", False),
        preferred_time=_text(body, "preferred_time", False),
    )
    return intake, community.slug


def _digest(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _stored(token_id: int, key: str) -> IdempotencyKey | None:
    return db.session.execute(
        sa.select(IdempotencyKey).where(
            IdempotencyKey.token_id == token_id, IdempotencyKey.key == key
        )
    ).scalar_one_or_none()


def _replay(stored: IdempotencyKey, digest: str) -> tuple[int, dict[str, Any]]:
    if stored.body_digest != digest:
        raise Conflict(
            gettext("这个 Idempotency-Key 已用于另一份请求内容；新的请求请用新的键"),
            "idempotency_conflict",
        )
    return 200, stored.response


def create_request(scope: Scope, key: str | None, body: Any) -> tuple[int, dict[str, Any]]:
    """File a request once per `Idempotency-Key`: 201, then 200 and the same answer on a retry."""
    # Another body under a used key is 409; a refused body does not use the key up.
    key = (key or "").strip()
    if not key or len(key) > KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            gettext(
                "请发送 Idempotency-Key 请求头，由 1 到 %(most)s 个可打印的 ASCII 字符组成",
                most=KEY_LENGTH,
            ),
            "bad_idempotency_key",
            field="Idempotency-Key",
        )
    if scope.token_id is None:
        raise Unauthorized(gettext("这个接口令牌无效或已停用"), "unknown_token")
    digest = _digest(body)
    stored = _stored(scope.token_id, key)
    if stored is not None:
        return _replay(stored, digest)
    intake, slug = _intake(scope, body)
    actor = Actor(f"api:{scope.token_name}"[:100], None, "api")
    try:
        with db.session.begin_nested():
            req = create_by_staff(intake, actor)
            answer = {
                "id": req.id,
                "client_id": str(req.client_id),
                "ticket": req.ticket,
                "community": slug,
                "room": req.room.code,
                "category": req.category.code,
                "channel": req.channel,
                "status": req.status,
                "received_at": req.received_at.isoformat(),
            }
            db.session.add(
                IdempotencyKey(
                    token_id=scope.token_id,
                    key=key,
                    body_digest=digest,
                    response=answer,
                    request_id=req.id,
                )
            )
            db.session.flush()
    except IntegrityError:
        stored = _stored(scope.token_id, key)  # a concurrent retry committed first
        if stored is None:
            raise
        return _replay(stored, digest)
    return 201, answer
