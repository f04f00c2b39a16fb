"""The wire contract: golden JSON in tests/contract/ decoded by both sides, and current schemas.

Each golden file is one example of one message; its name starts with the message's snake_case
name (`push_request_gap.json` is a `PushRequest`). Requests are posted to the real server app
in process; the answers are decoded the way the kiosk decodes them (the `sync.messages`
models, the kiosk's `Store`, and the `SyncEngine` over a `requests` session).
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import urllib3
from flask import Flask
from flask.testing import FlaskClient
from pydantic import BaseModel

from kiosk.store import Store
from sync import schema
from sync.client import Refused, Revoked, SyncEngine, SyncError, UpdateRequired, _error_from
from sync.messages import (
    EnrollResponse,
    ErrorBody,
    PullResponse,
    PushRequest,
    PushResponse,
    ReconcileRequest,
    ReconcileResponse,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parents[1] / "contract"
SERVER = "http://linli.test"
API = "/api/sync/v1"

ALLOWED_EXTRAS = {
    "error_body_unsupported_protocol.json": {"supported"},
    "error_body_invalid_message.json": {"problems"},
}
"""Fields the server adds to an error body that the kiosk's `ErrorBody` ignores by design."""

KIOSK_ERROR = {
    "error_body.json": (401, Revoked),
    "error_body_unsupported_protocol.json": (400, UpdateRequired),
    "error_body_invalid_message.json": (400, Refused),
}
"""The HTTP status each golden error comes with, and what the kiosk makes of it."""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


MODELS: dict[str, type[BaseModel]] = {_snake(m.__name__): m for m in schema.MESSAGES}
FILES = sorted(p.name for p in GOLDEN.glob("*.json"))


def model_for(filename: str) -> type[BaseModel] | None:
    """The message a golden file holds: the longest message name its stem starts with."""
    stem = filename.removesuffix(".json")
    matches = [n for n in MODELS if stem == n or stem.startswith(n + "_")]
    return MODELS[max(matches, key=len)] if matches else None


def golden(filename: str) -> Any:
    """The parsed JSON of one golden file."""
    return json.loads((GOLDEN / filename).read_text(encoding="utf-8"))


def decoded(model: type[BaseModel], data: Any, **exclude: Any) -> dict[str, Any]:
    """What a reader of `model` understands from `data`, as comparable JSON."""
    return model.model_validate(data).model_dump(mode="json", exclude=exclude or None)


def _unknown_fields(data: Any, understood: Any, path: str = "") -> list[str]:
    """Paths present in `data` that the decoded message does not hold (silently dropped)."""
    if isinstance(data, dict) and isinstance(understood, dict):
        found = []
        for key, value in data.items():
            if key not in understood:
                found.append(f"{path}{key}")
            else:
                found.extend(_unknown_fields(value, understood[key], f"{path}{key}."))
        return found
    if isinstance(data, list) and isinstance(understood, list):
        return [
            p
            for i, (d, u) in enumerate(zip(data, understood, strict=True))
            for p in _unknown_fields(d, u, f"{path}{i}.")
        ]
    return []


def _messages_in(value: Any) -> set[type[BaseModel]]:
    """Every message type inside a decoded message, itself included."""
    if isinstance(value, BaseModel):
        found: set[type[BaseModel]] = {type(value)}
        for name in type(value).model_fields:
            found |= _messages_in(getattr(value, name))
        return found
    if isinstance(value, list):
        return set().union(*(_messages_in(v) for v in value)) if value else set()
    return set()


# --- the golden files themselves -------------------------------------------------------------


def test_every_golden_file_names_a_message() -> None:
    assert FILES, f"no golden files in {GOLDEN}"
    orphans = [f for f in FILES if model_for(f) is None]
    assert not orphans, f"golden files whose name starts with no message name: {orphans}"


def test_every_message_has_a_golden_example() -> None:
    seen: set[type[BaseModel]] = set()
    for filename in FILES:
        model = model_for(filename)
        assert model is not None
        seen |= _messages_in(model.model_validate(golden(filename)))
    missing = sorted(m.__name__ for m in schema.MESSAGES if m not in seen)
    assert not missing, f"messages with no golden example in tests/contract/: {missing}"


@pytest.mark.parametrize("filename", FILES)
def test_golden_file_decodes_as_its_message_and_holds_nothing_unknown(filename: str) -> None:
    model = model_for(filename)
    assert model is not None
    data = golden(filename)
    understood = model.model_validate(data).model_dump(mode="json")
    unknown = set(_unknown_fields(data, understood)) - ALLOWED_EXTRAS.get(filename, set())
    assert not unknown, f"{filename}: fields {model.__name__} does not know: {sorted(unknown)}"


def test_golden_cancel_targets_the_golden_create() -> None:
    create, cancel = PushRequest.model_validate(golden("push_request.json")).ops
    assert create.type == "request.create"
    assert cancel.type == "request.cancel"
    assert cancel.payload.request_id == create.op_id


@pytest.mark.parametrize("filename", sorted(KIOSK_ERROR))
def test_kiosk_classifies_golden_errors(filename: str) -> None:
    status, expected = KIOSK_ERROR[filename]
    body = golden(filename)
    ErrorBody.model_validate(body)
    error = _error_from(_requests_response(status, json.dumps(body).encode(), {}))
    assert type(error) is expected, f"{filename}: kiosk raised {type(error).__name__}"
    assert error.code == body["error"]


# --- the generated JSON Schema files ---------------------------------------------------------


def test_schema_docs_are_current() -> None:
    stale = schema.problems(ROOT / "docs" / "schemas")
    assert not stale, "docs/schemas is out of date; run `python -m sync.schema docs/schemas`:\n" + (
        "\n".join(stale)
    )


def test_schema_check_names_missing_and_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert schema.main([str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{m.__name__}.json" for m in schema.MESSAGES
    )
    written = json.loads((tmp_path / "PushRequest.json").read_text())
    assert written == PushRequest.model_json_schema()
    assert schema.main(["--check", str(tmp_path)]) == 0
    capsys.readouterr()
    (tmp_path / "OpResult.json").unlink()
    change = tmp_path / "RoomChange.json"
    change.write_text(change.read_text().replace('"entity"', '"kind"'))
    assert schema.main(["--check", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "OpResult.json: missing" in err
    assert "RoomChange.json: stale" in err
    assert "PushRequest.json" not in err


# --- golden responses through the kiosk's store ----------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A kiosk store in this test's folder, closed afterwards."""
    kiosk_store = Store(tmp_path / "kiosk" / "kiosk.sqlite3")
    try:
        yield kiosk_store
    finally:
        kiosk_store.close()


def _enrolled_store(store: Store) -> Store:
    store.save_enrollment(SERVER, EnrollResponse.model_validate(golden("enroll_response.json")))
    store.apply_pull(PullResponse.model_validate(golden("pull_response_reset.json")))
    return store


def test_store_applies_golden_enrolment_and_pull_pages(store: Store) -> None:
    _enrolled_store(store)
    assert store.enrollment()["device_id"] == "1"
    assert store.enrollment()["community"] == "lanqiao"
    assert store.credentials() is not None
    assert [c["code"] for c in store.categories()] == ["electrical", "plumbing", "emergency"]
    assert {r["code"] for r in store.rooms()} == {"3-2-301", "3-2-302", "3-1-101"}
    page = golden("pull_response.json")
    store.apply_pull(PullResponse.model_validate(page))
    assert {r["code"] for r in store.rooms()} == {"3-2-301", "3-2-302"}, "tombstone not applied"
    assert store.community() == {"slug": "lanqiao", "name": "蓝桥社区", "phone": "024-1234567"}
    assert store.cursor() == page["cursor"]
    assert [c["urgent"] for c in store.categories() if c["code"] == "emergency"] == [1]


def test_store_applies_golden_push_and_reconcile_answers(store: Store) -> None:
    _enrolled_store(store)
    first = store.create_request("plumbing", "3-2-301", phone="13800138000")
    store.cancel_request(first.id, "邻居帮忙修好了")
    third = store.create_request("electrical", "3-2-302")
    fourth = store.create_request("electrical", "3-2-301")
    store.apply_push(PushResponse.model_validate(golden("push_response.json")))
    assert store.get_request(third.id)["status"] == "received"  # type: ignore[index]
    rejected = store.get_request(fourth.id)
    assert rejected is not None
    assert (rejected["status"], rejected["reject_reason"]) == ("rejected", "unknown_room")
    assert [op.seq for op in store.pending_ops(10)] == [1]
    assert store.status()["rejected"] == 1
    ReconcileRequest(ranges=store.acked_ranges(256))
    answer = ReconcileResponse.model_validate(golden("reconcile_response.json"))
    assert store.requeue(answer.missing) == 1
    assert [op.seq for op in store.pending_ops(10)] == [1, 3]


# --- golden requests through the real server -------------------------------------------------


def post(
    client: FlaskClient, path: str, body: Any, token: str | None = None, protocol: str = "1"
) -> Any:
    """POST a JSON body gzipped, as the kiosk does."""
    headers = {
        "Linli-Protocol": protocol,
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(API + path, data=gzip.compress(json.dumps(body).encode()), headers=headers)


def _ok(answer: Any) -> Any:
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_server_applies_golden_pushes_and_answers_the_golden_response(
    client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    token = enrolled["token"]
    first = PushResponse.model_validate(
        _ok(post(client, "/push", golden("push_request.json"), token))
    )
    assert [(r.seq, r.status, r.result) for r in first.results] == [
        (1, "applied", {"status": "received"}),
        (2, "applied", {"status": "cancelled"}),
    ]
    assert first.last_seq == 2
    assert first.resend_from is None
    second = _ok(post(client, "/push", golden("push_request_gap.json"), token))
    assert decoded(PushResponse, second, server_time=True) == decoded(
        PushResponse, golden("push_response.json"), server_time=True
    )


def test_server_reconciles_the_golden_request(
    client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    token = enrolled["token"]
    _ok(post(client, "/push", golden("push_request.json"), token))
    answer = _ok(post(client, "/reconcile", golden("reconcile_request.json"), token))
    assert decoded(ReconcileResponse, answer) == decoded(
        ReconcileResponse, golden("reconcile_response.json")
    )


def _enrolment_code(app: Flask, name: str = "hall") -> str:
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", name, 24)
        db.session.commit()
    return code


def test_server_enrols_with_the_golden_request(
    app: Flask, client: FlaskClient, community: dict[str, Any], store: Store
) -> None:
    request = golden("enroll_request.json")
    wrong = post(client, "/enroll", request)
    assert wrong.status_code == 401, "the golden request should parse and fail only on its code"
    assert wrong.get_json()["error"] == "invalid_code"
    answer = EnrollResponse.model_validate(
        _ok(post(client, "/enroll", {**request, "code": _enrolment_code(app)}))
    )
    expected = EnrollResponse.model_validate(golden("enroll_response.json"))
    ignore = {"token", "device_id"}
    assert answer.model_dump(exclude=ignore) == expected.model_dump(exclude=ignore)
    assert len(answer.token) >= 32
    store.save_enrollment(SERVER, answer)
    assert store.credentials() is not None


def _pull_pages(client: FlaskClient, token: str, cursor: str | None, limit: int) -> list[Any]:
    pages = []
    headers = {"Linli-Protocol": "1", "Authorization": f"Bearer {token}"}
    while True:
        query = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        body = _ok(client.get(API + "/pull", query_string=query, headers=headers))
        pages.append(body)
        cursor = body["cursor"]
        if not body["more"]:
            return pages


def test_server_pull_pages_decode_in_the_kiosk_and_match_golden_shapes(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any], store: Store
) -> None:
    from server.extensions import db
    from server.synclog.changes import ChangeRow, record_changes

    token = enrolled["token"]
    community_id = enrolled["community"]["id"]
    _ok(post(client, "/push", golden("push_request.json"), token))
    with app.app_context():
        record_changes(
            [ChangeRow("room", f"{community_id}:3-1-101", None, community_id=community_id)]
        )
        db.session.commit()

    pages = _pull_pages(client, token, None, limit=5)
    assert len(pages) > 1
    undecodable = []
    for number, body in enumerate(pages):
        try:
            store.apply_pull(PullResponse.model_validate(body))
        except ValueError as exc:
            undecodable.append(f"page {number}: {exc}")
    assert not undecodable, "the kiosk cannot decode the server's pull pages:\n" + "\n".join(
        undecodable
    )
    changes = [c for body in pages for c in body["changes"]]
    # The newest server's fields: the reset page (sub-choices, issue 13.5) and the page after.
    expected: dict[str, set[str]] = {}
    for name in ("pull_response_reset.json", "pull_response.json"):
        for c in golden(name)["changes"]:
            if c["data"] is not None:
                expected.setdefault(c["entity"], set()).update(c["data"])
    served: dict[str, set[str]] = {}
    for change in changes:
        if change.get("data") is not None:
            served.setdefault(change["entity"], set()).update(change["data"])
    assert served == expected, "the server's change data differs from the golden examples"
    assert {r["code"] for r in store.rooms()} == {"3-2-301", "3-2-302", "1-1-101", "1-1-102"}

    reset = _pull_pages(client, token, "not-a-cursor", limit=1000)
    assert len(reset) == 1
    assert PullResponse.model_validate(reset[0]).reset
    assert PullResponse.model_validate(golden("pull_response_reset.json")).reset


# --- golden errors from the real server, through the kiosk's HTTP client ---------------------


def _requests_response(
    status: int,
    body: bytes,
    headers: dict[str, str],
    request: requests.PreparedRequest | None = None,
) -> requests.Response:
    """A `requests` response built the way its HTTP adapter builds one from the wire."""
    raw = urllib3.HTTPResponse(
        body=io.BytesIO(body),
        headers=headers,
        status=status,
        preload_content=False,
        decode_content=True,
    )
    adapter = requests.adapters.HTTPAdapter()
    try:
        return adapter.build_response(request or requests.PreparedRequest(), raw)
    finally:
        adapter.close()


class InProcessTransport(requests.adapters.BaseAdapter):
    """A `requests` transport handing each request to the server app's test client."""

    def __init__(self, client: FlaskClient) -> None:
        super().__init__()
        self.client = client

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **_: Any
    ) -> requests.Response:
        """Answer `request` from the app, with the body exactly as it was on the wire."""
        url = urlsplit(request.url or "")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        answer = self.client.open(
            url.path,
            method=request.method or "GET",
            query_string=url.query,
            data=request.body,
            headers=headers,
        )
        try:
            return _requests_response(
                answer.status_code, answer.get_data(), dict(answer.headers), request
            )
        finally:
            answer.close()

    def close(self) -> None:
        """Nothing to release: no sockets are used."""


@pytest.fixture
def session(client: FlaskClient) -> Iterator[requests.Session]:
    """A `requests` session whose requests to SERVER reach the in-process app."""
    http = requests.Session()
    http.mount(SERVER, InProcessTransport(client))
    try:
        yield http
    finally:
        http.close()


def _revoke(app: Flask) -> None:
    from server.extensions import db
    from server.kiosks.services import revoke

    with app.app_context():
        revoke("hall")
        db.session.commit()


def _bad_room() -> dict[str, Any]:
    body: dict[str, Any] = golden("push_request.json")
    body["ops"][0]["payload"]["room"] = "301"
    return body


PROVOKE: dict[str, tuple[str, Callable[[Flask], None], Callable[[], Any]]] = {
    "error_body.json": ("1", _revoke, lambda: golden("push_request.json")),
    "error_body_unsupported_protocol.json": (
        "2",
        lambda app: None,
        lambda: golden("push_request.json"),
    ),
    "error_body_invalid_message.json": ("1", lambda app: None, _bad_room),
}
"""How to make the server answer each golden error: protocol header, setup, push body."""


@pytest.mark.parametrize("filename", sorted(PROVOKE))
def test_server_errors_match_golden_and_the_kiosk_understands_them(
    filename: str, app: Flask, session: requests.Session, enrolled: dict[str, Any]
) -> None:
    protocol, setup, body = PROVOKE[filename]
    setup(app)
    answer = session.post(
        SERVER + API + "/push",
        data=gzip.compress(json.dumps(body()).encode()),
        headers={
            "Linli-Protocol": protocol,
            "Authorization": f"Bearer {enrolled['token']}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )
    expected = golden(filename)
    status, kiosk_error = KIOSK_ERROR[filename]
    assert answer.status_code == status, answer.text
    served = answer.json()
    assert ErrorBody.model_validate(served).error == expected["error"]
    assert set(served) == set(expected), f"{filename}: the server's error body has other fields"
    if "supported" in expected:
        assert served["supported"] == expected["supported"]
    if "problems" in expected:
        assert [p["field"] for p in served["problems"]] == [
            p["field"] for p in expected["problems"]
        ]
    error = _error_from(answer)
    assert type(error) is kiosk_error
    assert error.code == expected["error"]


def test_kiosk_engine_enrols_pushes_pulls_and_reconciles_in_process(
    app: Flask, community: dict[str, Any], session: requests.Session, store: Store
) -> None:
    engine = SyncEngine(store, session=session)
    answer = engine.enroll(SERVER, _enrolment_code(app))
    store.save_enrollment(SERVER, answer)
    first = engine.sync_once()
    assert first.ok
    assert first.pulled > 0
    saved = store.create_request("plumbing", "3-2-301", details="水管漏水")
    second = engine.sync_once()
    assert (second.ok, second.pushed) == (True, 1)
    request = store.get_request(saved.id)
    assert request is not None
    assert request["status"] == "received"
    assert engine.reconcile() == 0
    assert engine.stats.by_path == {"/enroll": 1, "/push": 1, "/pull": 2, "/reconcile": 1}
    _revoke(app)
    store.create_request("plumbing", "3-2-302")
    with pytest.raises(SyncError) as failure:
        engine.sync_once()
    assert type(failure.value) is Revoked


# --- 报平安 (checkin.create), and operations of types a reader does not know ----------------


def _signs(app: Flask) -> list[tuple[str, str, str, Any]]:
    """(source key, channel, room code, at) of every stored sign of life."""
    import sqlalchemy as sa

    from server.carewatch.models import SignOfLife
    from server.communities.models import Room
    from server.extensions import db

    with app.app_context():
        rows = db.session.execute(
            sa.select(SignOfLife.source_key, SignOfLife.channel, Room.code, SignOfLife.at)
            .join(Room, Room.id == SignOfLife.room_id)
            .order_by(SignOfLife.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_server_applies_golden_checkins_once_and_answers_the_golden_response(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    token = enrolled["token"]
    body = golden("push_request_checkin.json")
    answer = _ok(post(client, "/push", body, token))
    assert decoded(PushResponse, answer, server_time=True) == decoded(
        PushResponse, golden("push_response_checkin.json"), server_time=True
    )
    checkin = body["ops"][0]
    expected = [
        (
            f"kiosk:{checkin['op_id']}",
            "kiosk",
            "3-2-301",
            PushRequest.model_validate(body).ops[0].at,
        )
    ]
    assert _signs(app) == expected
    # A replayed batch answers the first results and records nothing more.
    replay = PushResponse.model_validate(_ok(post(client, "/push", body, token)))
    assert [(r.status, r.original, r.reason, r.result) for r in replay.results] == [
        ("duplicate", "applied", None, {"status": "recorded"}),
        ("duplicate", "applied", None, {"status": "received"}),
        ("duplicate", "rejected", "unknown_room", None),
    ]
    assert _signs(app) == expected


def test_a_checkin_makes_no_request(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    import sqlalchemy as sa

    from server.extensions import db
    from server.requests.models import HelpRequest

    _ok(post(client, "/push", golden("push_request_checkin.json"), enrolled["token"]))
    with app.app_context():
        rooms = db.session.execute(sa.select(HelpRequest.ticket)).scalars().all()
    assert rooms == ["A-0001"], "only the batch's request.create makes a request"


def test_server_answers_an_operation_of_an_unknown_type_alone(
    app: Flask, client: FlaskClient, enrolled: dict[str, Any]
) -> None:
    """What a server does with a newer kiosk's operation: one clear rejection, the rest applied."""
    answer = _ok(post(client, "/push", golden("push_request_newer_op.json"), enrolled["token"]))
    assert decoded(PushResponse, answer, server_time=True) == decoded(
        PushResponse, golden("push_response_newer_op.json"), server_time=True
    )
    assert len(_signs(app)) == 1


def _older_reader() -> type[BaseModel]:
    """A `PushRequest` reader of the contract before `checkin.create` (types it knew, and the
    unknown-type envelope), built from the current messages."""
    from typing import Annotated

    from pydantic import Discriminator, Field, Tag, create_model

    from sync.messages import CancelRequestOp, CreateRequestOp, UnknownOp

    class OlderUnknownOp(UnknownOp):
        type: str  # type: ignore[assignment]

    older_known = ("request.create", "request.cancel")

    def kind(value: Any) -> str:
        found = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return found if found in older_known else "unknown"

    operation = Annotated[
        Annotated[CreateRequestOp, Tag("request.create")]
        | Annotated[CancelRequestOp, Tag("request.cancel")]
        | Annotated[OlderUnknownOp, Tag("unknown")],
        Discriminator(kind),
    ]
    return create_model(
        "OlderPushRequest",
        __base__=PushRequest,
        ops=(list[operation], Field(min_length=1)),  # type: ignore[valid-type]
    )


def test_an_older_reader_reads_a_checkin_as_one_unknown_operation() -> None:
    """The checkin envelope fits the unknown-type envelope: a server of the contract before it
    reads the batch and answers the check-ins alone instead of refusing the batch."""
    older = _older_reader().model_validate(golden("push_request_checkin.json"))
    kinds = [(type(op).__name__, op.type) for op in older.ops]  # type: ignore[attr-defined]
    assert kinds == [
        ("OlderUnknownOp", "checkin.create"),
        ("CreateRequestOp", "request.create"),
        ("OlderUnknownOp", "checkin.create"),
    ]


def test_an_older_kiosks_batch_holds_no_checkin_and_reads_unchanged() -> None:
    """Kiosks before checkin.create send only request operations: read exactly as before."""
    for name in ("push_request.json", "push_request_gap.json"):
        batch = PushRequest.model_validate(golden(name))
        assert {type(op).__name__ for op in batch.ops} <= {"CreateRequestOp", "CancelRequestOp"}


def test_store_applies_the_golden_checkin_answer(store: Store) -> None:
    _enrolled_store(store)
    first = store.check_in("3-2-301")
    request = store.create_request("electrical", "3-2-302")
    third = store.check_in("3-2-302")
    store.apply_push(PushResponse.model_validate(golden("push_response_checkin.json")))
    assert store.get_checkin(first.id)["status"] == "recorded"  # type: ignore[index]
    assert store.get_request(request.id)["status"] == "received"  # type: ignore[index]
    rejected = store.get_checkin(third.id)
    assert rejected is not None
    assert (rejected["status"], rejected["reject_reason"]) == ("rejected", "unknown_room")
    assert store.pending_ops(10) == []
