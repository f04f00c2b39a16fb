"""Bad input to every server endpoint and to the kiosk's local API.

Each bad request must get a 4xx answer with a JSON body holding a stable `error` code and a
human `detail` that names the field at fault, never a 500, and nothing may be stored.
Cases are grouped by theme; a test lists every failing case of its group at once.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from sync.ids import uuid7

SYNC = "/api/sync/v1"
H = {"Linli-Protocol": "1"}
MIB = 1024 * 1024


# --- building bodies ----------------------------------------------------------------------


def now() -> str:
    """The current time as the kiosk writes it."""
    return datetime.now(UTC).isoformat()


def op(seq: int = 1, **payload: Any) -> dict[str, Any]:
    """A valid request.create operation for room 3-2-301."""
    return {
        "op_id": str(uuid7()),
        "seq": seq,
        "type": "request.create",
        "at": now(),
        "payload": {
            "category": "electrical",
            "room": "3-2-301",
            "ticket": f"A-{seq % 10000:04d}",
            **payload,
        },
    }


def batch(*ops: dict[str, Any]) -> dict[str, Any]:
    """A push body holding `ops` (one valid operation when none is given)."""
    return {"device_time": now(), "ops": list(ops) or [op(1)]}


def encode(obj: Any) -> bytes:
    """JSON bytes, as the kiosk sends them before gzip."""
    return json.dumps(obj, ensure_ascii=False).encode()


def mutated(change: Callable[[dict[str, Any]], Any]) -> bytes:
    """A valid one-operation batch after `change` has spoilt it."""
    body = batch()
    change(body)
    return encode(body)


def padded(size: int) -> bytes:
    """A valid batch padded with JSON whitespace to `size` bytes."""
    head = encode(batch())
    return head[:-1] + b" " * (size - len(head)) + b"}"


def noise(size: int) -> bytes:
    """Reproducible random bytes."""
    return random.Random(size).randbytes(size)


def b64(text: str) -> str:
    """URL-safe base64 without padding, the shape of the API's cursors."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# --- checking answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad request and the answer it must get."""

    name: str
    data: bytes = b""
    status: int = 400
    error: str | None = None
    names: tuple[str, ...] = ()
    """Words the `detail` must contain (the field at fault, or the value refused)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    method: str = "POST"


def error_problems(answer: TestResponse, case: Case, kiosk: bool = False) -> list[str]:
    """What is wrong with `answer` as the answer to a bad request (empty when right)."""
    problems: list[str] = []
    if answer.status_code != case.status:
        kind = "server error" if answer.status_code >= 500 else "status"
        problems.append(f"{kind} {answer.status_code}, expected {case.status}")
    body = answer.get_json(silent=True)
    if not isinstance(body, dict):
        return [*problems, f"body is not a JSON object: {answer.get_data()[:200]!r}"]
    keys = ("error", "detail", "detail_zh") if kiosk else ("error", "detail")
    for key in keys:
        if not isinstance(body.get(key), str) or not body[key].strip():
            problems.append(f"no {key!r} text in {body}")
    if case.error is not None and body.get("error") != case.error:
        problems.append(f"error {body.get('error')!r}, expected {case.error!r}")
    detail = str(body.get("detail", ""))
    problems += [f"detail {detail!r} does not name {n!r}" for n in case.names if n not in detail]
    if kiosk and not any("\u4e00" <= ch <= "\u9fff" for ch in str(body.get("detail_zh", ""))):
        problems.append(f"detail_zh {body.get('detail_zh')!r} is not Chinese")
    return problems


def stored(app: Flask) -> dict[str, int]:
    """Row counts of everything a request could write, and the kiosks' sequence state."""
    from server.extensions import db
    from server.kiosks.models import Kiosk
    from server.requests.models import HelpRequest, RequestEvent
    from server.synclog.models import AppliedOp, Change, SyncConflict

    with app.app_context():
        counts = {
            model.__tablename__: db.session.execute(
                sa.select(sa.func.count()).select_from(model)
            ).scalar_one()
            for model in (HelpRequest, AppliedOp, RequestEvent, SyncConflict, Change)
        }
        counts["sum(kiosk.last_seq)"] = db.session.execute(
            sa.select(sa.func.coalesce(sa.func.sum(Kiosk.last_seq), 0))
        ).scalar_one()
        counts["enrolled kiosks"] = db.session.execute(
            sa.select(sa.func.count()).select_from(Kiosk).where(Kiosk.token_hash.is_not(None))
        ).scalar_one()
        db.session.remove()
    return counts


def run_cases(app: Flask, send: Callable[[Case], TestResponse], cases: list[Case]) -> None:
    """Send every case; fail listing each case answered wrongly or that stored anything."""
    failures: list[str] = []
    for case in cases:
        before = stored(app)
        answer = send(case)
        failures += [f"{case.name}: {problem}" for problem in error_problems(answer, case)]
        after = stored(app)
        if after != before:
            failures.append(f"{case.name}: stored something: {before} -> {after}")
    assert not failures, "\n".join(failures)


def sender(client: FlaskClient, path: str, headers: Mapping[str, str]) -> Callable[[Case], Any]:
    """Send a case to `path` with `headers` (the case's own headers win)."""

    def send(case: Case) -> TestResponse:
        url = path + (f"?{case.query}" if case.query else "")
        return client.open(
            url,
            method=case.method,
            data=case.data if case.method != "GET" else None,
            headers={**headers, **case.headers},
        )

    return send


def auth(token: str) -> dict[str, str]:
    """Protocol header and bearer token."""
    return {**H, "Authorization": f"Bearer {token}"}


GZ = {"Content-Encoding": "gzip"}


# --- push ---------------------------------------------------------------------------------


def test_push_malformed_json_is_refused(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    cases = [
        Case("not JSON", b"{not json", error="bad_body", names=("JSON",)),
        Case("empty body", b"", error="bad_body"),
        Case("cut short", encode(batch())[:-7], error="bad_body"),
        Case("not UTF-8", b'\xff\xfe{"ops": []}', error="bad_body", names=("UTF-8",)),
        Case("JSON null", b"null", error="invalid_message"),
        Case("JSON list", b"[]", error="invalid_message"),
        Case("JSON number", b"42", error="invalid_message"),
        Case("JSON string", b'"ops"', error="invalid_message"),
        Case("NaN seq", mutated(lambda b: b["ops"][0].update(seq=float("nan"))), names=("seq",)),
    ]
    run_cases(app, sender(client, f"{SYNC}/push", auth(enrolled["token"])), cases)


def test_push_json_that_overwhelms_the_parser_is_a_400(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """Small bodies (under the 1 MiB limit) that make Python's json module raise oddly."""
    huge_int = b'{"device_time": "2026-01-01T00:00:00Z", "ops": [{"seq": ' + b"7" * 5000 + b"}]}"
    cases = [
        Case("arrays nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000),
        Case("objects nested 50,000 deep", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
        Case("an integer of 5,000 digits", huge_int),
    ]
    run_cases(app, sender(client, f"{SYNC}/push", auth(enrolled["token"])), cases)


def test_push_wrong_types_name_the_field(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    def payload(**values: Any) -> bytes:
        return mutated(lambda b: b["ops"][0]["payload"].update(values))

    def operation(**values: Any) -> bytes:
        return mutated(lambda b: b["ops"][0].update(values))

    cancel = {
        "op_id": str(uuid7()),
        "seq": 1,
        "type": "request.cancel",
        "at": now(),
        "payload": {"request_id": "not-a-uuid"},
    }
    cases = [
        Case("ops is an object", mutated(lambda b: b.update(ops={"0": op()})), names=("ops",)),
        Case("an op is a string", mutated(lambda b: b.update(ops=["op"])), names=("ops.0",)),
        Case("seq is a word", operation(seq="one"), names=("seq",)),
        Case("seq is zero", operation(seq=0), names=("seq",)),
        Case("seq is negative", operation(seq=-3), names=("seq",)),
        Case("seq is fractional", operation(seq=1.5), names=("seq",)),
        Case("seq is 2**63", operation(seq=2**63), names=("seq",)),
        Case("seq is a list", operation(seq=[1]), names=("seq",)),
        Case("op_id is not a UUID", operation(op_id="op-1"), names=("op_id",)),
        Case("op_id is a number", operation(op_id=12345), names=("op_id",)),
        Case("at has no time zone", operation(at="2026-01-01T08:00:00"), names=("at",)),
        Case("at is a word", operation(at="yesterday"), names=("at",)),
        Case(
            "device_time is a word",
            mutated(lambda b: b.update(device_time="now")),
            names=("device_time",),
        ),
        Case("payload is a list", operation(payload=["electrical"]), names=("payload",)),
        Case("room is a number", payload(room=301), names=("room",)),
        Case("room of the wrong shape", payload(room="301"), names=("room",)),
        Case("category of the wrong shape", payload(category="Electrical!"), names=("category",)),
        Case("ticket of the wrong shape", payload(ticket="a-1"), names=("ticket",)),
        Case("phone with letters", payload(phone="12ab34"), names=("phone",)),
        Case("phone is a number", payload(phone=13800138000), names=("phone",)),
        Case("details too long", payload(details="修" * 2001), names=("details",)),
        Case("on_behalf is a word", payload(on_behalf="maybe"), names=("on_behalf",)),
        Case("consent_version too long", payload(consent_version="v" * 33), names=("consent",)),
        Case("cancel of a non-UUID", encode(batch(cancel)), names=("request_id",)),
    ]
    run_cases(app, sender(client, f"{SYNC}/push", auth(enrolled["token"])), cases)


MISSING = [
    ("ops",),
    ("device_time",),
    ("ops", "0", "op_id"),
    ("ops", "0", "seq"),
    ("ops", "0", "at"),
    ("ops", "0", "payload"),
    ("ops", "0", "payload", "category"),
    ("ops", "0", "payload", "room"),
    ("ops", "0", "payload", "ticket"),
]


def test_push_missing_and_unknown_fields_are_refused(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    def without(*path: str) -> bytes:
        def drop(body: dict[str, Any]) -> None:
            target: Any = body
            for part in path[:-1]:
                target = target[0] if part == "0" else target[part]
            del target[path[-1]]

        return mutated(drop)

    cases = [Case(f"no {'.'.join(p)}", without(*p), names=(p[-1],)) for p in MISSING]
    cases += [
        Case("no type", without("ops", "0", "type"), names=("type",)),
        Case(
            "unknown top-level field", mutated(lambda b: b.update(priority=1)), names=("priority",)
        ),
        Case("unknown op field", mutated(lambda b: b["ops"][0].update(note="x")), names=("note",)),
        Case(
            "unknown payload field",
            mutated(lambda b: b["ops"][0]["payload"].update(name="张")),
            names=("name",),
        ),
    ]
    run_cases(app, sender(client, f"{SYNC}/push", auth(enrolled["token"])), cases)


def test_push_an_unknown_operation_type_is_rejected_alone(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """A well-formed op of a type this server does not know (a newer kiosk's) is answered
    alone, recorded as rejected; the batch around it is applied."""
    unknown = {**op(2), "type": "request.delete", "payload": {"request_id": "x"}}
    before = stored(app)
    answer = client.post(
        f"{SYNC}/push",
        data=encode(batch(op(1), unknown, op(3))),
        headers={**auth(enrolled["token"]), "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.get_json()
    assert [(r["seq"], r["status"], r.get("reason")) for r in answer.get_json()["results"]] == [
        (1, "applied", None),
        (2, "rejected", "unknown_op_type"),
        (3, "applied", None),
    ]
    after = stored(app)
    assert after["help_request"] - before["help_request"] == 2
    assert after["applied_op"] - before["applied_op"] == 3


def test_push_bad_operation_types_and_bad_batches_are_refused(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    def typed(kind: Any) -> bytes:
        return mutated(lambda b: b["ops"][0].update(type=kind))

    first, twin = op(1), op(1)
    cases = [
        Case("type REQUEST DELETE", typed("REQUEST DELETE"), names=("type",)),
        Case("type without a dot", typed("delete"), names=("type",)),
        Case("type empty", typed(""), names=("type",)),
        Case("type null", typed(None), names=("type",)),
        Case("type a number", typed(7), names=("type",)),
        Case(
            "two ops with the same seq",
            encode(batch(first, twin, op(2))),
            error="bad_batch",
            names=("seq",),
        ),
        Case(
            "501 ops",
            encode(batch(*(op(s) for s in range(1, 502)))),
            error="invalid_message",
            names=("ops", "500"),
        ),
        Case("empty ops list", mutated(lambda b: b.update(ops=[])), names=("ops",)),
    ]
    run_cases(app, sender(client, f"{SYNC}/push", auth(enrolled["token"])), cases)


def test_push_bad_encodings_and_sizes_are_refused(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    valid = gzip.compress(encode(batch()))
    bomb = gzip.compress(padded(2 * MIB), compresslevel=9)
    assert len(bomb) < 16 * 1024, "the bomb should be small on the wire"
    cases = [
        Case("random bytes as gzip", noise(4096), headers=GZ, error="bad_body", names=("gzip",)),
        Case("gzip cut in half", valid[: len(valid) // 2], headers=GZ, names=("gzip",)),
        Case("gzip without its trailer", valid[:-4], headers=GZ, names=("gzip",)),
        Case("gzip header only", valid[:10], headers=GZ, names=("gzip",)),
        Case("gzip of nothing", b"", headers=GZ, names=("gzip",)),
        Case("gzip sent as identity", valid, error="bad_body"),
        Case(
            "gzip bomb (2 MiB decoded)",
            bomb,
            status=413,
            error="body_too_large",
            headers=GZ,
        ),
        Case(
            "Content-Encoding br",
            valid,
            headers={"Content-Encoding": "br"},
            error="bad_body",
            names=("Content-Encoding",),
        ),
        Case(
            "Content-Encoding deflate",
            valid,
            headers={"Content-Encoding": "deflate"},
            names=("Content-Encoding",),
        ),
        Case(
            "raw body over 2 MiB",
            padded(2 * MIB + 4096),
            status=413,
            error="body_too_large",
        ),
        Case(
            "gzipped body over 2 MiB on the wire",
            noise(2 * MIB + 4096),
            status=413,
            error="body_too_large",
            headers=GZ,
        ),
        Case(
            "identity body over 1 MiB",
            padded(MIB + 4096),
            status=413,
            error="body_too_large",
            names=("limit",),
        ),
    ]
    run_cases(app, sender(client, f"{SYNC}/push", auth(enrolled["token"])), cases)


def test_push_with_bad_authorization_is_401(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    token = enrolled["token"]
    headers = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": f"Basic {token}"},
        {"Authorization": f"Token {token}"},
        {"Authorization": token},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": f"Bearer {token}x"},
    ]
    cases = [
        Case(f"Authorization {h.get('Authorization')!r}"[:60], encode(batch()), 401, headers=h)
        for h in headers
    ]
    run_cases(app, sender(client, f"{SYNC}/push", H), cases)
    # The same body with the right token is stored: the counts above could see it.
    before = stored(app)
    assert client.post(f"{SYNC}/push", data=encode(batch()), headers=auth(token)).status_code == 200
    assert stored(app)["help_request"] == before["help_request"] + 1


def test_push_extreme_times_are_refused_not_crashed(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """Aware times valid on the wire whose UTC value falls outside year 1..9999."""
    late, early = "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"
    cases = [
        Case("op at after year 9999 in UTC", mutated(lambda b: b["ops"][0].update(at=late))),
        Case("op at before year 1 in UTC", mutated(lambda b: b["ops"][0].update(at=early))),
        Case("device_time after 9999", mutated(lambda b: b.update(device_time=late))),
        Case("device_time before year 1", mutated(lambda b: b.update(device_time=early))),
    ]
    cases = [
        Case(c.name, c.data, names=("device_time" if "device_time" in c.name else "at",))
        for c in cases
    ]
    run_cases(app, sender(client, f"{SYNC}/push", auth(enrolled["token"])), cases)


@pytest.mark.parametrize("where", ["details", "consent_version"])
def test_push_nul_characters_are_refused_or_stored_exactly(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any], where: str
) -> None:
    """PostgreSQL text cannot hold U+0000; the answer must be a 400 or a faithful copy."""
    from server.extensions import db
    from server.requests.models import HelpRequest

    value = "灯\x00坏了"
    body = batch(op(1, **{where: value}))
    before = stored(app)
    answer = client.post(f"{SYNC}/push", data=encode(body), headers=auth(enrolled["token"]))
    assert answer.status_code < 500, answer.get_json()
    if answer.status_code == 200:
        assert answer.get_json()["results"][0]["status"] == "applied"
        with app.app_context():
            row = db.session.execute(sa.select(HelpRequest)).scalar_one()
            assert getattr(row, where) == value
            db.session.remove()
    else:
        problems = error_problems(answer, Case("NUL", status=400, names=(where,)))
        assert not problems, problems
        assert stored(app) == before


# --- protocol header, on every sync endpoint ----------------------------------------------


def test_missing_or_unsupported_protocol_names_the_supported_range(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    check_protocol_refusals(
        app, client, enrolled, [None, "", "0", "2", "99", "-1", "1.0", "v1", " "]
    )


def test_protocol_header_with_a_non_ascii_digit_is_a_400(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """'²' passes str.isdigit() but not int(): a header of one latin-1 byte (0xB2)."""
    check_protocol_refusals(app, client, enrolled, ["²", "1²"])


def check_protocol_refusals(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any], bad_versions: list[str | None]
) -> None:
    """Every sync endpoint refuses these header values, naming the versions it speaks."""
    endpoints = [
        ("POST", "/enroll", encode({"code": "ABCD-EFGH"})),
        ("POST", "/push", encode(batch())),
        ("GET", "/pull", b""),
        ("POST", "/reconcile", encode({"ranges": []})),
    ]
    failures: list[str] = []
    for method, path, data in endpoints:
        for version in bad_versions:
            headers = {"Authorization": f"Bearer {enrolled['token']}"}
            if version is not None:
                headers["Linli-Protocol"] = version
            case = Case(
                f"{method} {path} with Linli-Protocol {version!r}",
                data,
                error="unsupported_protocol",
                names=("1",),
                method=method,
            )
            before = stored(app)
            answer = sender(client, SYNC + path, headers)(case)
            failures += [f"{case.name}: {p}" for p in error_problems(answer, case)]
            body = answer.get_json(silent=True) or {}
            if body.get("supported") != {"min": 1, "max": 1}:
                failures.append(f"{case.name}: supported is {body.get('supported')!r}")
            if version is None and "Linli-Protocol" not in str(body.get("detail")):
                failures.append(f"{case.name}: detail does not name the header")
            if stored(app) != before:
                failures.append(f"{case.name}: stored something")
    assert not failures, "\n".join(failures)


# --- enroll -------------------------------------------------------------------------------


def test_enroll_bad_input_spends_no_code(
    app: Flask, client: FlaskClient, community: dict[str, Any]
) -> None:
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", "lobby", 24)
        db.session.commit()
        db.session.remove()
    cases = [
        Case("not JSON", b"code=ABCD", error="bad_body"),
        Case("JSON list", encode([code]), error="invalid_message"),
        Case("no code", encode({}), names=("code",)),
        Case("code is a number", encode({"code": 12345678}), names=("code",)),
        Case("code too short", encode({"code": "AB"}), names=("code",)),
        Case("code too long", encode({"code": "A" * 65}), names=("code",)),
        Case("code null", encode({"code": None}), names=("code",)),
        Case("valid code, unknown field", encode({"code": code, "name": "x"}), names=("name",)),
        Case(
            "valid code, software too long",
            encode({"code": code, "software": "s" * 65}),
            names=("software",),
        ),
        Case("a wrong code", encode({"code": "WRONG-CODE"}), 401, error="invalid_code"),
        Case("bad gzip", noise(64), headers=GZ, error="bad_body"),
        Case("gzip bomb", gzip.compress(b" " * (2 * MIB)), 413, "body_too_large", headers=GZ),
    ]
    run_cases(app, sender(client, f"{SYNC}/enroll", H), cases)
    # None of the refused requests spent the code.
    answer = client.post(f"{SYNC}/enroll", json={"code": code}, headers=H)
    assert answer.status_code == 200, answer.get_json()


# --- pull ---------------------------------------------------------------------------------


def test_pull_bad_parameters_and_authorization(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    token = enrolled["token"]
    cases = [
        Case(f"limit={v!r}", method="GET", query=f"limit={v}", error="bad_limit", names=("limit",))
        for v in ("abc", "1.5", "", "1e3", "%C2%B2", "0x10", "9" * 5000)
    ]
    cases += [
        Case(f"Authorization {h!r}", method="GET", status=401, headers={"Authorization": h})
        for h in ("", "Bearer", "Basic abc", "Bearer wrong", f"Bearer {token[:-1]}")
    ]
    run_cases(app, sender(client, f"{SYNC}/pull", auth(token)), cases)


def test_pull_unreadable_cursors_restart_from_full_state(
    client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """By design an unknown cursor is not an error: it means a full re-download."""
    cursors = [
        "!!!",
        "游标",
        "x" * 10_000,
        b64("not json"),
        b64('{"e":"x"}'),
        b64('{"e":1,"s":1}'),
        b64('{"e":"x","s":-5}'),
        b64('{"e":"x","s":' + "9" * 40 + "}"),
        b64('{"e":"x","s":' + "9" * 5000 + "}"),
    ]
    for cursor in cursors:
        answer = client.get(
            f"{SYNC}/pull", query_string={"cursor": cursor}, headers=auth(enrolled["token"])
        )
        assert answer.status_code == 200, (cursor[:40], answer.get_json())
        body = answer.get_json()
        assert body["reset"] is True, cursor[:40]
        assert len([c for c in body["changes"] if c["entity"] == "category"]) == 9


# --- reconcile ----------------------------------------------------------------------------


def test_reconcile_bad_input_is_refused(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    good = {"first": 1, "last": 2, "count": 2, "digest": "a" * 64}

    def ranges(*items: Any) -> bytes:
        return encode({"ranges": list(items)})

    cases = [
        Case("not JSON", b"ranges", error="bad_body"),
        Case("ranges is an object", encode({"ranges": good}), names=("ranges",)),
        Case("no ranges", encode({}), names=("ranges",)),
        Case("range without digest", ranges({**good, "digest": None}), names=("digest",)),
        Case("digest not hex", ranges({**good, "digest": "z" * 64}), names=("digest",)),
        Case("first is zero", ranges({**good, "first": 0}), names=("first",)),
        Case("count negative", ranges({**good, "count": -1}), names=("count",)),
        Case("last is a word", ranges({**good, "last": "two"}), names=("last",)),
        Case("unknown range field", ranges({**good, "ops": []}), names=("ops",)),
        Case("unknown top field", encode({"ranges": [], "all": True}), names=("all",)),
        Case("backwards range", ranges({**good, "first": 5, "last": 3}), error="bad_range"),
        # 10,001 ranges cannot fit in 1 MiB: the size limit answers before the count does.
        Case("10,001 ranges", ranges(*[good] * 10_001), 413, "body_too_large"),
        Case("bad gzip", noise(100), headers=GZ, error="bad_body"),
    ]
    run_cases(app, sender(client, f"{SYNC}/reconcile", auth(enrolled["token"])), cases)


def test_reconcile_seqs_beyond_64_bits_are_a_400(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """SeqRange has no upper bound, so the database is asked to compare with 10**30."""
    good = {"first": 1, "last": 2, "count": 2, "digest": "a" * 64}
    cases = [
        Case("first beyond 2**63", encode({"ranges": [{**good, "first": 10**30, "last": 10**30}]})),
        Case("last beyond 2**63", encode({"ranges": [{**good, "last": 2**64}]})),
    ]
    run_cases(app, sender(client, f"{SYNC}/reconcile", auth(enrolled["token"])), cases)


# --- staff read API -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/requests", "/api/v1/rejections"])
def test_staff_api_bad_parameters_and_authorization(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any], api_token: str, path: str
) -> None:
    limits = ["0", "1001", "abc", "-1", "", "1.5"]
    cursors = ["!!!", b64("id:x"), b64("page:3"), "%E6%B8%B8", b64("id:" + "9" * 5000)]
    cases = [
        Case(f"limit={v}", method="GET", query=f"limit={v}", error="bad_limit", names=("limit",))
        for v in limits
    ]
    cases += [
        Case(f"cursor={v[:30]}", method="GET", query=f"cursor={v}", error="bad_cursor")
        for v in cursors
    ]
    cases += [
        Case(f"Authorization {h[:20]!r}", method="GET", status=401, headers={"Authorization": h})
        for h in ("", "Bearer", f"Basic {api_token}", "Bearer lt_wrong", f"Bearer {api_token}x")
    ]
    cases.append(
        Case(
            "a kiosk's token",
            method="GET",
            status=401,
            headers={"Authorization": f"Bearer {enrolled['token']}"},
        )
    )
    cases.append(Case("unknown community", method="GET", query="community=nowhere", status=404))
    if path == "/api/v1/requests":
        cases += time_cases(["yesterday", "2026-13-01", "", "1700000000", "12:00"])
    run_cases(app, sender(client, path, {"Authorization": f"Bearer {api_token}"}), cases)


def time_cases(values: list[str]) -> list[Case]:
    """`since` and `until` set to each of `values`: refused as bad_time."""
    return [
        Case(f"{name}={v}", method="GET", query=f"{name}={v}", error="bad_time", names=(name,))
        for name in ("since", "until")
        for v in values
    ]


@pytest.mark.parametrize("path", ["/api/v1/requests", "/api/v1/rejections"])
def test_staff_api_out_of_range_values_are_a_400(
    app: Flask, client: FlaskClient, api_token: str, path: str
) -> None:
    """Values that parse but break the database: a unicode digit, huge ids, times past 9999."""
    cases = [Case("limit=²", method="GET", query="limit=%C2%B2", error="bad_limit")]
    cases += [
        Case(
            f"cursor id:{v[:12]}",
            method="GET",
            query=f"cursor={b64('id:' + v)}",
            error="bad_cursor",
        )
        for v in ("9" * 30, str(2**63))
    ]
    if path == "/api/v1/requests":
        cases += time_cases(["0001-01-01T00:00:00%2B14:00", "9999-12-31T23:59:59-14:00"])
    headers = {"Authorization": f"Bearer {api_token}"}
    run_cases(app, sender(client, path, headers), cases)
    # A cursor past every id that fits the column: an empty page or a 400, never a 500.
    for last_id in (2**31, 2**63 - 1):
        answer = client.get(path, query_string={"cursor": b64(f"id:{last_id}")}, headers=headers)
        assert answer.status_code in (200, 400), (last_id, answer.get_json())
        assert answer.get_json().get("items", []) == [], last_id


# --- wrong methods ------------------------------------------------------------------------


def test_wrong_methods_are_405_with_a_json_body(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any], api_token: str
) -> None:
    wrong = [
        ("GET", f"{SYNC}/enroll"),
        ("GET", f"{SYNC}/push"),
        ("PUT", f"{SYNC}/push"),
        ("POST", f"{SYNC}/pull"),
        ("DELETE", f"{SYNC}/pull"),
        ("GET", f"{SYNC}/reconcile"),
        ("PUT", "/api/v1/requests"),  # POST files a request (issue 13)
        ("DELETE", "/api/v1/requests"),
        ("DELETE", "/api/v1/rejections"),
        ("POST", "/healthz"),
        ("PUT", "/healthz"),
        ("DELETE", "/healthz"),
        ("PATCH", "/healthz"),
    ]
    headers = {**auth(enrolled["token"])}
    failures: list[str] = []
    for method, path in wrong:
        case = Case(f"{method} {path}", b"{}", 405, "method_not_allowed", method=method)
        answer = sender(client, path, headers)(case)
        failures += [f"{case.name}: {p}" for p in error_problems(answer, case)]
        if not answer.headers.get("Allow"):
            failures.append(f"{case.name}: no Allow header")
    assert not failures, "\n".join(failures)
    assert client.get("/healthz").status_code == 200


# --- the kiosk's local API ----------------------------------------------------------------


@dataclass
class LocalKiosk:
    """A kiosk store and its local API, enrolled with fake values (no server)."""

    path: Path
    store: Any
    client: FlaskClient
    saves: list[int]

    def rows(self) -> dict[str, int]:
        """Requests and outbox rows, read on a separate connection."""
        with closing(sqlite3.connect(self.path)) as conn:
            return {
                "requests": conn.execute("SELECT count(*) FROM requests").fetchone()[0],
                "outbox": conn.execute("SELECT count(*) FROM outbox").fetchone()[0],
                "saved notifications": len(self.saves),
            }


def _local_kiosk(folder: Path, enrolled: bool) -> tuple[Any, LocalKiosk]:
    from kiosk.app import create_kiosk_app
    from kiosk.store import Store
    from sync.messages import CategoryChange, EnrollResponse, PullResponse, RoomChange

    path = folder / "kiosk.sqlite3"
    store = Store(path)
    saves: list[int] = []
    if enrolled:
        store.save_enrollment(
            "http://127.0.0.1:9",
            EnrollResponse(
                device_id=7, name="hall", token="fake", community="lanqiao", ticket_prefix="A"
            ),
        )
        changes = [
            CategoryChange(
                entity="category",
                key=code,
                data={"code": code, "name_zh": zh, "name_en": code, "sort": 1, "urgent": False},
            )
            for code, zh in (("electrical", "照明/电路"), ("plumbing", "水暖"))
        ]
        changes += [
            RoomChange(
                entity="room",
                key=f"1:{code}",
                data={"code": code, "building": code[0], "unit": code[2], "room": code[4:]},
            )
            for code in ("3-2-301", "3-2-302")
        ]
        store.apply_pull(PullResponse(changes=changes, cursor="c1", more=False))
    app = create_kiosk_app(store, on_saved=lambda: saves.append(1))
    return store, LocalKiosk(path, store, app.test_client(), saves)


@pytest.fixture
def local_kiosk(tmp_path: Path) -> Iterator[LocalKiosk]:
    """An enrolled kiosk with categories electrical, plumbing and rooms 3-2-301, 3-2-302."""
    store, kiosk = _local_kiosk(tmp_path / "kiosk", enrolled=True)
    try:
        yield kiosk
    finally:
        store.close()


def run_kiosk_cases(kiosk: LocalKiosk, path: str, cases: list[Case]) -> None:
    """Send every case to the kiosk; fail listing wrong answers and anything saved."""
    failures: list[str] = []
    for case in cases:
        before = kiosk.rows()
        answer = kiosk.client.open(
            path,
            method=case.method,
            data=case.data,
            headers={"Content-Type": "application/json", **case.headers},
        )
        failures += [f"{case.name}: {p}" for p in error_problems(answer, case, kiosk=True)]
        after = kiosk.rows()
        if after != before:
            failures.append(f"{case.name}: saved something: {before} -> {after}")
    assert not failures, "\n".join(failures)


def test_kiosk_bad_requests_are_refused_in_both_languages(local_kiosk: LocalKiosk) -> None:
    good = {"category": "electrical", "room": "3-2-301"}

    def fields(**values: Any) -> bytes:
        return encode({**good, **values})

    cases = [
        Case("not JSON", b"{category: electrical", error="invalid_json", names=("JSON",)),
        Case("JSON list", encode([good]), error="invalid_json"),
        Case("JSON string", b'"electrical"', error="invalid_json"),
        Case("empty body", b"", error="invalid_json"),
        Case(
            "unknown category",
            fields(category="magic"),
            error="unknown_category",
            names=("category", "magic"),
        ),
        Case(
            "unknown room",
            fields(room="9-9-999"),
            error="unknown_room",
            names=("room", "9-9-999"),
        ),
        Case("room of the wrong shape", fields(room="301"), names=("room",)),
        Case("phone with letters", fields(phone="12ab34"), error="invalid_phone", names=("phone",)),
        Case("phone too short", fields(phone="123"), error="invalid_phone", names=("phone",)),
        Case("phone too long", fields(phone="1" * 16), error="invalid_phone", names=("phone",)),
        Case("phone a number", fields(phone=13800138000), error="invalid_phone", names=("phone",)),
        Case(
            "details too long",
            fields(details="灯" * 2001),
            error="invalid_details",
            names=("details",),
        ),
        Case("details a list", fields(details=["a"]), error="invalid_details", names=("details",)),
        Case(
            "category a number", fields(category=3), error="invalid_category", names=("category",)
        ),
        Case("room null", fields(room=None), error="invalid_room", names=("room",)),
        Case("no room", encode({"category": "electrical"}), names=("room",)),
        Case("no category", encode({"room": "3-2-301"}), names=("category",)),
        Case(
            "on_behalf a word",
            fields(on_behalf="yes"),
            error="invalid_on_behalf",
            names=("on_behalf",),
        ),
        Case("on_behalf a number", fields(on_behalf=1), names=("on_behalf",)),
        Case(
            "consent_version too long",
            fields(consent_version="v" * 33),
            names=("consent_version",),
        ),
        Case("unknown field", fields(name="王大爷"), error="unknown_field", names=("name",)),
        Case("body over 64 KiB", fields(details="x" * 70_000), status=413),
        Case("wrong method", method="GET", status=405),
    ]
    run_kiosk_cases(local_kiosk, "/api/requests", cases)
    # The same store saves a good request: the counts above could see a save.
    answer = local_kiosk.client.post("/api/requests", json=good)
    assert answer.status_code == 201, answer.get_json()
    assert local_kiosk.rows() == {"requests": 1, "outbox": 1, "saved notifications": 1}


def test_kiosk_bad_cancellations_are_refused(local_kiosk: LocalKiosk) -> None:
    saved = local_kiosk.client.post(
        "/api/requests", json={"category": "plumbing", "room": "3-2-302"}
    )
    assert saved.status_code == 201
    request_id = saved.get_json()["id"]
    cases = [
        Case(
            "cancel an unknown request",
            encode({"reason": "no"}),
            error="unknown_request",
        ),
    ]
    run_kiosk_cases(local_kiosk, f"/api/requests/{uuid7()}/cancel", cases)
    proof = saved.get_json()["cancel_token"]
    too_long = encode({"reason": "因" * 501, "cancel_token": proof})
    long_reason = [Case("reason too long", too_long, names=("reason",))]
    run_kiosk_cases(local_kiosk, f"/api/requests/{request_id}/cancel", long_reason)


def test_kiosk_not_enrolled_says_so_and_saves_nothing(tmp_path: Path) -> None:
    store, kiosk = _local_kiosk(tmp_path / "fresh", enrolled=False)
    try:
        cases = [
            Case(
                "not enrolled",
                encode({"category": "electrical", "room": "3-2-301"}),
                status=503,
                error="not_enrolled",
                names=("enrolled",),
            )
        ]
        run_kiosk_cases(kiosk, "/api/requests", cases)
    finally:
        store.close()
