"""What every console page shares when a change fails: roll back, show the form again.

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

from flask import render_template

from server.errors import LinliError
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
