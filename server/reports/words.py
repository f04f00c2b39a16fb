"""The reports' formulas, measures and state groups in the reader's words.

Each formula's English (in the catalog) is the docstring of the function that computes the
figure, word for word (a test checks), so the page states what the code does in either language.
"""

from __future__ import annotations

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

FORMULAS: dict[str, LazyString] = {
    "states": _l("统计期内收到的求助，按类别和当前状态组计数。"),
    "watched": _l(
        "每个楼栋单元的守望老人数 = 该单元中守望计划当前为“守望”的居民数"
        "（只显示人数，不显示姓名或房间）。"
    ),
    "care_week": _l(
        "守望 = 守望计划当前为“守望”的居民；按节奏 = 近 7 天没有错过节奏的守望居民；"
        "逾期 = 当前已超过节奏和宽限期（或有未结跟进步骤）的守望居民；"
        "升级 = 近 7 天内到达第 2 或第 3 步的事件；"
        "首次跟进用时 = 从错过节奏到第一个跟进任务的小时数的中位数。"
    ),
    "care_months": _l(
        "按统计期内每个自然月：守望 = 守望计划当前为“守望”的居民；"
        "按节奏比例 = 当月没有错过节奏的守望居民 ÷ 守望；"
        "完成联系用时 = 从错过节奏（事件开始）到其后第一个平安信号或联系"
        "（“没开门”“没接通”除外）的小时数，"
        "只计当月开始并已得到回应的事件；取中位数和 P90（最近秩）。"
    ),
    "channels": _l("统计期内收到的求助，按渠道计数（每个渠道都列出，包括 0）。"),
    "choices": _l(
        "统计期内收到的求助，按类别和具体问题计数（包括 0），另列“其他”和“未说明”；"
        "列出有具体问题或有求助的类别。"
    ),
    "times": _l("统计期内收到的求助，按居民希望的时间计数（每项都列出，包括 0），另列“未说明”。"),
    "measures": _l(
        "统计期内收到的求助：每项时效的中位数和第 90 百分位数，单位分钟，只计到达该步骤的求助"
        "（n 为到达的件数）。"
    ),
    "median": _l("排序后居中的值（n 为偶数时取中间两个值的平均）。"),
    "p90": _l("第 90 百分位数，最近秩法：排序后第 ceil(0.9 * n) 位的值。"),
    "service": _l(
        "统计期内开始、已审核的服务记录，按服务队：服务次数 = 记录数；志愿者 = 不重复的志愿者数；"
        "时长 = 已审核分钟数之和 ÷ 60，签到记录与手工补录分开统计。"
    ),
    "retention": _l(
        "对下一季度也在统计期内的每个季度 Q（统计期在一个季度之内时，取它的上一季度）："
        "留存率 = |Q 内活跃 ∩ Q+1 内活跃| ÷ |Q 内活跃|，活跃 = 该季度至少开始一条已审核的服务记录。"
    ),
    "elders": _l(
        "统计期内收到的求助（不含已取消、重复）关联的不重复居民；老人 = 按出生年份在统计期最后一年"
        "满 60 岁；独居比例 = 独居老人 ÷ 老人。已删除的档案和出生年份不详的不计。"
    ),
    "needs": _l(
        "统计期内收到的求助（不含重复），按所在房间的楼栋和单元计数；深浅等级 = "
        "ceil(4 * 件数 ÷ 最大件数)。"
    ),
    "level": _l("深浅等级：无求助为 0，否则 ceil(4 * 件数 ÷ 最大值)（1 到 4）。"),
    "meeting": _l(
        "未结疑难案例 = 曾转交或重新打开、或已开放超过 7 天的未结求助；"
        "超时 = 已过类别时限仍未到场；待部门反馈 = 已转交但部门尚未反馈的求助。"
    ),
}
"""Each figure's formula, keyed as the report templates use them."""

MEASURE_WORDS: dict[str, LazyString] = {
    "acknowledge": _l("受理"),
    "queue": _l("派单用时"),
    "response": _l("到场用时"),
    "resolve": _l("完成用时"),
    "close": _l("结案用时"),
}
"""Each response measure's name (server.reports.queries.MEASURES)."""

MEASURE_FORMULAS: dict[str, LazyString] = {
    "acknowledge": _l("工作人员第一次改变状态 − 收到"),
    "queue": _l("第一次派单 − 收到"),
    "response": _l("到场 − 收到"),
    "resolve": _l("第一次完成 − 收到"),
    "close": _l("第一次结案（无论是否解决）− 收到"),
}
"""Each measure's formula; the English is server.reports.queries.MEASURES (a test checks)."""

GROUP_WORDS: dict[str, LazyString] = {
    "new": _l("新求助"),
    "in progress": _l("处理中"),
    "escalated": _l("已转交"),
    "awaiting close": _l("待结案"),
    "closed fixed": _l("已解决"),
    "closed not fixed": _l("未解决"),
    "cancelled": _l("已取消"),
    "duplicate": _l("已合并"),
}
"""Each state group of server.reports.queries.STATE_GROUPS."""


def formulas() -> dict[str, str]:
    """Every formula in the reader's language."""
    return {name: str(text) for name, text in FORMULAS.items()}


def report_words(kind: str, code: str) -> str:
    """A measure's name (`measure`), a measure's formula (`formula`) or a state group's name
    (`group`) in words; an unknown code as it is."""
    table = {"measure": MEASURE_WORDS, "formula": MEASURE_FORMULAS, "group": GROUP_WORDS}[kind]
    return str(table.get(code, code))
