"""Raise, link, adopt and follow 民生实事 to done; every change audited."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask_babel import gettext

from server.audit import services as audit
from server.audit.actor import Actor
from server.errors import Conflict, InvalidInput
from server.extensions import db
from server.localtime import local_today
from server.minsheng.models import (
    MOVES,
    OUTCOMES,
    SOURCES,
    MeetingDecision,
    MinshengItem,
    MinshengLink,
)
from server.minsheng.queries import suggestions
from server.minsheng.words import season_words, state_words
from server.requests.models import HelpRequest
from server.timeutil import utcnow


def _text(value: str | None, limit: int, code: str, required: bool) -> str | None:
    text = (value or "").strip()
    if required and not text:
        raise InvalidInput(gettext("请填写这一项"), code)
    if len(text) > limit:
        raise InvalidInput(gettext("最多 %(n)s 个字", n=limit), code)
    return text or None


def create_item(
    community_id: int,
    title: str,
    source: str,
    owner: str | None,
    due_on: date | None,
    actor: Actor,
    pattern_key: str | None = None,
) -> MinshengItem:
    """A proposed item of the community's 民生实事清单."""
    if source not in SOURCES:
        raise InvalidInput(gettext("请选择来源"), "bad_source")
    item = MinshengItem(
        community_id=community_id,
        title=_text(title, 200, "bad_title", True),
        source=source,
        pattern_key=pattern_key,
        owner=_text(owner, 100, "bad_owner", False),
        due_on=due_on,
        state="proposed",
        created_by=actor.label,
    )
    db.session.add(item)
    db.session.flush()
    audit.record(actor, community_id, "create", f"民生实事 #{item.id}", "民生实事清单")
    return item


def link_request(item: MinshengItem, request_id: int, actor: Actor) -> None:
    """Link one of the community's requests to the item (once)."""
    req = db.session.get(HelpRequest, request_id)
    if req is None or req.community_id != item.community_id:
        raise InvalidInput(gettext("本社区没有这条求助"), "bad_request")
    exists = sa.select(MinshengLink.id).where(
        MinshengLink.item_id == item.id, MinshengLink.request_id == request_id
    )
    if db.session.execute(exists).first():
        raise Conflict(gettext("这条求助已经关联"), "linked")
    db.session.add(MinshengLink(item_id=item.id, request_id=request_id))
    item.updated_at = utcnow()
    db.session.flush()
    audit.record(
        actor,
        item.community_id,
        "link",
        f"民生实事 #{item.id}: request #{request_id} linked",
        "民生实事清单",
        request_id=request_id,
    )


def move(item: MinshengItem, to: str, reason: str | None, actor: Actor) -> None:
    """Move the item on (adopted, in progress, done, dropped with a reason)."""
    if to not in MOVES.get(item.state, frozenset()):
        raise Conflict(
            gettext(
                "民生实事%(state)s，不能改为%(to)s",
                state=state_words(item.state),
                to=state_words(to),
            ),
            "illegal_move",
        )
    if to == "dropped":
        item.drop_reason = _text(reason, 300, "bad_reason", True)
    before = item.state
    item.state = to
    item.updated_at = utcnow()
    db.session.flush()
    audit.record(
        actor, item.community_id, "change", f"民生实事 #{item.id}: {before} → {to}", "民生实事清单"
    )


def adopt_suggestion(community_id: int, key: str, title: str, actor: Actor) -> MinshengItem:
    """An item from a pattern suggested today, adopted at once, with its requests linked."""
    found = [s for s in suggestions(community_id, local_today()) if s.key == key]
    if not found:
        raise Conflict(gettext("这条建议已经采纳或不再成立"), "no_suggestion")
    (suggestion,) = found
    title = title.strip() or gettext(
        "%(building)s号楼%(season)s%(category)s问题集中处理",
        building=suggestion.building,
        season=season_words(suggestion.season.name),
        category=suggestion.category.name_zh,
    )
    item = create_item(
        community_id, title, "pattern", actor.label, None, actor, pattern_key=suggestion.key
    )
    for request_id in suggestion.request_ids:
        link_request(item, request_id, actor)
    move(item, "adopted", None, actor)
    return item


def record_decision(
    community_id: int,
    week_start: date,
    text: str,
    owner: str | None,
    item_id: int | None,
    request_id: int | None,
    actor: Actor,
) -> MeetingDecision:
    """A decision of the week's joint meeting on one of the community's items or cases."""
    if item_id is not None:
        item = db.session.get(MinshengItem, item_id)
        if item is None or item.community_id != community_id:
            raise InvalidInput(gettext("本社区没有这项民生实事"), "bad_item")
    if request_id is not None:
        req = db.session.get(HelpRequest, request_id)
        if req is None or req.community_id != community_id:
            raise InvalidInput(gettext("本社区没有这条求助"), "bad_request")
    decision = MeetingDecision(
        community_id=community_id,
        week_start=week_start,
        item_id=item_id,
        request_id=request_id,
        text=_text(text, 500, "bad_text", True),
        owner=_text(owner, 100, "bad_owner", False),
        outcome="open",
        decided_by=actor.label,
    )
    db.session.add(decision)
    db.session.flush()
    audit.record(
        actor,
        community_id,
        "create",
        f"meeting decision #{decision.id} ({week_start.isoformat()})",
        "联席会决定",
        request_id=request_id,
    )
    return decision


def record_outcome(decision: MeetingDecision, outcome: str, note: str | None, actor: Actor) -> None:
    """What became of a decision (done or not done), as the next meeting found it."""
    if outcome not in OUTCOMES or outcome == "open":
        raise InvalidInput(gettext("请选择落实情况"), "bad_outcome")
    decision.outcome = outcome
    decision.outcome_note = _text(note, 300, "bad_note", False)
    decision.outcome_at = utcnow()
    db.session.flush()
    audit.record(
        actor,
        decision.community_id,
        "change",
        f"meeting decision #{decision.id}: {outcome}",
        "联席会决定",
        request_id=decision.request_id,
    )
