"""Volunteer hours' states, sources and note kinds in the reader's words (msgids Chinese)."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

HOUR_STATE_WORDS: dict[str, LazyString] = {
    "open": _l("服务中"),
    "pending": _l("待审核"),
    "approved": _l("已通过"),
    "declined": _l("未通过"),
}
"""Every state of server.volunteers.models.HOUR_STATES, in words."""

SOURCE_WORDS: dict[str, LazyString] = {"recorded": _l("签到记录"), "manual": _l("手工补录")}
"""Every source of server.volunteers.models.SOURCES, in words."""

NOTE_KIND_WORDS: dict[str, LazyString] = {
    "training": _l("培训"),
    "award": _l("表彰奖励"),
    "evaluation": _l("评价"),
}
"""Every kind of server.volunteers.models.NOTE_KINDS, in words."""


def hours_words(code: str) -> str:
    """The words for an hours state, a source or a note kind (an unknown code as it is)."""
    for words in (HOUR_STATE_WORDS, SOURCE_WORDS, NOTE_KIND_WORDS):
        if code in words:
            return str(words[code])
    return code
