"""A request's status in the console's words (Chinese first, as the console's other text)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext

from server.localtime import local_zone

STATUS_WORDS: dict[str, str] = {
    "received": "已收到 received",
    "triaged": "已分类 triaged",
    "dispatched": "已派单 dispatched",
    "accepted": "已接单 accepted",
    "on_site": "已上门 on site",
    "completed": "已完成 completed",
    "followed_up": "已回访 followed up",
    "closed_fixed": "已解决 closed, fixed",
    "closed_not_fixed": "未解决 closed, not fixed",
    "escalated": "已转交 escalated",
    "external_feedback": "外部已反馈 agency replied",
    "cancelled": "已取消 cancelled",
    "duplicate": "已合并 merged",
    "reopened": "重新打开 reopened",
}
"""Every status of sync.statuses.STATUSES, in words (a test checks none is missing)."""


def status_words(status: str) -> str:
    """The words for `status` (an unknown one as it is)."""
    return STATUS_WORDS.get(status, status)


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
