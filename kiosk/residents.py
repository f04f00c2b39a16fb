"""The resident side of the store: what the screens and the local API read and write.

The lists a resident picks from (categories, rooms, the community) are read through the
reader thread with a deadline, so a stalled card keeps the screens up. A request row and the
outbox operation that carries it are written in one durable transaction: the caller says
"saved" only after that commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kiosk.database import Database, InputError, NotEnrolledError, set_meta
from kiosk.outbox import append_op, check_headroom
from sync.ids import format_ticket, uuid7
from sync.messages import OTHER_CHOICE, CancelRequestOp, CheckinOp, CreateRequestOp


@dataclass(frozen=True)
class Saved:
    """A request saved durably on the kiosk."""

    id: str
    ticket: str


@dataclass(frozen=True)
class CheckedIn:
    """A 报平安 saved durably on the kiosk: its id (the op's) and room."""

    id: str
    room: str


class Residents(Database):
    """Requests, tickets, cancellations and the lists the screens show."""

    def categories(self) -> list[dict[str, Any]]:
        """Categories in display order (server's list once synced, defaults before)."""

        def query() -> list[dict[str, Any]]:
            rows = self._conn().execute("SELECT * FROM categories ORDER BY sort, code")
            return [dict(r) for r in rows]

        return self._screen_read("categories", query)[0]

    def rooms(self) -> list[dict[str, Any]]:
        """Rooms known from the server, in building, unit, room order."""

        def query() -> list[dict[str, Any]]:
            rows = self._conn().execute("SELECT * FROM rooms ORDER BY building, unit, room")
            return [dict(r) for r in rows]

        return self._screen_read("rooms", query)[0]

    def community(self) -> dict[str, Any] | None:
        """The community this kiosk serves (name and phone), once synced."""

        def query() -> dict[str, Any] | None:
            row = self._conn().execute("SELECT * FROM community LIMIT 1").fetchone()
            return None if row is None else dict(row)

        return self._screen_read("community", query)[0]

    def choices(self, category: str) -> list[dict[str, Any]]:
        """The community's sub-choices of a category in display order (none before a sync, or
        from a server that does not send them)."""

        def query() -> list[dict[str, Any]]:
            rows = self._conn().execute(
                "SELECT * FROM choices WHERE category = ? ORDER BY sort, code", (category,)
            )
            return [dict(r) for r in rows]

        return self._screen_read("choices", query)[0]

    def offers_choices(self) -> bool:
        """Whether the server takes a request's sub-choice and preferred time (it sent the
        community's list of sub-choices, even an empty one)."""
        return self._meta("choices") == "1"

    def create_request(
        self,
        category: str,
        room: str,
        phone: str | None = None,
        details: str | None = None,
        on_behalf: bool = False,
        consent_version: str | None = None,
        form_token: str | None = None,
        choice: str | None = None,
        preferred_time: str | None = None,
    ) -> Saved:
        """Save a request and its outbox operation in one durable transaction.

        A `form_token` seen before returns the request saved with it, and saves nothing new:
        the token is checked and recorded in the same transaction as the request. A `choice`
        is `other` or one of the category's sub-choices; with `preferred_time` it is saved only
        for a server that takes them (`offers_choices`).
        """
        conn = self._conn()
        if self._meta("device_id") is None:
            raise NotEnrolledError(
                "this kiosk is not enrolled yet; ask the community centre",
                "本机尚未登记，请联系社区服务中心",
            )
        if conn.execute("SELECT 1 FROM categories WHERE code = ?", (category,)).fetchone() is None:
            raise InputError(
                "unknown_category", f"unknown category {category!r}", "没有这个求助类别"
            )
        if conn.execute("SELECT 1 FROM rooms WHERE code = ?", (room,)).fetchone() is None:
            raise InputError(
                "unknown_room", f"room {room!r} is not in this community's list", "没有找到这个房间"
            )
        if (choice or preferred_time) and not self.offers_choices():
            raise InputError(
                "choices_not_offered",
                "the server has not sent sub-choices: it would refuse them",
                "暂时不能选择具体问题",
            )
        if (
            choice
            and choice != OTHER_CHOICE
            and conn.execute(
                "SELECT 1 FROM choices WHERE category = ? AND code = ?", (category, choice)
            ).fetchone()
            is None
        ):
            raise InputError("unknown_choice", f"unknown sub-choice {choice!r}", "没有这个选项")
        with self._write() as conn:
            if form_token is not None:
                seen = conn.execute(
                    "SELECT r.id, r.ticket FROM form_tokens t JOIN requests r "
                    "ON r.id = t.request_id WHERE t.token = ?",
                    (form_token,),
                ).fetchone()
                if seen is not None:
                    return Saved(id=str(seen["id"]), ticket=str(seen["ticket"]))
            check_headroom(conn, self.path.parent, self.max_pages)
            seq = int(self._meta("next_seq") or "1")
            number = int(self._meta("next_ticket") or "1")
            prefix = self._meta("ticket_prefix") or "A"
            now = self.clock()
            op_id = uuid7()
            try:
                op = CreateRequestOp.model_validate(
                    {
                        "op_id": op_id,
                        "seq": seq,
                        "type": "request.create",
                        "at": now,
                        "payload": {
                            "category": category,
                            "room": room,
                            "ticket": format_ticket(prefix, number),
                            "phone": phone or None,
                            "details": details or None,
                            "on_behalf": on_behalf,
                            "consent_version": consent_version,
                            "choice": choice or None,
                            "preferred_time": preferred_time or None,
                        },
                    }
                )
            except ValidationError as exc:
                raise _input_error(exc) from exc
            append_op(conn, op, now)
            p = op.payload
            conn.execute(
                "INSERT INTO requests (id, ticket, category, room, phone, details, on_behalf, "
                "consent_version, choice, preferred_time, created_at, updated_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    str(op_id),
                    p.ticket,
                    p.category,
                    p.room,
                    p.phone,
                    p.details,
                    int(p.on_behalf),
                    p.consent_version,
                    p.choice,
                    p.preferred_time,
                    now.isoformat(),
                    now.isoformat(),
                ),
            )
            set_meta(conn, "next_ticket", str(number + 1))
            if form_token is not None:
                conn.execute(
                    "INSERT INTO form_tokens (token, request_id, created_at) VALUES (?, ?, ?)",
                    (form_token, str(op_id), now.isoformat()),
                )
        return Saved(id=str(op_id), ticket=p.ticket)

    def check_in(self, room: str, form_token: str | None = None) -> CheckedIn:
        """Save a 报平安 for `room` and its outbox operation in one durable transaction.

        No request is made: no ticket, phone or words. A `form_token` seen before returns the
        check-in saved with it and saves nothing new (a double tap is one check-in).
        """
        conn = self._conn()
        if self._meta("device_id") is None:
            raise NotEnrolledError(
                "this kiosk is not enrolled yet; ask the community centre",
                "本机尚未登记，请联系社区服务中心",
            )
        if conn.execute("SELECT 1 FROM rooms WHERE code = ?", (room,)).fetchone() is None:
            raise InputError(
                "unknown_room", f"room {room!r} is not in this community's list", "没有找到这个房间"
            )
        with self._write() as conn:
            if form_token is not None:
                seen = conn.execute(
                    "SELECT id, room FROM checkins WHERE form_token = ?", (form_token,)
                ).fetchone()
                if seen is not None:
                    return CheckedIn(id=str(seen["id"]), room=str(seen["room"]))
            check_headroom(conn, self.path.parent, self.max_pages)
            now = self.clock()
            try:
                op = CheckinOp.model_validate(
                    {
                        "op_id": uuid7(),
                        "seq": int(self._meta("next_seq") or "1"),
                        "type": "checkin.create",
                        "at": now,
                        "payload": {"room": room},
                    }
                )
            except ValidationError as exc:
                raise _input_error(exc) from exc
            append_op(conn, op, now)
            conn.execute(
                "INSERT INTO checkins (id, room, created_at, form_token, updated_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (str(op.op_id), room, now.isoformat(), form_token, now.isoformat()),
            )
        return CheckedIn(id=str(op.op_id), room=room)

    def get_checkin(self, checkin_id: str) -> dict[str, Any] | None:
        """One 报平安 saved here, with its sync state (`queued`, `recorded`, `rejected`)."""
        row = self._conn().execute("SELECT * FROM checkins WHERE id = ?", (checkin_id,)).fetchone()
        return None if row is None else dict(row)

    def has_consent(self, room: str, version: str) -> bool:
        """Whether a request of `room` was saved with consent text `version`."""
        row = (
            self._conn()
            .execute(
                "SELECT 1 FROM requests WHERE room = ? AND consent_version = ? LIMIT 1",
                (room, version),
            )
            .fetchone()
        )
        return row is not None

    def cancel_request(self, request_id: str, reason: str | None = None, ask: bool = False) -> None:
        """Queue a cancellation of a request made here; with `ask`, one that staff decide.

        Without `ask` the server cancels at once while nobody is on the way yet, and otherwise
        records a request to cancel. A request whose cancellation is already queued or asked
        for is left as it is (checked inside the write, so two taps at once queue one).
        """
        with self._write() as conn:
            row = conn.execute(
                "SELECT cancel_requested FROM requests WHERE id = ? AND origin = 'kiosk'",
                (request_id,),
            ).fetchone()
            if row is None:  # a request made elsewhere is cancelled by the community
                raise InputError("unknown_request", "no such request on this kiosk", "没有这条求助")
            if row["cancel_requested"]:
                return
            check_headroom(conn, self.path.parent, self.max_pages)
            now = self.clock()
            try:
                op = CancelRequestOp.model_validate(
                    {
                        "op_id": uuid7(),
                        "seq": int(self._meta("next_seq") or "1"),
                        "type": "request.cancel",
                        "at": now,
                        "payload": {"request_id": request_id, "reason": reason, "ask": ask},
                    }
                )
            except ValidationError as exc:
                raise _input_error(exc) from exc
            append_op(conn, op, now)
            conn.execute(
                "UPDATE requests SET cancel_requested = 1, updated_at = ? WHERE id = ?",
                (now.isoformat(), request_id),
            )

    def get_request(self, request_id: str) -> dict[str, Any] | None:
        """One local request with its sync state."""
        row = self._conn().execute("SELECT * FROM requests WHERE id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        out = dict(row)
        out["on_behalf"] = bool(out["on_behalf"])
        out["cancel_requested"] = bool(out["cancel_requested"])
        out["synced"] = out["status"] != "queued"
        return out

    def by_ticket(self, ticket: str) -> dict[str, Any] | None:
        """The request this kiosk knows under `ticket` (the newest one, should two share it)."""
        row = (
            self._conn()
            .execute(
                "SELECT * FROM requests WHERE ticket = ? ORDER BY rowid DESC LIMIT 1", (ticket,)
            )
            .fetchone()
        )
        return None if row is None else dict(row)

    def cancellations(self, request_ids: list[str]) -> dict[str, str]:
        """The outbox state (pending, applied, rejected) of each request's latest cancellation."""
        wanted = set(request_ids)
        rows = self._conn().execute(
            "SELECT json_extract(body, '$.payload.request_id'), state FROM outbox "
            "WHERE type = 'request.cancel' ORDER BY seq"
        )
        return {str(rid): str(state) for rid, state in rows if rid in wanted}

    def requests_for_room(self, room: str, limit: int = 20) -> list[dict[str, Any]]:
        """The most recent requests of one room, made here or elsewhere, newest first by the
        order this kiosk saved or first learned of them.

        The rowid grows with every saved request whatever the clock says (a kiosk's clock can
        be years off, or set back), so the order never jumps.
        """
        rows = self._conn().execute(
            "SELECT * FROM requests WHERE room = ? ORDER BY rowid DESC LIMIT ?",
            (room, limit),
        )
        return [dict(r) for r in rows]


def _input_error(exc: ValidationError) -> InputError:
    first = exc.errors()[0]
    field = str(first["loc"][-1]) if first["loc"] else "value"
    too_long = first["type"] == "string_too_long"
    messages_zh = {
        "phone": "电话号码格式不对，请输入5到15位数字",
        "details": "说明文字太长了" if too_long else "说明文字里有无法保存的字符",
        "reason": "取消原因太长了" if too_long else "取消原因里有无法保存的字符",
        "room": "房间号格式不对",
        "preferred_time": "时间选项不对",
    }
    return InputError(
        f"invalid_{field}",
        f"{field}: {first['msg']}",
        messages_zh.get(field, "输入的内容不正确"),
    )
