"""The touch UI residents use: home tiles, where you live, confirm, receipt, my requests.

Every screen is rendered here; the browser only follows links and posts three forms (phone,
save and cancel), so every value is validated on this side. State between screens travels in
the URL, except the phone number: typed on the keypad in the page, it is posted and kept in the
signed session for that category and room until the home screen or the idle reset, so it never
appears in an address, the history or a log. Otherwise nothing about a resident is kept in
cookies or browser storage: only language and speaker preferences, and in the signed session the
ids of the requests saved during this visit (only those may be cancelled directly, for 10
minutes), all cleared when the idle timer starts over.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import force_locale, get_locale, gettext
from werkzeug.wrappers import Response

from kiosk.config import KioskSettings
from kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGES
from kiosk.store import FINAL_STATES, InputError, NotEnrolledError, StorageFull, Store
from kiosk.voice import (
    ENGLISH_VOICE,
    PINYIN_VOICE,
    PROMPTS,
    Voice,
    building_pinyin,
    number_pinyin,
    room_pinyin,
    spell,
    ticket_pinyin,
    unit_pinyin,
)
from sync.redirects import local_path

CONSENT_VERSION = "health-consent-v1"
"""Version of the health consent text shown (stored with each request made under it)."""
CANCEL_WINDOW = timedelta(minutes=10)
"""How long the visit that saved a request may cancel it directly."""
VISIT_KEY = "visit"
"""Session key of the request ids saved during this visit (cleared by the idle reset)."""
VISIT_LIMIT = 20
PAGE_SIZE = 15
MINE_LIMIT = 3
"""Recent requests shown per room: what fits one screen without scrolling."""
KEYPAD = "1234567890"
"""The phone keypad's digit keys in screen order."""
HEALTH = "health"
EMERGENCY = "emergency"

_PHONE = re.compile(r"^[0-9]{5,15}$")
PHONE_DRAFT = "phone_draft"
"""Session key of the number typed on the keypad, with the category and room it is for."""
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_VOICE_KEY = re.compile(
    r"^(?:p:[a-z_]+|room:[0-9A-Za-z-]{1,64}|ticket:[A-Z]{1,2}-[0-9]{4}"
    r"|(?:building|unit|roomno):[0-9A-Za-z]{1,16}|secs:[0-9]{1,4}"
    r"|centre:phone|keypad:phone)$"
)
# States in which nothing may be saved: the whole touch UI becomes one call-the-centre screen.
CLOSED_STATES = ("revoked", "not_enrolled", "cloned")
OPEN_WHEN_CLOSED = {
    "ui.set_language",
    "ui.toggle_speaker",
    "ui.reset",
    "ui.voice",
    "ui.shown",
    "ui.last_shown",
    "ui.problem",
}
"""Endpoints that still answer on a closed kiosk (none of them can save anything)."""
# Problems shown as the full call-the-centre screen (nothing saved, the centre's number large).
CALL_CENTRE = ("storage_full", "storage_error", "not_enrolled", "revoked", "cloned")

# Server statuses in plain words (msgids; English in the catalog).
STATE_WORDS = {
    "queued": "已保存待发送",
    "received": "已收到",
    "triaged": "已收到",
    "reopened": "已收到",
    "duplicate": "已收到",
    "dispatched": "已派单",
    "accepted": "已派单",
    "escalated": "已派单",
    "external_feedback": "已派单",
    "on_site": "师傅在路上",
    "completed": "已完成",
    "followed_up": "已完成",
    "closed_fixed": "已完成",
    "closed_not_fixed": "已完成",
    "cancelled": "已取消",
    "rejected": "未能送到社区",
}

# Problems a resident can meet, by stable code: (status, message msgid, voice prompt).
PROBLEMS: dict[str, tuple[int, str, str]] = {
    "unknown_category": (400, "没有这个求助类别，请回到首页重新选择。", "problem"),
    "unknown_room": (400, "没有找到这个房间，请重新选择您住的地方。", "problem"),
    "invalid_phone": (400, "电话号码要5到15位数字，请重新输入，也可以不填。", "problem"),
    "consent_required": (400, "健康求助需要先看过并同意说明。", "problem"),
    "invalid_form": (400, "这一页已经过期了，请回到首页重新开始。", "problem"),
    "unknown_request": (404, "没有找到这条求助。", "problem"),
    "not_found": (404, "没有这一页，请回到首页。", "problem"),
    "storage_full": (507, "本机存储已满，这次没有保存。请给社区服务中心打电话。", "storage_full"),
    "storage_error": (503, "本机存储出了故障，这次没有保存。请给社区服务中心打电话。", "revoked"),
    "storage_busy": (503, "本机忙，这次没能保存。请稍等一下再试一次。", "problem"),
    "not_enrolled": (503, "本机还没有登记，不能保存。请给社区服务中心打电话。", "revoked"),
    "revoked": (503, "本机暂时不能发送求助。请给社区服务中心打电话。", "revoked"),
    "cloned": (
        503,
        "本机的数据是另一台终端的复制品，暂时不能保存。请给社区服务中心打电话，"
        "请工作人员把本机作为新终端重新登记。",
        "revoked",
    ),
    "server_error": (500, "出了点问题，这次没有保存。请再试一次，或给社区打电话。", "problem"),
}

bp = Blueprint("ui", __name__)


@dataclass(frozen=True)
class Choice:
    """One big button of a picker."""

    label: str
    url: str
    voice: str = ""
    """The voice key that reads the label aloud."""


def _store() -> Store:
    store: Store = current_app.extensions["linli_store"]
    return store


def _settings() -> KioskSettings:
    settings: KioskSettings = current_app.extensions["linli_settings"]
    return settings


def _voice() -> Voice:
    voice: Voice = current_app.extensions["linli_voice"]
    return voice


def language() -> str:
    """The resident's language: the `lang` cookie when valid, else Chinese."""
    lang = request.cookies.get("lang", DEFAULT_LANGUAGE)
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def speaker_on() -> bool:
    """Whether prompts are spoken (on unless the resident turned the speaker off)."""
    return request.cookies.get("speak") != "0"


def is_pristine() -> bool:
    """Whether nobody has touched anything yet (no language or speaker choice made)."""
    chosen = "lang" in request.cookies or "speak" in request.cookies
    return not chosen and "room" not in request.args


def _natural(value: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", value))


def room_label(room: dict[str, Any]) -> str:
    """A room as residents say it: 3号楼 2单元 301."""
    return str(
        gettext(
            "%(building)s号楼 %(unit)s单元 %(room)s",
            building=room["building"],
            unit=room["unit"],
            room=room["room"],
        )
    )


def category_name(category: dict[str, Any]) -> str:
    """The category's name in the resident's language."""
    return str(category["name_en"] if str(get_locale()) == "en" else category["name_zh"])


def _categories() -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in _store().categories()}


def _rooms() -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in _store().rooms()}


def render_screen(template: str, screen: str, speak: Iterable[str] = (), **context: Any) -> str:
    """Render a screen inside the frame every screen shares (banner, language, speaker)."""
    store = _store()
    status = store.status()
    community = store.community() or {}
    settings = _settings()
    lang = language()
    other = "en" if lang == "zh" else "zh"
    here = request.full_path.rstrip("?") if request.method == "GET" else url_for("ui.home")
    return render_template(
        template,
        screen=screen,
        lang=lang,
        html_lang="zh-CN" if lang == "zh" else "en",
        status=status,
        community=community,
        speak=[k for k in speak if _VOICE_KEY.fullmatch(k)] if speaker_on() else [],
        idle_speak=(
            ["p:idle", f"secs:{int(settings.IDLE_WARNING_SECONDS)}", "p:btn_continue"]
            if speaker_on()
            else []
        ),
        speaker_on=speaker_on(),
        voice_ready=_voice().available,
        switch_url=url_for("ui.set_language", code=other, next=here),
        speaker_url=url_for("ui.toggle_speaker", next=here),
        idle_seconds=settings.IDLE_SECONDS,
        idle_warning_seconds=settings.IDLE_WARNING_SECONDS,
        pristine=request.path == url_for("ui.home") and is_pristine(),
        call_centre=screen == "problem" and context.get("code") in CALL_CENTRE,
        **context,
    )


def _safe_next(target: str | None) -> str:
    """Only local paths are followed, so no link can leave the kiosk (see sync.redirects)."""
    return local_path(target) or url_for("ui.home")


def _url(endpoint: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "", False)}
    return url_for(endpoint, **clean)


def problem_response(code: str, **context: Any) -> Response:
    """A large, friendly message in both languages, with the status that fits `code`."""
    status, message, prompt = PROBLEMS.get(code, PROBLEMS["server_error"])
    lang = language()
    other = "en" if lang == "zh" else "zh"
    with force_locale(other):
        message_other = gettext(message)
        # The call screen is read by whoever stands there: every line in both languages.
        other_lines = {
            "centre": gettext("社区服务中心电话："),
            "not_saved": gettext("您的求助没有保存。"),
        }
    call = code in CALL_CENTRE
    speak = [f"p:{prompt}"]
    if call and (_store().community() or {}).get("phone"):
        speak.append("centre:phone")
    if call:
        speak.append("p:emergency")  # the screen also says to call 120 or 110
    # The first screen of a closed kiosk stays quiet until touched, like the home screen.
    quiet = call and request.path == url_for("ui.home") and is_pristine()
    body = render_screen(
        "ui/problem.html",
        "problem",
        speak=[] if quiet else [*speak, "p:btn_home"],
        code=code,
        message=gettext(message),
        message_other=message_other,
        other_lines=other_lines,
        other_lang="en" if other == "en" else "zh-CN",
        **context,
    )
    response = make_response(body, status)
    response.headers["X-Linli-Problem"] = code
    return response


@bp.before_request
def _closed() -> Response | None:
    """A revoked or unenrolled kiosk offers no way to save: every screen asks to call the centre.

    Preferences, speech and the idle reset still work, so the message can be heard and read.
    """
    if request.endpoint in OPEN_WHEN_CLOSED:
        return None
    state = _store().status()["state"]
    if state in CLOSED_STATES:
        return problem_response(state)
    return None


def _paged(items: list[Choice], page: int) -> tuple[list[Choice], int, int]:
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = min(max(page, 1), pages)
    return items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], page, pages


def _int_arg(name: str) -> int:
    raw = request.args.get(name, "1")
    return int(raw) if re.fullmatch(r"[0-9]{1,5}", raw) else 1


def next_after_room(category: str, room: str, mode: str) -> str:
    """Where choosing a room leads: my requests, the health consent, or confirm."""
    if mode == "mine":
        return url_for("ui.mine", room=room)
    if category == HEALTH and not _store().has_consent(room, CONSENT_VERSION):
        return url_for("ui.consent", category=category, room=room)
    return url_for("ui.confirm", category=category, room=room)


# --- screens -----------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    """Home: one large tile per category, and my requests.

    With `?room=` (from a receipt's "another request for this room") the kiosk knows where the
    resident lives, so a tile leads straight to confirm: two taps to a saved request.
    """
    session.pop(PHONE_DRAFT, None)
    room = request.args.get("room")
    known = _rooms().get(room or "")
    tiles = []
    for category in _store().categories():
        code = category["code"]
        if code == EMERGENCY:
            url = _url("ui.emergency", room=known["code"] if known else None)
        elif known:
            url = next_after_room(code, known["code"], "new")
        else:
            url = url_for("ui.who", category=code)
        tiles.append(
            {
                "code": code,
                "name": category_name(category),
                "url": url,
                "urgent": bool(category["urgent"]),
            }
        )
    mine_url = url_for("ui.mine", room=known["code"]) if known else url_for("ui.who", mode="mine")
    # The untouched start screen stays quiet (nobody may be there); otherwise the prompt and
    # every tile whose words have checked pinyin are read out.
    speak = (
        []
        if is_pristine()
        else ["p:home"]
        + [f"p:cat_{t['code']}" for t in tiles if f"cat_{t['code']}" in PROMPTS]
        + ["p:btn_mine"]
    )
    return render_screen(
        "ui/home.html",
        "home",
        speak=speak,
        tiles=tiles,
        mine_url=mine_url,
        room_text=room_label(known) if known else None,
    )


@bp.get("/who")
def who() -> str | Response:
    """Where you live: building, then unit, then room (steps skipped when there is one)."""
    mode = "mine" if request.args.get("mode") == "mine" else "new"
    category = request.args.get("category", "")
    if mode == "new" and category not in _categories():
        return problem_response("unknown_category")
    rooms = sorted(
        _store().rooms(),
        key=lambda r: (_natural(r["building"]), _natural(r["unit"]), _natural(r["room"])),
    )
    base = {
        "category": category if mode == "new" else None,
        "mode": mode if mode == "mine" else None,
    }
    buildings = list(dict.fromkeys(r["building"] for r in rooms))
    building = request.args.get("building")
    if building is None and len(buildings) == 1:
        building = buildings[0]
    if building is not None and building not in buildings:
        return problem_response("unknown_room")
    step, choices, back = "building", [], url_for("ui.home")
    if building is None:
        choices = [
            Choice(
                gettext("%(building)s号楼", building=b),
                _url("ui.who", building=b, **base),
                f"building:{b}",
            )
            for b in buildings
        ]
    else:
        units = list(dict.fromkeys(r["unit"] for r in rooms if r["building"] == building))
        unit = request.args.get("unit")
        if unit is None and len(units) == 1:
            unit = units[0]
        if unit is not None and unit not in units:
            return problem_response("unknown_room")
        if len(buildings) > 1:
            back = _url("ui.who", **base)
        if unit is None:
            step = "unit"
            choices = [
                Choice(
                    gettext("%(unit)s单元", unit=u),
                    _url("ui.who", building=building, unit=u, **base),
                    f"unit:{u}",
                )
                for u in units
            ]
        else:
            step = "room"
            if len(units) > 1:
                back = _url("ui.who", building=building, **base)
            choices = [
                Choice(
                    r["room"],
                    next_after_room(category, r["code"], mode),
                    f"roomno:{r['room']}",
                )
                for r in rooms
                if r["building"] == building and r["unit"] == unit
            ]
    shown, page, pages = _paged(choices, _int_arg("page"))
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page"}
    speak = ["p:mine" if mode == "mine" else "p:who", *(c.voice for c in shown), "p:btn_back"]
    speak += ["p:btn_prev_page"] if page > 1 else []
    speak += ["p:btn_next_page"] if page < pages else []
    return render_screen(
        "ui/who.html",
        "who",
        speak=[*speak, "p:btn_home"],
        mode=mode,
        step=step,
        building=building,
        choices=shown,
        back=back,
        page=page,
        pages=pages,
        prev_url=url_for("ui.who", **args, page=page - 1) if page > 1 else None,
        next_url=url_for("ui.who", **args, page=page + 1) if page < pages else None,
        category=_categories().get(category),
        category_label=category_name(_categories()[category]) if mode == "new" else "",
    )


def _checked(category: str, room: str) -> tuple[dict[str, Any], dict[str, Any]] | str:
    cat = _categories().get(category)
    if cat is None:
        return "unknown_category"
    found = _rooms().get(room)
    if found is None:
        return "unknown_room"
    return cat, found


@bp.get("/consent")
def consent() -> str | Response:
    """Health consent (PIPL): shown and spoken before a room's first health request."""
    checked = _checked(request.args.get("category", ""), request.args.get("room", ""))
    if isinstance(checked, str):
        return problem_response(checked)
    cat, room = checked
    return render_screen(
        "ui/consent.html",
        "consent",
        speak=["p:consent", "p:btn_agree", "p:btn_disagree", "p:btn_home"],
        agree_url=url_for(
            "ui.confirm", category=cat["code"], room=room["code"], consent=CONSENT_VERSION
        ),
    )


def _confirm_args(values: Any = None) -> dict[str, Any]:
    """Category, room, on-behalf and consent from the address (or a posted form)."""
    values = request.args if values is None else values
    return {
        "category": values.get("category", ""),
        "room": values.get("room", ""),
        "on_behalf": "1" if values.get("on_behalf") == "1" else None,
        "consent": values.get("consent") or None,
    }


def draft_phone(category: str, room: str) -> str | None:
    """The number typed on the keypad for this category and room, if any."""
    draft = session.get(PHONE_DRAFT)
    if not isinstance(draft, dict) or draft.get("for") != f"{category}|{room}":
        return None
    number = draft.get("phone")
    return number if isinstance(number, str) and _PHONE.fullmatch(number) else None


@bp.get("/confirm")
def confirm() -> str | Response:
    """Confirm what will be saved; optional phone and "on behalf of a neighbour"."""
    args = _confirm_args()
    checked = _checked(args["category"], args["room"])
    if isinstance(checked, str):
        return problem_response(checked)
    cat, room = checked
    number = draft_phone(cat["code"], room["code"])
    needs_consent = cat["code"] == HEALTH and args["consent"] != CONSENT_VERSION
    if needs_consent and not _store().has_consent(room["code"], CONSENT_VERSION):
        return problem_response("consent_required")
    toggled = dict(args, on_behalf=None if args["on_behalf"] else "1")
    return render_screen(
        "ui/confirm.html",
        "confirm",
        speak=[
            "p:confirm",
            f"p:cat_{cat['code']}",
            f"room:{room['code']}",
            "p:btn_change_phone" if number else "p:btn_add_phone",
            "p:btn_behalf_yes" if args["on_behalf"] else "p:btn_behalf_no",
            "p:btn_confirm",
            "p:btn_home",
        ],
        category=cat,
        category_label=category_name(cat),
        room=room,
        room_text=room_label(room),
        phone=number,
        on_behalf=bool(args["on_behalf"]),
        consent_version=CONSENT_VERSION if cat["code"] == HEALTH else "",
        form_token=secrets.token_urlsafe(24),
        phone_url=_url("ui.phone", **args),
        behalf_url=_url("ui.confirm", **toggled),
    )


@bp.get("/phone")
def phone() -> str | Response:
    """A large keypad. The digits stay in the page until "done" posts them: never in an
    address (where the history and the access log would keep them)."""
    args = _confirm_args()
    checked = _checked(args["category"], args["room"])
    if isinstance(checked, str):
        return problem_response(checked)
    number = draft_phone(args["category"], args["room"]) or ""
    # The keys are read in one breath. The number typed is never spoken: it would be heard
    # across the lobby and kept in the audio cache.
    return render_screen(
        "ui/phone.html",
        "phone",
        speak=["p:phone", "keypad:phone", "p:btn_delete", "p:btn_skip", "p:btn_done", "p:btn_home"],
        number=number,
        keys=list(KEYPAD),
        fields={k: v for k, v in args.items() if v},
        ready=bool(number),
    )


@bp.post("/phone")
def phone_save() -> Response:
    """Keep the posted number (or none, for "skip") for this category and room; back to confirm."""
    args = _confirm_args(request.form)
    checked = _checked(args["category"], args["room"])
    if isinstance(checked, str):
        return problem_response(checked)
    number = request.form.get("phone", "")
    if not number:
        session.pop(PHONE_DRAFT, None)
    elif _PHONE.fullmatch(number):
        session[PHONE_DRAFT] = {"for": f"{args['category']}|{args['room']}", "phone": number}
    else:
        return problem_response("invalid_phone")
    return redirect(_url("ui.confirm", **args), 303)


@bp.post("/save")
def save() -> Response:
    """Validate every value, save in one transaction, then show the receipt."""
    form = request.form
    category, room = form.get("category", ""), form.get("room", "")
    checked = _checked(category, room)
    if isinstance(checked, str):
        return problem_response(checked)
    phone_value = form.get("phone") or None
    if phone_value is not None and not _PHONE.fullmatch(phone_value):
        return problem_response("invalid_phone")
    token = form.get("form_token", "")
    on_behalf = form.get("on_behalf", "0")
    consent_version = form.get("consent_version") or None
    if not _TOKEN.fullmatch(token) or on_behalf not in ("0", "1"):
        return problem_response("invalid_form")
    if consent_version not in (None, CONSENT_VERSION):
        return problem_response("invalid_form")
    if category == HEALTH and consent_version is None:
        return problem_response("consent_required")
    try:
        saved = current_app.extensions["linli_save"](
            category=category,
            room=room,
            phone=phone_value,
            on_behalf=on_behalf == "1",
            consent_version=consent_version if category == HEALTH else None,
            form_token=token,
        )
    except StorageFull:
        return problem_response("storage_full")
    except NotEnrolledError:
        return problem_response("not_enrolled")
    except InputError as exc:
        return problem_response(exc.code if exc.code in PROBLEMS else "invalid_form")
    remember_saved(saved.id)
    current_app.extensions["linli_on_saved"]()
    return redirect(url_for("ui.receipt", request_id=saved.id), 303)


@bp.get("/receipt/<request_id>")
def receipt(request_id: str) -> str | Response:
    """The ticket, shown only for a request that is in the database (so after the commit)."""
    found = _store().get_request(request_id)
    if found is None:
        return problem_response("unknown_request")
    status = _store().status()
    offline = found["status"] == "queued" and not status["online"]
    return render_screen(
        "ui/receipt.html",
        "receipt",
        speak=[
            "p:saved_offline" if offline else "p:saved",
            f"ticket:{found['ticket']}",
            "p:btn_again",
            "p:btn_home",
        ],
        ticket=found["ticket"],
        offline=offline,
        urgent=found["category"] == EMERGENCY,
        again_url=url_for("ui.home", room=found["room"]),
    )


@bp.get("/emergency")
def emergency() -> str:
    """Call 120 or 110 first; then, if wanted, save an urgent request for the community."""
    room = request.args.get("room", "")
    return render_screen(
        "ui/emergency.html",
        "emergency",
        speak=["p:emergency", "p:btn_notify", "p:btn_home"],
        notify_url=next_after_room(EMERGENCY, room, "new")
        if room in _rooms()
        else url_for("ui.who", category=EMERGENCY),
    )


def _age(request_row: dict[str, Any], now: datetime) -> timedelta:
    return now - datetime.fromisoformat(str(request_row["created_at"]))


def remember_saved(request_id: str) -> None:
    """Note in this visit's signed session that it saved `request_id`."""
    earlier = [r for r in session.get(VISIT_KEY, []) if isinstance(r, str) and r != request_id]
    session[VISIT_KEY] = [*earlier, request_id][-VISIT_LIMIT:]


def saved_this_visit(request_id: str) -> bool:
    """Whether this visit (this session, until the idle reset) saved `request_id`."""
    return request_id in session.get(VISIT_KEY, [])


def cancel_token(request_id: str) -> str:
    """The local API's proof that its caller saved `request_id` (valid while this process runs)."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"cancel:{request_id}".encode(), hashlib.sha256).hexdigest()


def valid_cancel_token(request_id: str, token: object) -> bool:
    """Whether `token` is the proof `cancel_token` gave for `request_id`."""
    return isinstance(token, str) and hmac.compare_digest(token, cancel_token(request_id))


def within_cancel_window(request_row: dict[str, Any], now: datetime) -> bool:
    """Whether the request was saved at most CANCEL_WINDOW ago."""
    return _age(request_row, now) <= CANCEL_WINDOW


@bp.get("/mine/<room>")
def mine(room: str) -> str | Response:
    """A room's recent requests in plain words, with a cancel button on open ones."""
    found = _rooms().get(room)
    if found is None:
        return problem_response("unknown_room")
    categories = _categories()
    now = _store().clock()
    items = []
    rows = _store().requests_for_room(room, limit=MINE_LIMIT)
    cancellations = _store().cancellations([str(r["id"]) for r in rows])
    for row in rows:
        status = str(row["status"])
        # The server answered the cancellation but the request goes on: staff kept it open.
        refused = (
            cancellations.get(str(row["id"]), "pending") != "pending"
            and not row["cancel_requested"]
            and status not in FINAL_STATES
        )
        cat = categories.get(row["category"])
        open_to_cancel = status not in FINAL_STATES and not row["cancel_requested"] and not refused
        items.append(
            {
                "id": row["id"],
                "ticket": row["ticket"],
                "category": category_name(cat) if cat else row["category"],
                "state": gettext(STATE_WORDS.get(status, "已收到")),
                "status": status,
                "cancel_pending": bool(row["cancel_requested"]) and status not in FINAL_STATES,
                "cancel_refused": refused,
                "can_cancel": open_to_cancel,
                "created": datetime.fromisoformat(str(row["created_at"]))
                .astimezone()
                .strftime("%m-%d %H:%M"),
                "direct": open_to_cancel
                and within_cancel_window(row, now)
                and saved_this_visit(str(row["id"])),
            }
        )
    done = request.args.get("done")
    speak = ["p:requests" if items else "p:no_requests"]
    if done in ("cancelled", "cancel_requested"):
        speak.insert(0, f"p:{done}")
    # Each kind of cancel button once: the same words read three times in a row say nothing.
    buttons = [
        "p:btn_cancel_now" if item["direct"] else "p:btn_cancel_ask"
        for item in items
        if item["can_cancel"]
    ]
    speak += list(dict.fromkeys(buttons))
    speak.append("p:btn_home")
    return render_screen(
        "ui/mine.html",
        "mine",
        speak=speak,
        room_text=room_label(found),
        items=items,
        done=done if done in ("cancelled", "cancel_requested") else None,
    )


@bp.get("/cancel/<request_id>")
def cancel(request_id: str) -> str | Response:
    """Ask once more before cancelling: a wrong tap must not cancel help.

    Only the visit that saved the request, within 10 minutes, cancels it; anyone else asks the
    community to (staff decide).
    """
    found = _store().get_request(request_id)
    if found is None:
        return problem_response("unknown_request")
    recent = within_cancel_window(found, _store().clock())
    return render_screen(
        "ui/cancel.html",
        "cancel",
        speak=["p:cancel_confirm", "p:btn_cancel_yes", "p:btn_cancel_no", "p:btn_home"],
        ticket=found["ticket"],
        request_id=found["id"],
        direct=recent and saved_this_visit(request_id),
        late=not recent,
        back_url=url_for("ui.mine", room=found["room"]),
    )


@bp.post("/cancel/<request_id>")
def cancel_save(request_id: str) -> Response:
    """Queue the cancellation: the visit that saved it within 10 minutes cancels, anyone else
    (or later) asks the community to cancel."""
    store = _store()
    found = store.get_request(request_id)
    if found is None:
        return problem_response("unknown_request")
    recent = within_cancel_window(found, store.clock())
    direct = recent and saved_this_visit(request_id)
    if not found["cancel_requested"] and found["status"] not in FINAL_STATES:
        try:
            store.cancel_request(request_id, None if recent else "late", ask=not direct)
        except StorageFull:
            return problem_response("storage_full")
        current_app.extensions["linli_on_saved"]()
    done = "cancelled" if direct else "cancel_requested"
    return redirect(url_for("ui.mine", room=found["room"], done=done), 303)


@bp.get("/problem/<code>")
def problem(code: str) -> Response:
    """A problem shown again by address (the page script follows failed posts here)."""
    response = problem_response(code if code in PROBLEMS else "server_error")
    response.status_code = 200
    return response


# --- preferences, idle reset and speech -------------------------------------------------


@bp.get("/lang/<code>")
def set_language(code: str) -> Response:
    """One tap between Chinese and English."""
    response = redirect(_safe_next(request.args.get("next")), 303)
    if code in LANGUAGES:
        response.set_cookie("lang", code, samesite="Strict", httponly=True)
    return response


@bp.get("/speaker")
def toggle_speaker() -> Response:
    """Turn spoken prompts off or on."""
    response = redirect(_safe_next(request.args.get("next")), 303)
    response.set_cookie("speak", "1" if not speaker_on() else "0", samesite="Strict", httponly=True)
    return response


@bp.get("/reset")
def reset() -> Response:
    """Start over for the next person: forget language, speaker and any admin session."""
    response = redirect(url_for("ui.home"), 303)
    for name in ("lang", "speak", current_app.config["SESSION_COOKIE_NAME"]):
        response.delete_cookie(name)
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


def spoken(key: str, lang: str) -> tuple[str, str] | None:
    """(text, voice) to speak for a voice key, or None when there is nothing safe to say."""
    english = lang == "en"
    kind, _, value = key.partition(":")
    if kind == "p":
        prompt = PROMPTS.get(value)
        if prompt is None:
            return None
        if value.startswith("cat_") and english:
            cat = _categories().get(value[4:])
            return (str(cat["name_en"]), ENGLISH_VOICE) if cat else None
        if english:
            return gettext(prompt.text), ENGLISH_VOICE
        return prompt.pinyin, PINYIN_VOICE
    if kind == "room":
        room = _rooms().get(value)
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
    return _spoken_number(kind, value, english)


def _spoken_number(kind: str, value: str, english: bool) -> tuple[str, str] | None:
    """Buttons and facts that are numbers: buildings, units, rooms, keys, seconds, the centre."""
    said: str | None = None
    if kind in ("building", "unit", "roomno"):
        field = "room" if kind == "roomno" else kind
        if value not in {str(r[field]) for r in _store().rooms()}:
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
        if seconds != int(_settings().IDLE_WARNING_SECONDS):
            return None  # only the countdown in force, so the cache holds one clip of it
        if english:
            return f"{seconds} {gettext('秒后回到首页')}", ENGLISH_VOICE
        said = f"{number_pinyin(seconds, counting=True)} {PROMPTS['idle_count'].pinyin}"
    elif kind == "centre":
        digits = re.sub(r"[^0-9]", "", str((_store().community() or {}).get("phone") or ""))
        if not digits:
            return None
        if english:
            return f"{gettext(PROMPTS['centre_phone'].text)} {' '.join(digits)}", ENGLISH_VOICE
        said = f"{PROMPTS['centre_phone'].pinyin.rstrip('.')}, {spell(digits)}."
    return (said, PINYIN_VOICE) if said else None


@bp.get("/voice/<lang>/<key>")
def voice(lang: str, key: str) -> Response:
    """The cached WAV of one prompt (404 when silent)."""
    if lang not in LANGUAGES or not _VOICE_KEY.fullmatch(key):
        abort(404)
    with force_locale(lang):
        what = spoken(key, lang)
    if what is None:
        abort(404)
    path = _voice().audio(*what)
    if path is None:
        abort(404)
    return send_file(path, mimetype="audio/wav", max_age=3600)


@bp.post("/ui/shown")
def shown() -> Response:
    """Each page reports that it was drawn (shown on the admin page; the window test polls it)."""
    data = request.get_json(silent=True)
    screen = data.get("screen") if isinstance(data, dict) else None
    if isinstance(screen, str) and re.fullmatch(r"[a-z_]{1,32}", screen):
        current_app.extensions["linli_shown"].update(
            screen=screen, at=_store().clock().isoformat(), lang=language()
        )
    return Response(status=204)


@bp.get("/ui/shown")
def last_shown() -> Response:
    """The screen drawn last and when."""
    return jsonify(current_app.extensions["linli_shown"])
