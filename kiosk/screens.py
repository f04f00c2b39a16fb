"""The touch UI residents use: home tiles, where you live, confirm, receipt, my requests.

Every screen is rendered here; the browser only follows links and posts three forms (phone,
save and cancel), so every value is validated on this side. State between screens travels in
the URL, except the phone number: typed on the keypad in the page, it is posted and kept in the
signed session for that category and room until the home screen or the idle reset, so it never
appears in an address, the history or a log. Otherwise nothing about a resident is kept in
cookies or browser storage: only language and speaker preferences, and in the signed session the
ids of the requests saved during this visit (only those may be cancelled directly, for 10
minutes), all cleared when the idle timer starts over. The frame around each screen is
kiosk/framing.py; what the screens say aloud is kiosk/speech.py.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard, assert_never

from flask import Blueprint, current_app, redirect, request, session, url_for
from flask_babel import get_locale, gettext
from werkzeug.wrappers import Response

from kiosk.context import kiosk_context
from kiosk.framing import (
    PROBLEMS,
    category_name,
    is_pristine,
    problem_response,
    render_screen,
    room_label,
)
from kiosk.schema import FINAL_STATES, LOCAL_STATES, KioskState
from kiosk.store import InputError, NotEnrolledError, StorageFull, Store
from kiosk.voice import PROMPTS
from sync.messages import OTHER_CHOICE, PREFERRED_TIMES
from sync.statuses import STATUSES

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
CHECKIN = "checkin"
"""The room picker's mode for a 报平安."""

_PHONE = re.compile(r"^[0-9]{5,15}$")
PHONE_DRAFT = "phone_draft"
"""Session key of the number typed on the keypad, with the category and room it is for."""
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
# States in which nothing may be saved: every screen becomes one call-the-centre screen.
CLOSED_STATES = ("revoked", "not_enrolled", "cloned")


def _words(state: KioskState) -> str:
    """A request's state in the resident's plain words (a msgid; English in the catalog)."""
    match state:
        case "queued":
            return "已保存待发送"
        case "received" | "triaged" | "reopened":
            return "已收到"
        case "dispatched" | "accepted":
            return "已安排"
        case "on_site":
            return "已上门"
        case "completed" | "followed_up" | "closed_fixed":
            return "已完成"
        case "closed_not_fixed":
            return "未解决，社区会联系您"
        case "escalated" | "external_feedback":
            return "已转交"
        case "duplicate":
            return "已合并"
        case "cancelled":
            return "已取消"
        case "rejected":
            return "未能送到社区"
        case _:
            assert_never(state)


STATE_WORDS: dict[KioskState, str] = {s: _words(s) for s in (*LOCAL_STATES, *STATUSES)}
"""Every state a request can be in (the contract's statuses and the kiosk's own), in words."""

STATE_VOICE: dict[str, str] = {
    "已保存待发送": "st_queued",
    "已收到": "st_received",
    "已安排": "st_arranged",
    "已上门": "st_on_site",
    "已完成": "st_done",
    "未解决，社区会联系您": "st_not_fixed",
    "已转交": "st_escalated",
    "已合并": "st_merged",
    "已取消": "st_cancelled",
    "未能送到社区": "st_rejected",
}
"""The prompt that speaks each state's words."""
MEALS = "meals"
ARRANGED = ("dispatched", "accepted")
COMING = ("dispatched", "accepted", "on_site")
"""Steps at which the team is on its way or there: who is coming is shown and spoken."""


def _is_state(status: str) -> TypeGuard[KioskState]:
    return status in STATE_WORDS


def state_words(status: str) -> str:
    """The words for a request's `status`; one this kiosk does not know reads as received."""
    return STATE_WORDS[status] if _is_state(status) else STATE_WORDS["received"]


@dataclass(frozen=True)
class Progress:
    """What "my requests" says of one request: its step in words fitting its category, who is
    coming, the public note, and for a merged one the surviving request's step."""

    state: str
    voice: tuple[str, ...]
    who: str | None = None
    then: str | None = None


def progress(row: dict[str, Any], surviving: dict[str, Any] | None = None) -> Progress:
    """A request's step in the resident's words (translated), with the voice keys saying it.

    `surviving` is the request a duplicate was merged into, when this kiosk holds it.
    """
    status = str(row["status"])
    team = row.get("team") or None
    who = str(team) if team and status in COMING else None
    if status in ARRANGED and row["category"] == MEALS:
        return Progress(gettext("送餐已安排"), ("p:st_meal",), who)
    if status in ARRANGED and who:
        return Progress(gettext("已安排 %(team)s", team=who), ("p:st_arranged",))
    agency = row.get("agency") or None
    if status in ("escalated", "external_feedback") and agency:
        return Progress(gettext("已转交 %(agency)s", agency=agency), ("p:st_escalated",))
    merged = row.get("merged_into") or None
    if status == "duplicate" and merged:
        then = None
        voice: tuple[str, ...] = ("p:st_merged_into", f"code:{merged}")
        if surviving is not None:
            after = progress(surviving)
            then = gettext("%(ticket)s：%(state)s", ticket=merged, state=after.state)
            voice += after.voice
        return Progress(gettext("已合并到 %(ticket)s", ticket=merged), voice, then=then)
    words = state_words(status)
    return Progress(gettext(words), (f"p:{STATE_VOICE[words]}",), who)


bp = Blueprint("screens", __name__)


@dataclass(frozen=True)
class Choice:
    """One big button of a picker."""

    label: str
    url: str
    voice: str = ""
    """The voice key that reads the label aloud."""
    post_room: str = ""
    """For a 报平安: the room the button posts to `url` (a form, not a link)."""


def _store() -> Store:
    return kiosk_context().store


def _natural(value: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdecimal() else p for p in re.split(r"(\d+)", value))


def categories_by_code() -> dict[str, dict[str, Any]]:
    """The categories, by code."""
    return {c["code"]: c for c in _store().categories()}


def rooms_by_code() -> dict[str, dict[str, Any]]:
    """The rooms, by code."""
    return {r["code"]: r for r in _store().rooms()}


def _url(endpoint: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "", False)}
    return url_for(endpoint, **clean)


@bp.before_request
def _closed() -> Response | None:
    """A revoked or unenrolled kiosk offers no way to save: every screen asks to call the centre.

    Preferences, speech and the idle reset (kiosk/framing.py, kiosk/speech.py) still work, so
    the message can be heard and read.
    """
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
        return url_for("screens.mine", room=room)
    if category == HEALTH and not _store().has_consent(room, CONSENT_VERSION):
        return url_for("screens.consent", category=category, room=room)
    return url_for("screens.confirm", category=category, room=room)


# --- screens -----------------------------------------------------------------------------


@bp.get("/")
def home() -> str:
    """Home: one large tile per category, and my requests.

    With `?room=` (from a receipt's "another request for this room") the kiosk knows where the
    resident lives, so a tile leads straight to confirm: two taps to a saved request.
    """
    session.pop(PHONE_DRAFT, None)
    room = request.args.get("room")
    known = rooms_by_code().get(room or "")
    tiles = []
    for category in _store().categories():
        code = category["code"]
        if code == EMERGENCY:
            url = _url("screens.emergency", room=known["code"] if known else None)
        elif known:
            url = next_after_room(code, known["code"], "new")
        else:
            url = url_for("screens.who", category=code)
        tiles.append(
            {
                "code": code,
                "name": category_name(category),
                "url": url,
                "urgent": bool(category["urgent"]),
            }
        )
    mine_url = (
        url_for("screens.mine", room=known["code"])
        if known
        else url_for("screens.who", mode="mine")
    )
    # 报平安: with the room known in this visit one tap saves it (a form); else pick the room.
    checkin_url = None if known else url_for("screens.who", mode=CHECKIN)
    # The untouched start screen stays quiet (nobody may be there); otherwise the prompt and
    # every tile whose words have checked pinyin are read out.
    speak = (
        []
        if is_pristine()
        else ["p:home"]
        + [f"p:cat_{t['code']}" for t in tiles if f"cat_{t['code']}" in PROMPTS]
        + ["p:btn_checkin", "p:btn_mine"]
    )
    return render_screen(
        "ui/home.html",
        "home",
        speak=speak,
        tiles=tiles,
        mine_url=mine_url,
        checkin_url=checkin_url,
        checkin_room=known["code"] if known else None,
        form_token=secrets.token_urlsafe(24),
        room_text=room_label(known) if known else None,
    )


@bp.get("/who")
def who() -> str | Response:
    """Where you live: building, then unit, then room (steps skipped when there is one).

    For a 报平安 (`mode=checkin`) each room is a button that saves it: no screen to confirm.
    """
    asked = request.args.get("mode")
    mode = asked if asked in ("mine", CHECKIN) else "new"
    category = request.args.get("category", "")
    if mode == "new" and category not in categories_by_code():
        return problem_response("unknown_category")
    rooms = sorted(
        _store().rooms(),
        key=lambda r: (_natural(r["building"]), _natural(r["unit"]), _natural(r["room"])),
    )
    base = {
        "category": category if mode == "new" else None,
        "mode": mode if mode != "new" else None,
    }
    buildings = list(dict.fromkeys(r["building"] for r in rooms))
    building = request.args.get("building")
    if building is None and len(buildings) == 1:
        building = buildings[0]
    if building is not None and building not in buildings:
        return problem_response("unknown_room")
    step, choices, back = "building", [], url_for("screens.home")
    if building is None:
        choices = [
            Choice(
                gettext("%(building)s号楼", building=b),
                _url("screens.who", building=b, **base),
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
            back = _url("screens.who", **base)
        if unit is None:
            step = "unit"
            choices = [
                Choice(
                    gettext("%(unit)s单元", unit=u),
                    _url("screens.who", building=building, unit=u, **base),
                    f"unit:{u}",
                )
                for u in units
            ]
        else:
            step = "room"
            if len(units) > 1:
                back = _url("screens.who", building=building, **base)
            choices = [
                Choice(
                    r["room"],
                    url_for("screens.checkin_save")
                    if mode == CHECKIN
                    else next_after_room(category, r["code"], mode),
                    f"roomno:{r['room']}",
                    r["code"] if mode == CHECKIN else "",
                )
                for r in rooms
                if r["building"] == building and r["unit"] == unit
            ]
    shown, page, pages = _paged(choices, _int_arg("page"))
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "page"}
    heading = {"mine": "p:mine", CHECKIN: "p:checkin_who"}.get(mode, "p:who")
    speak = [heading, *(c.voice for c in shown), "p:btn_back"]
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
        prev_url=url_for("screens.who", **args, page=page - 1) if page > 1 else None,
        next_url=url_for("screens.who", **args, page=page + 1) if page < pages else None,
        category=categories_by_code().get(category),
        category_label=category_name(categories_by_code()[category]) if mode == "new" else "",
        form_token=secrets.token_urlsafe(24),
    )


def _checked(category: str, room: str) -> tuple[dict[str, Any], dict[str, Any]] | str:
    cat = categories_by_code().get(category)
    if cat is None:
        return "unknown_category"
    found = rooms_by_code().get(room)
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
            "screens.confirm", category=cat["code"], room=room["code"], consent=CONSENT_VERSION
        ),
    )


def _confirm_args(values: Any = None) -> dict[str, Any]:
    """Category, room, on-behalf and consent from the address (or a posted form)."""
    values = request.args if values is None else values
    when = values.get("when")
    return {
        "category": values.get("category", ""),
        "room": values.get("room", ""),
        "on_behalf": "1" if values.get("on_behalf") == "1" else None,
        "consent": values.get("consent") or None,
        "when": when if when in PREFERRED_TIMES else None,
    }


TIME_WORDS: dict[str, str] = {
    "today_am": "今天上午",
    "today_pm": "今天下午",
    "tomorrow": "明天",
    "any": "都可以",
}
"""Each preferred time as the confirm screen offers it (msgids; English in the catalog)."""


def _english() -> bool:
    return str(get_locale()) == "en"


def _choice_key(choice: dict[str, Any]) -> str:
    """The voice key that reads a sub-choice tile aloud."""
    return f"choice:{choice['category']}.{choice['code']}"


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
    # What is wrong and when, on this screen (home to saved stays three screens): the time
    # first, as links that keep everything else; then each sub-choice tile saves at once.
    asks = _store().offers_choices() and not cat["urgent"]
    choices = _store().choices(cat["code"]) if asks else []
    # A second tap on the time chosen takes it back.
    times = (
        [
            {
                "label": gettext(TIME_WORDS[t]),
                "code": t,
                "url": _url("screens.confirm", **dict(args, when=None if args["when"] == t else t)),
                "voice": f"p:t_{t}",
            }
            for t in PREFERRED_TIMES
        ]
        if asks
        else []
    )
    tiles = [
        {
            "label": str(c["name_en"] if _english() else c["name_zh"]),
            "code": str(c["code"]),
            "voice": _choice_key(c),
        }
        for c in choices
    ]
    if tiles:
        tiles.append({"label": gettext("其他"), "code": OTHER_CHOICE, "voice": "p:ch_other"})
    speak = ["p:confirm_choice" if tiles else "p:confirm", f"p:cat_{cat['code']}"]
    speak += [f"room:{room['code']}"]
    speak += ["p:when", *(t["voice"] for t in times)] if times else []
    speak += [t["voice"] for t in tiles]
    speak += [
        "p:btn_change_phone" if number else "p:btn_add_phone",
        "p:btn_behalf_yes" if args["on_behalf"] else "p:btn_behalf_no",
    ]
    speak += [] if tiles else ["p:btn_confirm"]
    return render_screen(
        "ui/confirm.html",
        "confirm",
        speak=[*speak, "p:btn_home"],
        times=times,
        when=args["when"] if asks else None,
        tiles=tiles,
        category=cat,
        category_label=category_name(cat),
        room=room,
        room_text=room_label(room),
        phone=number,
        on_behalf=bool(args["on_behalf"]),
        consent_version=CONSENT_VERSION if cat["code"] == HEALTH else "",
        form_token=secrets.token_urlsafe(24),
        phone_url=_url("screens.phone", **args),
        behalf_url=_url("screens.confirm", **toggled),
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
    return redirect(_url("screens.confirm", **args), 303)


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
    choice = form.get("choice") or None
    when = form.get("when") or None
    if not _TOKEN.fullmatch(token) or on_behalf not in ("0", "1"):
        return problem_response("invalid_form")
    if when not in (None, *PREFERRED_TIMES):
        return problem_response("invalid_form")
    if consent_version not in (None, CONSENT_VERSION):
        return problem_response("invalid_form")
    if category == HEALTH and consent_version is None:
        return problem_response("consent_required")
    try:
        saved = kiosk_context().save(
            category=category,
            room=room,
            phone=phone_value,
            on_behalf=on_behalf == "1",
            consent_version=consent_version if category == HEALTH else None,
            form_token=token,
            choice=choice,
            preferred_time=when,
        )
    except StorageFull:
        return problem_response("storage_full")
    except NotEnrolledError:
        return problem_response("not_enrolled")
    except InputError as exc:
        return problem_response(exc.code if exc.code in PROBLEMS else "invalid_form")
    remember_saved(saved.id)
    kiosk_context().on_saved()
    return redirect(url_for("screens.receipt", request_id=saved.id), 303)


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
        again_url=url_for("screens.home", room=found["room"]),
    )


@bp.get("/emergency")
def emergency() -> str:
    """Call 120 or 110 first; then, if wanted, save an urgent request for the community."""
    room = request.args.get("room", "")
    duty = ["centre:phone"] if (_store().community() or {}).get("phone") else []
    return render_screen(
        "ui/emergency.html",
        "emergency",
        speak=["p:emergency", *duty, "p:btn_notify", "p:btn_home"],
        notify_url=next_after_room(EMERGENCY, room, "new")
        if room in rooms_by_code()
        else url_for("screens.who", category=EMERGENCY),
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
    found = rooms_by_code().get(room)
    if found is None:
        return problem_response("unknown_room")
    categories = categories_by_code()
    now = _store().clock()
    items = []
    rows = _store().requests_for_room(room, limit=MINE_LIMIT)
    cancellations = _store().cancellations([str(r["id"]) for r in rows])
    voice: list[str] = []
    for row in rows:
        status = str(row["status"])
        # Made elsewhere (by phone, at another kiosk): shown as its category, ticket, step and
        # who is coming; never its note, and the community, not this kiosk, cancels it.
        here = row["origin"] == "kiosk"
        # The server answered the cancellation but the request goes on: staff kept it open.
        refused = (
            cancellations.get(str(row["id"]), "pending") != "pending"
            and not row["cancel_requested"]
            and status not in FINAL_STATES
        )
        cat = categories.get(row["category"])
        open_to_cancel = (
            here and status not in FINAL_STATES and not row["cancel_requested"] and not refused
        )
        merged = row["merged_into"] if status == "duplicate" else None
        step = progress(row, _store().by_ticket(merged) if merged else None)
        voice += step.voice
        items.append(
            {
                "id": row["id"],
                "ticket": row["ticket"],
                "category": category_name(cat) if cat else row["category"],
                "state": step.state,
                "who": step.who,
                "then": step.then,
                # The note a step writes itself (已合并到 P-0022) is not said twice.
                "note": row["note"] if here and row["note"] != step.state else None,
                "here": here,
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
    speak = ["p:requests" if items else "p:no_requests", *voice]
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
    if found is None or found["origin"] != "kiosk":
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
        back_url=url_for("screens.mine", room=found["room"]),
    )


@bp.post("/cancel/<request_id>")
def cancel_save(request_id: str) -> Response:
    """Queue the cancellation: the visit that saved it within 10 minutes cancels, anyone else
    (or later) asks the community to cancel."""
    store = _store()
    found = store.get_request(request_id)
    if found is None or found["origin"] != "kiosk":
        return problem_response("unknown_request")
    recent = within_cancel_window(found, store.clock())
    direct = recent and saved_this_visit(request_id)
    if not found["cancel_requested"] and found["status"] not in FINAL_STATES:
        try:
            store.cancel_request(request_id, None if recent else "late", ask=not direct)
        except StorageFull:
            return problem_response("storage_full")
        kiosk_context().on_saved()
    done = "cancelled" if direct else "cancel_requested"
    return redirect(url_for("screens.mine", room=found["room"], done=done), 303)


# --- 报平安 (check-in) ------------------------------------------------------------------------


@bp.post("/checkin")
def checkin_save() -> Response:
    """Save a 报平安 for the posted room in one durable transaction, then greet the resident.

    No request is made: no category, ticket, phone or words.
    """
    room, token = request.form.get("room", ""), request.form.get("form_token", "")
    if room not in rooms_by_code():
        return problem_response("unknown_room")
    if not _TOKEN.fullmatch(token):
        return problem_response("invalid_form")
    try:
        saved = kiosk_context().check_in(room, token)
    except StorageFull:
        return problem_response("storage_full")
    except NotEnrolledError:
        return problem_response("not_enrolled")
    except InputError as exc:
        return problem_response(exc.code if exc.code in PROBLEMS else "invalid_form")
    kiosk_context().on_saved()
    return redirect(url_for("screens.checkin_done", checkin_id=saved.id), 303)


@bp.get("/checkin/<checkin_id>")
def checkin_done(checkin_id: str) -> str | Response:
    """收到您的平安: shown only for a check-in that is in the database (so after the commit)."""
    found = _store().get_checkin(checkin_id)
    if found is None:
        return problem_response("not_found")
    offline = found["status"] == "queued" and not _store().status()["online"]
    return render_screen(
        "ui/checkin.html",
        "checkin",
        speak=[
            "p:checkin_done",
            "p:saved_offline" if offline else "p:saved",
            "p:btn_help_room",
            "p:btn_home",
        ],
        offline=offline,
        room_text=room_label(rooms_by_code()[found["room"]])
        if found["room"] in rooms_by_code()
        else found["room"],
        help_url=url_for("screens.home", room=found["room"]),
    )
