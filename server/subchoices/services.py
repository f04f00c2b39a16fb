"""Editing a community's sub-choices: add, rename, reorder, retire, restore, remove.

Each change is audited and republishes the community record, so its kiosks offer the new list
at their next pull. A sub-choice a request names is never removed, only retired: the request
keeps its words and kiosks stop offering it.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext

from server.audit import services as audit
from server.audit.actor import Actor
from server.communities.models import Community
from server.communities.services import community_change
from server.errors import Conflict, InvalidInput, NotFound
from server.extensions import db
from server.requests.models import Category, SubChoice
from server.subchoices.queries import choices_of, uses
from server.synclog.changes import record_changes
from sync.choices import DEFAULT_CHOICES, MAX_CHOICES
from sync.messages import OTHER_CHOICE

MOVES = ("up", "down")


def publish(community: Community) -> None:
    """Republish the community record (with its sub-choices) to its kiosks."""
    record_changes([community_change(community)])


def category_by_code(code: str) -> Category:
    """An active category by code, or `NotFound`."""
    category = db.session.execute(
        sa.select(Category).where(Category.code == code, Category.is_active)
    ).scalar_one_or_none()
    if category is None:
        raise NotFound(gettext("没有这个求助类别"), "unknown_category")
    return category


def choice_by_code(community: Community, category: Category, code: str) -> SubChoice:
    """One sub-choice of a community's category, or `NotFound`."""
    choice = db.session.execute(
        sa.select(SubChoice).where(
            SubChoice.community_id == community.id,
            SubChoice.category_id == category.id,
            SubChoice.code == code,
        )
    ).scalar_one_or_none()
    if choice is None:
        raise NotFound(gettext("没有这个细分选项"), "unknown_choice")
    return choice


def seed_defaults(community: Community, publish_now: bool = True) -> int:
    """Give a community the default sub-choices it lacks (by code); republish when any added
    (unless the caller publishes the community record itself)."""
    categories = {
        c.code: c
        for c in db.session.execute(sa.select(Category).where(Category.is_active)).scalars()
    }
    have = {(c.category_id, c.code) for c in choices_of(community.id)}
    added = 0
    for code, defaults in DEFAULT_CHOICES.items():
        category = categories.get(code)
        if category is None:
            continue
        for i, (choice_code, zh, en) in enumerate(defaults):
            if (category.id, choice_code) in have:
                continue
            db.session.add(
                SubChoice(
                    community_id=community.id,
                    category_id=category.id,
                    code=choice_code,
                    name_zh=zh,
                    name_en=en,
                    sort_order=(i + 1) * 10,
                    is_active=True,
                )
            )
            added += 1
    db.session.flush()
    if added and publish_now:
        publish(community)
    return added


def seed_new_community(community: Community) -> int:
    """The defaults for a community being created (its record is published by the caller)."""
    return seed_defaults(community, publish_now=False)


def _names(name_zh: str, name_en: str) -> tuple[str, str]:
    zh, en = (name_zh or "").strip(), (name_en or "").strip()
    if not 1 <= len(zh) <= 12:
        raise InvalidInput(gettext("中文名称要1到12个字"), "bad_name_zh", field="name_zh")
    if len(en) > 64:
        raise InvalidInput(gettext("英文名称最多64个字符"), "bad_name_en", field="name_en")
    if "\x00" in zh + en:
        raise InvalidInput(gettext("名称里有无法保存的字符"), "bad_name_zh", field="name_zh")
    return zh, en or zh


def _active(community: Community, category: Category) -> list[SubChoice]:
    return [c for c in choices_of(community.id, category.id) if c.is_active]


def _room_for_one_more(community: Community, category: Category) -> None:
    if len(_active(community, category)) >= MAX_CHOICES:
        raise Conflict(
            gettext("每个类别最多%(count)d个选项，请先停用一个", count=MAX_CHOICES),
            "too_many_choices",
        )


def _audit(actor: Actor, choice: SubChoice, what: str) -> None:
    audit.record(
        actor,
        choice.community_id,
        "change",
        f"sub-choice {choice.category.code}/{choice.code}: {what}",
        "community's sub-choices",
    )


def add_choice(
    community: Community, category: Category, name_zh: str, name_en: str, actor: Actor
) -> SubChoice:
    """A new sub-choice at the end of the category's list (at most MAX_CHOICES active)."""
    zh, en = _names(name_zh, name_en)
    _room_for_one_more(community, category)
    existing = choices_of(community.id, category.id)
    if any(c.name_zh == zh for c in existing):
        raise Conflict(gettext("已经有这个选项了"), "choice_exists")
    taken = {c.code for c in existing} | {OTHER_CHOICE}
    number = len(existing) + 1
    while f"own_{number}" in taken:
        number += 1
    choice = SubChoice(
        community_id=community.id,
        category_id=category.id,
        category=category,
        code=f"own_{number}",
        name_zh=zh,
        name_en=en,
        sort_order=max((c.sort_order for c in existing), default=0) + 10,
        is_active=True,
    )
    db.session.add(choice)
    db.session.flush()
    _audit(actor, choice, f"added {zh} / {en}")
    publish(community)
    return choice


def rename_choice(
    community: Community, choice: SubChoice, name_zh: str, name_en: str, actor: Actor
) -> None:
    """New words for a sub-choice; its code (what requests hold) stays."""
    zh, en = _names(name_zh, name_en)
    before = f"{choice.name_zh} / {choice.name_en}"
    choice.name_zh, choice.name_en = zh, en
    db.session.flush()
    _audit(actor, choice, f"renamed {before} -> {zh} / {en}")
    publish(community)


def move_choice(community: Community, choice: SubChoice, direction: str, actor: Actor) -> None:
    """Swap a sub-choice with its neighbour above or below (the list is renumbered by tens)."""
    if direction not in MOVES:
        raise InvalidInput(gettext("只能上移或下移"), "bad_direction", field="direction")
    ordered = choices_of(community.id, choice.category_id)
    at = ordered.index(choice)
    other = at - 1 if direction == "up" else at + 1
    if 0 <= other < len(ordered):
        ordered[at], ordered[other] = ordered[other], ordered[at]
    for i, item in enumerate(ordered):
        item.sort_order = (i + 1) * 10
    db.session.flush()
    _audit(actor, choice, f"moved {direction}")
    publish(community)


def retire_choice(community: Community, choice: SubChoice, actor: Actor) -> None:
    """Stop offering a sub-choice; requests that name it keep its words."""
    choice.is_active = False
    db.session.flush()
    _audit(actor, choice, "retired")
    publish(community)


def restore_choice(community: Community, choice: SubChoice, actor: Actor) -> None:
    """Offer a retired sub-choice again (within MAX_CHOICES)."""
    if not choice.is_active:
        _room_for_one_more(community, choice.category)
    choice.is_active = True
    db.session.flush()
    _audit(actor, choice, "restored")
    publish(community)


def remove_choice(community: Community, choice: SubChoice, actor: Actor) -> None:
    """Delete a sub-choice no request names (one in use can only be retired)."""
    if uses(choice):
        raise Conflict(gettext("已有求助用了这个选项，只能停用，不能删除"), "choice_in_use")
    _audit(actor, choice, f"removed {choice.name_zh}")
    db.session.delete(choice)
    db.session.flush()
    publish(community)


ACTIONS = ("add", "rename", "up", "down", "retire", "restore", "remove")


def edit_choices(
    community: Community, category: Category, action: str, form: dict[str, str], actor: Actor
) -> str:
    """One edit of the admin page or the CLI, by name; answers what was done, in words."""
    if action == "add":
        added = add_choice(
            community, category, form.get("name_zh", ""), form.get("name_en", ""), actor
        )
        return str(gettext("已添加：%(name)s", name=added.name_zh))
    if action not in ACTIONS:
        raise InvalidInput(gettext("不认识的操作"), "bad_action", field="action")
    choice = choice_by_code(community, category, form.get("code", ""))
    if action == "rename":
        rename_choice(community, choice, form.get("name_zh", ""), form.get("name_en", ""), actor)
        return str(gettext("已改名：%(name)s", name=choice.name_zh))
    if action in MOVES:
        move_choice(community, choice, action, actor)
        return str(gettext("已调整顺序：%(name)s", name=choice.name_zh))
    if action == "retire":
        retire_choice(community, choice, actor)
        return str(gettext("已停用：%(name)s", name=choice.name_zh))
    if action == "restore":
        restore_choice(community, choice, actor)
        return str(gettext("已恢复：%(name)s", name=choice.name_zh))
    name = choice.name_zh
    remove_choice(community, choice, actor)
    return str(gettext("已删除：%(name)s", name=name))


def edit_community_choices(
    community_id: int, category_code: str, action: str, form: dict[str, str], actor: Actor
) -> str:
    """`edit_choices` for a community and category named by id and code (the admin page)."""
    community = db.session.get(Community, community_id)
    if community is None:
        raise NotFound(gettext("没有这个社区"), "unknown_community")
    return edit_choices(community, category_by_code(category_code), action, form, actor)
