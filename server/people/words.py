"""A resident's mobility in the reader's words (msgids Chinese, English in the catalog)."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

MOBILITY_WORDS: dict[str, LazyString] = {
    "independent": _l("行动自如"),
    "walking_aid": _l("需助行器"),
    "wheelchair": _l("轮椅"),
    "bedridden": _l("卧床"),
}
"""Every code of server.people.models.MOBILITY, in words."""


def mobility_words(code: str) -> str:
    """The words for a mobility code (an unknown one as it is)."""
    return str(MOBILITY_WORDS.get(code, code))
