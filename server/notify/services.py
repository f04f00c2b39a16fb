"""Configuring a community's notification channels, and telling them of a request's events.

`announce` is called inside the transaction that made the change (a dispatch, a request's
arrival, the overdue mark): it writes one `Notification` and one outbox message per channel,
so nothing leaves before that transaction commits and every message is tracked, retried with
backoff, and flagged when given up. A group message says the event, the building and the
category (and the ticket), never a resident's name, phone number or words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from server.audit import services as audit
from server.audit.actor import Actor
from server.communities.models import Building, Room
from server.dispatch.models import Team
from server.errors import InvalidInput
from server.extensions import db
from server.notify.models import CHANNEL_KINDS, EVENTS, Notification, NotifyChannel, outbox_kind
from server.notify.providers import aliyun_sms, dingtalk, robot_verdict, sms_verdict, wecom
from server.outbox import services as outbox
from server.outbox.models import OutboxMessage
from server.timeutil import utcnow

PHONE_LIST = re.compile(r"^\+?[0-9]{5,20}(,\+?[0-9]{5,20})*$")
SMS_ENDPOINT = "https://dysmsapi.aliyuncs.com/"


@dataclass(frozen=True)
class ChannelSpec:
    """A channel as entered on the console page or the CLI (empty strings: not given)."""

    kind: str
    name: str
    url: str
    secret: str = ""
    key_id: str = ""
    sign_name: str = ""
    template_code: str = ""
    phones: str = ""
    team_id: int | None = None


LABELS = {
    "name": _l("名称"),
    "url": _l("地址"),
    "secret": _l("密钥"),
    "key_id": "AccessKey ID",
    "sign_name": _l("短信签名"),
    "template_code": _l("模板编号"),
}


def _field(value: str, limit: int, field: str, required: bool = False) -> str | None:
    value = value.strip()
    label = LABELS[field]
    if required and not value:
        raise InvalidInput(_("%(field)s 不能为空", field=label), "missing", field=field)
    if len(value) > limit:
        raise InvalidInput(
            _("%(field)s 最多 %(limit)s 个字符", field=label, limit=limit), "too_long", field=field
        )
    return value or None


def add_channel(community_id: int, spec: ChannelSpec, actor: Actor) -> NotifyChannel:
    """A new channel of the community (of one of its teams when `team_id` is given), audited."""
    if spec.kind not in CHANNEL_KINDS:
        raise InvalidInput(_("未知的通知渠道：%(kind)s", kind=spec.kind), "bad_kind", field="kind")
    name = _field(spec.name, 100, "name", required=True)
    url = _field(spec.url or (SMS_ENDPOINT if spec.kind == "sms" else ""), 500, "url", True)
    if url is None or not url.startswith(("http://", "https://")):
        raise InvalidInput(_("地址须以 http:// 或 https:// 开头"), "bad_url", field="url")
    if spec.team_id is not None:
        team = db.session.get(Team, spec.team_id)
        if team is None or team.community_id != community_id:
            raise InvalidInput(_("请选择本社区的队伍"), "bad_team", field="team")
    channel = NotifyChannel(
        community_id=community_id,
        team_id=spec.team_id,
        kind=spec.kind,
        name=name,
        url=url,
        secret=_field(spec.secret, 200, "secret"),
        is_active=True,
    )
    if spec.kind == "sms":
        channel.key_id = _field(spec.key_id, 100, "key_id", required=True)
        channel.secret = _field(spec.secret, 200, "secret", required=True)
        channel.sign_name = _field(spec.sign_name, 50, "sign_name", required=True)
        channel.template_code = _field(spec.template_code, 50, "template_code", required=True)
        phones = re.sub(r"[\s，]+", ",", spec.phones.strip()).strip(",")
        if not PHONE_LIST.match(phones) or len(phones) > 300:
            raise InvalidInput(_("手机号码须为以逗号分隔的号码"), "bad_phones", field="phones")
        channel.phones = phones
    db.session.add(channel)
    db.session.flush()
    audit.record(
        actor,
        community_id,
        "create",
        f"notify channel {channel.id} ({channel.kind})",
        "notification channel configured",
    )
    return channel


def set_channel_active(channel: NotifyChannel, active: bool, actor: Actor) -> None:
    """Switch a channel on or off (off: no new notifications go to it), audited."""
    channel.is_active = active
    if active:
        channel.failed_at = None
    db.session.flush()
    audit.record(
        actor,
        channel.community_id,
        "change",
        f"notify channel {channel.id} {'on' if active else 'off'}",
        "notification channel switched",
    )


RETRY_WINDOW = timedelta(days=1)
"""How old a given-up notification may be to be sent again (older news would only mislead)."""


def replace_credentials(channel: NotifyChannel, url: str, secret: str, actor: Actor) -> None:
    """Put a channel's address or secret right (a robot re-created, a key rotated), audited;
    an empty field keeps what is stored."""
    new_url = _field(url, 500, "url")
    if new_url is not None:
        if not new_url.startswith(("http://", "https://")):
            raise InvalidInput(_("地址须以 http:// 或 https:// 开头"), "bad_url", field="url")
        channel.url = new_url
    new_secret = _field(secret, 200, "secret")
    if new_secret is not None:
        channel.secret = new_secret
    db.session.flush()
    changed = [name for name, v in (("url", new_url), ("secret", new_secret)) if v is not None]
    audit.record(
        actor, channel.community_id, "change",
        f"notify channel {channel.id} {'+'.join(changed) or 'nothing'} replaced",
        "notification channel credentials",
    )  # fmt: skip


def retry_failed(channel: NotifyChannel, actor: Actor) -> int:
    """Send again, once this transaction commits, the channel's notifications given up in the
    last day (after its address or secret was put right), audited; how many."""
    failed = list(
        db.session.execute(
            sa.select(Notification).where(
                Notification.channel_id == channel.id,
                Notification.status == "failed",
                Notification.created_at >= utcnow() - RETRY_WINDOW,
            )
        ).scalars()
    )
    for notification in failed:
        message = outbox.message_for(outbox_kind(channel.kind), notification.id)
        if message is not None:
            outbox.retry_now(message)
            notification.status = "pending"
    db.session.flush()
    audit.record(
        actor, channel.community_id, "change",
        f"notify channel {channel.id}: {len(failed)} failed notification(s) sent again",
        "notification channel retried",
    )  # fmt: skip
    return len(failed)


def mask(secret: str | None) -> str:
    """A credential as shown back: its last four characters, the rest hidden."""
    if not secret:
        return ""
    return "•" * 6 + secret[-4:] if len(secret) > 8 else "•" * 6


def masked_url(url: str) -> str:
    """A webhook address as shown back: scheme, host and path, the query's key masked."""
    base, _sep, query = url.partition("?")
    return f"{base}?{mask(query)}" if query else base


@dataclass(frozen=True)
class Occasion:
    """What happened to which request, in the words a group may read."""

    event: str
    request_id: int
    community_id: int
    ticket: str
    room_id: int
    category_name: str
    team_ids: tuple[int, ...] = ()
    """The teams whose own groups hear of it (the community's groups always do; a
    reassignment also reaches the teams' groups told of the request before)."""
    key: str = ""
    """Names this occurrence (`arrival`, the overdue mark's time, a dispatch's own id): telling
    the same occurrence twice breaks the unique `event_key`, the guard behind the callers' own
    (a push applied once, an overdue mark made by a conditional update)."""


def building_label(room_id: int) -> str:
    """'3号楼' for a room of building 3."""
    code = db.session.execute(
        sa.select(Building.code)
        .join(Room, Room.building_id == Building.id)
        .where(Room.id == room_id)
    ).scalar_one()
    with force_locale("zh"):
        return str(_("%(code)s号楼", code=code))


def compose(event: str, building: str, category: str, ticket: str) -> tuple[str, str]:
    """(title, markdown text) of a group message, in Chinese whatever the reader's language."""
    with force_locale("zh"):
        titles = {
            "dispatch": _("新派单"),
            "reassign": _("改派"),
            "emergency": _("紧急求助"),
            "overdue": _("超时未上门"),
        }
        asks = {
            "dispatch": _("请队长查看"),
            "reassign": _("请队长查看"),
            "emergency": _("请立即查看"),
            "overdue": _("请队长查看"),
        }
        title = titles[event]
        line = _(
            "%(building)s %(category)s，%(ask)s",
            building=building,
            category=category,
            ask=asks[event],
        )
        ticket_line = _("单号 %(ticket)s", ticket=ticket)
    return title, f"**{title}** {line}\n\n{ticket_line}"


def announce(occasion: Occasion) -> list[Notification]:
    """Tell every active channel concerned, once this transaction commits (none before)."""
    if occasion.event not in EVENTS:
        raise ValueError(f"unknown notification event {occasion.event!r}")
    team_ids: set[int | None] = set(occasion.team_ids)
    if occasion.event == "reassign":  # the teams that had it hear that it moved
        team_ids.update(
            db.session.execute(
                sa.select(NotifyChannel.team_id)
                .join(Notification, Notification.channel_id == NotifyChannel.id)
                .where(
                    Notification.request_id == occasion.request_id,
                    NotifyChannel.team_id.is_not(None),
                )
            ).scalars()
        )
    channels = list(
        db.session.execute(
            sa.select(NotifyChannel)
            .where(
                NotifyChannel.community_id == occasion.community_id,
                NotifyChannel.is_active,
                sa.or_(
                    NotifyChannel.team_id.is_(None),
                    NotifyChannel.team_id.in_(sorted(t for t in team_ids if t is not None)),
                ),
            )
            .order_by(NotifyChannel.id)
        ).scalars()
    )
    if not channels:
        return []
    building = building_label(occasion.room_id)
    title, text = compose(occasion.event, building, occasion.category_name, occasion.ticket)
    sent = []
    for channel in channels:
        key = f"{occasion.event}:{occasion.request_id}:{occasion.key}:{channel.id}"
        notification = Notification(
            community_id=occasion.community_id,
            request_id=occasion.request_id,
            channel_id=channel.id,
            channel=channel,
            event=occasion.event,
            event_key=key[:100],
            text=text[:300],
            status="pending",
            attempts=0,
        )
        db.session.add(notification)
        db.session.flush()
        body = {
            "title": title,
            "text": text,
            "variables": {"event": title, "building": building, "category": occasion.category_name},
        }
        outbox.enqueue(
            outbox_kind(channel.kind),
            f"notify:{channel.kind}:{channel.id}",
            body,
            f"linli-notify-{notification.id}",
            notification.id,
        )
        sent.append(notification)
    return sent


def _prepare(message: OutboxMessage) -> outbox.Outgoing:
    """The provider's request for this attempt, to the channel's current address."""
    notification = db.session.get_one(Notification, message.ref_id)
    channel = notification.channel
    body = message.body
    if channel.kind == "wecom":
        return wecom(channel.url, body["text"])
    if channel.kind == "dingtalk":
        return dingtalk(channel.url, channel.secret, body["title"], body["text"])
    return aliyun_sms(
        channel.url,
        channel.key_id or "",
        channel.secret or "",
        channel.phones or "",
        channel.sign_name or "",
        channel.template_code or "",
        body["variables"],
        message.idempotency_key,
    )


def _attempted(message: OutboxMessage, error: str | None) -> None:
    """Show an attempt's outcome on the notification; a given-up one flags its channel."""
    notification = db.session.get(Notification, message.ref_id)
    if notification is None:
        return
    notification.attempts = message.attempts
    notification.last_error = error
    channel = notification.channel
    if error is None:
        notification.status = "delivered"
        notification.delivered_at = message.delivered_at
        channel.failed_at = None
    elif message.next_attempt_at is None:
        notification.status = "failed"
        channel.failed_at = utcnow()
        channel.last_error = error
    else:
        notification.status = "pending"


# One outbox kind per channel kind: robots answer errcode 0, SendSms answers Code OK.
for _kind, _check in (("wecom", robot_verdict), ("dingtalk", robot_verdict), ("sms", sms_verdict)):
    outbox.register_kind(
        outbox_kind(_kind), outbox.Kind("NOTIFY", _attempted, prepare=_prepare, verdict=_check)
    )
