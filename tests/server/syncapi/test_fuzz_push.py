"""Property-based fuzzing of POST /api/sync/v1/push (in process, SQLite).

Whatever arrives, the server never answers 5xx; every refusal is JSON with `error` and
`detail` and stores nothing; every 200 answers each processed operation once, in seq order,
and the rows on the server always match the operations it applied. A second property drives
one kiosk through random pushes, replays and gaps: never a duplicate row, and last_seq only
grows.
"""

from __future__ import annotations

import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from sync.messages import CATEGORY_CODES, PushRequest, PushResponse

PUSH = "/api/sync/v1/push"
ROOMS = ("3-2-301", "3-2-302", "1-1-101")
UNKNOWN_ROOM = "9-9-999"
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def free_text(max_size: int) -> st.SearchStrategy[str]:
    """Free text a valid operation may carry: anything but NUL, which the contract refuses."""
    return st.text(st.characters(exclude_characters="\x00"), max_size=max_size)


@pytest.fixture
def backend() -> str:
    """Fuzz on SQLite only: the properties belong to the server, not to the database."""
    return "sqlite"


# --- strategies ---------------------------------------------------------------------------

HUGE_INTS = [2**62, 2**62 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), -1, 0, 10**30, 10**400]
ODD_TEXT = ["", " ", "\x00", "\ud800", "\u202e3-2-301", "🚨", "灯不亮了", "A-0001\n", "null"]
KEYS = ["device_time", "ops", "op_id", "seq", "type", "at", "payload", "category", "room"]

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(ODD_TEXT),
)
json_values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.sampled_from(KEYS)), children, max_size=4
        ),
    ),
    max_leaves=20,
)


any_ids = st.uuids()
fresh_ids = st.builds(uuid.uuid4)


def iso(moment: datetime) -> str:
    """ISO 8601 as the kiosk writes it."""
    return moment.isoformat()


@st.composite
def valid_ops(
    draw: st.DrawFn, first_seq: int, count: int, ids: st.SearchStrategy[uuid.UUID] = any_ids
) -> list[dict[str, Any]]:
    """`count` well-formed operations from `first_seq`: creates, and cancels of them.

    Hypothesis' own UUIDs repeat across examples, which replays an id at another seq; pass
    `ids=fresh_ids` for a kiosk whose ids never repeat.
    """
    ops: list[dict[str, Any]] = []
    at = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    for seq in range(first_seq, first_seq + count):
        op_id = str(draw(ids))
        creates = [o["op_id"] for o in ops if o["type"] == "request.create"]
        if creates and draw(st.integers(0, 4)) == 0:
            target = draw(st.sampled_from(creates))
            ops.append(
                {
                    "op_id": op_id,
                    "seq": seq,
                    "type": "request.cancel",
                    "at": iso(at),
                    "payload": {
                        "request_id": target,
                        "reason": draw(st.none() | free_text(max_size=20)),
                    },
                }
            )
            continue
        payload: dict[str, Any] = {
            "category": draw(st.sampled_from([*CATEGORY_CODES, "unknown_kind"])),
            "room": draw(st.sampled_from([*ROOMS, UNKNOWN_ROOM])),
            "ticket": f"A-{seq % 10000:04d}",
        }
        optional = {
            "phone": st.sampled_from(["13800138000", "+8624123456", "12345"]),
            "details": free_text(max_size=40),
            "on_behalf": st.booleans(),
            "consent_version": st.sampled_from(["2026-01", "v1"]),
        }
        for name, values in optional.items():
            if draw(st.booleans()):
                payload[name] = draw(values)
        ops.append(
            {
                "op_id": op_id,
                "seq": seq,
                "type": "request.create",
                "at": iso(at + timedelta(seconds=seq)),
                "payload": payload,
            }
        )
    return ops


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists (the root excluded)."""
    if not isinstance(node, dict | list):
        return
    items: Any = node.items() if isinstance(node, dict) else enumerate(node)
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


@st.composite
def mutated_batches(draw: st.DrawFn) -> dict[str, Any]:
    """A valid batch, then up to three mutations: drop, rename, retype, huge, odd text, nest."""
    first = draw(st.integers(1, 12))
    ops = draw(valid_ops(first, draw(st.integers(1, 6))))
    if draw(st.integers(0, 5)) == 0:
        ops.reverse()
    body: dict[str, Any] = {"device_time": iso(datetime.now(UTC)), "ops": ops}
    for _ in range(draw(st.integers(0, 3))):
        places = list(paths(body))
        if not places:
            break
        where = draw(st.sampled_from(places))
        parent: Any = body
        for part in where[:-1]:
            parent = parent[part]
        key = where[-1]
        action = draw(st.sampled_from(["drop", "rename", "retype", "huge", "text", "null", "nest"]))
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = parent.pop(key)
        elif action == "huge":
            parent[key] = draw(st.sampled_from(HUGE_INTS))
        elif action == "text":
            parent[key] = draw(st.sampled_from(ODD_TEXT) | st.text(max_size=30))
        elif action == "null":
            parent[key] = None
        elif action == "nest":
            parent[key] = {"value": [parent[key]]}
        else:
            parent[key] = draw(json_values)
    return body


arbitrary_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4).map(
        lambda v: json.dumps(v).encode()
    ),
)


# --- the server's side --------------------------------------------------------------------


@dataclass
class Server:
    """The app, its client and one enrolled kiosk's token."""

    app: Flask
    client: FlaskClient
    token: str
    device_id: int
    moved: set[int] = field(default_factory=set)
    """Seqs answered `duplicate` for an id applied at another seq: an answer, with no row."""

    def push(self, raw: bytes, gz: bool) -> TestResponse:
        """POST raw bytes as a push body, optionally gzipped."""
        headers = {"Linli-Protocol": "1", "Authorization": f"Bearer {self.token}"}
        if gz:
            raw = gzip.compress(raw)
            headers["Content-Encoding"] = "gzip"
        return self.client.post(PUSH, data=raw, headers=headers)

    def state(self) -> ServerState:
        """What the database holds for this kiosk."""
        from server.extensions import db
        from server.kiosks.models import Kiosk
        from server.requests.models import HelpRequest, RequestEvent
        from server.synclog.models import AppliedOp, Change, SyncConflict

        with self.app.app_context():
            session = db.session
            conflicts = session.execute(
                sa.select(SyncConflict.seq).where(SyncConflict.kiosk_id == self.device_id)
            ).scalars()
            applied = session.execute(
                sa.select(AppliedOp.seq, AppliedOp.op_id, AppliedOp.type, AppliedOp.status).where(
                    AppliedOp.kiosk_id == self.device_id
                )
            ).all()
            client_ids = session.execute(
                sa.select(HelpRequest.client_id).where(HelpRequest.kiosk_id == self.device_id)
            ).scalars()
            counts = {
                model.__tablename__: session.execute(
                    sa.select(sa.func.count()).select_from(model)
                ).scalar_one()
                for model in (HelpRequest, RequestEvent, AppliedOp, SyncConflict, Change)
            }
            last_seq = session.execute(
                sa.select(Kiosk.last_seq).where(Kiosk.id == self.device_id)
            ).scalar_one()
            state = ServerState(
                last_seq=last_seq,
                applied={row.seq: (row.op_id, row.type, row.status) for row in applied},
                applied_rows=len(applied),
                conflict_seqs=set(conflicts),
                client_ids=[str(c) for c in client_ids],
                counts=counts,
            )
            db.session.remove()
        return state


@dataclass
class ServerState:
    """A snapshot of one kiosk's rows on the server."""

    last_seq: int
    applied: dict[int, tuple[uuid.UUID, str, str]]
    applied_rows: int
    conflict_seqs: set[int]
    client_ids: list[str]
    counts: dict[str, int] = field(default_factory=dict)

    def problems(self, moved: set[int]) -> list[str]:
        """Invariants that hold after any sequence of pushes; `moved` are the seqs the server
        answered `duplicate` for an id it had applied at another seq (the kiosk moved an
        unsent op to a fresh seq): answered with the original's result, stored nowhere."""
        found: list[str] = []
        if self.applied_rows != len(self.applied):
            found.append("two applied_op rows share a seq")
        # Every seq up to last_seq was answered: applied, rejected, recorded as a conflict, or a
        # duplicate of an op applied at another seq.
        answered = (
            set(self.applied)
            | {s for s in self.conflict_seqs if s <= self.last_seq}
            | {s for s in moved if s <= self.last_seq}
        )
        if answered != set(range(1, self.last_seq + 1)) or max(self.applied, default=0) > (
            self.last_seq
        ):
            found.append(f"seqs answered {sorted(answered)} are not 1..{self.last_seq}")
        if len(set(self.client_ids)) != len(self.client_ids):
            found.append("two help_request rows share a client id")
        created = {
            str(op_id)
            for op_id, kind, status in self.applied.values()
            if kind == "request.create" and status == "applied"
        }
        if set(self.client_ids) != created:
            found.append(f"{len(self.client_ids)} request rows but {len(created)} applied creates")
        return found


@pytest.fixture
def server(app: Flask, client: FlaskClient, enrolled: dict[str, Any]) -> Server:
    """The enrolled kiosk's view of the server."""
    return Server(app, client, enrolled["token"], enrolled["device_id"])


def check_answer(server: Server, raw: bytes, answer: TestResponse, before: ServerState) -> None:
    """The invariants of one push answer, whatever was sent."""
    after = server.state()
    event(f"HTTP {answer.status_code}")
    assert answer.status_code < 500, (answer.status_code, answer.get_data()[:300], raw[:300])
    if answer.status_code == 200:
        for result in PushResponse.model_validate(answer.get_json()).results:
            if result.status == "duplicate" and result.seq not in after.applied:
                server.moved.add(result.seq)
    assert not after.problems(server.moved), (after.problems(server.moved), raw[:300])
    assert after.last_seq >= before.last_seq, "last_seq went back"
    if answer.status_code != 200:
        body = answer.get_json(silent=True)
        assert isinstance(body, dict), answer.get_data()[:300]
        for key in ("error", "detail"):
            assert isinstance(body.get(key), str), body
            assert body[key].strip(), body
        assert after.counts == before.counts, ("a refused push stored rows", body)
        assert after.last_seq == before.last_seq
        return
    sent = PushRequest.model_validate(json.loads(raw))
    response = PushResponse.model_validate(answer.get_json())
    answered = [r.seq for r in response.results]
    assert answered == sorted(set(answered)), f"results not once each in seq order: {answered}"
    seqs = {op.seq for op in sent.ops}
    expected = {s for s in seqs if response.resend_from is None or s < response.resend_from}
    assert set(answered) == expected, (answered, sorted(seqs), response.resend_from)
    assert response.last_seq == after.last_seq, (response.last_seq, after.last_seq)
    for result in response.results:
        if result.status == "rejected":
            assert result.reason, result


# --- properties ---------------------------------------------------------------------------


@FUZZ
@given(body=mutated_batches(), gz=st.booleans())
def test_mutated_batches_never_break_the_invariants(
    server: Server, body: dict[str, Any], gz: bool
) -> None:
    raw = json.dumps(body).encode()
    before = server.state()
    check_answer(server, raw, server.push(raw, gz), before)


@FUZZ
@given(raw=arbitrary_bodies, gz=st.booleans())
def test_arbitrary_bodies_are_refused_cleanly(server: Server, raw: bytes, gz: bool) -> None:
    before = server.state()
    check_answer(server, raw, server.push(raw, gz), before)


# --- a kiosk's life: pushes, replays and gaps in random order -----------------------------

actions = st.lists(
    st.one_of(
        st.tuples(st.just("make"), st.integers(1, 6), st.just(0)),
        st.tuples(st.just("push"), st.integers(0, 30), st.integers(1, 8)),
        st.tuples(st.just("reverse"), st.integers(0, 30), st.integers(1, 8)),
        st.tuples(st.just("replay"), st.integers(0, 30), st.just(0)),
        st.tuples(st.just("twin"), st.integers(0, 30), st.just(0)),
    ),
    min_size=1,
    max_size=14,
)


def new_kiosk(app: Flask, client: FlaskClient) -> Server:
    """Enrol one more kiosk of community `lanqiao`, with an empty history."""
    from server.extensions import db
    from server.kiosks.services import new_enrollment_code

    with app.app_context():
        _, code = new_enrollment_code("lanqiao", f"fuzz-{uuid.uuid4().hex[:10]}", 24)
        db.session.commit()
        db.session.remove()
    answer = client.post(
        "/api/sync/v1/enroll", json={"code": code}, headers={"Linli-Protocol": "1"}
    )
    body = answer.get_json()
    return Server(app, client, body["token"], body["device_id"])


@settings(FUZZ, max_examples=40)
@given(plan=actions, data=st.data())
def test_pushes_replays_and_gaps_never_duplicate_and_last_seq_only_grows(
    app: Flask,
    client: FlaskClient,
    community: dict[str, Any],
    plan: list[tuple[str, int, int]],
    data: Any,
) -> None:
    kiosk = new_kiosk(app, client)
    outbox: list[dict[str, Any]] = []
    sent: list[bytes] = []
    last_seq = 0
    for action, start, count in plan:
        if action == "make":
            outbox += data.draw(valid_ops(len(outbox) + 1, start, fresh_ids))
            continue
        if not outbox:
            continue
        if action == "replay":
            if not sent:
                continue
            raw = sent[start % len(sent)]
        elif action == "twin":
            op = outbox[start % len(outbox)]
            twin = {**op, "op_id": str(uuid.uuid4())}
            raw = json.dumps({"device_time": iso(datetime.now(UTC)), "ops": [op, twin]}).encode()
            before = kiosk.state()
            answer = kiosk.push(raw, gz=True)
            assert answer.status_code == 400, answer.get_json()
            assert answer.get_json()["error"] == "bad_batch"
            assert kiosk.state().counts == before.counts
            continue
        else:
            begin = start % len(outbox)
            chosen = outbox[begin : begin + count]
            if action == "reverse":
                chosen = chosen[::-1]
            raw = json.dumps({"device_time": iso(datetime.now(UTC)), "ops": chosen}).encode()
            sent.append(raw)
        before = kiosk.state()
        answer = kiosk.push(raw, gz=True)
        assert answer.status_code == 200, answer.get_json()
        check_answer(kiosk, raw, answer, before)
        response = PushResponse.model_validate(answer.get_json())
        assert response.last_seq == expected_last_seq(last_seq, raw)
        assert response.last_seq >= last_seq
        by_seq = {op["seq"]: op for op in outbox}
        for result in response.results:
            op = by_seq[result.seq]
            if result.seq <= last_seq:
                assert result.status == "duplicate", (result, last_seq)
            elif op["type"] == "request.create":
                ok = op["payload"]["room"] != UNKNOWN_ROOM
                ok = ok and op["payload"]["category"] in CATEGORY_CODES
                assert result.status == ("applied" if ok else "rejected"), (result, op)
        last_seq = response.last_seq
        state = kiosk.state()
        for seq, (op_id, _, _) in state.applied.items():
            assert str(op_id) == by_seq[seq]["op_id"], f"seq {seq} holds another op"


def expected_last_seq(last_seq: int, raw: bytes) -> int:
    """The highest seq of the gap-free prefix the server holds after this batch."""
    for seq in sorted(op["seq"] for op in json.loads(raw)["ops"]):
        if seq == last_seq + 1:
            last_seq = seq
        elif seq > last_seq:
            break
    return last_seq


def test_a_seq_answered_as_a_conflict_is_never_applied_later(server: Server) -> None:
    """Found by the fuzzer: an id replayed at a new seq leaves that seq without a row.

    The server answers seq 2 "rejected: conflict" and moves last_seq to 2; a different
    operation sent later at seq 2 must then be refused as `seq_taken`, as it is for any
    other seq the server has answered, not applied as a second answer for the same seq.
    """
    first = valid_op(1, "3-2-301")
    reused_id = {**valid_op(2, "3-2-302"), "op_id": first["op_id"]}
    other = valid_op(2, "3-2-302")
    for ops, status, reason in [
        ([first], "applied", None),
        ([reused_id], "rejected", "conflict"),
        ([other], "rejected", "seq_taken"),
    ]:
        raw = json.dumps({"device_time": iso(datetime.now(UTC)), "ops": ops}).encode()
        answer = server.push(raw, gz=False)
        assert answer.status_code == 200, answer.get_json()
        result = answer.get_json()["results"][0]
        assert (result["status"], result.get("reason")) == (status, reason), result
    assert len(server.state().client_ids) == 1


def test_an_applied_op_moved_to_a_fresh_seq_is_answered_once_and_stored_once(
    server: Server,
) -> None:
    """Found by the fuzzer (--hypothesis-seed=9): an applied id sent again at a fresh seq with
    the same content is a duplicate (the kiosk moves unsent ops past taken seqs, same ids).

    The server answers it with the original result and moves last_seq past it: nothing is
    applied twice and nothing is lost; the fresh seq has no row of its own, by design.
    """
    first = valid_op(1, "3-2-301")
    moved = {**first, "seq": 2}
    for ops, status in [([first], "applied"), ([moved], "duplicate")]:
        raw = json.dumps({"device_time": iso(datetime.now(UTC)), "ops": ops}).encode()
        answer = server.push(raw, gz=False)
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["results"][0]["status"] == status
        assert answer.get_json()["last_seq"] == ops[0]["seq"]
    state = server.state()
    assert state.client_ids == [first["op_id"]]
    assert set(state.applied) == {1}
    assert state.conflict_seqs == set()
    assert state.problems({2}) == []
    assert state.problems(set()) == ["seqs answered [1] are not 1..2"]


def valid_op(seq: int, room: str) -> dict[str, Any]:
    """One well-formed request.create with a new id."""
    return {
        "op_id": str(uuid.uuid4()),
        "seq": seq,
        "type": "request.create",
        "at": iso(datetime.now(UTC)),
        "payload": {"category": "electrical", "room": room, "ticket": f"A-{seq:04d}"},
    }
