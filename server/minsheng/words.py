"""民生实事 sources and states, in words."""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

SOURCE_WORDS: dict[str, LazyString] = {
    "meeting": _l("居民议事会"),
    "suggestion_box": _l("意见箱"),
    "pattern": _l("求助规律"),
}
STATE_WORDS: dict[str, LazyString] = {
    "proposed": _l("已提出"),
    "adopted": _l("已采纳"),
    "in_progress": _l("办理中"),
    "done": _l("已办结"),
    "dropped": _l("已放弃"),
}
MOVE_WORDS: dict[str, LazyString] = {
    "adopted": _l("采纳"),
    "in_progress": _l("开始办理"),
    "done": _l("办结"),
    "dropped": _l("放弃"),
}
OUTCOME_WORDS: dict[str, LazyString] = {
    "open": _l("待落实"),
    "done": _l("已落实"),
    "not_done": _l("未落实"),
}
SEASON_WORDS: dict[str, LazyString] = {
    "spring": _l("春季"),
    "summer": _l("夏季"),
    "autumn": _l("秋季"),
    "winter": _l("冬季"),
}


def source_words(source: str) -> str:
    """An item's source in words."""
    return str(SOURCE_WORDS.get(source, source))


def state_words(state: str) -> str:
    """An item's state in words."""
    return str(STATE_WORDS.get(state, state))


def move_words(state: str) -> str:
    """The button that moves an item to `state`."""
    return str(MOVE_WORDS.get(state, state))


def season_words(season: str) -> str:
    """A season's name."""
    return str(SEASON_WORDS.get(season, season))


def outcome_words(outcome: str) -> str:
    """A meeting decision's outcome in words."""
    return str(OUTCOME_WORDS.get(outcome, outcome))
