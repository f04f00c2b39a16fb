"""HTML error pages for the console's blueprints (the API keeps its JSON errors)."""

from __future__ import annotations

import logging

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from server.errors import LinliError, error_response
from server.extensions import db

log = logging.getLogger(__name__)


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
