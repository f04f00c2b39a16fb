"""Security headers on every answer; `no-store` on pages that may show personal data."""

from __future__ import annotations

from flask import Response, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def security_headers(response: Response) -> Response:
    """CSP without inline script, no framing, no sniffing, no referrer leaks."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not is_static_file(request.endpoint):
        # Requests, residents and API answers all carry personal data: never cached.
        response.headers["Cache-Control"] = "no-store"
    return response


def is_static_file(endpoint: str | None) -> bool:
    """Whether the endpoint serves files of a static folder (the app's or a blueprint's), which
    hold no personal data and set their own caching."""
    return endpoint is not None and (endpoint == "static" or endpoint.endswith(".static"))
