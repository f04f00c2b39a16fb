"""The frame every kiosk page shares: rendering, headers, language, speaker and problems.

Screens (kiosk/screens.py) and the admin page render through `render_screen`, which fills in
the banner, the language and speaker switches and the idle timer. A problem is one large
message in both languages (`problem_response`). Every answer carries a Content-Security-Policy
that allows only this kiosk's own files, and no page is cached. The routes here (language,
speaker, idle reset, a problem by address, the page-drawn report) answer even on a closed
kiosk: none of them can save anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask import (
    Blueprint,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, get_locale, gettext
from werkzeug.wrappers import Response

from kiosk.context import Shown, kiosk_context
from kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGES
from sync.redirects import local_path

# Pages may load only this kiosk's own scripts, styles, audio and images: nothing remote.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)

VOICE_KEY = re.compile(
    r"^(?:p:[a-z_]+|room:[0-9A-Za-z-]{1,64}|ticket:[A-Z]{1,2}-[0-9]{4}"
    r"|code:[A-Z]{1,2}-[0-9A-Z]{4}"
    r"|(?:building|unit|roomno):[0-9A-Za-z]{1,16}|secs:[0-9]{1,4}"
    r"|choice:[a-z][a-z_]{0,31}\.[a-z][a-z0-9_]{0,31}"
    r"|centre:phone|keypad:phone)$"
)
"""The voice keys a page may ask to hear (kiosk/speech.py says what each one speaks)."""

# Problems shown as the full call-the-centre screen (nothing saved, the centre's number large).
CALL_CENTRE = ("storage_full", "storage_error", "not_enrolled", "revoked", "cloned")

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

bp = Blueprint("frame", __name__)


def harden(response: Response) -> Response:
    """Every answer: only this kiosk's own files may load, and no page is cached."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        # Nothing of one resident may be found by the next in the browser's cache.
        response.headers["Cache-Control"] = "no-store"
    return response


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


def render_screen(template: str, screen: str, speak: Iterable[str] = (), **context: Any) -> str:
    """Render a screen inside the frame every screen shares (banner, language, speaker)."""
    kiosk = kiosk_context()
    status = kiosk.store.status()
    community = kiosk.store.community() or {}
    settings = kiosk.settings
    lang = language()
    other = "en" if lang == "zh" else "zh"
    here = request.full_path.rstrip("?") if request.method == "GET" else url_for("screens.home")
    return render_template(
        template,
        screen=screen,
        lang=lang,
        html_lang="zh-CN" if lang == "zh" else "en",
        status=status,
        community=community,
        speak=[k for k in speak if VOICE_KEY.fullmatch(k)] if speaker_on() else [],
        idle_speak=(
            ["p:idle", f"secs:{int(settings.IDLE_WARNING_SECONDS)}", "p:btn_continue"]
            if speaker_on()
            else []
        ),
        speaker_on=speaker_on(),
        voice_ready=kiosk.voice.available,
        switch_url=url_for("frame.set_language", code=other, next=here),
        speaker_url=url_for("frame.toggle_speaker", next=here),
        idle_seconds=settings.IDLE_SECONDS,
        idle_warning_seconds=settings.IDLE_WARNING_SECONDS,
        pristine=request.path == url_for("screens.home") and is_pristine(),
        call_centre=screen == "problem" and context.get("code") in CALL_CENTRE,
        **context,
    )


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
    if call and (kiosk_context().store.community() or {}).get("phone"):
        speak.append("centre:phone")
    if call:
        speak.append("p:emergency")  # the screen also says to call 120 or 110
    # The first screen of a closed kiosk stays quiet until touched, like the home screen.
    quiet = call and request.path == url_for("screens.home") and is_pristine()
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


def _safe_next(target: str | None) -> str:
    """Only local paths are followed, so no link can leave the kiosk (see sync.redirects)."""
    return local_path(target) or url_for("screens.home")


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
    response = redirect(url_for("screens.home"), 303)
    for name in ("lang", "speak", current_app.config["SESSION_COOKIE_NAME"]):
        response.delete_cookie(name)
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@bp.get("/problem/<code>")
def problem(code: str) -> Response:
    """A problem shown again by address (the page script follows failed posts here)."""
    response = problem_response(code if code in PROBLEMS else "server_error")
    response.status_code = 200
    return response


@bp.post("/ui/shown")
def shown() -> Response:
    """Each page reports that it was drawn (shown on the admin page; the window test polls it)."""
    data = request.get_json(silent=True)
    screen = data.get("screen") if isinstance(data, dict) else None
    if isinstance(screen, str) and re.fullmatch(r"[a-z_]{1,32}", screen):
        kiosk = kiosk_context()
        kiosk.shown = Shown(screen=screen, at=kiosk.store.clock().isoformat(), lang=language())
    return Response(status=204)


@bp.get("/ui/shown")
def last_shown() -> Response:
    """The screen drawn last and when."""
    return jsonify(kiosk_context().shown.as_json())
