"""The kiosk's local Flask app: the touch UI, the local API and the admin page, put together.

GET  /             the touch UI's screens (kiosk/screens.py), in the shared frame
                   (kiosk/framing.py), spoken by kiosk/speech.py
/api/...           the local API (kiosk/api.py)
GET  /admin        the staff page behind a PIN (kiosk/admin.py)

What the pages share (store, settings, voice, callbacks, the screen shown last) is one
`KioskContext` (kiosk/context.py). Errors answer in the UI's words on a page and as JSON on the
local API.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, render_template, request
from flask_babel import Babel, force_locale, gettext
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from kiosk import admin, api, framing, screens, speech
from kiosk.config import KioskSettings
from kiosk.context import KioskContext
from kiosk.framing import PROBLEMS, harden, problem_response
from kiosk.i18n import DEFAULT_LANGUAGE, compile_catalogs
from kiosk.store import Store, StoreError
from kiosk.voice import Voice


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
    cache = Path(store.path).parent / "cache"
    context = KioskContext(
        store=store,
        settings=settings or KioskSettings(),
        voice=voice or Voice(cache / "voice"),
        on_saved=on_saved or (lambda: None),
        on_exit=on_exit or (lambda: None),
    )
    context.install(app)
    # What the screens read, read once now: a storage stall later shows these, not an error.
    store.status()
    store.community()
    store.categories()
    store.rooms()
    Babel(
        app,
        default_locale=DEFAULT_LANGUAGE,
        default_translation_directories=str(compile_catalogs(cache / "translations")),
        locale_selector=framing.language,
    )
    for blueprint in (framing.bp, screens.bp, speech.bp, api.bp, admin.bp):
        app.register_blueprint(blueprint)

    @app.teardown_request
    def _release(_: BaseException | None) -> None:
        # Each request of the threaded local server runs in a new thread: without this, every
        # page would leave one SQLite connection open until the kiosk stops.
        store.close_thread()

    app.after_request(harden)
    _handle_errors(app)
    return app


def _handle_errors(app: Flask) -> None:
    """Errors answer as a page in the UI's words, and on the local API as JSON."""

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError) -> BaseResponse:
        if not request.path.startswith("/api/"):
            return problem_response(exc.code if exc.code in PROBLEMS else "server_error")
        return api.store_error_response(exc)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> BaseResponse:
        if not request.path.startswith(("/api/", "/voice/")):
            return problem_response("not_found" if exc.code == 404 else "invalid_form")
        code = (exc.name or "http_error").lower().replace(" ", "_")
        return api.error_response(exc.code or 500, code, exc.description or code, "请求有误")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> BaseResponse:
        app.logger.exception("kiosk error")
        if not request.path.startswith("/api/"):
            return problem_response("server_error")
        return api.error_response(
            500,
            "internal_error",
            "something went wrong; nothing was saved",
            "出了点问题，本次没有保存，请再试一次",
        )


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
        # Kept with the app: the folder is removed when the app goes.
        app.extensions["linli_scratch"] = scratch
        translations = str(compile_catalogs(Path(scratch.name) / "translations"))
    except OSError:
        translations = str(Path(tempfile.gettempdir()) / "linli-no-catalogs")
    Babel(app, default_locale=DEFAULT_LANGUAGE, default_translation_directories=translations)
    app.after_request(harden)

    @app.get("/", defaults={"path": ""})
    @app.route("/<path:path>", methods=["GET", "POST"])
    def everything(path: str) -> Response:
        """One answer for every address: the storage cannot be used."""
        if path.startswith("api/"):
            return api.error_response(503, error.code, error.detail, error.detail_zh)
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
