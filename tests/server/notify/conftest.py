"""Local stand-ins for the outside providers a notification goes to, on loopback (real HTTP):
a 企业微信 and a 钉钉 group robot, and Alibaba Cloud's SendSms. Each checks what the real one
checks (钉钉's 加签, the SMS request's signature), written here independently of the server's
code, and records what it accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from tests.procs import free_port

DING_SECRET = "SEC0123456789abcdef"
SMS_KEY_ID = "LTAI-test-key"
SMS_SECRET = "sms-secret-0123456789"


@dataclass
class Provider:
    """One fake provider: what it accepted, what it refused, and how it answers."""

    port: int
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failing: bool = False
    """Answer like a robot whose token was revoked (HTTP 200, errcode 310000)."""
    gate: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def texts(self) -> list[str]:
        """Every accepted message's words (robots' markdown, SMS template variables)."""
        return [m["text"] for m in self.accepted]


def _aliyun_encode(text: str) -> str:
    return quote(text, safe="~").replace("+", "%20").replace("*", "%2A")


def _check_sms(params: dict[str, str]) -> str | None:
    """Alibaba Cloud's RPC signature 1.0, verified as its gateway does."""
    given = params.pop("Signature", "")
    if params.get("AccessKeyId") != SMS_KEY_ID:
        return "InvalidAccessKeyId.NotFound"
    for name in ("SignatureNonce", "Timestamp", "PhoneNumbers", "SignName", "TemplateCode"):
        if not params.get(name):
            return f"MissingParameter {name}"
    if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
        return "InvalidSignatureMethod"
    canonical = "&".join(
        f"{_aliyun_encode(k)}={_aliyun_encode(v)}" for k, v in sorted(params.items())
    )
    to_sign = "POST&%2F&" + _aliyun_encode(canonical)
    expected = base64.b64encode(
        hmac.new(f"{SMS_SECRET}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    ).decode()
    return None if hmac.compare_digest(expected, given) else "SignatureDoesNotMatch"


def _check_ding(query: dict[str, str]) -> str | None:
    """钉钉's 加签: the timestamp within an hour, the sign its HMAC-SHA256."""
    stamp = query.get("timestamp", "")
    if not stamp.isdigit() or abs(int(stamp) - time.time() * 1000) > 3600 * 1000:
        return "310000 timestamp"
    digest = hmac.new(DING_SECRET.encode(), f"{stamp}\n{DING_SECRET}".encode(), hashlib.sha256)
    expected = base64.b64encode(digest.digest()).decode()
    return None if hmac.compare_digest(expected, query.get("sign", "")) else "310000 sign"


def _handler(provider: Provider) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            provider.arrived.set()
            if provider.gate is not None:
                provider.gate.wait(30)
            if parts.path == "/sms":
                self._sms(dict(parse_qsl(raw.decode(), keep_blank_values=True)))
            else:
                self._robot(parts.path, query, json.loads(raw))

        def _robot(self, path: str, query: dict[str, str], body: dict[str, Any]) -> None:
            problem = None
            if provider.failing:
                problem = "310000 token revoked"
            elif path == "/dingtalk":
                problem = _check_ding(query)
            if body.get("msgtype") != "markdown":
                problem = "40008 invalid message type"
            if problem:
                provider.refused.append(problem)
                self._answer({"errcode": int(problem.split()[0]), "errmsg": problem})
                return
            markdown = body["markdown"]
            text = markdown.get("content") or markdown.get("text")
            provider.accepted.append({"path": path, "text": text, "body": body})
            self._answer({"errcode": 0, "errmsg": "ok"})

        def _sms(self, params: dict[str, str]) -> None:
            problem = "isv.OUT_OF_SERVICE" if provider.failing else _check_sms(dict(params))
            if problem:
                provider.refused.append(problem)
                self._answer({"Code": problem, "Message": problem}, 400)
                return
            variables = json.loads(params["TemplateParam"])
            provider.accepted.append(
                {
                    "path": "/sms",
                    "text": " ".join(variables.values()),
                    "phones": params["PhoneNumbers"],
                    "body": params,
                }
            )
            self._answer({"Code": "OK", "Message": "OK", "BizId": "1", "RequestId": "r"})

        def _answer(self, body: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return None

    return Handler


@pytest.fixture
def provider() -> Iterator[Provider]:
    """A fake provider (robots at /wecom and /dingtalk, SendSms at /sms) on a free port."""
    fake = Provider(free_port())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", fake.port), _handler(fake))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield fake
    if fake.gate is not None:
        fake.gate.set()
    server.shutdown()
    server.server_close()
