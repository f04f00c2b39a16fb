"""Audit actions in the reader's words (msgids Chinese, English in the catalog)."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

ACTION_WORDS: dict[str, LazyString] = {
    "view": _l("查看"),
    "export": _l("导出"),
    "change": _l("修改"),
    "create": _l("新建"),
    "delete": _l("删除"),
    "link": _l("关联"),
}
"""Every action of server.audit.services.ACTIONS, in words."""


def audit_words(action: str) -> str:
    """The words for an audit action (an unknown one as it is)."""
    return str(ACTION_WORDS.get(action, action))
