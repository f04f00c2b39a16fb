"""Spoken prompts: hand-checked pinyin, espeak-ng's phonemes against the reference, the cache."""

from __future__ import annotations

import ast
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from kiosk.app import create_kiosk_app
from kiosk.voice import ENGLISH_VOICE, PINYIN_VOICE, PROMPTS, Voice, is_pinyin, room_pinyin
from tests.ui.kiosk_data import seed_store

ROOT = Path(__file__).resolve().parent.parent
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
    assert room_pinyin("东楼", "1", "101") is None


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
