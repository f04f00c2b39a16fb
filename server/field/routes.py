"""A volunteer's own phone pages (an installable web app that works without signal), and the
volunteer card in the console.

GET  /v/k/<token>                       the card's link: signs this phone in, then 我的任务
GET  /v/pin                             a new phone gives the PIN (when one is set)
POST /v/pin                             check it (JSON)
POST /v/pin/set                         set or change the PIN (JSON)
POST /v/sign-out                        end this phone's session (JSON)
GET  /v/                                我的任务: my jobs and my team's, most urgent first
GET  /v/jobs.json                       the list again, for the page's poll (fingerprint + rows)
GET  /v/jobs/<id>                       one job; the resident's details while I am on it (audited)
POST /v/today                           今天有空: free today or not (JSON)
POST /v/actions                         actions taken on the phone, in order, each applied once
GET  /v/watch                           我的守望: the elders whose care plan names me
GET  /v/watch/<resident_id>             one of them: record a visit (探访) or a call (电话)
GET  /v/hours                           我的时长 / 我的积分: hours, passbook statement, balance
POST /v/code                            a redemption code to show a merchant (JSON)
GET  /v/record                          我的服务记录: the printable certificate
GET  /v/manifest.webmanifest            the web app manifest
GET  /v/sw.js                           the service worker (scope /v/)
GET  /v/static/<file>?v=<digest>        the pages' script, style and icon: a URL naming the
                                        file's content digest is cached for a year (immutable);
                                        without it, revalidated (no personal data either way)
GET  /console/volunteers/<id>/card      the volunteer card: sign-in link state, linked user
POST /console/volunteers/<id>/card/issue     issue (or re-issue) the link: the QR code, once
POST /console/volunteers/<id>/card/revoke    revoke it (and every phone signed in by it)
POST /console/volunteers/<id>/card/user      link a console user to this volunteer
POST /console/volunteers/<id>/card/buildings the buildings this volunteer captains (楼长)
GET  /console/me/phone                  a linked console user opens their own phone pages
GET  /console/skill-words               a community's skill word list (its admins)
POST /console/skill-words               count a skill word for a category
POST /console/skill-words/suggested     add the suggested words the community lacks
POST /console/skill-words/<id>/remove   stop counting a word
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from werkzeug.wrappers import Response as WerkzeugResponse

from server.audit.actor import Actor
from server.auth import access
from server.errors import InvalidInput, LinliError, NotFound
from server.field import queries, services
from server.inputs import parse_int
from server.localtime import local_today
from server.pages import form_failed
from server.passbook import services as passbook
from server.requests.words import status_words
from server.volunteers import forms as volunteer_forms
from server.volunteers import queries as volunteer_queries
from server.volunteers.models import Volunteer
from server.volunteers.services import volunteer_in

STATIC = Path(__file__).parent / "static"
bp = Blueprint(
    "field",
    __name__,
    url_prefix="/v",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
console_bp = Blueprint("field_console", __name__)

COOKIE = "linli_field"
COOKIE_DAYS = 180
POLL_SECONDS = 5
"""How often 我的任务 asks for new jobs while open (and online)."""
ACTIONS_AT_ONCE = 50


STATIC_MAX_AGE = 365 * 24 * 3600
"""A versioned static file's lifetime in the phone's HTTP cache: a new content, a new URL."""


@functools.lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def static_version(filename: str) -> str | None:
    """A short digest of a static file's content, put in its URL (None: no such file)."""
    path = STATIC / filename
    try:
        stat = path.stat()
    except OSError:
        return None
    return _digest(str(path), stat.st_mtime_ns, stat.st_size)


@bp.url_defaults
def _versioned_static(endpoint: str, values: dict[str, Any]) -> None:
    """Every `url_for('field.static', ...)` names the file's content digest (`?v=`)."""
    if endpoint == "field.static" and "v" not in values:
        version = static_version(values.get("filename", ""))
        if version is not None:
            values["v"] = version


@bp.after_request
def _static_cache(response: WerkzeugResponse) -> WerkzeugResponse:
    """A static file asked by its current digest is immutable for a year; asked without it
    (or by an old digest) it is revalidated by its ETag. Pages keep `no-store`."""
    if request.endpoint == "field.static" and response.status_code in (200, 304):
        filename = (request.view_args or {}).get("filename", "")
        if request.args.get("v") == static_version(filename):
            response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}, immutable"
        else:
            response.headers["Cache-Control"] = "no-cache"
    return response


def phone_session() -> access.PhoneSession | None:
    """The phone signed in by this request's cookie (installed as the access policy's hook)."""
    device = services.device_for(request.cookies.get(COOKIE))
    if device is None:
        return None
    return access.PhoneSession(device.volunteer_id, device.id, device.is_pin_checked)


def _me() -> Volunteer:
    return queries.volunteer_by_id(access.phone().volunteer_id)


def _signed_in(token: str, target: str) -> WerkzeugResponse:
    response = redirect(target, 303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_DAYS * 24 * 3600,
        path="/v",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        httponly=True,
        samesite="Lax",
    )
    return response


def _page(template: str, **context: Any) -> str:
    me = _me()
    return render_template(
        template,
        me=me,
        poll_seconds=POLL_SECONDS,
        watching=queries.watches_anyone(me),
        **context,
    )


# --- signing in -----------------------------------------------------------------------------


@bp.get("/k/<token>")
def open_link(token: str) -> ResponseReturnValue:
    """The card's link: this phone is signed in for months (PIN first, when one is set)."""
    session_token = services.sign_in_by_link(token)
    device = services.device_for(session_token)
    target = (
        url_for("field.tasks") if device and device.is_pin_checked else url_for("field.pin_page")
    )
    return _signed_in(session_token, target)


@bp.get("/pin")
def pin_page() -> ResponseReturnValue:
    """Give the PIN on a new phone."""
    return render_template("field/pin.html", me=_me())


@bp.post("/pin")
def pin_check() -> ResponseReturnValue:
    """Check the PIN (JSON: {pin})."""
    device = services.device_for(request.cookies.get(COOKIE))
    if device is None:
        raise NotFound(gettext("请重新扫描志愿者卡"))
    services.check_pin(device, str(_json().get("pin", "")))
    return jsonify({"ok": True, "next": url_for("field.tasks")})


@bp.post("/pin/set")
def pin_set() -> ResponseReturnValue:
    """Set or change the PIN (JSON: {pin})."""
    services.set_pin(_me(), str(_json().get("pin", "")))
    return jsonify({"ok": True})


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """End this phone's session; the page clears what it kept offline."""
    device = services.device_for(request.cookies.get(COOKIE))
    if device is not None:
        services.sign_out(device)
    response = jsonify({"ok": True})
    response.delete_cookie(COOKIE, path="/v")
    return response


# --- my jobs --------------------------------------------------------------------------------


def _lists(me: Volunteer) -> dict[str, Any]:
    jobs = queries.my_jobs(me)
    team = queries.team_queue(queries.led_team_ids(me))
    return {
        "jobs": jobs,
        "team_jobs": team,
        "fingerprint": queries.fingerprint(jobs, [t.req for t in team]),
        "status_words": status_words,
        "state_word": services.state_word,
    }


@bp.get("/")
def tasks() -> ResponseReturnValue:
    """我的任务."""
    me = _me()
    return _page("field/tasks.html", free_today=queries.free_today(me), **_lists(me))


@bp.post("/today")
def today() -> ResponseReturnValue:
    """今天有空 (JSON: {free: true|false}): the dispatch form ranks a free volunteer first."""
    free = _json().get("free")
    if not isinstance(free, bool):
        raise InvalidInput(gettext("请说明今天是否有空"), "bad_free")
    services.set_free_today(_me(), free)
    return jsonify({"free": free})


@bp.get("/jobs.json")
def tasks_json() -> ResponseReturnValue:
    """The list for the page's poll: its fingerprint and, when it changed, its rows."""
    me = _me()
    context = _lists(me)
    if request.args.get("since") == context["fingerprint"]:
        return jsonify({"fingerprint": context["fingerprint"], "changed": False})
    rows = render_template("field/_jobs.html", **context)
    return jsonify({"fingerprint": context["fingerprint"], "changed": True, "html": rows})


@bp.get("/jobs/<int:request_id>")
def job_page(request_id: int) -> ResponseReturnValue:
    """One job: the next steps, and the resident's details while I am on it (audited)."""
    me = _me()
    job = queries.my_job(me, request_id)
    if job is None:
        raise NotFound(gettext("没有这项任务"))
    return _page(
        "field/job.html",
        job=job,
        req=job.req,
        door=queries.doorstep(job, me),
        status_words=status_words,
        state_word=services.state_word,
    )


def _json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput(gettext("请求须是 JSON 对象"), "bad_json")
    return body


def _taken_at(raw: dict[str, Any]) -> datetime:
    try:
        taken_at = datetime.fromisoformat(str(raw.get("taken_at")))
    except ValueError:
        raise InvalidInput(gettext("操作时间格式不对"), "bad_time") from None
    if taken_at.tzinfo is None:
        taken_at = taken_at.replace(tzinfo=UTC)
    return taken_at.astimezone(UTC)


def _parse_care(raw: dict[str, Any], client_id: uuid.UUID) -> services.CareInput:
    resident_id = raw.get("resident_id")
    if not isinstance(resident_id, int) or isinstance(resident_id, bool):
        raise InvalidInput(gettext("缺少老人编号"), "bad_resident_id")
    outcome = raw.get("outcome")
    if outcome not in services.CARE_OUTCOMES:
        raise InvalidInput(gettext("请选择结果"), "bad_outcome")
    return services.CareInput(
        client_id=client_id,
        kind=str(raw["kind"]),
        resident_id=resident_id,
        outcome=str(outcome),
        taken_at=_taken_at(raw),
    )


def _parse_action(raw: object) -> services.ActionInput | services.CareInput:
    if not isinstance(raw, dict):
        raise InvalidInput(gettext("每项操作须是 JSON 对象"), "bad_action")
    try:
        client_id = uuid.UUID(str(raw.get("id")))
    except ValueError:
        raise InvalidInput(gettext("操作编号须是 UUIDv7"), "bad_id") from None
    if client_id.version != 7:
        raise InvalidInput(gettext("操作编号须是 UUIDv7"), "bad_id")
    kind = raw.get("kind")
    if kind in services.CARE_KINDS:
        return _parse_care(raw, client_id)
    if kind not in services.APPLY:
        raise InvalidInput(gettext("未知的操作"), "bad_kind")
    request_id = raw.get("request_id")
    minutes = raw.get("minutes")
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise InvalidInput(gettext("缺少任务编号"), "bad_request_id")
    if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool)):
        raise InvalidInput(gettext("分钟数须是整数"), "bad_minutes")
    taken_at = _taken_at(raw)
    texts = {name: raw.get(name) for name in ("reason", "note")}
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise InvalidInput(gettext("文字字段须是字符串"), f"bad_{name}")
    return services.ActionInput(
        client_id=client_id,
        kind=str(kind),
        request_id=request_id,
        taken_at=taken_at,
        reason=texts["reason"],
        note=texts["note"],
        minutes=minutes,
    )


@bp.post("/actions")
def actions() -> ResponseReturnValue:
    """Actions taken on the phone, in the order taken (JSON: {actions: [...]}): each applied
    once; a repeat answers the first result; one the job no longer allows is rejected with why."""
    raw = _json().get("actions")
    if not isinstance(raw, list) or not 0 < len(raw) <= ACTIONS_AT_ONCE:
        raise InvalidInput(gettext("须有 1 到 50 项操作"), "bad_actions")
    me = _me()
    results = []
    for item in raw:
        try:
            parsed = _parse_action(item)
        except InvalidInput as exc:  # this one is refused, the others still go
            named = item.get("id") if isinstance(item, dict) else None
            results.append(
                {"id": named, "status": "rejected", "error": exc.code, "detail": exc.detail}
            )
            continue
        results.append(services.apply_one(me, parsed).as_json())
    return jsonify({"results": results})


# --- 我的守望 ---------------------------------------------------------------------------------


@bp.get("/watch")
def watch() -> ResponseReturnValue:
    """我的守望: the elders I look after, their last sign of life and my open visit tasks."""
    return _page("field/watch.html", elders=queries.my_watch(_me()))


@bp.get("/watch/<int:resident_id>")
def elder(resident_id: int) -> ResponseReturnValue:
    """One elder I look after: record a visit or a call (404 unless their plan names me)."""
    found = queries.my_watch(_me(), resident_id)
    if not found:
        raise NotFound(gettext("没有这位老人"))
    return _page("field/elder.html", elder=found[0])


# --- my hours, points and record ------------------------------------------------------------


@bp.get("/hours")
def hours() -> ResponseReturnValue:
    """我的时长 and 我的积分."""
    me = _me()
    entries, _earlier = passbook.statement(me.id)
    return _page(
        "field/hours.html",
        hours=queries.my_hours(me),
        statement=list(reversed(entries))[:50],
        balance=passbook.balance(me.id),
    )


@bp.post("/code")
def code() -> ResponseReturnValue:
    """A one-time redemption code for up to the points asked (JSON: {points})."""
    points = _json().get("points")
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise InvalidInput(gettext("请填写积分数"), "bad_points")
    shown = services.issue_my_code(_me(), points)
    return jsonify({"code": shown, "points": points})


@bp.get("/record")
def record() -> ResponseReturnValue:
    """我的服务记录: the printable certificate of a period (the console's own page)."""
    me = _me()
    start, end = volunteer_forms.record_period(request.args)
    return render_template(
        "volunteers/record.html",
        volunteer=me,
        community=volunteer_queries.community(me.community_id),
        issued_by=gettext("志愿者本人打印"),
        issued_on=local_today(),
        **volunteer_queries.service_record_context(me, start, end),
    )


# --- the installable app ---------------------------------------------------------------------


@bp.get("/manifest.webmanifest")
def manifest() -> ResponseReturnValue:
    """The web app manifest: 邻里志愿者, opens at 我的任务."""
    body = {
        "name": gettext("邻里志愿者"),
        "short_name": gettext("邻里"),
        "start_url": url_for("field.tasks"),
        "scope": url_for("field.tasks"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#1d5c4a",
        "lang": "zh-CN",
        "icons": [
            {
                "src": url_for("field.static", filename="icon.svg"),
                "sizes": "any",
                "type": "image/svg+xml",
            }
        ],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/sw.js")
def service_worker() -> ResponseReturnValue:
    """The service worker, served from /v/ so that it may control every page under it."""
    response = send_from_directory(STATIC, "sw.js", mimetype="text/javascript", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


# --- the console: volunteer cards ------------------------------------------------------------


def _actor() -> Actor:
    return Actor.of_user(access.user())


def _volunteer(volunteer_id: int) -> Volunteer:
    return volunteer_in(access.community_scope(), volunteer_id)


def _qr(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=5, border=2)


@console_bp.get("/console/volunteers/<int:volunteer_id>/card")
def card(volunteer_id: int) -> ResponseReturnValue:
    """The volunteer card: is a sign-in link active, who is linked (the QR shows only at issue)."""
    return render_template("field/card.html", **queries.card_context(_volunteer(volunteer_id)))


@console_bp.post("/console/volunteers/<int:volunteer_id>/card/issue")
def card_issue(volunteer_id: int) -> ResponseReturnValue:
    """Issue (or re-issue) the link; the card with its QR code, printable, shown this once."""
    volunteer = _volunteer(volunteer_id)
    token = services.issue_link(volunteer, _actor())
    url = url_for("field.open_link", token=token, _external=True)
    context = queries.card_context(volunteer)
    return render_template("field/card.html", link_url=url, qr=_qr(url), **context)


@console_bp.post("/console/volunteers/<int:volunteer_id>/card/revoke")
def card_revoke(volunteer_id: int) -> ResponseReturnValue:
    """Revoke the link: the card and every phone signed in by it stop working."""
    volunteer = _volunteer(volunteer_id)
    services.revoke_link(volunteer, _actor())
    return redirect(url_for("field_console.card", volunteer_id=volunteer.id), 303)


@console_bp.post("/console/volunteers/<int:volunteer_id>/card/user")
def card_user(volunteer_id: int) -> ResponseReturnValue:
    """Link a console user (a team lead) to this volunteer record."""
    volunteer = _volunteer(volunteer_id)
    try:
        services.link_user(volunteer, request.form.get("username", ""), _actor())
    except LinliError as exc:
        return form_failed(exc, "field/card.html", lambda: queries.card_context(volunteer))
    return redirect(url_for("field_console.card", volunteer_id=volunteer.id), 303)


@console_bp.post("/console/volunteers/<int:volunteer_id>/card/buildings")
def card_buildings(volunteer_id: int) -> ResponseReturnValue:
    """Set the buildings this volunteer captains (楼长): their requests offer them first."""
    volunteer = _volunteer(volunteer_id)
    codes = request.form.get("buildings", "").replace("，", " ").replace(",", " ").split()
    try:
        services.set_captain_buildings(volunteer, codes, _actor())
    except LinliError as exc:
        return form_failed(exc, "field/card.html", lambda: queries.card_context(volunteer))
    return redirect(url_for("field_console.card", volunteer_id=volunteer.id), 303)


@console_bp.get("/console/me/phone")
def my_phone() -> ResponseReturnValue:
    """A console user who is a volunteer opens their phone pages (one set of job pages)."""
    try:
        token = services.sign_in_as_user(access.user(), _actor())
    except NotFound as exc:
        flash(exc.detail)
        return redirect(url_for("console.index"), 303)
    return _signed_in(token, url_for("field.tasks"))


# --- the console: a community's skill word list ----------------------------------------------


def _word_community() -> int:
    """The community of the word list asked for: one the user administers (else 404); a page
    asked without one shows the first, a change must name it."""
    scope = access.community_scope()
    raw = request.values.get("community")
    if raw is None and request.method == "GET" and scope:
        return min(scope)
    community_id = parse_int(raw, "community", code="bad_community")
    access.require_community(community_id)
    return community_id


def _words_context(community_id: int) -> dict[str, Any]:
    communities = access.scoped_communities()
    return {
        "communities": communities,
        "community": next(c for c in communities if c.id == community_id),
        "word_list": queries.skill_word_list(community_id),
    }


@console_bp.get("/console/skill-words")
def skill_words() -> ResponseReturnValue:
    """The community's skill words per category (dispatch counts a volunteer as skilled)."""
    return render_template("field/skill_words.html", **_words_context(_word_community()))


@console_bp.post("/console/skill-words")
def skill_word_add() -> ResponseReturnValue:
    """Count a skill word for a category of the community."""
    community_id = _word_community()
    category = queries.category_by_code(request.form.get("category", ""))
    try:
        if category is None:
            raise InvalidInput(gettext("没有这个类别"), "bad_category")
        services.add_skill_word(community_id, category, request.form.get("word", ""), _actor())
    except LinliError as exc:
        return form_failed(exc, "field/skill_words.html", lambda: _words_context(community_id))
    flash(gettext("已添加技能词"))
    return redirect(url_for("field_console.skill_words", community=community_id), 303)


@console_bp.post("/console/skill-words/suggested")
def skill_words_suggested() -> ResponseReturnValue:
    """Add the suggested words the community does not have yet."""
    community_id = _word_community()
    added = services.add_suggested_words(community_id, _actor())
    flash(gettext("已加入 %(n)s 个推荐词", n=added))
    return redirect(url_for("field_console.skill_words", community=community_id), 303)


@console_bp.post("/console/skill-words/<int:word_id>/remove")
def skill_word_remove(word_id: int) -> ResponseReturnValue:
    """Stop counting a word (only a word of a community the user administers)."""
    row = queries.skill_word_in(access.community_scope(), word_id)
    if row is None:
        raise NotFound(gettext("没有这条记录"))
    community_id = row.community_id
    services.remove_skill_word(row, _actor())
    flash(gettext("已删除技能词"))
    return redirect(url_for("field_console.skill_words", community=community_id), 303)
