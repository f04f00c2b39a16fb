"""GET /: a person is led to the console (signed in) or to sign-in; a program gets an index.

GET  /        the console's start page, or the sign-in page; JSON clients get where things are
"""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from server.errors import wants_html

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """Where a person starts: the console when signed in, else sign-in; JSON: an index."""
    if not wants_html():
        return jsonify(
            {
                "service": "linli",
                "console": url_for("console.index"),
                "sign_in": url_for("auth.login"),
                "health": url_for("health.healthz"),
            }
        )
    if current_user.is_authenticated:
        return redirect(url_for("console.index"))
    return redirect(url_for("auth.login"))
