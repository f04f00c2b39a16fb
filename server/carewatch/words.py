"""The care watch's codes in words (Chinese msgids, English in the catalog)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

REASON_WORDS: dict[str, LazyString] = {
    "living_alone": _l("独居"),
    "elderly": _l("高龄"),
    "disabled_family": _l("失能家属"),
    "after_hospital": _l("出院后"),
}
RHYTHM_WORDS: dict[str, LazyString] = {
    "daily": _l("每天"),
    "every_2_3_days": _l("每两三天"),
    "weekly": _l("每周"),
}
QUIET_WORDS: dict[str, LazyString] = {
    "in_hospital": _l("住院"),
    "visiting_family": _l("去子女家"),
    "other": _l("其他"),
}
CONSENT_WORDS: dict[str, LazyString] = {"given": _l("同意"), "declined": _l("拒绝")}
CHANNEL_WORDS: dict[str, LazyString] = {
    "kiosk": _l("终端报平安"),
    "visit": _l("探访"),
    "call": _l("电话"),
    "request": _l("求助"),
    "job": _l("上门服务"),
    "meal": _l("助餐"),
    "activity": _l("活动"),
    "staff_call": _l("社工电话"),
}
OUTCOME_WORDS: dict[str, LazyString] = {
    "ok": _l("好"),
    "needs_help": _l("需要帮助"),
    "no_answer": _l("没开门 / 没接通"),
}
STEP_WORDS: dict[int, LazyString] = {
    1: _l("第一步：楼长或结对志愿者上门探访"),
    2: _l("第二步：社工电话联系"),
    3: _l("第三步：联系家属，与物业商定上门"),
}
