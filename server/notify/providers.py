"""The wire formats of the providers a notification goes through, built and signed per attempt.

- 企业微信 group robot: POST `{"msgtype": "markdown", "markdown": {"content": ...}}` to the
  webhook (its `key` is in the URL); it answers `{"errcode": 0}` when it took the message.
- 钉钉 group robot: POST `{"msgtype": "markdown", "markdown": {"title", "text"}}`; with 加签 the
  URL also carries `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(secret,
  "timestamp\\nsecret"))), valid for an hour; answers `{"errcode": 0}`.
- SMS: Alibaba Cloud's SendSms (RPC API 2017-05-25) with signature version 1.0: the parameters
  sorted and percent-encoded (RFC 3986: space %20, `*` %2A, `~` kept), the string to sign
  `POST&%2F&` + the encoded query, the signature base64(HMAC-SHA1(secret + "&", that string));
  answers `{"Code": "OK"}`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import quote, quote_plus

from server.outbox.services import Outgoing

JSON = {"Content-Type": "application/json; charset=utf-8"}


def wecom(url: str, text: str) -> Outgoing:
    """A markdown message to a 企业微信 group robot."""
    body = {"msgtype": "markdown", "markdown": {"content": text}}
    return Outgoing(url, json.dumps(body, ensure_ascii=False).encode(), dict(JSON))


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉's 加签 value for the URL: url-encoded base64 of HMAC-SHA256("ts\\nsecret")."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest))


def dingtalk(url: str, secret: str | None, title: str, text: str) -> Outgoing:
    """A markdown message to a 钉钉 group robot, signed when the robot has a secret."""
    if secret:
        stamp = int(time.time() * 1000)
        joiner = "&" if "?" in url else "?"
        url = f"{url}{joiner}timestamp={stamp}&sign={dingtalk_sign(secret, stamp)}"
    body = {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    return Outgoing(url, json.dumps(body, ensure_ascii=False).encode(), dict(JSON))


def robot_verdict(status: int, body: bytes) -> str | None:
    """None when a robot took the message (HTTP 200 and errcode 0), else what it said."""
    if status >= 300:
        return f"HTTP {status}"
    try:
        answer = json.loads(body)
    except ValueError:
        return "the robot's answer is not JSON"
    if not isinstance(answer, dict) or answer.get("errcode") != 0:
        code = answer.get("errcode") if isinstance(answer, dict) else None
        message = answer.get("errmsg") if isinstance(answer, dict) else None
        return f"errcode {code}: {message}"[:300]
    return None


def percent_encode(text: str) -> str:
    """Alibaba Cloud's encoding of a name or value (RFC 3986 unreserved characters kept)."""
    return quote(text, safe="-_.~")


def aliyun_signature(secret: str, params: dict[str, str], method: str = "POST") -> str:
    """Signature version 1.0 of an RPC request's parameters (everything but `Signature`)."""
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(query)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def aliyun_sms(
    url: str,
    key_id: str,
    secret: str,
    phones: str,
    sign_name: str,
    template_code: str,
    variables: dict[str, str],
    out_id: str,
) -> Outgoing:
    """A SendSms call with the template's variables, signed with the AccessKey pair."""
    params = {
        "AccessKeyId": key_id,
        "Action": "SendSms",
        "Format": "JSON",
        "OutId": out_id,
        "PhoneNumbers": phones,
        "RegionId": "cn-hangzhou",
        "SignName": sign_name,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": str(uuid.uuid4()),
        "SignatureVersion": "1.0",
        "TemplateCode": template_code,
        "TemplateParam": json.dumps(variables, ensure_ascii=False),
        "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Version": "2017-05-25",
    }
    params["Signature"] = aliyun_signature(secret, params)
    body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    return Outgoing(url, body.encode(), headers)


def sms_verdict(status: int, body: bytes) -> str | None:
    """None when SendSms took the message (`Code` OK), else its code and message."""
    try:
        answer = json.loads(body)
    except ValueError:
        return f"HTTP {status}: the answer is not JSON"
    if status < 300 and isinstance(answer, dict) and answer.get("Code") == "OK":
        return None
    if isinstance(answer, dict):
        return f"HTTP {status}: {answer.get('Code')}: {answer.get('Message')}"[:300]
    return f"HTTP {status}"
