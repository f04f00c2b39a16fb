"""Reply links and agencies' replies: issued by staff, answered on a page without an account.

A link's token is random (32 bytes) and kept only as its SHA-256; the link is scoped to one
escalation, replaced when staff issue a new one, used up by a final reply (done, not ours) and
expired once the request is no longer open. Every reply is a timeline entry, a change kiosks
pull (the request's status and public note) and an audit row naming the link's id.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext

from server.audit import services as audit
from server.audit.actor import Actor
from server.dbutil import hash_secret
from server.dispatch.models import Escalation
from server.errors import InvalidInput, LinliError
from server.extensions import db
from server.replies.models import (
    FINAL_STATES,
    PHOTO_TYPES,
    REPLY_STATES,
    AgencyReply,
    ReplyLink,
)
from server.replies.words import reply_words
from server.requests import services as lifecycle
from server.requests.models import HelpRequest
from server.timeutil import utcnow
from sync.statuses import FINAL

NOTE_LIMIT = 500


class LinkGone(LinliError):
    """The reply link is unknown, replaced, used up, or its request is closed."""

    status = 410
    code = "link_gone"


def issue_link(escalation: Escalation, actor: Actor) -> str:
    """A new reply link for the escalation (earlier ones stop working); the token, shown once."""
    now = utcnow()
    db.session.execute(
        sa.update(ReplyLink)
        .where(ReplyLink.escalation_id == escalation.id, ReplyLink.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    link = ReplyLink(
        escalation_id=escalation.id, token_hash=hash_secret(token), issued_by=actor.label
    )
    db.session.add(link)
    db.session.flush()
    req = db.session.get_one(HelpRequest, escalation.request_id)
    audit.record(
        actor,
        req.community_id,
        "create",
        f"reply link #{link.id} for escalation #{escalation.id} ({escalation.agency.name})",
        "转办单 reply link",
        request_id=req.id,
    )
    return token


def open_link(token: str) -> ReplyLink:
    """The usable link of `token`, or `LinkGone` saying why it no longer works."""
    link = db.session.execute(
        sa.select(ReplyLink).where(ReplyLink.token_hash == hash_secret(token))
    ).scalar_one_or_none()
    if link is None:
        raise LinkGone(gettext("这个回复链接无效。请向转办的社区索取新的转办单。"), "link_unknown")
    if link.revoked_at is not None:
        raise LinkGone(
            gettext("这个回复链接已被新的转办单取代。请使用最新转办单上的链接。"), "link_replaced"
        )
    if link.used_up_at is not None:
        raise LinkGone(
            gettext("这次转办已经答复完毕，链接已失效。如有补充，请致电转办的社区。"),
            "link_used",
        )
    escalation = db.session.get_one(Escalation, link.escalation_id)
    req = db.session.get_one(HelpRequest, escalation.request_id)
    if req.status in FINAL:
        raise LinkGone(gettext("这条求助已经结案，回复链接已失效。"), "link_closed")
    return link


def photo_dir() -> Path:
    """The folder reply photos are kept in (outside anything served as static files)."""
    configured = current_app.config.get("LINLI_REPLY_PHOTO_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "reply-photos"


def _checked_photo(data: bytes) -> tuple[str, str]:
    """(type, file ending) of an acceptable photo, or `InvalidInput`."""
    limit = int(current_app.config["LINLI_REPLY_PHOTO_MAX_BYTES"])
    if len(data) > limit:
        raise InvalidInput(
            gettext("照片不能超过 %(mb)s MB", mb=round(limit / 1_000_000, 1)),
            "photo_too_large",
            field="photo",
        )
    for magic, kind in PHOTO_TYPES.items():
        if data.startswith(magic):
            return kind
    raise InvalidInput(gettext("照片须为 JPEG 或 PNG 图片"), "photo_type", field="photo")


def _store_photo(data: bytes, ending: str) -> str:
    """Write the photo under a random name (never the sender's), readable by the server only."""
    folder = photo_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = f"{secrets.token_hex(16)}.{ending}"
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return name


def answer(token: str, state: str, note: str | None, photo: bytes | None = None) -> AgencyReply:
    """Record an agency's reply through its link: the request's timeline, its public note (the
    kiosk hears it) and, on the first reply, the step from 已转交 to 部门已反馈; an optional
    photo (JPEG or PNG, size-checked) is kept for the community's staff."""
    link = open_link(token)
    if state not in REPLY_STATES:
        raise InvalidInput(gettext("请选择办理情况"), "bad_state", field="state")
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_LIMIT:
        raise InvalidInput(gettext("说明最多 %(n)s 个字", n=NOTE_LIMIT), "too_long", field="note")
    photo_type = photo_name = None
    if photo:
        photo_type, ending = _checked_photo(photo)
        photo_name = _store_photo(photo, ending)
    escalation = db.session.get_one(Escalation, link.escalation_id)
    req = db.session.get_one(HelpRequest, escalation.request_id)
    agency = escalation.agency
    actor = Actor.agency(agency.name, link.id)
    reply = AgencyReply(
        escalation_id=escalation.id,
        link_id=link.id,
        state=state,
        note=note,
        photo_name=photo_name,
        photo_type=photo_type,
    )
    db.session.add(reply)
    if state in FINAL_STATES:
        link.used_up_at = utcnow()
    words = gettext("%(agency)s：%(state)s", agency=agency.name, state=reply_words(state))
    entry = f"{words}（{note}）" if note else words
    if req.status == "escalated":
        lifecycle.record_external_feedback(req, actor, entry)
    else:
        lifecycle.add_note(req, actor, entry)
    lifecycle.set_public_note(req, actor, words[:200])
    audit.record(
        actor,
        req.community_id,
        "change",
        f"reply link #{link.id}: escalation #{escalation.id} answered {state}",
        "agency reply 职能部门处置反馈",
        request_id=req.id,
    )
    db.session.flush()
    return reply


def erase_replies(escalation_ids: list[int]) -> None:
    """Erase what agencies replied to these escalations: notes emptied, photos deleted (a
    resident's erasure reaches them through `server.requests.erasure.REPLY_ERASURE`)."""
    if not escalation_ids:
        return
    replies = db.session.execute(
        sa.select(AgencyReply).where(AgencyReply.escalation_id.in_(escalation_ids))
    ).scalars()
    for reply in replies:
        reply.note = None
        if reply.photo_name is not None:
            (photo_dir() / reply.photo_name).unlink(missing_ok=True)
            reply.photo_name = reply.photo_type = None
