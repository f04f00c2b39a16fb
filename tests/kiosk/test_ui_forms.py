"""The touch UI's server side: every form value validated, nothing saved half-way, one save
per confirm form, consent, cancel windows, banners, the admin PIN, and the catalogs."""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.admin import MAX_FAILURES, SYNC_STATE_WORDS, check_pin, hash_pin
from kiosk.app import create_kiosk_app
from kiosk.framing import PROBLEMS
from kiosk.i18n import CATALOGS, compile_catalogs
from kiosk.screens import CONSENT_VERSION, STATE_WORDS
from kiosk.store import MIGRATIONS, StorageFull, Store
from kiosk.voice import PROMPTS, Voice
from sync.client import SyncOutcome
from tests.cli import invoke
from tests.ui.kiosk_data import (
    COMMUNITY_PHONE,
    Clock,
    refuse_cancellation,
    seed_store,
    server_update,
)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "form-token-0123456789abcdef"


@pytest.fixture
def clock() -> Clock:
    """The store's clock."""
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    """A seeded kiosk store."""
    opened = seed_store(tmp_path / "kiosk.sqlite3", clock=clock)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def app(store: Store, tmp_path: Path) -> Flask:
    """The kiosk app (silent: speech is tested elsewhere)."""
    exits: list[int] = []
    flask_app = create_kiosk_app(
        store, voice=Voice(tmp_path / "v", espeak="/nonexistent"), on_exit=lambda: exits.append(1)
    )
    flask_app.extensions["test_exits"] = exits
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client of the kiosk app."""
    return app.test_client()


def _form(**overrides: str) -> dict[str, str]:
    form = {
        "category": "plumbing",
        "room": "3-2-301",
        "phone": "",
        "on_behalf": "0",
        "consent_version": "",
        "form_token": TOKEN,
    }
    form.update(overrides)
    return form


def _count(store: Store) -> tuple[int, int]:
    conn = store._conn()
    return (
        conn.execute("SELECT count(*) FROM requests").fetchone()[0],
        conn.execute("SELECT count(*) FROM outbox").fetchone()[0],
    )


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"category": "fireworks"}, "unknown_category"),
        ({"category": ""}, "unknown_category"),
        ({"room": "9-9-999"}, "unknown_room"),
        ({"room": "3-2-301' OR 1=1 --"}, "unknown_room"),
        ({"phone": "1391234567x"}, "invalid_phone"),
        ({"phone": "1234"}, "invalid_phone"),
        ({"phone": "1" * 16}, "invalid_phone"),
        ({"phone": "+8613912345678"}, "invalid_phone"),
        ({"phone": "13912345678\n"}, "invalid_phone"),
        ({"form_token": TOKEN + "\n"}, "invalid_form"),
        ({"on_behalf": "yes"}, "invalid_form"),
        ({"form_token": "short"}, "invalid_form"),
        ({"form_token": ""}, "invalid_form"),
        ({"consent_version": "v0"}, "invalid_form"),
        ({"category": "health"}, "consent_required"),
    ],
)
def test_bad_values_get_a_friendly_bilingual_page_and_nothing_is_saved(
    client: FlaskClient, store: Store, overrides: dict[str, str], code: str
) -> None:
    """A 4xx page naming the problem in Chinese and English; no request, no outbox row."""
    answer = client.post("/save", data=_form(**overrides))
    assert answer.status_code == PROBLEMS[code][0]
    assert answer.headers["X-Linli-Problem"] == code
    html = answer.get_data(as_text=True)
    assert PROBLEMS[code][1] in html
    english = {m.id: m.string for m in _catalog()}[PROBLEMS[code][1]]
    assert english.replace("'", "&#39;") in html
    assert "Traceback" not in html
    assert _count(store) == (0, 0)


def test_confirm_and_phone_screens_validate_their_addresses(client: FlaskClient) -> None:
    """Links carry state (the phone number is posted); a tampered value gets the same page."""
    assert client.get("/confirm?category=plumbing&room=1-1-999").status_code == 400
    assert client.get("/confirm?category=x&room=1-1-101").status_code == 400
    for typed in ("12ab", "١٢٣", "1" * 16):
        posted = client.post(
            "/phone", data={"category": "plumbing", "room": "1-1-101", "phone": typed}
        )
        assert posted.status_code == 400, typed
    assert client.get("/who?category=plumbing&building=99").status_code == 400
    assert client.get("/who?category=plumbing&building=3&unit=9").status_code == 400
    assert client.get("/mine/1-1-999").status_code == 400
    assert client.get("/who?category=plumbing&building=3&unit=2&page=²").status_code == 200
    assert client.get("/receipt/not-a-request").status_code == 404
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert "没有这一页" in missing.get_data(as_text=True)


def test_the_same_form_token_saves_once(client: FlaskClient, store: Store) -> None:
    """A second post of one confirm form shows the first receipt."""
    first = client.post("/save", data=_form())
    second = client.post("/save", data=_form())
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert _count(store) == (1, 1)
    third = client.post("/save", data=_form(form_token=TOKEN + "x"))
    assert third.headers["Location"] != first.headers["Location"]
    assert _count(store) == (2, 2)


def test_concurrent_posts_of_one_form_save_once(app: Flask, store: Store) -> None:
    """Eight simultaneous posts of one token: one request, one outbox operation."""
    barrier = threading.Barrier(8)
    locations: list[str] = []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        locations.append(client.post("/save", data=_form()).headers["Location"])

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(set(locations)) == 1
    assert _count(store) == (1, 1)


def test_form_token_migration_is_appended(store: Store) -> None:
    """The token table comes from its own named migration after 0001."""
    names = [name for name, _ in MIGRATIONS]
    assert names[:2] == ["0001_initial", "0002_form_tokens"]
    applied = [r[0] for r in store._conn().execute("SELECT name FROM schema_migrations")]
    assert "0002_form_tokens" in applied
    with pytest.raises(sqlite3.IntegrityError):
        store._conn().execute(
            "INSERT INTO form_tokens VALUES ('t', 'no-such-request', '2026-01-01')"
        )


def test_saved_request_has_every_value(client: FlaskClient, store: Store) -> None:
    """What the resident confirmed is what is stored and queued."""
    answer = client.post(
        "/save",
        data=_form(
            category="health",
            phone="13912345678",
            on_behalf="1",
            consent_version=CONSENT_VERSION,
        ),
    )
    request_id = answer.headers["Location"].rsplit("/", 1)[-1]
    saved = store.get_request(request_id)
    assert saved is not None
    assert (saved["category"], saved["room"], saved["phone"]) == (
        "health",
        "3-2-301",
        "13912345678",
    )
    assert saved["on_behalf"] is True
    assert saved["consent_version"] == CONSENT_VERSION
    receipt = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "已保存，联网后自动发送" in receipt
    assert saved["ticket"] in receipt


def test_storage_full_says_call_the_centre_and_saves_nothing(tmp_path: Path, store: Store) -> None:
    """A full disk: 507, a large message with the centre's phone, no receipt."""
    pages = store._conn().execute("PRAGMA page_count").fetchone()[0]
    full = Store(store.path, max_pages=pages + 2)
    try:
        for size in (1500, 200, 20, 0):
            with pytest.raises(StorageFull):  # noqa: PT012 - fill until this size no longer fits
                for _ in range(500):
                    full.create_request("other", "1-1-101", details="x" * size or None)
        before = _count(store)
        client = create_kiosk_app(full, voice=Voice(tmp_path / "v", espeak="")).test_client()
        answer = client.post("/save", data=_form(category="other", form_token="z" * 20))
        assert answer.status_code == 507
        html = answer.get_data(as_text=True)
        assert "本机存储已满" in html
        _assert_call_centre_screen(html)
        assert _count(store) == before
    finally:
        full.close()


def _assert_call_centre_screen(html: str, phone: str = COMMUNITY_PHONE) -> None:
    """The full-screen message: the centre's number large, both languages, nothing saved."""
    english = {m.id: m.string for m in _catalog()}
    assert 'id="call-centre"' in html
    assert f'<p class="centre-number" id="centre-number">{phone}</p>' in html
    assert "您的求助没有保存。" in html
    assert english["您的求助没有保存。"] in html
    pattern = r'<h1 id="problem">(.*?)</h1>\s*<p class="lead" lang="([^"]+)">(.*?)</p>'
    problem = re.search(pattern, html)
    assert problem is not None
    shown, other_lang, other = problem.groups()
    zh, en = (shown, other) if other_lang == "en" else (other, shown)
    assert english[zh].replace("'", "&#39;") == en
    # Never a claim or an offer to save: no tile, no form, no "saved" but "not saved".
    assert "已保存" not in html.replace("没有保存", "")
    assert "saved" not in html.replace("not saved", "")
    assert "保存在本机" not in html  # the offline banner's promise
    assert "data-category" not in html
    assert "<form" not in html


def test_revoked_kiosk_shows_the_centre_phone(client: FlaskClient, store: Store) -> None:
    """A revoked kiosk replaces every screen with a call-the-centre message; nothing is saved."""
    saved = store.create_request("meals", "1-1-101")
    store.record_sync(SyncOutcome(False, "revoked", datetime.now(UTC), "token revoked"))
    before = _count(store)
    for url in (
        "/",
        "/?room=3-2-301",
        "/who?category=plumbing",
        "/confirm?category=plumbing&room=3-2-301",
        "/phone?category=plumbing&room=3-2-301",
        "/consent?category=health&room=3-2-301",
        "/emergency",
        "/mine/1-1-101",
        f"/cancel/{saved.id}",
        f"/receipt/{saved.id}",
    ):
        answer = client.get(url)
        assert answer.status_code == 503, url
        assert answer.headers["X-Linli-Problem"] == "revoked"
        html = answer.get_data(as_text=True)
        assert "本机暂时不能发送求助。请给社区服务中心打电话。" in html
        _assert_call_centre_screen(html)
    assert client.post("/save", data=_form()).status_code == 503
    assert client.post(f"/cancel/{saved.id}").status_code == 503
    assert _count(store) == before
    client.get("/lang/en")
    html = client.get("/").get_data(as_text=True)
    assert "This kiosk cannot send requests just now" in html
    _assert_call_centre_screen(html)
    client.get("/lang/zh")
    store.record_sync(SyncOutcome(False, "offline", datetime.now(UTC), "no route"))
    html = client.get("/").get_data(as_text=True)
    assert "暂时没有联网" in html
    assert "本机暂时不能发送求助" not in html
    store.record_sync(SyncOutcome(True, "online", datetime.now(UTC)))
    html = client.get("/").get_data(as_text=True)
    assert "暂时没有联网" not in html


def test_a_kiosk_not_enrolled_shows_the_call_screen(tmp_path: Path) -> None:
    """Before enrolment there is no community number yet: the screen says to ask the staff."""
    store = Store(tmp_path / "fresh.sqlite3")
    try:
        client = create_kiosk_app(store, voice=Voice(tmp_path / "v", espeak="")).test_client()
        answer = client.get("/who?category=plumbing")
        assert answer.status_code == 503
        assert answer.headers["X-Linli-Problem"] == "not_enrolled"
        html = answer.get_data(as_text=True)
        assert "本机还没有登记，不能保存。" in html
        _assert_call_centre_screen(html, phone="请问工作人员")
        assert client.post("/save", data=_form()).status_code == 503
        assert _count(store) == (0, 0)
        # The first screen of the idle kiosk stays quiet and starts no idle timer.
        assert 'data-speak=""' in client.get("/").get_data(as_text=True)
        assert 'data-pristine="1"' in client.get("/").get_data(as_text=True)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("queued", "已保存待发送"),
        ("received", "已收到"),
        ("triaged", "已收到"),
        ("dispatched", "已安排"),
        ("accepted", "已安排"),
        ("on_site", "已上门"),
        ("completed", "已完成"),
        ("followed_up", "已完成"),
        ("closed_fixed", "已完成"),
        ("closed_not_fixed", "未解决，社区会联系您"),
        ("escalated", "已转交"),
        ("duplicate", "已合并"),
        ("cancelled", "已取消"),
    ],
)
def test_states_in_plain_words(client: FlaskClient, store: Store, status: str, words: str) -> None:
    """Server statuses as the resident reads them (a meal's arrangement has its own words)."""
    saved = store.create_request("company", "1-1-101")
    if status != "queued":
        server_update(store, saved.id, status)
    html = client.get("/mine/1-1-101").get_data(as_text=True)
    assert f'<p class="state lead">{words}</p>' in html
    assert STATE_WORDS[status] == words


def _saved_here(client: FlaskClient, token: str) -> str:
    """Save a request through the touch UI (so this visit saved it); its id."""
    answer = client.post("/save", data=_form(room="1-1-101", form_token=token))
    assert answer.status_code == 303
    return str(answer.headers["Location"]).rsplit("/", 1)[-1]


def test_cancel_window(client: FlaskClient, store: Store, clock: Clock) -> None:
    """Within 10 minutes a cancel; after, a request the server may refuse; never twice."""
    saved = _saved_here(client, TOKEN)
    clock.advance(minutes=9)
    first = client.post(f"/cancel/{saved}")
    assert first.headers["Location"].endswith("done=cancelled")
    again = client.post(f"/cancel/{saved}")
    assert again.status_code == 303
    later = _saved_here(client, TOKEN + "-2")
    clock.advance(minutes=11)
    answer = client.post(f"/cancel/{later}")
    assert answer.headers["Location"].endswith("done=cancel_requested")
    reasons = [
        r[0] for r in store._conn().execute("SELECT body FROM outbox WHERE type='request.cancel'")
    ]
    assert len(reasons) == 2
    assert '"ask"' not in reasons[0]
    assert '"reason":"late"' in reasons[1]
    assert '"ask":true' in reasons[1]
    assert client.post("/cancel/no-such-id").status_code == 404


def test_a_refused_cancellation_is_explained_kindly(client: FlaskClient, store: Store) -> None:
    """Staff kept the request open: the resident reads why, and is not offered to cancel again."""
    saved = store.create_request("meals", "1-1-101")
    refuse_cancellation(store, saved.id)
    html = client.get("/mine/1-1-101").get_data(as_text=True)
    assert "社区已经在为您办理，这条没有取消。" in html
    assert "已上门" in html
    assert f"/cancel/{saved.id}" not in html


def test_admin_pin(app: Flask, client: FlaskClient, store: Store) -> None:
    """Only the hash is stored; a wrong PIN is refused; five wrong ones lock the keypad."""
    assert client.get("/admin/panel").status_code == 303
    store.set_admin_pin_hash(hash_pin("24680"))
    assert "24680" not in (store.admin_pin_hash() or "")
    assert check_pin(store, "24680")
    assert not check_pin(store, "24681")
    assert client.post("/admin", data={"pin": "11111"}).headers["Location"].endswith("wrong=1")
    for _ in range(MAX_FAILURES - 1):
        client.post("/admin", data={"pin": "11111"})
    locked = client.post("/admin", data={"pin": "24680"})
    assert locked.headers["Location"] == "/admin"
    assert "一分钟后再试" in client.get("/admin").get_data(as_text=True)
    assert client.post("/admin/exit").status_code == 303
    assert app.extensions["test_exits"] == []
    with pytest.raises(ValueError, match="4 to 12 digits"):
        hash_pin("12ab")


def test_enroll_rejects_a_bad_pin_before_enrolling(tmp_path: Path) -> None:
    """`linli kiosk enroll --pin` takes 4 to 12 digits and says so in one line."""
    result = invoke(
        "kiosk",
        "enroll",
        "--server",
        "http://127.0.0.1:9",
        "--code",
        "nope",
        "--data",
        str(tmp_path / "k"),
        "--pin",
        "12",
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == "error: the PIN must be 4 to 12 digits"


def test_local_api_contract_still_answers(client: FlaskClient, store: Store) -> None:
    """The spine's JSON API is unchanged next to the touch UI."""
    created = client.post("/api/requests", json={"category": "plumbing", "room": "3-2-301"})
    assert created.status_code == 201
    assert set(created.json or {}) == {"id", "ticket", "status", "cancel_token"}
    bad = client.post("/api/requests", json={"category": "nope", "room": "3-2-301"})
    assert bad.status_code == 400
    assert set(bad.json or {}) == {"error", "detail", "detail_zh"}
    assert client.get("/api/status").json["queued"] == 1  # type: ignore[index]


def test_language_cookie_and_safe_redirects(client: FlaskClient) -> None:
    """The switch only accepts our languages and local paths."""
    answer = client.get("/lang/en?next=/emergency")
    assert answer.headers["Location"] == "/emergency"
    assert "Ambulance" in client.get("/emergency").get_data(as_text=True)
    for target in ("//evil.example/", "https://evil.example/", "/\\evil"):
        assert client.get("/lang/zh", query_string={"next": target}).headers["Location"] == "/"
    client.get("/lang/en")
    client.get("/lang/xx")
    assert "Ambulance" in client.get("/emergency").get_data(as_text=True)
    reset = client.get("/reset")
    assert "Clear-Site-Data" in reset.headers
    assert "急救" in client.get("/emergency").get_data(as_text=True)


# --- catalogs and templates -------------------------------------------------------------


def _catalog() -> Any:
    with (CATALOGS / "en" / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale="en")


def test_every_string_has_an_english_translation() -> None:
    """Everything shown or spoken is in the English catalog, and nothing is left fuzzy."""
    method_map = [("kiosk/**.py", "python"), ("kiosk/templates/**.html", "jinja2")]
    used = {
        message[2] if isinstance(message[2], str) else message[2][0]
        for message in extract_from_dir(str(ROOT), method_map=method_map)
    }
    used |= {p[1] for p in PROBLEMS.values()}
    used |= set(STATE_WORDS.values())
    used |= set(SYNC_STATE_WORDS.values())
    used |= {p.text for p in PROMPTS.values()}
    catalog = {m.id: m for m in _catalog() if m.id}
    missing = sorted(u for u in used if u not in catalog or not catalog[u].string)
    assert not missing, missing
    assert not [m.id for m in catalog.values() if m.fuzzy]
    unused = sorted(set(catalog) - used)
    assert not unused, unused


def test_catalogs_compile_on_start(tmp_path: Path) -> None:
    """A fresh clone has no .mo files: they are compiled into the data folder."""
    target = compile_catalogs(tmp_path / "t")
    mo = target / "en" / "LC_MESSAGES" / "messages.mo"
    assert mo.stat().st_size > 1000
    made = mo.stat().st_mtime_ns
    compile_catalogs(tmp_path / "t")
    assert mo.stat().st_mtime_ns == made


def test_templates_hard_code_no_words() -> None:
    """Outside Jinja expressions, templates hold only markup, digits and punctuation."""
    for path in (ROOT / "kiosk" / "templates" / "ui").glob("*.html"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", " ", text, flags=re.S)
        text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
        words = re.findall(r"[^\W\d_]+", text)
        assert not words, f"{path.name}: {words}"


def test_pages_do_not_leak_database_connections(store: Store, tmp_path: Path) -> None:
    """The threaded local server opens a connection per request thread and closes it after."""
    import requests

    from tests.ui.kiosk_data import serve_kiosk

    with serve_kiosk(store, voice=Voice(tmp_path / "v", espeak="")) as kiosk:
        for _ in range(30):
            assert requests.get(kiosk.url + "/who?category=meals", timeout=10).status_code == 200
        assert len(store._all_conns) <= 2


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    form=st.dictionaries(
        st.sampled_from(list(_form())),
        st.one_of(st.text(max_size=40), st.sampled_from(["3-2-301", "health", "1", TOKEN])),
    )
)
def test_fuzzed_forms_never_fail_badly(
    client: FlaskClient, store: Store, form: dict[str, str]
) -> None:
    """Any form: a receipt or a friendly 4xx, never a 500; a refusal saves nothing."""
    before = _count(store)
    answer = client.post("/save", data=form)
    assert answer.status_code in (303, 400), answer.status_code
    if answer.status_code == 400:
        assert answer.headers["X-Linli-Problem"] in PROBLEMS
        assert _count(store) == before
