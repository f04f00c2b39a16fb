"""The 民生实事清单 pages of the console.

GET  /console/minsheng                          the first community in scope
GET  /console/minsheng/<cid>                    the list, suggestions from patterns, a new item
POST /console/minsheng/<cid>/items              a new item (meeting or suggestion box)
POST /console/minsheng/<cid>/suggestions        adopt a suggestion: an item with its requests
GET  /console/minsheng/items/<id>               one item: its requests and state
POST /console/minsheng/items/<id>/link          link a request of the community
POST /console/minsheng/items/<id>/move          adopted, in progress, done, dropped (reason)
POST /console/minsheng/<cid>/decisions          a joint meeting decision on an item or a case
POST /console/minsheng/decisions/<id>/outcome   what became of it (done, not done)
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from server.audit.actor import Actor
from server.auth import access
from server.errors import InvalidInput, LinliError, NotFound
from server.localtime import local_today
from server.minsheng import queries, services, words
from server.minsheng.models import MOVES, SOURCES, MinshengItem
from server.requests.words import status_words

bp = Blueprint("minsheng", __name__, url_prefix="/console/minsheng", template_folder="templates")


def _actor() -> Actor:
    return Actor.of_user(access.user())


def _due(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidInput(gettext("期限请写成 2026-12-31 这样的日期"), "bad_due") from exc


@bp.get("/")
def index() -> ResponseReturnValue:
    """The list of the first community the user works for."""
    scope = sorted(access.community_scope())
    if not scope:
        raise NotFound(gettext("没有可查看的社区"))
    return redirect(url_for("minsheng.community_list", community_id=scope[0]))


def _list_context(community_id: int) -> dict[str, object]:
    return {
        "community_id": community_id,
        "items": queries.items_of(community_id),
        "suggestions": queries.suggestions(community_id, local_today()),
        "sources": [(s, words.source_words(s)) for s in SOURCES if s != "pattern"],
        "words": words,
        "can_act": access.may(access.STAFF, community_id),
        "pattern_min": queries.PATTERN_MIN,
    }


@bp.get("/<int:community_id>")
def community_list(community_id: int) -> ResponseReturnValue:
    """The community's 民生实事清单 and the patterns suggested as items."""
    return render_template("minsheng/list.html", **_list_context(community_id))


@bp.post("/<int:community_id>/items")
def create(community_id: int) -> ResponseReturnValue:
    """A new item raised at a residents' meeting or in the suggestion box."""
    access.require_community(community_id)
    f = request.form
    try:
        item = services.create_item(
            community_id,
            f.get("title", ""),
            f.get("source", ""),
            f.get("owner"),
            _due(f.get("due", "")),
            _actor(),
        )
    except LinliError as exc:
        flash(exc.detail)
        return redirect(url_for("minsheng.community_list", community_id=community_id), 303)
    return redirect(url_for("minsheng.item_page", item_id=item.id), 303)


@bp.post("/<int:community_id>/suggestions")
def adopt(community_id: int) -> ResponseReturnValue:
    """Adopt a suggestion: an adopted item with the pattern's requests linked."""
    access.require_community(community_id)
    try:
        item = services.adopt_suggestion(
            community_id, request.form.get("key", ""), request.form.get("title", ""), _actor()
        )
    except LinliError as exc:
        flash(exc.detail)
        return redirect(url_for("minsheng.community_list", community_id=community_id), 303)
    return redirect(url_for("minsheng.item_page", item_id=item.id), 303)


def _item_context(item: MinshengItem) -> dict[str, object]:
    return {
        "item": item,
        "requests": queries.linked_requests(item),
        "moves": sorted(MOVES[item.state], key=list(MOVES).index),
        "words": words,
        "status_words": status_words,
        "can_act": access.may(access.STAFF, item.community_id),
    }


@bp.get("/items/<int:item_id>")
def item_page(item_id: int) -> ResponseReturnValue:
    """One item: source, owner, due date, state and its requests."""
    return render_template("minsheng/item.html", **_item_context(queries.load_item(item_id)))


@bp.post("/items/<int:item_id>/link")
def link(item_id: int) -> ResponseReturnValue:
    """Link a request of the item's community (by its number)."""
    item = queries.load_item(item_id)
    try:
        number = int(request.form.get("request", "").strip().lstrip("#"))
    except ValueError:
        flash(gettext("请填写求助编号"))
        return redirect(url_for("minsheng.item_page", item_id=item.id), 303)
    try:
        services.link_request(item, number, _actor())
    except LinliError as exc:
        flash(exc.detail)
    return redirect(url_for("minsheng.item_page", item_id=item.id), 303)


@bp.post("/items/<int:item_id>/move")
def move(item_id: int) -> ResponseReturnValue:
    """Move the item on; dropping needs a reason."""
    item = queries.load_item(item_id)
    try:
        services.move(item, request.form.get("to", ""), request.form.get("reason"), _actor())
    except LinliError as exc:
        flash(exc.detail)
    return redirect(url_for("minsheng.item_page", item_id=item.id), 303)


def _meeting(community_id: int) -> ResponseReturnValue:
    return redirect(url_for("reports.meeting", community_id=community_id) + "#decisions", 303)


def _optional_id(text: str | None) -> int | None:
    text = (text or "").strip().lstrip("#")
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput(gettext("请填写求助编号"), "bad_request")
    return int(text)


@bp.post("/<int:community_id>/decisions")
def decide(community_id: int) -> ResponseReturnValue:
    """Record a decision of this week's joint meeting (on an item or a case)."""
    access.require_community(community_id)
    f = request.form
    today = local_today()
    try:
        services.record_decision(
            community_id,
            today - timedelta(days=today.weekday()),
            f.get("text", ""),
            f.get("owner"),
            _optional_id(f.get("item")),
            _optional_id(f.get("request")),
            _actor(),
        )
    except LinliError as exc:
        flash(exc.detail)
    return _meeting(community_id)


@bp.post("/decisions/<int:decision_id>/outcome")
def outcome(decision_id: int) -> ResponseReturnValue:
    """Record what became of a decision."""
    decision = queries.load_decision(decision_id)
    try:
        services.record_outcome(
            decision, request.form.get("outcome", ""), request.form.get("note"), _actor()
        )
    except LinliError as exc:
        flash(exc.detail)
    return _meeting(decision.community_id)
