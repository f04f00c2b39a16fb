"""What the kiosk says aloud: each voice key a page asks for, as text and voice, then audio.

A page lists the keys of what it shows (prompts, its buttons, a room, a ticket, the centre's
number); the page script fetches `/voice/<lang>/<key>` for each and plays them in turn. Only
what is on screen is spoken: a key for a room, building or category this kiosk does not know
is silent, and the phone number a resident types is never spoken (it would be heard across
the lobby and kept in the audio cache). Chinese is spoken from checked pinyin, English from
the catalog's words; kiosk/voice.py turns them into cached WAV files.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, send_file
from flask_babel import force_locale, gettext
from werkzeug.wrappers import Response

from kiosk.context import kiosk_context
from kiosk.framing import VOICE_KEY, room_label
from kiosk.i18n import LANGUAGES
from kiosk.screens import KEYPAD, categories_by_code, rooms_by_code
from kiosk.voice import (
    ENGLISH_VOICE,
    PINYIN_VOICE,
    PROMPTS,
    building_pinyin,
    number_pinyin,
    room_pinyin,
    spell,
    ticket_pinyin,
    unit_pinyin,
)

bp = Blueprint("speech", __name__)


def spoken(key: str, lang: str) -> tuple[str, str] | None:
    """(text, voice) to speak for a voice key, or None when there is nothing safe to say."""
    english = lang == "en"
    kind, _, value = key.partition(":")
    if kind == "p":
        prompt = PROMPTS.get(value)
        if prompt is None:
            return None
        if value.startswith("cat_") and english:
            cat = categories_by_code().get(value[4:])
            return (str(cat["name_en"]), ENGLISH_VOICE) if cat else None
        if english:
            return gettext(prompt.text), ENGLISH_VOICE
        return prompt.pinyin, PINYIN_VOICE
    if kind == "choice":
        return _spoken_choice(value, english)
    if kind == "room":
        room = rooms_by_code().get(value)
        if room is None:
            return None
        if english:
            return room_label(room), ENGLISH_VOICE
        pinyin = room_pinyin(room["building"], room["unit"], room["room"])
        return (pinyin, PINYIN_VOICE) if pinyin else None
    if kind == "ticket":
        if english:
            return gettext("您的编号是 %(ticket)s", ticket=" ".join(value)), ENGLISH_VOICE
        return ticket_pinyin(value), PINYIN_VOICE
    if kind == "code":
        # Another request's ticket (the one a duplicate was merged into), read letter by letter.
        if english:
            return " ".join(value.replace("-", "")), ENGLISH_VOICE
        return f"{spell(value.replace('-', ''))}.", PINYIN_VOICE
    return _spoken_number(kind, value, english)


def _spoken_choice(value: str, english: bool) -> tuple[str, str] | None:
    """A sub-choice tile (`<category>.<code>`): its English words, or in Chinese the checked
    pinyin of a default name (a community's own wording has none, so it stays silent)."""
    category, _, code = value.partition(".")
    found = next((c for c in kiosk_context().store.choices(category) if c["code"] == code), None)
    if found is None:
        return None
    if english:
        return str(found["name_en"]), ENGLISH_VOICE
    prompt = PROMPTS.get(f"ch_{code}")
    if prompt is None or prompt.text != found["name_zh"]:
        return None
    return prompt.pinyin, PINYIN_VOICE


def _spoken_number(kind: str, value: str, english: bool) -> tuple[str, str] | None:
    """Buttons and facts that are numbers: buildings, units, rooms, keys, seconds, the centre."""
    said: str | None = None
    if kind in ("building", "unit", "roomno"):
        field = "room" if kind == "roomno" else kind
        if value not in {str(r[field]) for r in kiosk_context().store.rooms()}:
            return None
        if english:
            words = {
                "building": gettext("%(building)s号楼", building=value),
                "unit": gettext("%(unit)s单元", unit=value),
            }
            return words.get(kind, value), ENGLISH_VOICE
        if kind == "building":
            said = building_pinyin(value)
        elif kind == "unit":
            said = unit_pinyin(value)
        else:
            said = spell(value) if re.fullmatch(r"[0-9A-Z]+", value) else None
        said = f"{said}." if said else None
    elif kind == "keypad":
        if english:
            return " ".join(KEYPAD), ENGLISH_VOICE
        said = f"{spell(KEYPAD)}."
    elif kind == "secs":
        seconds = int(value)
        if seconds != int(kiosk_context().settings.IDLE_WARNING_SECONDS):
            return None  # only the countdown in force, so the cache holds one clip of it
        if english:
            return f"{seconds} {gettext('秒后回到首页')}", ENGLISH_VOICE
        said = f"{number_pinyin(seconds, counting=True)} {PROMPTS['idle_count'].pinyin}"
    elif kind == "centre":
        digits = re.sub(
            r"[^0-9]", "", str((kiosk_context().store.community() or {}).get("phone") or "")
        )
        if not digits:
            return None
        if english:
            return f"{gettext(PROMPTS['centre_phone'].text)} {' '.join(digits)}", ENGLISH_VOICE
        said = f"{PROMPTS['centre_phone'].pinyin.rstrip('.')}, {spell(digits)}."
    return (said, PINYIN_VOICE) if said else None


@bp.get("/voice/<lang>/<key>")
def voice(lang: str, key: str) -> Response:
    """The cached WAV of one prompt (404 when silent)."""
    if lang not in LANGUAGES or not VOICE_KEY.fullmatch(key):
        abort(404)
    with force_locale(lang):
        what = spoken(key, lang)
    if what is None:
        abort(404)
    path = kiosk_context().voice.audio(*what)
    if path is None:
        abort(404)
    return send_file(path, mimetype="audio/wav", max_age=3600)
