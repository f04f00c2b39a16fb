"""Domain errors carry their HTTP status; one handler answers JSON (or HTML for pages)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
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


def register_error_handlers(app: Flask) -> None:
    """Roll back and answer every error as JSON with a stable code."""

    @app.errorhandler(LinliError)
    def _domain(exc: LinliError) -> Response:
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.detail, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        db.session.rollback()
        code = (exc.name or "http_error").lower().replace(" ", "_")
        if exc.code == 413:
            code = "body_too_large"
        response = error_response(exc.code or 500, code, exc.description or code)
        allow = dict(exc.get_headers()).get("Allow")
        if allow:
            response.headers["Allow"] = allow
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        db.session.rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the server failed; nothing was changed")
