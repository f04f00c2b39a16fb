"""Staff read API for integrations (API token in the Authorization header).

GET  /api/v1/requests    requests, filtered by community, status and time; keyset pages
POST /api/v1/requests    file a request (phone, hotline...) once per Idempotency-Key
GET  /api/v1/rejections   operations not applied (rejected, conflicting), without personal data
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, request
from flask_babel import gettext

from server.errors import InvalidInput
from server.staffapi import services

bp = Blueprint("staffapi", __name__, url_prefix="/api/v1")


def _scope() -> services.Scope:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    scope = services.scope_for_token(value.strip() if scheme.lower() == "bearer" else None)
    services.touch_token(scope)
    return scope


def _limit() -> int:
    raw = request.args.get("limit", str(current_app.config["LINLI_API_PAGE_SIZE"]))
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 1000:
        raise InvalidInput(gettext("limit 须为 1 到 1000 之间的整数"), "bad_limit")
    return int(raw)


def _time(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(
            gettext("%(name)s 须为 ISO 8601 时间，例如 2026-11-01T00:00:00Z", name=name),
            "bad_time",
        ) from exc


@bp.get("/requests")
def requests_index() -> Response:
    """Requests visible to the token's communities."""
    scope = _scope()
    filters = services.RequestFilter(
        community=request.args.get("community"),
        status=request.args.get("status"),
        since=_time("since"),
        until=_time("until"),
    )
    items, next_cursor = services.list_requests(
        scope, filters, request.args.get("cursor"), _limit()
    )
    return jsonify({"items": items, "next_cursor": next_cursor})


@bp.post("/requests")
def requests_create() -> tuple[Response, int]:
    """File a request for a room of the token's communities; a retry is answered, not redone."""
    scope = _scope()
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidInput(
            gettext("请发送一个 JSON 对象（Content-Type: application/json）"), "bad_body"
        )
    status, answer = services.create_request(scope, request.headers.get("Idempotency-Key"), body)
    return jsonify(answer), status


@bp.get("/rejections")
def rejections_index() -> Response:
    """Rejected and conflicting operations of the token's communities: codes, not bodies."""
    scope = _scope()
    items, next_cursor = services.list_rejections(
        scope, request.args.get("community"), request.args.get("cursor"), _limit()
    )
    return jsonify({"items": items, "next_cursor": next_cursor})
