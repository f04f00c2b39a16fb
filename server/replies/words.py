"""An agency's reply states, in words."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

REPLY_WORDS: dict[str, LazyString] = {
    "accepted": _l("已受理"),
    "in_progress": _l("处理中"),
    "done": _l("已办结"),
    "not_ours": _l("不属于本单位职责"),
}
"""Every reply state (server.replies.models.REPLY_STATES), in words."""


def reply_words(state: str) -> str:
    """The words for a reply state (an unknown one as it is)."""
    return str(REPLY_WORDS.get(state, state))
