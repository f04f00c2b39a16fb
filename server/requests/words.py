"""A request's status, priority, timeline entries and deliveries in the reader's words.

The msgids are Chinese (the console's default); server/translations/en holds the English.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import LazyString, gettext
from flask_babel import lazy_gettext as _l

from server.localtime import local_zone

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
    "order": _l("转办单送达"),
}
"""An escalation's delivery state, in words."""


ACTION_WORDS: dict[str, LazyString] = {
    "triage": _l("分诊"),
    "dispatch": _l("派单"),
    "accept": _l("接单"),
    "decline": _l("退回"),
    "arrive": _l("到场"),
    "complete": _l("完成"),
    "follow_up": _l("回访"),
    "close": _l("结案"),
    "escalate": _l("吹哨"),
    "external_feedback": _l("记录部门反馈"),
    "cancel": _l("取消"),
    "merge": _l("合并"),
    "reopen": _l("重新打开"),
}
"""Every lifecycle action (server.requests.services.TRANSITIONS), in words."""

FIELD_WORDS: dict[str, LazyString] = {
    "channel": _l("渠道"),
    "reporter_kind": _l("报告人类型"),
    "reporter_name": _l("报告人姓名"),
    "category": _l("类别"),
    "room": _l("房间"),
    "phone": _l("电话"),
    "details": _l("求助内容"),
    "note": _l("备注"),
    "volunteers": _l("志愿者"),
    "reason": _l("原因"),
    "what was done": _l("处理情况"),
    "feedback": _l("反馈"),
    "public note": _l("公开说明"),
}
"""The request fields named in errors, in words (the error's `field` keeps the code)."""


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


def action_words(action: str) -> str:
    """The words for a lifecycle action (an unknown one as it is)."""
    return str(ACTION_WORDS.get(action, action))


def field_words(field: str) -> str:
    """The words for a request field named in an error (an unknown one as it is)."""
    return str(FIELD_WORDS.get(field, field))


TIME_LABELS: dict[str, str] = {
    "today_am": "今天上午",
    "today_pm": "今天下午",
    "tomorrow": "明天",
    "any": "都可以",
}
"""Each of sync.messages.PREFERRED_TIMES as the kiosk offers it (msgids, English in the catalog)."""


def preferred_time_words(code: str | None, received_at: datetime) -> str | None:
    """When the resident would like help, as a local day: 11-30 上午, 12-01 全天, 都可以."""
    if code is None:
        return None
    day = received_at.astimezone(local_zone()).date()
    if code == "today_am":
        return str(gettext("%(day)s 上午", day=day.strftime("%m-%d")))
    if code == "today_pm":
        return str(gettext("%(day)s 下午", day=day.strftime("%m-%d")))
    if code == "tomorrow":
        return str(gettext("%(day)s 全天", day=(day + timedelta(days=1)).strftime("%m-%d")))
    if code == "any":
        return str(gettext("都可以"))
    return code
