"""A kiosk's identity: enrolment codes, spending them for a token, the token, revocation,
and what staff see of each kiosk's health."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext

from server.communities.models import Community
from server.communities.services import community_by_slug
from server.dbutil import hash_secret
from server.errors import Conflict, InvalidInput, NotFound, Unauthorized
from server.extensions import db
from server.kiosks.models import Kiosk
from server.synclog.rejections import KioskRefusals, counts_by_kiosk
from server.timeutil import utcnow
from sync.ids import ticket_prefix

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I: the code is read aloud and typed on a touchscreen."""


def new_enrollment_code(community_slug: str, name: str, hours: int) -> tuple[Kiosk, str]:
    """Create the kiosk if new, and give it a one-time code valid for `hours`.

    Re-enrolling an existing kiosk keeps its identity and sequence numbers, so a revoked
    kiosk's queue drains after it enrols again.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(gettext("终端名称为 1 到 100 个字符"), "bad_name")
    community = community_by_slug(community_slug)
    kiosk = db.session.execute(sa.select(Kiosk).where(Kiosk.name == name)).scalar_one_or_none()
    if kiosk is None:
        count = db.session.execute(sa.select(sa.func.count()).select_from(Kiosk)).scalar_one()
        kiosk = Kiosk(
            community_id=community.id, name=name, ticket_prefix=ticket_prefix(count), last_seq=0
        )
        db.session.add(kiosk)
    elif kiosk.community_id != community.id:
        raise Conflict(gettext("终端 %(name)s 属于另一个社区", name=repr(name)), "kiosk_elsewhere")
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
    kiosk.enroll_code_hash = hash_secret(normalize_code(code))
    kiosk.enroll_expires_at = utcnow() + timedelta(hours=hours)
    db.session.flush()
    return kiosk, f"{code[:4]}-{code[4:]}"


def kiosk_for_token(token: str | None) -> Kiosk:
    """The enrolled, unrevoked kiosk holding `token`, or `Unauthorized`."""
    if not token:
        raise Unauthorized(gettext("请以 'Authorization: Bearer <token>' 发送终端的令牌"))
    kiosk = db.session.execute(
        sa.select(Kiosk).where(Kiosk.token_hash == hash_secret(token))
    ).scalar_one_or_none()
    if kiosk is None:
        raise Unauthorized(gettext("这个终端令牌无效；请重新登记终端"), "unknown_token")
    if kiosk.revoked_at is not None:
        raise Unauthorized(gettext("这台终端已停用；请用新的登记码重新登记"), "revoked_token")
    return kiosk


def normalize_code(code: str) -> str:
    """Enrolment codes are read aloud and typed: ignore case, spaces and dashes."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def enroll(code: str, token: str) -> Kiosk:
    """Spend a one-time enrolment code: the kiosk gets `token` (only its hash is stored).

    One UPDATE both checks and spends the code, so a code can be used once only.
    """
    now = utcnow()
    kiosk_id = db.session.execute(
        sa.update(Kiosk)
        .where(
            Kiosk.enroll_code_hash == hash_secret(normalize_code(code)),
            Kiosk.enroll_expires_at > now,
        )
        .values(
            enroll_code_hash=None,
            enroll_expires_at=None,
            token_hash=hash_secret(token),
            enrolled_at=now,
            revoked_at=None,
        )
        .returning(Kiosk.id)
    ).scalar_one_or_none()
    if kiosk_id is None:
        raise Unauthorized(gettext("登记码无效、已用过或已过期；请重新生成一个"), "invalid_code")
    return db.session.get_one(Kiosk, kiosk_id)


def kiosk_by_name(name: str) -> Kiosk:
    """A kiosk by its unique name, or `NotFound`."""
    kiosk = db.session.execute(sa.select(Kiosk).where(Kiosk.name == name)).scalar_one_or_none()
    if kiosk is None:
        raise NotFound(gettext("没有名为 %(name)s 的终端", name=repr(name)), "unknown_kiosk")
    return kiosk


def kiosk_by_id(kiosk_id: int) -> Kiosk:
    """A kiosk by id, or `NotFound`."""
    kiosk = db.session.get(Kiosk, kiosk_id)
    if kiosk is None:
        raise NotFound(gettext("没有这台终端"))
    return kiosk


def revoke(name: str) -> Kiosk:
    """Revoke a kiosk's token and any unused code; its data on the server is kept."""
    kiosk = kiosk_by_name(name)
    kiosk.revoked_at = utcnow()
    kiosk.enroll_code_hash = None
    kiosk.enroll_expires_at = None
    db.session.flush()
    return kiosk


def rename(kiosk: Kiosk, name: str) -> None:
    """Give a kiosk a new unique name (its identity, token and history stay)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(gettext("终端名称须为1至100个字符"), "bad_name")
    taken = sa.select(Kiosk.id).where(Kiosk.name == name, Kiosk.id != kiosk.id)
    if db.session.execute(taken).first():
        raise Conflict(gettext("终端名称 %(name)s 已被占用", name=repr(name)), "kiosk_exists")
    kiosk.name = name
    db.session.flush()


def kiosks_of(community_id: int) -> list[Kiosk]:
    """Every kiosk of a community, enrolled or waiting for its code, by name."""
    return list(
        db.session.execute(
            sa.select(Kiosk).where(Kiosk.community_id == community_id).order_by(Kiosk.name)
        ).scalars()
    )


@dataclass(frozen=True)
class KioskHealth:
    """What staff see of one kiosk."""

    id: int
    name: str
    community: str
    last_seen_at: datetime | None
    last_seq: int
    revoked: bool
    health: dict[str, Any] | None
    health_at: datetime | None
    is_stale: bool
    """Enrolled, not revoked, and silent for longer than the configured minutes."""
    is_stuck: bool
    """Its last health report showed a queue while it has not synced since."""
    refusals: KioskRefusals
    """Its operations the server did not apply, and what to do about them."""
    cloned_at: datetime | None = None
    """When a second process with this identity and another history was seen (a copied
    card); the newer one was told to re-enrol as a new kiosk."""
    parked: int = 0
    """Operations the kiosk set aside because this server kept failing on them."""
    lost: tuple[str, ...] = ()
    """Tickets of requests the kiosk saved that this server lacks (restored from an older
    backup after the kiosk compacted them): to re-enter."""


def kiosk_health(community_ids: frozenset[int], stale_minutes: int) -> list[KioskHealth]:
    """Kiosks of these communities, the silent and stuck ones first."""
    return kiosk_board(community_ids, stale_minutes)[0]


BoardKey = tuple[bool, str, str, int]
"""Where a page of the kiosk board ends: (not flagged, community, name, id)."""


def _flagged(k: KioskHealth) -> bool:
    return bool(k.is_stale or k.is_stuck or k.cloned_at or k.parked or k.lost)


def _board_key(k: KioskHealth) -> BoardKey:
    """The board's order: flagged kiosks first, then by community and name."""
    return (not _flagged(k), k.community, k.name, k.id)


def board_cursor(key: BoardKey) -> str:
    """The next-page link's text for a board key."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def board_key(text: str) -> BoardKey:
    """The board key of a next-page link (a bad link is a 400)."""
    try:
        raw = json.loads(base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode()))
        healthy, community, name, kiosk_id = raw
        if not (
            isinstance(healthy, bool)
            and isinstance(community, str)
            and isinstance(name, str)
            and isinstance(kiosk_id, int)
            and not isinstance(kiosk_id, bool)
        ):
            raise TypeError(raw)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise InvalidInput(gettext("翻页链接有误，请从第一页开始"), "bad_cursor") from exc
    return healthy, community, name, kiosk_id


def kiosk_board(
    community_ids: frozenset[int],
    stale_minutes: int,
    after: BoardKey | None = None,
    most: int | None = None,
) -> tuple[list[KioskHealth], BoardKey | None]:
    """The `most` kiosks of these communities after the key `after`, the silent and stuck
    ones first, and the key of the next page (None: the last page). Refusals are counted
    for the kiosks shown only."""
    now = utcnow()
    # Plain rows of the columns shown, not 600 kiosks as entities for a page of 50.
    rows = db.session.execute(
        sa.select(
            Kiosk.id,
            Kiosk.name,
            Kiosk.last_seen_at,
            Kiosk.last_seq,
            Kiosk.revoked_at,
            Kiosk.health,
            Kiosk.health_at,
            Kiosk.cloned_at,
            Community.name.label("community"),
        )
        .join(Community, Kiosk.community_id == Community.id)
        .where(Kiosk.community_id.in_(community_ids), Kiosk.enrolled_at.is_not(None))
    ).all()
    board = []
    for kiosk in rows:
        active = kiosk.revoked_at is None
        seen = kiosk.last_seen_at
        stale = active and (seen is None or now - seen > timedelta(minutes=stale_minutes))
        queued = int((kiosk.health or {}).get("queued", 0))
        stuck = (
            active
            and queued > 0
            and kiosk.health_at is not None
            and (seen is None or seen <= kiosk.health_at)
        )
        board.append(
            KioskHealth(
                id=kiosk.id,
                name=kiosk.name,
                community=kiosk.community,
                last_seen_at=seen,
                last_seq=kiosk.last_seq,
                revoked=not active,
                health=kiosk.health,
                health_at=kiosk.health_at,
                is_stale=stale,
                is_stuck=stuck,
                refusals=KioskRefusals(),
                cloned_at=kiosk.cloned_at,
                parked=int((kiosk.health or {}).get("parked", 0)),
                lost=tuple(str(r["ticket"]) for r in (kiosk.health or {}).get("lost", [])),
            )
        )
    board.sort(key=_board_key)
    if after is not None:
        board = [k for k in board if _board_key(k) > after]
    page = board if most is None else board[:most]
    refused = counts_by_kiosk([k.id for k in page])
    shown = [replace(k, refusals=refused.get(k.id, KioskRefusals())) for k in page]
    more = most is not None and len(board) > most
    return shown, _board_key(shown[-1]) if more else None
