"""Spoken prompts: hand-checked tone-numbered pinyin read by espeak-ng, cached as WAV files.

espeak-ng's default Mandarin voice (`-v cmn`) reads tone digits aloud and misreads polyphonic
characters (还, 行, 重 ...), so Chinese is never given to it as characters: every prompt is
stored here as pinyin checked by hand (tone sandhi written as spoken, e.g. 不会 bu2 hui4) and
spoken with the `cmn-latn-pinyin` voice. English prompts use the `en` voice. Audio is made once
per text and kept in the data folder; without espeak-ng the kiosk works silently.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

PINYIN_VOICE = "cmn-latn-pinyin"
ENGLISH_VOICE = "en"

# A syllable with its tone digit, a capital letter (ticket prefixes) or punctuation.
_PINYIN_TOKEN = re.compile(r"^(?:[a-zü]+[1-5]|[A-Z])[,.?]?$")
_HAN = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Prompt:
    """A prompt as shown (Chinese, also the catalog msgid) and as spoken (pinyin)."""

    text: str
    pinyin: str


PROMPTS: dict[str, Prompt] = {
    "home": Prompt(
        "您好，请选择您需要的帮助。",
        "nin2 hao3, qing3 xuan3 ze2 nin2 xu1 yao4 de5 bang1 zhu4.",
    ),
    "who": Prompt(
        "请选择您住的楼、单元和房间。",
        "qing3 xuan3 ze2 nin2 zhu4 de5 lou2, dan1 yuan2 he2 fang2 jian1.",
    ),
    "mine": Prompt(
        "请选择您的房间，查看您的求助。",
        "qing3 xuan3 ze2 nin2 de5 fang2 jian1, cha2 kan4 nin2 de5 qiu2 zhu4.",
    ),
    "confirm": Prompt(
        "请核对，没问题就按确认。",
        "qing3 he2 dui4, mei2 wen4 ti2 jiu4 an4 que4 ren4.",
    ),
    "phone": Prompt(
        "请输入您的电话号码。",
        "qing3 shu1 ru4 nin2 de5 dian4 hua4 hao4 ma3.",
    ),
    "saved": Prompt("已保存。", "yi3 bao3 cun2."),
    "saved_offline": Prompt(
        "已保存，联网后自动发送。",
        "yi3 bao3 cun2, lian2 wang3 hou4 zi4 dong4 fa1 song4.",
    ),
    "emergency": Prompt(
        "如有生命危险，请马上拨打120急救电话，或110报警。",
        "ru2 you3 sheng1 ming4 wei1 xian3, qing3 ma3 shang4 bo1 da3 yao1 er4 ling2 ji2 jiu4 "
        "dian4 hua4, huo4 yao1 yao1 ling2 bao4 jing3.",
    ),
    "consent": Prompt(
        "您的健康情况属于敏感个人信息。我们只用它来安排帮助，不会给别人。您同意吗？",
        "nin2 de5 jian4 kang1 qing2 kuang4 shu3 yu2 min3 gan3 ge4 ren2 xin4 xi1. "
        "wo3 men5 zhi3 yong4 ta1 lai2 an1 pai2 bang1 zhu4, bu2 hui4 gei3 bie2 ren2. "
        "nin2 tong2 yi4 ma5?",
    ),
    "requests": Prompt("这是您最近的求助。", "zhe4 shi4 nin2 zui4 jin4 de5 qiu2 zhu4."),
    "no_requests": Prompt(
        "这个房间最近没有求助。",
        "zhe4 ge4 fang2 jian1 zui4 jin4 mei2 you3 qiu2 zhu4.",
    ),
    "cancel_confirm": Prompt(
        "确定要取消这条求助吗？",
        "que4 ding4 yao4 qu3 xiao1 zhe4 tiao2 qiu2 zhu4 ma5?",
    ),
    "cancelled": Prompt("已取消。", "yi3 qu3 xiao1."),
    "cancel_requested": Prompt(
        "已请社区取消，社区会和您联系。",
        "yi3 qing3 she4 qu1 qu3 xiao1, she4 qu1 hui4 he2 nin2 lian2 xi4.",
    ),
    "idle": Prompt(
        "您还在吗？要继续使用，请按继续使用。",
        "nin2 hai2 zai4 ma5? yao4 ji4 xu4 shi3 yong4, qing3 an4 ji4 xu4 shi3 yong4.",
    ),
    "problem": Prompt(
        "没能保存。请再试一次，或给社区打电话。",
        "mei2 neng2 bao3 cun2. qing3 zai4 shi4 yi2 ci4, huo4 gei3 she4 qu1 da3 dian4 hua4.",
    ),
    "storage_full": Prompt(
        "本机存储已满，没有保存。请给社区服务中心打电话。",
        "ben3 ji1 cun2 chu3 yi3 man3, mei2 you3 bao3 cun2. "
        "qing3 gei3 she4 qu1 fu2 wu4 zhong1 xin1 da3 dian4 hua4.",
    ),
    "revoked": Prompt(
        "本机暂时不能发送求助。请给社区服务中心打电话。",
        "ben3 ji1 zan4 shi2 bu4 neng2 fa1 song4 qiu2 zhu4. "
        "qing3 gei3 she4 qu1 fu2 wu4 zhong1 xin1 da3 dian4 hua4.",
    ),
    # 报平安: the room picker's heading and the greeting once it is saved.
    "checkin_who": Prompt(
        "请选择您的房间，报个平安。",
        "qing3 xuan3 ze2 nin2 de5 fang2 jian1, bao4 ge4 ping2 an1.",
    ),
    "checkin_done": Prompt(
        "收到您的平安，祝您今天开心。",
        "shou1 dao4 nin2 de5 ping2 an1, zhu4 nin2 jin1 tian1 kai1 xin1.",
    ),
    "cat_electrical": Prompt("照明/电路", "zhao4 ming2, dian4 lu4."),
    "cat_plumbing": Prompt("水暖", "shui3 nuan3."),
    "cat_appliance": Prompt("家电维修", "jia1 dian4 wei2 xiu1."),
    "cat_health": Prompt("健康", "jian4 kang1."),
    "cat_meals": Prompt("助餐", "zhu4 can1."),
    "cat_company": Prompt("陪伴聊天", "pei2 ban4 liao2 tian1."),
    "cat_errands": Prompt("代办跑腿", "dai4 ban4 pao3 tui3."),
    "cat_emergency": Prompt("紧急求助", "jin3 ji2 qiu2 zhu4."),
    "cat_other": Prompt("其他", "qi2 ta1."),
    # The confirm screen with sub-choices (issue 13.5): the time wished for, then what is wrong.
    "confirm_choice": Prompt(
        "请核对，再按一下是什么问题，就会发送。",
        "qing3 he2 dui4, zai4 an4 yi2 xia4 shi4 shen2 me5 wen4 ti2, jiu4 hui4 fa1 song4.",
    ),
    "when": Prompt("希望什么时候来？", "xi1 wang4 shen2 me5 shi2 hou5 lai2?"),
    "t_today_am": Prompt("今天上午", "jin1 tian1 shang4 wu3."),
    "t_today_pm": Prompt("今天下午", "jin1 tian1 xia4 wu3."),
    "t_tomorrow": Prompt("明天", "ming2 tian1."),
    "t_any": Prompt("都可以", "dou1 ke2 yi3."),
    "ch_other": Prompt("其他", "qi2 ta1."),
    # The default sub-choices (sync/choices.py); a community's own wording is shown, not spoken.
    "ch_light_out": Prompt("灯不亮", "deng1 bu2 liang4."),
    "ch_socket_switch": Prompt("插座/开关", "cha1 zuo4, kai1 guan1."),
    "ch_power_trip": Prompt("跳闸停电", "tiao4 zha2 ting2 dian4."),
    "ch_old_wiring": Prompt("电线老化", "dian4 xian4 lao3 hua4."),
    "ch_leak": Prompt("漏水", "lou4 shui3."),
    "ch_blocked": Prompt("下水堵了", "xia4 shui3 du3 le5."),
    "ch_no_water": Prompt("没有水", "mei2 you3 shui3."),
    "ch_heating_cold": Prompt("暖气不热", "nuan3 qi4 bu2 re4."),
    "ch_tap_toilet": Prompt("水龙头/马桶", "shui3 long2 tou2, ma3 tong3."),
    "ch_tv": Prompt("电视", "dian4 shi4."),
    "ch_fridge": Prompt("冰箱", "bing1 xiang1."),
    "ch_washer": Prompt("洗衣机", "xi3 yi1 ji1."),
    "ch_stove": Prompt("炉灶", "lu2 zao4."),
    "ch_water_heater": Prompt("热水器", "re4 shui3 qi4."),
    "ch_blood_pressure": Prompt("量血压", "liang2 xue4 ya1."),
    "ch_medicine": Prompt("买药取药", "mai3 yao4 qu3 yao4."),
    "ch_doctor_visit": Prompt("陪同就医", "pei2 tong2 jiu4 yi1."),
    "ch_unwell": Prompt("身体不舒服", "shen1 ti3 bu4 shu1 fu5."),
    "ch_lunch": Prompt("午餐", "wu3 can1."),
    "ch_dinner": Prompt("晚餐", "wan3 can1."),
    "ch_delivery": Prompt("送餐上门", "song4 can1 shang4 men2."),
    "ch_chat": Prompt("聊聊天", "liao2 liao5 tian1."),
    "ch_walk": Prompt("陪我散步", "pei2 wo3 san4 bu4."),
    "ch_phone_call": Prompt("打电话问候", "da3 dian4 hua4 wen4 hou4."),
    "ch_shopping": Prompt("买菜购物", "mai3 cai4 gou4 wu4."),
    "ch_bills": Prompt("缴费", "jiao3 fei4."),
    "ch_fetch": Prompt("取送东西", "qu3 song4 dong1 xi5."),
    # A request's step in "my requests" (who is coming and the note are shown, not spoken:
    # names are free text, and Chinese is spoken only from checked pinyin).
    "st_queued": Prompt("已保存待发送", "yi3 bao3 cun2 dai4 fa1 song4."),
    "st_received": Prompt("已收到", "yi3 shou1 dao4."),
    "st_arranged": Prompt("已安排", "yi3 an1 pai2."),
    "st_meal": Prompt("送餐已安排", "song4 can1 yi3 an1 pai2."),
    "st_on_site": Prompt("已上门", "yi3 shang4 men2."),
    "st_done": Prompt("已完成", "yi3 wan2 cheng2."),
    "st_not_fixed": Prompt("未解决，社区会联系您", "wei4 jie3 jue2, she4 qu1 hui4 lian2 xi4 nin2."),
    "st_escalated": Prompt("已转交", "yi3 zhuan3 jiao1."),
    "st_merged": Prompt("已合并", "yi3 he2 bing4."),
    "st_merged_into": Prompt("已合并到", "yi3 he2 bing4 dao4."),
    "st_cancelled": Prompt("已取消", "yi3 qu3 xiao1."),
    "st_rejected": Prompt("未能送到社区", "wei4 neng2 song4 dao4 she4 qu1."),
    "centre_phone": Prompt("社区服务中心电话：", "she4 qu1 fu2 wu4 zhong1 xin1 dian4 hua4."),
    "idle_count": Prompt("秒后回到首页", "miao3 hou4 hui2 dao4 shou3 ye4."),
    # Buttons, in the words they show (一 before a 4th tone is said yi2: 上一步 shang4 yi2 bu4).
    "btn_mine": Prompt("我的求助", "wo3 de5 qiu2 zhu4."),
    "btn_checkin": Prompt("报平安", "bao4 ping2 an1."),
    "btn_help_room": Prompt("为这个房间求助", "wei4 zhe4 ge4 fang2 jian1 qiu2 zhu4."),
    "btn_home": Prompt("回到首页", "hui2 dao4 shou3 ye4."),
    "btn_back": Prompt("上一步", "shang4 yi2 bu4."),
    "btn_prev_page": Prompt("上一页", "shang4 yi2 ye4."),
    "btn_next_page": Prompt("下一页", "xia4 yi2 ye4."),
    "btn_delete": Prompt("删除", "shan1 chu2."),
    "btn_skip": Prompt("不填了", "bu4 tian2 le5."),
    "btn_done": Prompt("好了", "hao3 le5."),
    "btn_change_phone": Prompt("改电话号码", "gai3 dian4 hua4 hao4 ma3."),
    "btn_add_phone": Prompt("填电话号码（可不填）", "tian2 dian4 hua4 hao4 ma3, ke3 bu4 tian2."),
    "btn_behalf_yes": Prompt("替邻居求助：是", "ti4 lin2 ju1 qiu2 zhu4, shi4."),
    "btn_behalf_no": Prompt("替邻居求助：否", "ti4 lin2 ju1 qiu2 zhu4, fou3."),
    "btn_confirm": Prompt("确认", "que4 ren4."),
    "btn_again": Prompt("为这个房间再求助", "wei4 zhe4 ge4 fang2 jian1 zai4 qiu2 zhu4."),
    "btn_cancel_now": Prompt("取消这条求助", "qu3 xiao1 zhe4 tiao2 qiu2 zhu4."),
    "btn_cancel_ask": Prompt("请社区取消", "qing3 she4 qu1 qu3 xiao1."),
    "btn_cancel_yes": Prompt("是，取消", "shi4, qu3 xiao1."),
    "btn_cancel_no": Prompt("不取消", "bu4 qu3 xiao1."),
    "btn_notify": Prompt("请社区派人来", "qing3 she4 qu1 pai4 ren2 lai2."),
    "btn_agree": Prompt("同意", "tong2 yi4."),
    "btn_disagree": Prompt("不同意", "bu4 tong2 yi4."),
    "btn_continue": Prompt("继续使用", "ji4 xu4 shi3 yong4."),
}

# Digits read one by one, as for phone and room numbers (1 is "yao1" so it is not heard as 7).
_DIGITS = ["ling2", "yao1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3"]
# Digits as numbers (3号楼 san1, 12 shi2 er4). 一 keeps yi1 where it names or ends a number
# (一号楼 yi1 hao4 lou2, 十一 shi2 yi1); before 百 and 千 it is said yi4, and 2 before them
# liang3 (两百, 两千), as is 2 counting things (两秒 liang3 miao3).
_NUMERALS = ["ling2", "yi1", "er4", "san1", "si4", "wu3", "liu4", "qi1", "ba1", "jiu3"]
_PLACES = {1000: "qian1", 100: "bai3", 10: "shi2"}
_LEADING = {1: "yi4", 2: "liang3"}
_NUMBER = re.compile(r"^(?:0|[1-9][0-9]{0,3})$")
_ROOM_SPOKEN = re.compile(r"^[0-9A-Z]+$")


def is_pinyin(text: str) -> bool:
    """Whether `text` is tone-numbered pinyin that the pinyin voice can read safely."""
    tokens = text.split()
    return bool(tokens) and all(_PINYIN_TOKEN.fullmatch(t) for t in tokens)


def spell(code: str) -> str:
    """Pinyin for a code of digits and capital letters, read one by one."""
    return " ".join(_DIGITS[int(c)] if c.isdigit() else c for c in code)


def number_pinyin(value: int, counting: bool = False) -> str:
    """Pinyin of a number from 0 to 9999 as said aloud (12 shi2 er4, 305 san1 bai3 ling2 wu3).

    With `counting`, a lone 2 is liang3 (两秒) rather than er4 (二号楼).
    """
    if not 0 <= value <= 9999:
        raise ValueError(f"no pinyin for {value}")
    if value < 10:
        return "liang3" if counting and value == 2 else _NUMERALS[value]
    words: list[str] = []
    zero = False  # a zero place between spoken ones is said once: 1005 yi4 qian1 ling2 wu3
    for place, name in _PLACES.items():
        digit = value // place % 10
        if digit:
            words += ["ling2"] if zero else []
            zero = False
            if place == 10 and digit == 1 and not words:
                words.append(name)  # 十二 shi2 er4, not yi1 shi2 er4
            else:
                leading = _LEADING.get(digit) if place > 10 else None
                words += [leading or _NUMERALS[digit], name]
        elif words:
            zero = True
    if value % 10:
        words += ["ling2"] if zero else []
        words.append(_NUMERALS[value % 10])
    return " ".join(words)


def _numeral(text: str) -> str | None:
    if _NUMBER.fullmatch(text):
        return number_pinyin(int(text))
    return spell(text) if _ROOM_SPOKEN.fullmatch(text) else None


def building_pinyin(building: str) -> str | None:
    """Pinyin of "3号楼" (san1 hao4 lou2), or None when the name is not digits or capitals."""
    said = _numeral(building)
    return f"{said} hao4 lou2" if said else None


def unit_pinyin(unit: str) -> str | None:
    """Pinyin of "2单元" (er4 dan1 yuan2), or None when the name is not digits or capitals."""
    said = _numeral(unit)
    return f"{said} dan1 yuan2" if said else None


def room_pinyin(building: str, unit: str, room: str) -> str | None:
    """Pinyin of "3号楼 2单元 301" (room numbers digit by digit), or None when not speakable."""
    said_building, said_unit = building_pinyin(building), unit_pinyin(unit)
    if not (said_building and said_unit and _ROOM_SPOKEN.fullmatch(room)):
        return None
    return f"{said_building}, {said_unit}, {spell(room)}."


def ticket_pinyin(ticket: str) -> str:
    """Pinyin of "您的编号是 A-0427"."""
    return "nin2 de5 bian1 hao4 shi4 " + spell(ticket.replace("-", "")) + "."


class Voice:
    """Synthesises and caches speech with espeak-ng; silent when espeak-ng is missing."""

    def __init__(self, cache_dir: Path, espeak: str | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.espeak = espeak if espeak is not None else shutil.which("espeak-ng")
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether espeak-ng can be run."""
        return bool(self.espeak) and Path(str(self.espeak)).exists()

    def command(self, text: str, voice: str) -> list[str]:
        """The espeak-ng argument list for `text`; refuses Chinese characters in any voice."""
        if voice == PINYIN_VOICE:
            if not is_pinyin(text):
                raise ValueError(f"not tone-numbered pinyin: {text!r}")
        elif voice != ENGLISH_VOICE or _HAN.search(text):
            raise ValueError(f"voice {voice!r} is not allowed for {text!r}")
        return [str(self.espeak), "-s", "140", "-v", voice, text]

    def audio(self, text: str, voice: str) -> Path | None:
        """A cached WAV file of `text`, made on first use; None without espeak-ng."""
        argv = self.command(text, voice)
        if not self.available:
            return None
        digest = hashlib.sha256(f"{voice}\n{text}".encode()).hexdigest()[:32]
        path = self.cache_dir / f"{digest}.wav"
        with self._lock:
            if not path.exists():
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".part")
                try:
                    subprocess.run(  # noqa: S603 - a fixed program and validated text
                        [argv[0], "-w", str(partial), *argv[1:]],
                        check=True,
                        capture_output=True,
                        timeout=30,
                    )
                except (OSError, subprocess.SubprocessError):
                    partial.unlink(missing_ok=True)
                    return None
                partial.replace(path)
        return path

    def phonemes(self, pinyin: str) -> str:
        """espeak-ng's phoneme transcription of `pinyin` (what the reference test compares)."""
        argv = self.command(pinyin, PINYIN_VOICE)
        done = subprocess.run(  # noqa: S603 - a fixed program and validated text
            [argv[0], "-q", "-x", *argv[1:]],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return " ".join(done.stdout.split())
