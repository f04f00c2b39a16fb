"""The kiosk's local Flask app: the local API, the touch UI (kiosk/ui.py) and the admin page.

POST /api/requests              save a request; 201 only after the local commit
GET  /api/requests/<id>         one request's ticket, category and state (no phone, no details)
POST /api/requests/<id>/cancel  cancel (with the saver's cancel_token, within 10 minutes), or
                                ask the community to cancel ({"ask": true})
GET  /api/status                queue, last sync, online or not, last error
GET  /                          the touch UI's home screen (see kiosk/ui.py)
GET  /admin                     the staff page behind a PIN (see kiosk/admin.py)
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import Babel, force_locale, gettext
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from kiosk import admin, ui
from kiosk.config import KioskSettings
from kiosk.i18n import DEFAULT_LANGUAGE, compile_catalogs
from kiosk.store import (
    InputError,
    NotEnrolledError,
    Saved,
    StorageBusy,
    StorageFull,
    StorageUnavailable,
    Store,
    StoreError,
    storage_busy,
)
from kiosk.voice import Voice

# Pages may load only this kiosk's own scripts, styles, audio and images: nothing remote.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


PUBLIC_FIELDS = ("id", "ticket", "category", "status", "cancel_requested", "created_at", "synced")
"""What the local API tells about a request: what "my requests" shows, never a phone or words."""


def _error(status: int, code: str, detail: str, detail_zh: str) -> Response:
    response = jsonify({"error": code, "detail": detail, "detail_zh": detail_zh})
    response.status_code = status
    return response


def _harden(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        # Nothing of one resident may be found by the next in the browser's cache.
        response.headers["Cache-Control"] = "no-store"
    return response


def create_kiosk_app(
    store: Store,
    on_saved: Callable[[], None] | None = None,
    *,
    settings: KioskSettings | None = None,
    voice: Voice | None = None,
    on_exit: Callable[[], None] | None = None,
) -> Flask:
    """Build the kiosk app around an open store.

    `on_saved` is called after each save (it wakes the sync worker); `on_exit` is what the
    admin page's exit button does (close the window or stop the server). Speech is cached,
    and the catalogs compiled, in a `cache` folder next to the database.
    """
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 3600
    # The admin session lives only as long as this process: a restart asks for the PIN again.
    app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["SESSION_COOKIE_SAMESITE"] = "Strict"
    notify = on_saved or (lambda: None)
    cache = Path(store.path).parent / "cache"
    app.extensions["linli_store"] = store
    app.extensions["linli_settings"] = settings or KioskSettings()
    app.extensions["linli_voice"] = voice or Voice(cache / "voice")
    app.extensions["linli_on_saved"] = notify
    app.extensions["linli_on_exit"] = on_exit or (lambda: None)
    app.extensions["linli_shown"] = {}
    saver = ThreadPoolExecutor(1, thread_name_prefix="kiosk-save")
    deadline = 2 * store.write_wait + 1

    def save(**fields: Any) -> Saved:
        """Save on the saver thread; one the storage does not finish in time is refused.

        A stalled card can block a write inside the kernel, where no timeout reaches: the
        resident hears "could not save, try again" after `deadline` seconds instead of a
        screen that hangs (a save not yet started is cancelled).
        """
        future = saver.submit(store.create_request, **fields)
        try:
            return future.result(timeout=deadline)
        except FutureTimeout:
            future.cancel()
            raise storage_busy() from None

    app.extensions["linli_save"] = save
    # What the screens read, read once now: a storage stall later shows these, not an error.
    store.status()
    store.community()
    store.categories()
    store.rooms()
    Babel(
        app,
        default_locale=DEFAULT_LANGUAGE,
        default_translation_directories=str(compile_catalogs(cache / "translations")),
        locale_selector=ui.language,
    )
    app.register_blueprint(ui.bp)
    app.register_blueprint(admin.bp)

    @app.teardown_request
    def _release(_: BaseException | None) -> None:
        # Each request of the threaded local server runs in a new thread: without this, every
        # page would leave one SQLite connection open until the kiosk stops.
        store.close_thread()

    app.after_request(_harden)

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError) -> BaseResponse:
        if not request.path.startswith("/api/"):
            return ui.problem_response(exc.code if exc.code in ui.PROBLEMS else "server_error")
        if isinstance(exc, StorageFull):
            return _error(507, exc.code, exc.detail, exc.detail_zh)
        if isinstance(exc, (NotEnrolledError, StorageBusy, StorageUnavailable)):
            return _error(503, exc.code, exc.detail, exc.detail_zh)
        if isinstance(exc, InputError):
            return _error(400, exc.code, exc.detail, exc.detail_zh)
        return _error(409, exc.code, exc.detail, exc.detail_zh)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> BaseResponse:
        if not request.path.startswith(("/api/", "/voice/")):
            return ui.problem_response("not_found" if exc.code == 404 else "invalid_form")
        code = (exc.name or "http_error").lower().replace(" ", "_")
        return _error(exc.code or 500, code, exc.description or code, "请求有误")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> BaseResponse:
        app.logger.exception("kiosk error")
        if not request.path.startswith("/api/"):
            return ui.problem_response("server_error")
        return _error(
            500,
            "internal_error",
            "something went wrong; nothing was saved",
            "出了点问题，本次没有保存，请再试一次",
        )

    @app.post("/api/requests")
    def create_request() -> tuple[Response, int]:
        """Save a request durably, then wake the sync worker."""
        data: Any = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise InputError("invalid_json", "send a JSON object", "数据格式不对")
        fields = {"category", "room", "phone", "details", "on_behalf", "consent_version"}
        unknown = set(data) - fields
        if unknown:
            raise InputError(
                "unknown_field", f"unknown field(s): {', '.join(sorted(unknown))}", "数据格式不对"
            )
        for name in ("category", "room"):
            if not isinstance(data.get(name), str):
                raise InputError(f"invalid_{name}", f"{name} must be a string", "缺少必填内容")
        for name in ("phone", "details", "consent_version"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise InputError(f"invalid_{name}", f"{name} must be a string", "数据格式不对")
        on_behalf = data.get("on_behalf", False)
        if not isinstance(on_behalf, bool):
            raise InputError("invalid_on_behalf", "on_behalf must be true or false", "数据格式不对")
        saved = save(
            category=data["category"],
            room=data["room"],
            phone=data.get("phone"),
            details=data.get("details"),
            on_behalf=on_behalf,
            consent_version=data.get("consent_version"),
        )
        notify()
        answer = {"id": saved.id, "ticket": saved.ticket, "status": "saved"}
        return jsonify({**answer, "cancel_token": ui.cancel_token(saved.id)}), 201

    @app.get("/api/requests/<request_id>")
    def get_request(request_id: str) -> Response:
        """One request's ticket, category and state, as "my requests" shows it."""
        found = store.get_request(request_id)
        if found is None:
            return _error(404, "not_found", "no such request on this kiosk", "没有这条求助")
        return jsonify({name: found[name] for name in PUBLIC_FIELDS})

    @app.post("/api/requests/<request_id>/cancel")
    def cancel_request(request_id: str) -> tuple[Response, int]:
        """Cancel with the saver's `cancel_token` within 10 minutes, or (`ask`) ask staff to."""
        data: Any = request.get_json(silent=True) or {}
        if not isinstance(data, dict):
            data = {}
        reason = data.get("reason")
        ask = data.get("ask", False)
        if not isinstance(ask, bool):
            raise InputError("invalid_ask", "ask must be true or false", "数据格式不对")
        found = store.get_request(request_id)
        if found is None:
            raise InputError("unknown_request", "no such request on this kiosk", "没有这条求助")
        if not ask and not ui.valid_cancel_token(request_id, data.get("cancel_token")):
            return _error(
                403,
                "cancel_not_yours",
                "only the caller that saved this request may cancel it, with the cancel_token "
                'its save answered; send {"ask": true} to ask the community to cancel it',
                "只有提交这条求助的人可以直接取消，可以请社区取消",
            ), 403
        if not ask and not ui.within_cancel_window(found, store.clock()):
            return _error(
                409,
                "cancel_window_over",
                "a request can be cancelled directly only within 10 minutes of saving it; "
                'send {"ask": true} to ask the community to cancel it',
                "已经过了10分钟，不能直接取消，可以请社区取消",
            ), 409
        store.cancel_request(request_id, reason if isinstance(reason, str) else None, ask=ask)
        notify()
        status = "cancel_request_queued" if ask else "cancel_queued"
        return jsonify({"id": request_id, "status": status}), 202

    @app.get("/api/status")
    def status() -> Response:
        """The same JSON as `linli sync status`."""
        return jsonify(store.status())

    return app


def create_storage_error_app(error: StoreError) -> Flask:
    """The kiosk whose data folder cannot be used: every screen asks to call the centre.

    Each page is one full-screen message in both languages; the local API answers 503 with
    the reason. The catalogs are compiled into a temporary folder (the data folder is the
    thing that is broken); without one the page is in Chinese only.
    """
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    try:
        scratch = tempfile.TemporaryDirectory(prefix="linli-kiosk-")
        app.extensions["linli_scratch"] = scratch
        translations = str(compile_catalogs(Path(scratch.name) / "translations"))
    except OSError:
        translations = str(Path(tempfile.gettempdir()) / "linli-no-catalogs")
    Babel(app, default_locale=DEFAULT_LANGUAGE, default_translation_directories=translations)
    app.after_request(_harden)

    @app.get("/", defaults={"path": ""})
    @app.route("/<path:path>", methods=["GET", "POST"])
    def everything(path: str) -> Response:
        """One answer for every address: the storage cannot be used."""
        if path.startswith("api/"):
            return _error(503, error.code, error.detail, error.detail_zh)
        with force_locale("en"):
            english = {
                "message": gettext("本机存储出了故障，不能保存求助。请给社区服务中心打电话。"),
                "not_saved": gettext("您的求助没有保存。"),
                "emergency": gettext("如有生命危险，请马上拨打120急救电话，或110报警。"),
            }
        body = render_template("ui/storage_error.html", english=english)
        response = Response(body, status=503, mimetype="text/html")
        response.headers["X-Linli-Problem"] = error.code
        return response

    return app
