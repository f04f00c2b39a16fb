"""The kiosk's local API: what another program on this machine may ask of the kiosk.

POST /api/requests              save a request; 201 only after the local commit
GET  /api/requests/<id>         one request's ticket, category and state (no phone, no details)
POST /api/requests/<id>/cancel  cancel (with the saver's cancel_token, within 10 minutes), or
                                ask the community to cancel ({"ask": true})
GET  /api/status                queue, last sync, online or not, last error

Errors are JSON: a stable `error` code and a `detail` in English and in Chinese.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from kiosk.context import kiosk_context
from kiosk.screens import cancel_token, valid_cancel_token, within_cancel_window
from kiosk.store import (
    InputError,
    NotEnrolledError,
    StorageBusy,
    StorageFull,
    StorageUnavailable,
    StoreError,
)

PUBLIC_FIELDS = ("id", "ticket", "category", "status", "cancel_requested", "created_at", "synced")
"""What the local API tells about a request: what "my requests" shows, never a phone or words."""
FIELDS = {
    "category",
    "room",
    "phone",
    "details",
    "on_behalf",
    "consent_version",
    "choice",
    "preferred_time",
}
"""The fields a request may be saved with."""

bp = Blueprint("api", __name__, url_prefix="/api")


def error_response(status: int, code: str, detail: str, detail_zh: str) -> Response:
    """The local API's error answer: a stable code and the detail in both languages."""
    response = jsonify({"error": code, "detail": detail, "detail_zh": detail_zh})
    response.status_code = status
    return response


def store_error_response(exc: StoreError) -> Response:
    """A store error as the local API answers it, with the status that fits it."""
    if isinstance(exc, StorageFull):
        status = 507
    elif isinstance(exc, (NotEnrolledError, StorageBusy, StorageUnavailable)):
        status = 503
    elif isinstance(exc, InputError):
        status = 400
    else:
        status = 409
    return error_response(status, exc.code, exc.detail, exc.detail_zh)


def _request_fields(data: Any) -> dict[str, Any]:
    """The posted JSON checked field by field (InputError names the first bad one)."""
    if not isinstance(data, dict):
        raise InputError("invalid_json", "send a JSON object", "数据格式不对")
    unknown = set(data) - FIELDS
    if unknown:
        raise InputError(
            "unknown_field", f"unknown field(s): {', '.join(sorted(unknown))}", "数据格式不对"
        )
    for name in ("category", "room"):
        if not isinstance(data.get(name), str):
            raise InputError(f"invalid_{name}", f"{name} must be a string", "缺少必填内容")
    for name in ("phone", "details", "consent_version", "choice", "preferred_time"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise InputError(f"invalid_{name}", f"{name} must be a string", "数据格式不对")
    on_behalf = data.get("on_behalf", False)
    if not isinstance(on_behalf, bool):
        raise InputError("invalid_on_behalf", "on_behalf must be true or false", "数据格式不对")
    return {
        "category": data["category"],
        "room": data["room"],
        "phone": data.get("phone"),
        "details": data.get("details"),
        "on_behalf": on_behalf,
        "consent_version": data.get("consent_version"),
        "choice": data.get("choice"),
        "preferred_time": data.get("preferred_time"),
    }


@bp.post("/requests")
def create_request() -> tuple[Response, int]:
    """Save a request durably, then wake the sync worker."""
    kiosk = kiosk_context()
    saved = kiosk.save(**_request_fields(request.get_json(silent=True)))
    kiosk.on_saved()
    answer = {"id": saved.id, "ticket": saved.ticket, "status": "saved"}
    return jsonify({**answer, "cancel_token": cancel_token(saved.id)}), 201


@bp.get("/requests/<request_id>")
def get_request(request_id: str) -> Response:
    """One request's ticket, category and state, as "my requests" shows it."""
    found = kiosk_context().store.get_request(request_id)
    if found is None:
        return error_response(404, "not_found", "no such request on this kiosk", "没有这条求助")
    return jsonify({name: found[name] for name in PUBLIC_FIELDS})


@bp.post("/requests/<request_id>/cancel")
def cancel_request(request_id: str) -> tuple[Response, int]:
    """Cancel with the saver's `cancel_token` within 10 minutes, or (`ask`) ask staff to."""
    kiosk = kiosk_context()
    data: Any = request.get_json(silent=True) or {}
    if not isinstance(data, dict):
        data = {}
    reason = data.get("reason")
    ask = data.get("ask", False)
    if not isinstance(ask, bool):
        raise InputError("invalid_ask", "ask must be true or false", "数据格式不对")
    found = kiosk.store.get_request(request_id)
    if found is None:
        raise InputError("unknown_request", "no such request on this kiosk", "没有这条求助")
    if not ask and not valid_cancel_token(request_id, data.get("cancel_token")):
        return error_response(
            403,
            "cancel_not_yours",
            "only the caller that saved this request may cancel it, with the cancel_token "
            'its save answered; send {"ask": true} to ask the community to cancel it',
            "只有提交这条求助的人可以直接取消，可以请社区取消",
        ), 403
    if not ask and not within_cancel_window(found, kiosk.store.clock()):
        return error_response(
            409,
            "cancel_window_over",
            "a request can be cancelled directly only within 10 minutes of saving it; "
            'send {"ask": true} to ask the community to cancel it',
            "已经过了10分钟，不能直接取消，可以请社区取消",
        ), 409
    kiosk.store.cancel_request(request_id, reason if isinstance(reason, str) else None, ask=ask)
    kiosk.on_saved()
    status = "cancel_request_queued" if ask else "cancel_queued"
    return jsonify({"id": request_id, "status": status}), 202


@bp.get("/status")
def status() -> Response:
    """The same JSON as `linli sync status`."""
    return jsonify(kiosk_context().store.status())
