"""Spoken prompts: hand-checked pinyin, espeak-ng's phonemes against the reference, the cache."""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale

from kiosk.app import create_kiosk_app
from kiosk.config import KioskSettings
from kiosk.speech import spoken
from kiosk.store import Store
from kiosk.voice import (
    ENGLISH_VOICE,
    PINYIN_VOICE,
    PROMPTS,
    Voice,
    building_pinyin,
    is_pinyin,
    number_pinyin,
    room_pinyin,
    unit_pinyin,
)
from sync.client import SyncOutcome
from tests.ui.kiosk_data import refuse_cancellation, seed_store

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "kiosk" / "voice_phonemes.tsv"
ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (apt espeak-ng)"
)
HAN_OR_DIGIT = re.compile(r"[\u3400-\u9fff0-9]")


def _reference() -> dict[str, str]:
    lines = REFERENCE.read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line and not line.startswith("#"))


def test_every_prompt_is_tone_numbered_pinyin_one_syllable_per_character() -> None:
    """Each character (or digit) of the shown text has exactly one spoken syllable."""
    for key, prompt in PROMPTS.items():
        assert is_pinyin(prompt.pinyin), key
        assert len(prompt.pinyin.split()) == len(HAN_OR_DIGIT.findall(prompt.text)), key


def test_polyphonic_characters_are_read_as_meant() -> None:
    """The readings espeak's character voice gets wrong are fixed in the pinyin."""
    assert "hai2 zai4" in PROMPTS["idle"].pinyin  # 还在, not huan2
    assert "bu2 hui4" in PROMPTS["consent"].pinyin  # 不 before a 4th tone
    assert "yi2 ci4" in PROMPTS["problem"].pinyin  # 一 before a 4th tone
    assert "yao1 er4 ling2" in PROMPTS["emergency"].pinyin  # 120 said digit by digit


@needs_espeak
def test_phonemes_match_the_reference() -> None:
    """espeak-ng -q -x -v cmn-latn-pinyin gives the checked phonemes for every prompt."""
    reference = _reference()
    assert set(reference) == set(PROMPTS)
    voice = Voice(Path("unused"), espeak=ESPEAK)
    changed = {
        key: voice.phonemes(prompt.pinyin)
        for key, prompt in PROMPTS.items()
        if voice.phonemes(prompt.pinyin) != reference[key]
    }
    assert not changed, changed


def test_no_code_path_gives_characters_to_espeak(tmp_path: Path) -> None:
    """Only the pinyin and English voices, and never Chinese characters."""
    voice = Voice(tmp_path, espeak="/bin/true")
    with pytest.raises(ValueError, match="pinyin"):
        voice.command("您好", PINYIN_VOICE)
    with pytest.raises(ValueError, match="not allowed"):
        voice.command("ni3 hao3", "cmn")
    with pytest.raises(ValueError, match="not allowed"):
        voice.command("您好", ENGLISH_VOICE)
    assert voice.command("ni3 hao3.", PINYIN_VOICE)[-3:] == ["-v", PINYIN_VOICE, "ni3 hao3."]
    # No source file of the kiosk names the character voice.
    for path in (ROOT / "kiosk").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert node.value not in ("cmn", "sit/cmn", "cmn-latn"), f"{path}: {node.value!r}"


def test_rooms_and_tickets_are_spelled() -> None:
    """Room numbers are read digit by digit; names that are not digits are not spoken."""
    assert room_pinyin("3", "2", "301") == "san1 hao4 lou2, er4 dan1 yuan2, san1 ling2 yao1."
    assert room_pinyin("1", "1", "101") == "yi1 hao4 lou2, yi1 dan1 yuan2, yao1 ling2 yao1."
    assert room_pinyin("12", "2", "1203") == (
        "shi2 er4 hao4 lou2, er4 dan1 yuan2, yao1 er4 ling2 san1."
    )
    assert room_pinyin("东楼", "1", "101") is None


# Numbers as said aloud, checked by hand: 一 is yi1 naming or ending a number and yi4 before
# 百/千; 2 is liang3 before 百/千 and when counting, er4 when naming (二号楼, 十二).
NUMBERS = {
    0: "ling2",
    1: "yi1",
    2: "er4",
    3: "san1",
    10: "shi2",
    11: "shi2 yi1",
    12: "shi2 er4",
    20: "er4 shi2",
    21: "er4 shi2 yi1",
    100: "yi4 bai3",
    101: "yi4 bai3 ling2 yi1",
    110: "yi4 bai3 yi1 shi2",
    200: "liang3 bai3",
    305: "san1 bai3 ling2 wu3",
    1005: "yi4 qian1 ling2 wu3",
    1050: "yi4 qian1 ling2 wu3 shi2",
    2000: "liang3 qian1",
    9999: "jiu3 qian1 jiu3 bai3 jiu3 shi2 jiu3",
}


def test_numbers_are_said_as_numbers() -> None:
    """Digits become the syllables of the number, with 一 and 二/两 as they are said."""
    for value, said in NUMBERS.items():
        assert number_pinyin(value) == said, value
        assert is_pinyin(said)
    assert number_pinyin(2, counting=True) == "liang3"
    assert number_pinyin(20, counting=True) == "er4 shi2"
    assert number_pinyin(12, counting=True) == "shi2 er4"
    with pytest.raises(ValueError, match="no pinyin"):
        number_pinyin(10000)
    assert building_pinyin("1") == "yi1 hao4 lou2"
    assert building_pinyin("3") == "san1 hao4 lou2"
    assert building_pinyin("A") == "A hao4 lou2"
    assert unit_pinyin("2") == "er4 dan1 yuan2"
    assert unit_pinyin("02") == "ling2 er4 dan1 yuan2"
    assert unit_pinyin("东") is None


# espeak-ng's tone contours for each written tone (3 is 35 before another 3rd tone).
CONTOURS = {
    "1": {"55"},
    "2": {"35"},
    "3": {"21", "214", "35"},
    "4": {"51"},
    # The neutral tone's pitch follows the syllable before it: half-low (22) after a 1st tone
    # (舒服 shu1 fu5, 东西 dong1 xi5), as espeak-ng says it.
    "5": {"11", "22", "33", "44"},
}


def _wrong_tones(pinyin: str, phonemes: str) -> list[tuple[int, str, str]]:
    """Syllables whose espeak-ng contour is not one of their written tone's contours."""
    tones = [s[-1] for s in re.findall(r"[a-zü]+[1-5]", pinyin)]
    contours = [re.findall(r"\d+", s)[-1] for s in phonemes.split("_|") if s.strip()]
    assert len(tones) == len(contours), pinyin
    return [
        (i, tone, contour)
        for i, (tone, contour) in enumerate(zip(tones, contours, strict=True))
        if contour not in CONTOURS[tone]
    ]


def test_reference_tones_match_the_written_tones() -> None:
    """Each syllable of the reference is spoken in the tone its pinyin is written with."""
    reference = _reference()
    wrong = {
        key: found
        for key, prompt in PROMPTS.items()
        if (found := _wrong_tones(prompt.pinyin, reference[key]))
    }
    assert not wrong, wrong


@needs_espeak
def test_generated_numbers_are_spoken_in_their_tones() -> None:
    """Pinyin made from digits reads with the written tones (espeak-ng's 3rd-tone sandhi aside)."""
    voice = Voice(Path("unused"), espeak=ESPEAK)
    phrases = [f"{said}." for said in NUMBERS.values()]
    phrases += [f"{building_pinyin(b)}." for b in ("1", "2", "3", "12")]
    phrases += [f"{number_pinyin(2, counting=True)} {PROMPTS['idle_count'].pinyin}"]
    wrong = {p: found for p in phrases if (found := _wrong_tones(p, voice.phonemes(p)))}
    assert not wrong, wrong


@needs_espeak
def test_audio_is_made_once_and_cached(tmp_path: Path) -> None:
    """The first request makes a WAV in the data folder; the second reuses it."""
    voice = Voice(tmp_path / "voice", espeak=ESPEAK)
    first = voice.audio(PROMPTS["saved"].pinyin, PINYIN_VOICE)
    assert first is not None
    assert first.read_bytes()[:4] == b"RIFF"
    made = first.stat().st_mtime_ns
    again = voice.audio(PROMPTS["saved"].pinyin, PINYIN_VOICE)
    assert again == first
    assert again.stat().st_mtime_ns == made
    assert len(list((tmp_path / "voice").iterdir())) == 1


@pytest.fixture
def client_without_espeak(tmp_path: Path) -> Iterator[FlaskClient]:
    """A kiosk on a machine without espeak-ng."""
    store = seed_store(tmp_path / "kiosk.sqlite3")
    try:
        app = create_kiosk_app(store, voice=Voice(tmp_path / "voice", espeak="/nonexistent"))
        yield app.test_client()
    finally:
        store.close()


def test_without_espeak_the_kiosk_works_silently_and_says_so(
    client_without_espeak: FlaskClient, tmp_path: Path
) -> None:
    """Screens work, speech answers 404, and the admin page names the missing program."""
    from kiosk.admin import hash_pin
    from kiosk.store import Store

    client = client_without_espeak
    assert client.get("/").status_code == 200
    assert client.get("/voice/zh/p:home").status_code == 404
    store = Store(tmp_path / "kiosk.sqlite3")
    try:
        store.set_admin_pin_hash(hash_pin("1357"))
    finally:
        store.close()
    answer = client.post("/admin", data={"pin": "1357"}, follow_redirects=True)
    assert "没有安装 espeak-ng，本机不会说话" in answer.get_data(as_text=True)


@needs_espeak
def test_voice_route_speaks_both_languages(tmp_path: Path) -> None:
    """Chinese is spoken from pinyin, English from the catalog, rooms and tickets too."""
    store = seed_store(tmp_path / "kiosk.sqlite3")
    try:
        client = create_kiosk_app(store).test_client()
        for url in (
            "/voice/zh/p:home",
            "/voice/en/p:home",
            "/voice/zh/room:3-2-301",
            "/voice/en/room:3-2-301",
            "/voice/zh/ticket:A-0427",
            "/voice/zh/p:cat_health",
            "/voice/en/p:cat_health",
        ):
            answer = client.get(url)
            assert answer.status_code == 200, url
            assert answer.mimetype == "audio/wav"
            answer.close()
        assert client.get("/voice/zh/room:9-9-999").status_code == 404
        assert client.get("/voice/xx/p:home").status_code == 404
        assert len(list((tmp_path / "cache" / "voice").glob("*.wav"))) == 7
    finally:
        store.close()


# --- every button of every screen is in what the screen speaks ------------------------------


class _Buttons(HTMLParser):
    """Labels of the buttons in a page's main area, footer and idle warning, and its speech."""

    def __init__(self) -> None:
        super().__init__()
        self.speak: list[str] = []
        self.idle_speak: list[str] = []
        self.labels: list[str] = []
        self._region = 0  # depth inside <main>, <nav> or the idle warning
        self._label: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "body":
            self.speak = (found.get("data-speak") or "").split()
            self.idle_speak = (found.get("data-idle-speak") or "").split()
        if tag in ("main", "nav") or found.get("id") == "idle":
            self._region += 1
        elif self._region and tag in ("a", "button") and "btn" in (found.get("class") or ""):
            self._label = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("a", "button") and self._label is not None:
            self.labels.append("".join(self._label).strip())
            self._label = None
        elif tag in ("main", "nav") and self._region:
            self._region -= 1

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label.append(data)


def _shown(key: str) -> set[str]:
    """The Chinese words on screen that a voice key reads."""
    kind, _, value = key.partition(":")
    return {
        "p": {PROMPTS[value].text} if value in PROMPTS else set(),
        "building": {f"{value}号楼"},
        "unit": {f"{value}单元"},
        "roomno": {value},
        "keypad": set("1234567890"),
    }.get(kind, set())


@pytest.fixture
def speaking(tmp_path: Path) -> Iterator[tuple[Flask, Store]]:
    """A seeded kiosk app with the speaker on (no espeak-ng needed: speech is not made here)."""
    store = seed_store(tmp_path / "kiosk.sqlite3")
    try:
        app = create_kiosk_app(
            store,
            voice=Voice(tmp_path / "voice", espeak="/nonexistent"),
            settings=KioskSettings(IDLE_WARNING_SECONDS=2),
        )
        yield app, store
    finally:
        store.close()


def _screens(store: Store) -> list[str]:
    saved = store.create_request("plumbing", "3-2-301", phone="13912345678")
    kept = store.create_request("meals", "3-2-301")
    refuse_cancellation(store, kept.id)
    return [
        "/",
        "/?room=3-2-301",
        "/who?category=plumbing",
        "/who?category=plumbing&building=3",
        "/who?category=plumbing&building=3&unit=2",
        "/who?mode=mine&building=3&unit=2",
        "/consent?category=health&room=3-2-301",
        "/confirm?category=plumbing&room=3-2-301",
        "/phone?category=plumbing&room=3-2-301",
        # The keypad posts the number, which then shows on confirm and on the keypad again.
        "POST /phone?category=plumbing&room=3-2-301&phone=13912345678&on_behalf=1",
        "/phone?category=plumbing&room=3-2-301&on_behalf=1",
        "/emergency",
        f"/receipt/{saved.id}",
        "/mine/3-2-301",
        "/mine/3-2-301?done=cancelled",
        "/mine/1-1-101",
        f"/cancel/{saved.id}",
        "/problem/invalid_phone",
        "/problem/storage_full",
    ]


def _open(client: FlaskClient, url: str) -> str:
    """A screen's HTML: GET `url`, or for "POST <path>?<fields>" post the fields, follow on."""
    if url.startswith("POST "):
        path, _, query = url.removeprefix("POST ").partition("?")
        data = dict(parse_qsl(query))
        return str(client.post(path, data=data, follow_redirects=True).get_data(as_text=True))
    return str(client.get(url).get_data(as_text=True))


def test_every_screen_speaks_its_buttons(speaking: tuple[Flask, Store]) -> None:
    """With the speaker on, each screen reads its prompt and the words of every button."""
    app, store = speaking
    client = app.test_client()
    client.get("/lang/zh")  # a touched kiosk: the untouched home screen stays quiet
    missing: dict[str, list[str]] = {}
    screens = _screens(store)
    for url in screens:
        page = _Buttons()
        page.feed(_open(client, url))
        assert page.labels, url
        said = set().union(*map(_shown, page.speak + page.idle_speak))
        unsaid = [label for label in page.labels if label not in said]
        if unsaid:
            missing[url] = unsaid
        assert page.idle_speak == ["p:idle", "secs:2", "p:btn_continue"], url
    store.record_sync(SyncOutcome(False, "revoked", datetime.now(UTC), "token revoked"))
    page = _Buttons()
    page.feed(client.get("/").get_data(as_text=True))
    assert page.speak == ["p:revoked", "centre:phone", "p:emergency", "p:btn_home"]
    assert not missing, missing
    client.get("/speaker")
    for url in screens[:3]:
        page = _Buttons()
        page.feed(client.get(url).get_data(as_text=True))
        assert (page.speak, page.idle_speak) == ([], []), url


def test_english_speech_reads_the_english_buttons(speaking: tuple[Flask, Store]) -> None:
    """In English every button is read in the words the English screen shows."""
    app, store = speaking
    client = app.test_client()
    client.get("/lang/en")
    for url in _screens(store):
        page = _Buttons()
        page.feed(_open(client, url))
        with app.test_request_context(), force_locale("en"):
            texts = [spoken(key, "en") for key in page.speak + page.idle_speak]
        said = {t for what in texts if what for t in (what[0], *what[0].split())}
        unsaid = [label for label in page.labels if label not in said]
        assert not unsaid, (url, unsaid)
        assert all(what is None or what[1] == ENGLISH_VOICE for what in texts)


def test_numbers_on_buttons_are_spoken_from_pinyin(speaking: tuple[Flask, Store]) -> None:
    """Buildings, units, rooms, keys, the countdown and the centre's number, in both voices."""
    app, _ = speaking
    with app.test_request_context():
        with force_locale("zh"):
            assert spoken("building:3", "zh") == ("san1 hao4 lou2.", PINYIN_VOICE)
            assert spoken("building:1", "zh") == ("yi1 hao4 lou2.", PINYIN_VOICE)
            assert spoken("unit:2", "zh") == ("er4 dan1 yuan2.", PINYIN_VOICE)
            assert spoken("roomno:301", "zh") == ("san1 ling2 yao1.", PINYIN_VOICE)
            assert spoken("secs:2", "zh") == (
                "liang3 miao3 hou4 hui2 dao4 shou3 ye4.",
                PINYIN_VOICE,
            )
            assert spoken("keypad:phone", "zh") == (
                "yao1 er4 san1 si4 wu3 liu4 qi1 ba1 jiu3 ling2.",
                PINYIN_VOICE,
            )
            assert spoken("centre:phone", "zh") == (
                "she4 qu1 fu2 wu4 zhong1 xin1 dian4 hua4, "
                "ling2 yao1 ling2 liu4 er4 san1 si4 wu3 liu4 qi1 ba1.",
                PINYIN_VOICE,
            )
            # Only what the kiosk shows: no other building, no other countdown.
            assert spoken("building:9", "zh") is None
            assert spoken("secs:20", "zh") is None
        with force_locale("en"):
            assert spoken("building:3", "en") == ("Building 3", ENGLISH_VOICE)
            assert spoken("unit:2", "en") == ("Unit 2", ENGLISH_VOICE)
            assert spoken("secs:2", "en") == ("2 seconds until the start screen", ENGLISH_VOICE)


@needs_espeak
def test_button_speech_is_made_once_and_cached(tmp_path: Path) -> None:
    """The picker's numbers are spoken from pinyin and each clip is made only once."""
    store = seed_store(tmp_path / "kiosk.sqlite3")
    try:
        client = create_kiosk_app(store).test_client()
        keys = ("building:3", "unit:2", "roomno:301", "keypad:phone", "p:btn_back")
        for _ in range(2):
            for key in keys:
                answer = client.get(f"/voice/zh/{key}")
                assert answer.status_code == 200, key
                assert answer.mimetype == "audio/wav"
                answer.close()
        assert len(list((tmp_path / "cache" / "voice").glob("*.wav"))) == len(keys)
        # A typed phone number is never made into speech (or kept in the cache).
        assert client.get("/voice/zh/digits:13912345678").status_code == 404
    finally:
        store.close()
