"""Record outbound messages in the deciding transaction (flushed, never committed here).

Like Indico's e-mail queue (filled during the request, flushed only once the transaction has
committed, dropped on rollback): `enqueue` writes a row and notes its id in the session; the
session's `after_commit` makes the noted ids ready, a rollback forgets them (and the rows are
gone with the transaction). `server.outbox.delivery` sends them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from flask_babel import gettext
from flask_sqlalchemy.session import Session

from server.errors import Conflict
from server.extensions import db
from server.outbox.models import OutboxMessage
from server.timeutil import utcnow

PENDING = "outbox_pending"
"""session.info key: ids of messages written in the open transaction."""
READY = "outbox_ready"
"""session.info key: ids of messages whose transaction committed, not yet sent."""


@dataclass(frozen=True)
class Outgoing:
    """One HTTP POST as it leaves: where, the body's bytes, and the headers."""

    url: str
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Kind:
    """How messages of one kind are sent, and what each attempt changes in the kind's rows.

    `settings` names its settings: `LINLI_<settings>_TIMEOUT` (seconds to wait for the
    receiver), `_MAX_ATTEMPTS`, `_RETRY_MINUTES` (the first wait, doubled after each
    failure). `on_attempt(message, error)` runs in the transaction that records
    an attempt's outcome (`error` None: delivered).

    By default a message is its JSON body POSTed to `target_url` with an `Idempotency-Key`
    header, accepted by any 2xx answer. A kind that speaks a provider's protocol gives
    `prepare(message)` (the request to send, built and signed at each attempt, inside the
    claiming transaction) and `verdict(status, body)` (None when the provider accepted it,
    else what went wrong: a robot answers 200 with an error code in its body).
    """

    settings: str
    on_attempt: Callable[[OutboxMessage, str | None], None]
    prepare: Callable[[OutboxMessage], Outgoing] | None = None
    verdict: Callable[[int, bytes], str | None] | None = None


def outgoing(message: OutboxMessage) -> Outgoing:
    """The request one attempt sends: the kind's own, or the JSON body with its key."""
    prepare = KINDS[message.kind].prepare
    if prepare is not None:
        return prepare(message)
    return Outgoing(
        message.target_url,
        json.dumps(message.body, ensure_ascii=False).encode(),
        {"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key},
    )


def verdict(kind: str, status: int, body: bytes) -> str | None:
    """None when the receiver accepted the message, else what went wrong."""
    check = KINDS[kind].verdict
    if check is not None:
        return check(status, body)
    return None if status < 300 else f"HTTP {status}"


KINDS: dict[str, Kind] = {}


def register_kind(name: str, kind: Kind) -> None:
    """Make messages of kind `name` sendable (a feature registers its kinds on import)."""
    KINDS[name] = kind


def enqueue(
    kind: str, target_url: str, body: dict[str, Any], idempotency_key: str, ref_id: int | None
) -> OutboxMessage:
    """A message to POST once the current transaction commits (nothing is sent before)."""
    if kind not in KINDS:
        raise ValueError(f"no outbox kind {kind!r} is registered")
    message = OutboxMessage(
        kind=kind,
        ref_id=ref_id,
        target_url=target_url,
        body=body,
        idempotency_key=idempotency_key,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(message)
    db.session.flush()
    _note(message)
    return message


def message_for(kind: str, ref_id: int) -> OutboxMessage | None:
    """The latest message of `kind` carrying row `ref_id`, if any."""
    stmt = (
        sa.select(OutboxMessage)
        .where(OutboxMessage.kind == kind, OutboxMessage.ref_id == ref_id)
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def replace_body(kind: str, ref_id: int, body: dict[str, Any]) -> None:
    """Every message carrying row `ref_id` holds `body` from now on (an erasure reaches the
    outbox too: what is not yet sent goes out without the erased words)."""
    messages = db.session.execute(
        sa.select(OutboxMessage).where(OutboxMessage.kind == kind, OutboxMessage.ref_id == ref_id)
    ).scalars()
    for message in messages:
        message.body = body


def retry_now(message: OutboxMessage, target_url: str | None = None) -> None:
    """Staff try a pending or given-up message again once this transaction commits."""
    if message.delivered_at is not None:
        raise Conflict(gettext("这条消息已经送达"), "delivered")
    max_attempts = setting(message.kind, "MAX_ATTEMPTS")
    message.attempts = min(message.attempts, max_attempts - 1)
    message.next_attempt_at = utcnow()
    if target_url is not None:
        message.target_url = target_url
    db.session.flush()
    _note(message)


def setting(kind: str, name: str) -> int:
    """A kind's setting: LINLI_<prefix>_<name> (TIMEOUT, MAX_ATTEMPTS or RETRY_MINUTES)."""
    return int(current_app.config[f"LINLI_{KINDS[kind].settings}_{name}"])


def _note(message: OutboxMessage) -> None:
    db.session.info.setdefault(PENDING, set()).add(message.id)


def _committed(session: Any) -> None:
    noted = session.info.pop(PENDING, None)
    if noted:
        session.info.setdefault(READY, set()).update(noted)


def _rolled_back(session: Any) -> None:
    session.info.pop(PENDING, None)


def take_ready() -> list[int]:
    """The ids of messages committed since the last call (and forget them)."""
    return sorted(db.session.info.pop(READY, set()))


def init_app(app: Flask) -> None:
    """Track which messages' transactions committed, in every session."""
    if not sa.event.contains(Session, "after_commit", _committed):
        sa.event.listen(Session, "after_commit", _committed)
        sa.event.listen(Session, "after_rollback", _rolled_back)
