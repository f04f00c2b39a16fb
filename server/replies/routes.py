"""The agency's reply page (no account: the 转办单's link is the key) and the console's
"new reply link" action.

GET  /r/<token>                         the reply page: the 转办单's facts and earlier replies
POST /r/<token>                         record a reply (CSRF-protected, rate-limited)
POST /console/requests/<id>/escalations/<e>/reply-link   issue a reply link: the 转办单 with it
GET  /console/replies/<id>/photo        a reply's photo, for staff of the request's community
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from server.audit import services as audit
from server.audit.actor import Actor
from server.auth import access
from server.errors import InvalidInput
from server.replies import queries, services
from server.replies.models import REPLY_STATES
from server.replies.services import LinkGone
from server.replies.words import reply_words
from server.requests import queries as request_queries
from server.timeutil import utcnow

bp = Blueprint("replies", __name__, template_folder="templates")
console_bp = Blueprint("replies_console", __name__, url_prefix="/console")


@bp.errorhandler(LinkGone)
def _gone(exc: LinkGone) -> ResponseReturnValue:
    return render_template("replies/gone.html", detail=exc.detail), 410


def _page(token: str, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    link = services.open_link(token)
    order = queries.order_of(link)
    replies = queries.replies_to([link.escalation_id])[link.escalation_id]
    page = render_template(
        "replies/answer.html",
        order=order,
        replies=replies,
        states=[(s, reply_words(s)) for s in REPLY_STATES],
        reply_words=reply_words,
        token=token,
        error=error,
        note_limit=services.NOTE_LIMIT,
    )
    return page, status


@bp.get("/r/<token>")
def answer_page(token: str) -> ResponseReturnValue:
    """The reply page of a 转办单's link: what the 转办单 shows, and the reply form."""
    return _page(token)


@bp.post("/r/<token>")
def answer(token: str) -> ResponseReturnValue:
    """Record the agency's reply; the page again, with it."""
    try:
        upload = request.files.get("photo")
        photo = upload.read() if upload is not None and upload.filename else None
        services.answer(token, request.form.get("state", ""), request.form.get("note"), photo)
    except InvalidInput as exc:
        return _page(token, exc.detail, 400)
    return render_template("replies/thanks.html")


@console_bp.post("/requests/<int:request_id>/escalations/<int:escalation_id>/reply-link")
def issue(request_id: int, escalation_id: int) -> ResponseReturnValue:
    """A new reply link (earlier ones stop working): the 转办单 printed with it, shown once."""
    req = request_queries.load_request(request_id)
    escalation = request_queries.escalation_for(req, escalation_id)
    token = services.issue_link(escalation, Actor.of_user(access.user()))
    order = request_queries.transfer_order(req, escalation.id)
    return render_template(
        "console/transfer_order.html",
        order=order,
        printed_at=utcnow(),
        reply_url=url_for("replies.answer_page", token=token, _external=True),
        reply_subject=gettext("转办单 #%(id)s：请回复办理情况", id=escalation.id),
    )


@console_bp.get("/replies/<int:reply_id>/photo")
def photo(reply_id: int) -> ResponseReturnValue:
    """The photo an agency attached to its reply, audited as a view of the request."""
    reply, req = queries.photo_of(reply_id)
    audit.record(
        Actor.of_user(access.user()), req.community_id, "view",
        f"agency reply #{reply.id}: photo", "agency reply photo", request_id=req.id,
    )  # fmt: skip
    data = (services.photo_dir() / str(reply.photo_name)).read_bytes()  # at most 2 MB
    answer = Response(data, mimetype=reply.photo_type)
    answer.headers["Cache-Control"] = "private, no-store"
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return answer
