"""Open311 GeoReport v2 (https://wiki.open311.org/GeoReport_v2), JSON and XML.

GET  /open311/v2/discovery.<fmt>           endpoints and formats
GET  /open311/v2/services.<fmt>            the categories
GET  /open311/v2/services/<code>.<fmt>     a service's definition (no extra attributes)
GET  /open311/v2/requests.<fmt>            requests (service_request_id, service_code, status,
                                           start_date, end_date), newest first
POST /open311/v2/requests.<fmt>            file a request (api_key, service_code, address_id;
                                           phone, first_name, last_name are kept, not shown)
GET  /open311/v2/requests/<id>.<fmt>       one request, as a one-element list
GET  /open311/v2/tokens/<token>.<fmt>      the request id a POST's token became

Every call needs `api_key` (an API token; or `Authorization: Bearer <token>`, which keeps it out
of URLs and access logs): elders' requests are never public, and a key sees
only its communities. No name or phone number ever appears here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from server.errors import LinliError
from server.open311 import services
from server.open311.render import render
from server.staffapi.services import scope_for_token, touch_token

bp = Blueprint("open311", __name__, url_prefix="/open311/v2")

FORMATS = ("json", "xml")


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise services.Open311Error(400, "format must be json or xml")
    return fmt


def _scope() -> Any:
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    key = request.values.get("api_key") or (bearer.strip() if scheme.lower() == "bearer" else None)
    try:
        scope = scope_for_token(key)
    except LinliError as exc:
        raise services.Open311Error(401 if not key else 403, "a valid api_key is required") from exc
    touch_token(scope)
    return scope


def _time(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise services.Open311Error(400, f"{name} must be a W3C date-time") from exc


@bp.errorhandler(services.Open311Error)
def _open311_error(exc: services.Open311Error) -> ResponseReturnValue:
    services.discard_changes()
    fmt = request.view_args.get("fmt", "json") if request.view_args else "json"
    body = [{"code": exc.status, "description": exc.description}]
    return render(body, "errors", "error", fmt if fmt in FORMATS else "json", exc.status)


@bp.errorhandler(LinliError)
def _domain_error(exc: LinliError) -> ResponseReturnValue:
    return _open311_error(services.Open311Error(exc.status, exc.detail))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> ResponseReturnValue:
    return _open311_error(services.Open311Error(exc.code or 500, exc.description or "error"))


@bp.get("/discovery.<fmt>")
def discovery(fmt: str) -> ResponseReturnValue:
    """Where the endpoint is and what it speaks."""
    _format(fmt)
    _scope()
    body = {
        "changeset": "2026-11-29T00:00:00Z",
        "contact": "the community centre",
        "key_service": "ask the community centre for an API key",
        "endpoints": [
            {
                "specification": "http://wiki.open311.org/GeoReport_v2",
                "url": url_for("open311.discovery", fmt=fmt, _external=True).rsplit("/", 1)[0],
                "changeset": "2026-11-29T00:00:00Z",
                "type": "production",
                "formats": ["application/json", "text/xml"],
            }
        ],
    }
    return render(body, "discovery", None, fmt)


@bp.get("/services.<fmt>")
def services_index(fmt: str) -> ResponseReturnValue:
    """The service list (one per category)."""
    _format(fmt)
    _scope()
    return render(services.service_list(), "services", "service", fmt)


@bp.get("/services/<code>.<fmt>")
def service(code: str, fmt: str) -> ResponseReturnValue:
    """A service definition: Linli asks no extra attributes."""
    _format(fmt)
    _scope()
    return render(services.service_definition(code), "service_definition", None, fmt)


@bp.get("/requests.<fmt>")
def requests_index(fmt: str) -> ResponseReturnValue:
    """Requests in the key's communities."""
    _format(fmt)
    scope = _scope()
    ids = request.args.get("service_request_id")
    items = services.list_requests(
        scope,
        ids=[i.strip() for i in ids.split(",")] if ids else None,
        service_code=request.args.get("service_code"),
        status=request.args.get("status"),
        start=_time("start_date"),
        end=_time("end_date"),
    )
    return render(items, "service_requests", "request", fmt)


@bp.post("/requests.<fmt>")
def requests_create(fmt: str) -> ResponseReturnValue:
    """File a request; answers its id and a token."""
    _format(fmt)
    scope = _scope()
    created = services.create_request(
        scope,
        service_code=request.form.get("service_code", ""),
        address_id=request.form.get("address_id", ""),
        description=request.form.get("description"),
        jurisdiction_id=request.form.get("jurisdiction_id"),
        phone=request.form.get("phone") or None,
        first_name=request.form.get("first_name"),
        last_name=request.form.get("last_name"),
        choice=request.form.get("attribute[choice]") or None,
        preferred_time=request.form.get("attribute[preferred_time]") or None,
    )
    return render([created], "service_requests", "request", fmt, 201)


@bp.get("/requests/<request_id>.<fmt>")
def request_one(request_id: str, fmt: str) -> ResponseReturnValue:
    """One request, as a one-element list."""
    _format(fmt)
    return render([services.one_request(_scope(), request_id)], "service_requests", "request", fmt)


@bp.get("/tokens/<token_id>.<fmt>")
def token(token_id: str, fmt: str) -> ResponseReturnValue:
    """The request a POST's token became."""
    _format(fmt)
    return render([services.token_lookup(_scope(), token_id)], "service_requests", "request", fmt)
