"""Send the outbox's messages: after a request's commit, and by the timer when due.

The app sends a request's committed messages right after its commit (`send_committed`), so
the page shows the first attempt's outcome; the periodic timer and the nightly job send
whatever is due (`deliver_due`), with exponential backoff between attempts.

Each attempt claims its message in a short transaction of its own, POSTs with no transaction
open (a slow receiver never holds a row lock), then records the outcome in another. Like a
nightly step it commits its own work, so it runs only outside a request's unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

import requests
import sqlalchemy as sa

from server.extensions import db
from server.outbox.models import OutboxMessage
from server.outbox.services import KINDS, Outgoing, outgoing, setting, take_ready, verdict
from server.timeutil import utcnow

log = logging.getLogger(__name__)


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


def _claim(message_id: int) -> tuple[str, Outgoing, int] | None:
    """Count an attempt and hold the message for its duration (a lease: a sender that dies
    mid-way leaves it due again later), committed before anything is sent."""
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.kind not in KINDS:
        db.session.rollback()
        return None
    timeout = setting(message.kind, "TIMEOUT")
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
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        db.session.rollback()
        return None
    sending = (message.kind, outgoing(message), timeout)
    db.session.commit()
    return sending


def _post(kind: str, request: Outgoing, timeout: int) -> str | None:
    """POST the request; None when the receiver accepted it, else what went wrong."""
    try:
        answer = requests.post(
            request.url, data=request.body, headers=request.headers, timeout=timeout
        )
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return verdict(kind, answer.status_code, answer.content)


def _record(message_id: int, error: str | None) -> None:
    """The attempt's outcome: delivered, a retry after a doubled wait, or given up."""
    message = db.session.get_one(OutboxMessage, message_id)
    now = utcnow()
    if error is None:
        message.delivered_at = now
        message.next_attempt_at = None
        message.last_error = None
    elif message.attempts >= setting(message.kind, "MAX_ATTEMPTS"):
        message.next_attempt_at = None
        message.last_error = error
    else:
        wait = setting(message.kind, "RETRY_MINUTES") * 2 ** (message.attempts - 1)
        message.next_attempt_at = now + timedelta(minutes=wait)
        message.last_error = error
    KINDS[message.kind].on_attempt(message, error)
    db.session.commit()
