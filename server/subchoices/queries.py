"""Reading sub-choices: a community's list for kiosks and pages, and their words by code."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import gettext

from server.communities.models import Community
from server.errors import NotFound
from server.extensions import db
from server.requests.models import Category, HelpRequest, SubChoice
from sync.messages import OTHER_CHOICE, ChoiceData


def choices_of(community_id: int, category_id: int | None = None) -> list[SubChoice]:
    """A community's sub-choices (active and retired), by category order then their own."""
    query = (
        sa.select(SubChoice)
        .join(Category, Category.id == SubChoice.category_id)
        .where(SubChoice.community_id == community_id)
        .order_by(Category.sort_order, SubChoice.sort_order, SubChoice.id)
    )
    if category_id is not None:
        query = query.where(SubChoice.category_id == category_id)
    return list(db.session.execute(query).scalars())


def wire_choices(community_id: int) -> list[ChoiceData]:
    """The active sub-choices kiosks of the community offer, in display order."""
    return [
        ChoiceData(
            category=c.category.code,
            code=c.code,
            name_zh=c.name_zh,
            name_en=c.name_en,
            sort=c.sort_order,
        )
        for c in choices_of(community_id)
        if c.is_active
    ]


def choice_words(community_id: int, category_id: int, code: str | None) -> str | None:
    """A request's sub-choice in words (其他 for `other`, the code itself if unknown)."""
    if code is None:
        return None
    if code == OTHER_CHOICE:
        return str(gettext("其他"))
    name = db.session.execute(
        sa.select(SubChoice.name_zh).where(
            SubChoice.community_id == community_id,
            SubChoice.category_id == category_id,
            SubChoice.code == code,
        )
    ).scalar_one_or_none()
    return name or code


def names_by_key(community_ids: set[int]) -> dict[tuple[int, int, str], str]:
    """Sub-choice names by (community, category, code), for pages listing many requests."""
    if not community_ids:
        return {}
    rows = db.session.execute(
        sa.select(
            SubChoice.community_id, SubChoice.category_id, SubChoice.code, SubChoice.name_zh
        ).where(SubChoice.community_id.in_(community_ids))
    )
    return {(r.community_id, r.category_id, r.code): r.name_zh for r in rows}


def uses(choice: SubChoice) -> int:
    """How many requests name this sub-choice."""
    return int(
        db.session.execute(
            sa.select(sa.func.count())
            .select_from(HelpRequest)
            .where(
                HelpRequest.community_id == choice.community_id,
                HelpRequest.category_id == choice.category_id,
                HelpRequest.choice_code == choice.code,
            )
        ).scalar_one()
    )


def choices_page(category_code: str, community_id: int) -> dict[str, Any]:
    """What the admin page shows: the category, the community and its sub-choices with uses."""
    category = db.session.execute(
        sa.select(Category).where(Category.code == category_code, Category.is_active)
    ).scalar_one_or_none()
    community = db.session.get(Community, community_id)
    if category is None or community is None:
        raise NotFound(gettext("没有这个求助类别"), "unknown_category")
    choices = choices_of(community_id, category.id)
    counts = dict(
        db.session.execute(
            sa.select(HelpRequest.choice_code, sa.func.count())
            .where(
                HelpRequest.community_id == community_id,
                HelpRequest.category_id == category.id,
                HelpRequest.choice_code.is_not(None),
            )
            .group_by(HelpRequest.choice_code)
        ).all()
    )
    categories = list(
        db.session.execute(
            sa.select(Category).where(Category.is_active).order_by(Category.sort_order)
        ).scalars()
    )
    return {
        "category": category,
        "community": community,
        "choices": choices,
        "uses": {c.code: int(counts.get(c.code, 0)) for c in choices},
        "active": sum(1 for c in choices if c.is_active),
        "categories": categories,
    }
