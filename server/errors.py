"""Domain errors carry their HTTP status; one app-level handler answers every error: a page
with the site's layout to a person's browser, the stable JSON shape to API clients."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, make_response, render_template, request
from flask_babel import LazyString, gettext
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from server.extensions import db

log = logging.getLogger(__name__)


class LinliError(Exception):
    """Base of every error the server answers on purpose."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class InvalidInput(LinliError):
    """The input is malformed or fails validation."""

    status = 400
    code = "invalid_input"


class Unauthorized(LinliError):
    """No valid credentials were presented."""

    status = 401
    code = "unauthorized"


class NotAllowed(LinliError):
    """The caller may not do this."""

    status = 403
    code = "forbidden"


class NotFound(LinliError):
    """No such record (or not visible to the caller)."""

    status = 404
    code = "not_found"


class Conflict(LinliError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class TooLarge(LinliError):
    """The body is over the limit."""

    status = 413
    code = "body_too_large"


def error_response(status: int, code: str, detail: str, **extra: Any) -> Response:
    """A JSON error body with a stable `error` code and a human `detail`."""
    response = jsonify({"error": code, "detail": detail, **extra})
    response.status_code = status
    return response


API_PREFIXES = ("/api/", "/sync/", "/open311/", "/healthz", "/metrics")
"""Paths whose clients are programs: their errors are always JSON, whatever they accept."""

TITLES: dict[int, LazyString] = {
    400: _l("请求有误"),
    401: _l("请先登录"),
    403: _l("无权访问"),
    404: _l("找不到此页"),
    405: _l("不支持此操作"),
    409: _l("操作冲突"),
    413: _l("内容过大"),
    429: _l("操作过于频繁"),
    500: _l("服务器出错"),
}
"""An error page's heading by status, in the reader's language."""

DETAILS: dict[int, LazyString] = {
    400: _l("浏览器发送的请求无法处理。"),
    401: _l("请先登录再打开此页。"),
    403: _l("您没有权限打开此页。"),
    404: _l("找不到这个地址。如果是手动输入的，请检查拼写后再试。"),
    405: _l("此地址不支持这种操作。"),
    409: _l("操作与当前状态冲突。"),
    413: _l("提交的内容超过了上限。"),
    429: _l("操作过于频繁，请稍后再试。"),
    500: _l("服务器出错，没有做任何改动。"),
}
"""A browser's words for an HTTP error that carries only Werkzeug's English description."""


def wants_html() -> bool:
    """Whether this request comes from a person's browser (it prefers HTML over JSON)."""
    if request.path.startswith(API_PREFIXES):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def _answer(status: int, code: str, detail: str, **extra: Any) -> Response:
    """The error as a page with the site's layout (browsers) or as JSON (API clients)."""
    if not wants_html():
        return error_response(status, code, detail, **extra)
    title = str(TITLES.get(status, TITLES[500] if status >= 500 else TITLES[400]))
    try:
        page = render_template("error.html", status=status, title=title, detail=detail)
    except Exception:
        # The layout itself failed (e.g. the database is down): a bare page, never a traceback.
        log.exception("error page failed on %s %s", request.method, request.path)
        page = f"<!doctype html><title>{status}</title><h1>{status} {escape(title)}</h1>"
    return make_response(page, status)


def register_error_handlers(app: Flask) -> None:
    """Roll back and answer every error: a page to browsers, a stable JSON code to programs."""

    @app.errorhandler(LinliError)
    def _domain(exc: LinliError) -> Response:
        db.session.rollback()
        return _answer(exc.status, exc.code, exc.detail, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        db.session.rollback()
        code = (exc.name or "http_error").lower().replace(" ", "_")
        if exc.code == 413:
            code = "body_too_large"
        detail = exc.description or code
        if exc.code in DETAILS and detail == type(exc).description and wants_html():
            detail = str(DETAILS[exc.code])  # Werkzeug's stock English: the reader's words
        response = _answer(exc.code or 500, code, detail)
        allow = dict(exc.get_headers()).get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _answer(500, "internal_error", gettext("服务器出错，没有做任何改动。"))
