"""Sync API v1 for kiosks.

POST /api/sync/v1/enroll      one-time code -> device token
POST /api/sync/v1/push        a batch of operations, applied in one transaction
GET  /api/sync/v1/pull        a page of changes after a cursor
POST /api/sync/v1/reconcile   digests of acknowledged ranges -> ranges to re-push
POST /api/sync/v1/health      the kiosk's nightly health report
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ValidationError

from server.errors import InvalidInput, LinliError, TooLarge
from server.inputs import parse_int
from server.kiosks.services import kiosk_for_token
from server.syncapi import push as pushing
from server.syncapi import services
from server.timeutil import utcnow
from sync import codec
from sync.messages import (
    PROTOCOL_HEADER,
    SUPPORTED_PROTOCOLS,
    EnrollRequest,
    HealthReport,
    PushRequest,
    ReconcileRequest,
)

bp = Blueprint("syncapi", __name__, url_prefix="/api/sync/v1")

M = TypeVar("M", bound=BaseModel)


class UnsupportedProtocol(LinliError):
    """The kiosk speaks a protocol version this server does not."""

    status = 400
    code = "unsupported_protocol"


@bp.before_request
def _check_protocol() -> None:
    low, high = SUPPORTED_PROTOCOLS
    raw = request.headers.get(PROTOCOL_HEADER)
    supported = {"min": low, "max": high}
    if raw is None:
        raise UnsupportedProtocol(
            f"send the header {PROTOCOL_HEADER}; this server speaks versions {low} to {high}",
            supported=supported,
        )
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise UnsupportedProtocol(
            f"protocol version {raw!r} is not supported (this server speaks {low} to {high}); "
            "please update the kiosk software",
            supported=supported,
        )


def _parse(model: type[M]) -> M:
    """Decode the (possibly gzipped) JSON body into `model`, with bounded size."""
    try:
        data = codec.decode(request.get_data(cache=False), request.headers.get("Content-Encoding"))
    except codec.BodyTooLarge as exc:
        raise TooLarge(str(exc)) from exc
    except codec.BadEncoding as exc:
        raise InvalidInput(str(exc), "bad_body") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidInput(
            f"{where}: {first['msg']} ({exc.error_count()} problem(s) in all)",
            "invalid_message",
            problems=[
                {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                for e in exc.errors()[:20]
            ],
        ) from exc


def _answer(model: BaseModel, status: int = 200) -> Response:
    """JSON answer, gzipped when the client accepts it and it is worth it."""
    body = codec.dumps(model.model_dump(mode="json", exclude_none=True))
    response = Response(body, status=status, mimetype="application/json")
    if len(body) > 256 and "gzip" in request.headers.get("Accept-Encoding", ""):
        response.set_data(codec.gzip_bytes(body))
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Vary"] = "Accept-Encoding"
    return response


def _token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


@bp.post("/enroll")
def enroll() -> Response:
    """Exchange a one-time enrolment code for this device's token."""
    return _answer(services.enroll(_parse(EnrollRequest).code))


@bp.post("/push")
def push() -> Response:
    """Apply a batch of this kiosk's operations."""
    kiosk = kiosk_for_token(_token())
    return _answer(pushing.push(kiosk, _parse(PushRequest)))


@bp.get("/pull")
def pull() -> Response:
    """A page of changes for this kiosk after `cursor`."""
    kiosk = kiosk_for_token(_token())
    limit_arg: Any = request.args.get("limit", current_app.config["LINLI_PULL_PAGE_SIZE"])
    limit = max(1, min(parse_int(str(limit_arg), "limit", high=2**63 - 1, code="bad_limit"), 5000))
    settled = utcnow() - timedelta(days=current_app.config["LINLI_PULL_SETTLED_DAYS"])
    # A kiosk names when its oldest request still unsettled on its screen was made (restored
    # from an old image, or back after a long time offline): their fates come however old.
    open_since = _open_since(request.args.get("open_since"))
    if open_since is not None:
        settled = min(settled, open_since)
    return _answer(services.pull(kiosk, request.args.get("cursor") or None, limit, settled))


def _open_since(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise InvalidInput(
            f"open_since {raw[:40]!r} is not a time with its UTC offset", "bad_open_since"
        )
    return at


@bp.post("/reconcile")
def reconcile() -> Response:
    """Which of the kiosk's acknowledged ranges this server does not hold exactly."""
    kiosk = kiosk_for_token(_token())
    return _answer(services.reconcile(kiosk, _parse(ReconcileRequest)))


@bp.post("/health")
def health() -> Response:
    """Store the kiosk's health report (shown on the console and in /metrics)."""
    kiosk = kiosk_for_token(_token())
    return _answer(services.record_health(kiosk, _parse(HealthReport)))
