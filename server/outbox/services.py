"""Record outbound messages in the deciding transaction; send them after it commits.

Like Indico's e-mail queue (filled during the request, flushed only once the transaction has
committed, dropped on rollback): `enqueue` writes a row and notes its id in the session; the
session's `after_commit` makes the noted ids ready, a rollback forgets them (and the rows are
gone with the transaction). The app sends the ready ones right after the request's commit
(`send_committed`), so the page shows the first attempt's outcome; the periodic timer and the
nightly job send whatever is due (`deliver_due`), with exponential backoff between attempts.

Sending claims a message in its own short transaction, POSTs with no transaction open (a slow
receiver never holds a row lock), then records the outcome in another. Because it commits its
own steps, sending runs only outside a request's unit of work, like a nightly step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa
from flask import Flask, current_app
from flask_sqlalchemy.session import Session

from server.errors import Conflict
from server.extensions import db
from server.outbox.models import OutboxMessage
from server.timeutil import utcnow

log = logging.getLogger(__name__)

PENDING = "outbox_pending"
"""session.info key: ids of messages written in the open transaction."""
READY = "outbox_ready"
"""session.info key: ids of messages whose transaction committed, not yet sent."""


@dataclass(frozen=True)
class Kind:
    """How messages of one kind are sent, and what each attempt changes in the kind's rows.

    `settings` is the prefix of its settings: `<prefix>_TIMEOUT` (seconds to wait for the
    receiver), `<prefix>_MAX_ATTEMPTS`, `<prefix>_RETRY_MINUTES` (the first wait, doubled
    after each failure). `on_attempt(message, error)` runs in the transaction that records
    an attempt's outcome (`error` None: delivered).
    """

    settings: str
    on_attempt: Callable[[OutboxMessage, str | None], None]


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
        raise Conflict("this message was delivered already", "delivered")
    max_attempts = _setting(message.kind, "MAX_ATTEMPTS")
    message.attempts = min(message.attempts, max_attempts - 1)
    message.next_attempt_at = utcnow()
    if target_url is not None:
        message.target_url = target_url
    db.session.flush()
    _note(message)


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


def send_committed() -> int:
    """Send the messages whose transaction has committed; the app calls it right after each
    request's commit (the answer waits for the receiver, no lock does)."""
    return send(take_ready())


def send(ids: Iterable[int]) -> int:
    """Try each message now if it is due; how many were attempted."""
    return sum(1 for message_id in ids if _attempt(message_id))


def deliver_due() -> int:
    """Try every message whose time has come (the periodic timer and the nightly job)."""
    due = list(
        db.session.execute(
            sa.select(OutboxMessage.id)
            .where(OutboxMessage.delivered_at.is_(None), OutboxMessage.next_attempt_at <= utcnow())
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        ).scalars()
    )
    db.session.commit()
    return send(due)


def _setting(kind: str, name: str) -> int:
    return int(current_app.config[f"{KINDS[kind].settings}_{name}"])


def _attempt(message_id: int) -> bool:
    """Claim, POST, record; False when the message is not due (or another sender has it)."""
    try:
        claimed = _claim(message_id)
        if claimed is None:
            return False
        error = _post(*claimed)
        _record(message_id, error)
    except Exception:
        db.session.rollback()
        log.exception("outbox message %s: the attempt failed; it is retried when due", message_id)
    return True


def _claim(message_id: int) -> tuple[str, dict[str, Any], str, int] | None:
    """Count an attempt and hold the message for its duration (a lease: a sender that dies
    mid-way leaves it due again later), committed before anything is sent."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.kind not in KINDS:
        db.session.rollback()
        return None
    timeout = _setting(message.kind, "TIMEOUT")
    now = utcnow()
    claimed = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.delivered_at.is_(None),
            OutboxMessage.next_attempt_at <= now,
        )
        .values(
            attempts=OutboxMessage.attempts + 1,
            next_attempt_at=now + timedelta(seconds=2 * timeout + 60),
        )
        .execution_options(synchronize_session=False)
    )
    sending = (message.target_url, dict(message.body), message.idempotency_key, timeout)
    db.session.commit()
    return sending if claimed.rowcount == 1 else None  # type: ignore[attr-defined]


def _post(url: str, body: dict[str, Any], key: str, timeout: int) -> str | None:
    """POST the JSON body; None when the receiver accepted it, else what went wrong."""
    try:
        answer = requests.post(url, json=body, headers={"Idempotency-Key": key}, timeout=timeout)
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return None if answer.status_code < 300 else f"HTTP {answer.status_code}"


def _record(message_id: int, error: str | None) -> None:
    """The attempt's outcome: delivered, a retry after a doubled wait, or given up."""
    message = db.session.get_one(OutboxMessage, message_id)
    now = utcnow()
    if error is None:
        message.delivered_at = now
        message.next_attempt_at = None
        message.last_error = None
    elif message.attempts >= _setting(message.kind, "MAX_ATTEMPTS"):
        message.next_attempt_at = None
        message.last_error = error
    else:
        wait = _setting(message.kind, "RETRY_MINUTES") * 2 ** (message.attempts - 1)
        message.next_attempt_at = now + timedelta(minutes=wait)
        message.last_error = error
    KINDS[message.kind].on_attempt(message, error)
    db.session.commit()
