"""A request's status in the console's words (Chinese first, as the console's other text)."""

from __future__ import annotations

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
