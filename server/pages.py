"""What every console page shares: error pages, and the form again when a change fails.

Routes catch a domain error around a service call and hand it here, so the "catch, roll back,
re-render with the message" block is written once::

    try:
        services.update_volunteer(volunteer, form.data)
    except LinliError as exc:
        return form_failed(exc, "volunteers/profile.html", lambda: profile_context(volunteer))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from server.errors import LinliError, error_response
from server.extensions import db

Context = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


def form_failed(exc: LinliError, template: str, context: Context | None = None) -> tuple[str, int]:
    """Roll back the failed change; the page again with `exc`'s message and status.

    `context` may be a function: it is called after the rollback, so what the page shows is
    what the database holds, not the half-made change.
    """
    db.session.rollback()
    values = dict(context() if callable(context) else context or {})
    return render_template(template, error=exc.detail, **values), exc.status


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def _page(status: int, code: str, detail: str) -> ResponseReturnValue:
    db.session.rollback()
    if _wants_json():
        return error_response(status, code, detail)
    return render_template("error.html", status=status, detail=detail), status


def register_html_errors(bp: Blueprint) -> None:
    """Answer this blueprint's errors as pages (or JSON when the client asks for JSON)."""

    @bp.errorhandler(LinliError)
    def _domain(exc: LinliError) -> ResponseReturnValue:
        return _page(exc.status, exc.code, exc.detail)

    @bp.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        code = (exc.name or "http_error").lower().replace(" ", "_")
        return _page(exc.code or 500, code, exc.description or code)
