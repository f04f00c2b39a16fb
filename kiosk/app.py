"""The kiosk's local Flask app: the local API (used by the touch UI and tests) and a status page.

POST /api/requests        save a request; 201 only after the local commit
GET  /api/requests/<id>   one request and its state
GET  /api/status          queue, last sync, online or not, last error
GET  /                    a plain status page
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from kiosk.store import InputError, NotEnrolledError, StorageFull, Store, StoreError


def _error(status: int, code: str, detail: str, detail_zh: str) -> Response:
    response = jsonify({"error": code, "detail": detail, "detail_zh": detail_zh})
    response.status_code = status
    return response


def create_kiosk_app(store: Store, on_saved: Callable[[], None] | None = None) -> Flask:
    """Build the kiosk app around an open store; `on_saved` is called after each save."""
    app = Flask(__name__)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    notify = on_saved or (lambda: None)

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError) -> Response:
        if isinstance(exc, StorageFull):
            return _error(507, exc.code, exc.detail, exc.detail_zh)
        if isinstance(exc, NotEnrolledError):
            return _error(503, exc.code, exc.detail, exc.detail_zh)
        if isinstance(exc, InputError):
            return _error(400, exc.code, exc.detail, exc.detail_zh)
        return _error(409, exc.code, exc.detail, exc.detail_zh)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = (exc.name or "http_error").lower().replace(" ", "_")
        return _error(exc.code or 500, code, exc.description or code, "请求有误")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("kiosk error")
        return _error(
            500,
            "internal_error",
            "something went wrong; nothing was saved",
            "出了点问题，本次没有保存，请再试一次",
        )

    @app.post("/api/requests")
    def create_request() -> tuple[Response, int]:
        """Save a request durably, then wake the sync worker."""
        data: Any = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise InputError("invalid_json", "send a JSON object", "数据格式不对")
        fields = {"category", "room", "phone", "details", "on_behalf", "consent_version"}
        unknown = set(data) - fields
        if unknown:
            raise InputError(
                "unknown_field", f"unknown field(s): {', '.join(sorted(unknown))}", "数据格式不对"
            )
        for name in ("category", "room"):
            if not isinstance(data.get(name), str):
                raise InputError(f"invalid_{name}", f"{name} must be a string", "缺少必填内容")
        for name in ("phone", "details", "consent_version"):
            if data.get(name) is not None and not isinstance(data[name], str):
                raise InputError(f"invalid_{name}", f"{name} must be a string", "数据格式不对")
        on_behalf = data.get("on_behalf", False)
        if not isinstance(on_behalf, bool):
            raise InputError("invalid_on_behalf", "on_behalf must be true or false", "数据格式不对")
        saved = store.create_request(
            category=data["category"],
            room=data["room"],
            phone=data.get("phone"),
            details=data.get("details"),
            on_behalf=on_behalf,
            consent_version=data.get("consent_version"),
        )
        notify()
        return jsonify({"id": saved.id, "ticket": saved.ticket, "status": "saved"}), 201

    @app.get("/api/requests/<request_id>")
    def get_request(request_id: str) -> Response:
        """One request as the kiosk knows it."""
        found = store.get_request(request_id)
        if found is None:
            return _error(404, "not_found", "no such request on this kiosk", "没有这条求助")
        return jsonify(found)

    @app.post("/api/requests/<request_id>/cancel")
    def cancel_request(request_id: str) -> tuple[Response, int]:
        """Queue a cancellation of one of this kiosk's requests."""
        data: Any = request.get_json(silent=True) or {}
        reason = data.get("reason") if isinstance(data, dict) else None
        store.cancel_request(request_id, reason if isinstance(reason, str) else None)
        notify()
        return jsonify({"id": request_id, "status": "cancel_queued"}), 202

    @app.get("/api/status")
    def status() -> Response:
        """The same JSON as `linli sync status`."""
        return jsonify(store.status())

    @app.get("/")
    def status_page() -> str:
        """A plain page with the kiosk's sync status."""
        return render_template("status.html", status=store.status(), enrollment=store.enrollment())

    return app
