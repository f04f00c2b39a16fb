"""Recording signs of life, exactly once per source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from server.carewatch.models import CHANNELS, OUTCOMES, SignOfLife
from server.errors import LinliError
from server.extensions import db


class BadSign(LinliError):
    """A sign of life that names no one, or an unknown channel or outcome."""

    status = 400
    code = "bad_sign_of_life"


@dataclass(frozen=True)
class Sign:
    """What is known of one sign of life; `source_key` makes recording it idempotent."""

    community_id: int
    channel: str
    at: datetime
    source_key: str
    recorded_by: str
    resident_id: int | None = None
    room_id: int | None = None
    outcome: str = "ok"
    note: str | None = None


def record_sign(sign: Sign) -> tuple[SignOfLife, bool]:
    """Store `sign` once; return the stored row and whether this call created it.

    A second call with the same `source_key` (a replay, a double tap, a retried form, or a
    concurrent writer that won the race) returns the first row unchanged.
    """
    if sign.resident_id is None and sign.room_id is None:
        raise BadSign(_("平安记录须写明居民或房间"))
    if sign.channel not in CHANNELS:
        raise BadSign(_("未知的来源：%(channel)s", channel=sign.channel))
    if sign.outcome not in OUTCOMES:
        raise BadSign(_("未知的结果：%(outcome)s", outcome=sign.outcome))
    existing = _by_source(sign.source_key)
    if existing is not None:
        return existing, False
    row = SignOfLife(
        community_id=sign.community_id,
        resident_id=sign.resident_id,
        room_id=sign.room_id,
        channel=sign.channel,
        outcome=sign.outcome,
        at=sign.at,
        source_key=sign.source_key,
        recorded_by=sign.recorded_by,
        note=sign.note,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        winner = _by_source(sign.source_key)
        if winner is None:
            raise
        return winner, False
    return row, True


def _by_source(source_key: str) -> SignOfLife | None:
    return db.session.execute(
        sa.select(SignOfLife).where(SignOfLife.source_key == source_key)
    ).scalar_one_or_none()
