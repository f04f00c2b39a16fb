"""A request's status, priority, timeline entries and deliveries in the reader's words.

The msgids are Chinese (the console's default); server/translations/en holds the English.
"""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

STATUS_WORDS: dict[str, LazyString] = {
    "received": _l("已收到"),
    "triaged": _l("已分类"),
    "dispatched": _l("已派单"),
    "accepted": _l("已接单"),
    "on_site": _l("已上门"),
    "completed": _l("已完成"),
    "followed_up": _l("已回访"),
    "closed_fixed": _l("已解决"),
    "closed_not_fixed": _l("未解决"),
    "escalated": _l("已转交"),
    "external_feedback": _l("外部已反馈"),
    "cancelled": _l("已取消"),
    "duplicate": _l("已合并"),
    "reopened": _l("重新打开"),
}
"""Every status of sync.statuses.STATUSES, in words (a test checks none is missing)."""

PRIORITY_WORDS: dict[str, LazyString] = {
    "normal": _l("一般"),
    "high": _l("优先"),
    "emergency": _l("紧急"),
}
"""Every priority a request can have, in words."""

EVENT_WORDS: dict[str, LazyString] = {
    "status": _l("状态"),
    "note": _l("内部备注"),
    "public_note": _l("公开说明"),
    "link": _l("关联档案"),
    "cancel": _l("取消"),
    "merge": _l("合并"),
    "delivery": _l("转办送达"),
    "conflict": _l("冲突"),
    "rejected": _l("被拒"),
}
"""The kinds of timeline entry, in words."""

DELIVERY_WORDS: dict[str, LazyString] = {
    "pending": _l("待发送"),
    "delivered": _l("已送达"),
    "failed": _l("送达失败"),
}
"""An escalation's delivery state, in words."""


def status_words(status: str) -> str:
    """The words for `status` (an unknown one as it is)."""
    return str(STATUS_WORDS.get(status, status))


def priority_words(priority: str) -> str:
    """The words for a request's priority (an unknown one as it is)."""
    return str(PRIORITY_WORDS.get(priority, priority))


def event_words(kind: str) -> str:
    """The words for a kind of timeline entry (an unknown one as it is)."""
    return str(EVENT_WORDS.get(kind, kind))


def delivery_words(state: str) -> str:
    """The words for an escalation's delivery state (an unknown one as it is)."""
    return str(DELIVERY_WORDS.get(state, state))
