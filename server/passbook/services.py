"""The points passbook: postings, redemptions, codes, merchants and chain verification.

Every posting carries a posting key, unique in the ledger: posting again with the same key
returns the first entry and changes nothing (a retried form or job never counts twice). Each
volunteer's entries form a chain: entry n stores the hash of entry n-1 and its own hash over all
its fields, and the account stores the balance, the number of entries and the last hash, so an
edited, deleted or cut-off entry is found by `verify_chain()`. A balance never goes negative
(checked here, and by CHECK constraints in the database).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.exc import IntegrityError

from server.audit import services as audit
from server.audit.actor import Actor
from server.dbutil import hash_secret, insert_for
from server.errors import Conflict, InvalidInput, LinliError, NotFound
from server.extensions import db
from server.localtime import localtime
from server.passbook.models import (
    GENESIS,
    KINDS,
    LedgerEntry,
    Merchant,
    PassbookAccount,
    PassbookCheckpoint,
    RedemptionCode,
)
from server.timeutil import utcnow
from server.volunteers.models import ServiceRecord, Volunteer

MAX_POINTS = 100_000
"""Largest single posting: a typo of a few extra digits is refused rather than posted."""
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
"""No 0/O, 1/I/L: a code is read aloud or typed from a phone screen."""
CODE_LENGTH = 10
CODE_DAYS = 30
PROGRESS_EVERY = 1000


class InsufficientPoints(Conflict):
    """A redemption larger than the balance."""

    code = "insufficient_points"


@dataclass(frozen=True)
class Posting:
    """The entry a posting made, or found when the same posting key was used before."""

    entry: LedgerEntry
    replayed: bool


_HASHED_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
"""The fixed JSON form an entry is hashed in (one encoder: `json.dumps` with these options
builds a new one per call, a third of the hashing time of a full check)."""


def entry_hash(entry: LedgerEntry | sa.Row[*tuple[Any, ...]]) -> str:
    """SHA-256 over the entry's fields and the previous entry's hash, in a fixed JSON form."""
    at = entry.at.astimezone(UTC).isoformat(timespec="microseconds")
    body = _HASHED_JSON.encode(
        [
            entry.volunteer_id,
            entry.seq,
            entry.posting_key,
            entry.kind,
            entry.points,
            entry.balance_after,
            entry.reason,
            entry.service_record_id,
            entry.merchant_id,
            entry.actor,
            at,
            entry.prev_hash,
        ]
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _whole_points(points: object) -> int:
    if isinstance(points, bool) or not isinstance(points, int):
        raise InvalidInput(gettext("积分须为整数"), "bad_points")
    if not 0 < points <= MAX_POINTS:
        raise InvalidInput(gettext("积分须在 1 到 %(high)s 之间", high=MAX_POINTS), "bad_points")
    return points


def account(volunteer_id: int, *, lock: bool = False) -> PassbookAccount:
    """The volunteer's account, created empty on first use; `lock` serialises postings."""
    db.session.execute(
        insert_for(PassbookAccount)
        .values(
            volunteer_id=volunteer_id, balance=0, entries=0, head_hash=GENESIS, updated_at=utcnow()
        )
        .on_conflict_do_nothing(index_elements=["volunteer_id"])
    )
    query = sa.select(PassbookAccount).where(PassbookAccount.volunteer_id == volunteer_id)
    if lock:
        query = query.with_for_update()
    return db.session.execute(query.execution_options(populate_existing=True)).scalar_one()


def balance(volunteer_id: int) -> int:
    """The volunteer's current balance (0 before any posting)."""
    value = db.session.execute(
        sa.select(PassbookAccount.balance).where(PassbookAccount.volunteer_id == volunteer_id)
    ).scalar_one_or_none()
    return int(value or 0)


def _existing(posting_key: str) -> LedgerEntry | None:
    return db.session.execute(
        sa.select(LedgerEntry).where(LedgerEntry.posting_key == posting_key)
    ).scalar_one_or_none()


def _replay(found: LedgerEntry, volunteer_id: int, kind: str, points: int) -> Posting:
    if (found.volunteer_id, found.kind, found.points) != (volunteer_id, kind, points):
        raise Conflict(
            gettext("记账标识 %(key)s 已用于另一笔记账", key=repr(found.posting_key)), "key_reused"
        )
    return Posting(found, replayed=True)


def post(
    volunteer_id: int,
    kind: str,
    points: int,
    posting_key: str,
    actor: str,
    *,
    reason: str = "",
    service_record_id: int | None = None,
    merchant_id: int | None = None,
) -> Posting:
    """Append one entry (points signed: redemptions negative), once per posting key."""
    if kind not in KINDS:
        raise InvalidInput(
            gettext("类型须为以下之一：%(kinds)s", kinds=", ".join(KINDS)), "bad_kind"
        )
    if not posting_key or len(posting_key) > 120:
        raise InvalidInput(gettext("记账标识为 1 到 120 个字符"), "bad_key")
    signed = -_whole_points(-points) if kind == "redemption" else _whole_points(points)
    found = _existing(posting_key)
    if found is not None:
        return _replay(found, volunteer_id, kind, signed)
    acct = account(volunteer_id, lock=True)
    new_balance = acct.balance + signed
    if new_balance < 0:
        raise InsufficientPoints(
            gettext(
                "余额 %(balance)s 积分；不能兑换 %(points)s 积分",
                balance=acct.balance,
                points=-signed,
            ),
            balance=acct.balance,
        )
    entry = LedgerEntry(
        volunteer_id=volunteer_id,
        seq=acct.entries + 1,
        posting_key=posting_key,
        kind=kind,
        points=signed,
        balance_after=new_balance,
        reason=reason[:300],
        service_record_id=service_record_id,
        merchant_id=merchant_id,
        actor=actor[:100],
        at=utcnow(),
        prev_hash=acct.head_hash,
    )
    entry.hash = entry_hash(entry)
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError as exc:
        # A concurrent posting won the race: same key is a replay, same seq is a busy account.
        found = _existing(posting_key)
        if found is not None:
            return _replay(found, volunteer_id, kind, signed)
        raise Conflict(gettext("积分存折刚被改动；请再试一次"), "busy") from exc
    acct.balance = new_balance
    acct.entries = entry.seq
    acct.head_hash = entry.hash
    acct.updated_at = entry.at
    db.session.flush()
    return Posting(entry, replayed=False)


def points_for(minutes: int, points_per_hour: int) -> int:
    """Points for approved minutes: floor(minutes * rate / 60)."""
    return minutes * points_per_hour // 60


def post_hours(record: ServiceRecord, points_per_hour: int, actor: Actor) -> LedgerEntry | None:
    """Post the points of an approved service record (None when they round down to 0)."""
    if record.status != "approved" or record.minutes is None:
        raise Conflict(gettext("记录 #%(id)s 未通过审核", id=record.id), "not_approved")
    points = points_for(record.minutes, points_per_hour)
    if points <= 0:
        return None
    hours, minutes = divmod(record.minutes, 60)
    source = " (added by hand)" if record.source == "manual" else ""
    reason = f"{hours} h {minutes:02d} min × {points_per_hour} points/h{source}: {record.content}"
    return post(
        record.volunteer_id,
        "hours",
        points,
        f"hours:{record.id}",
        actor.label,
        reason=reason,
        service_record_id=record.id,
    ).entry


def award_bonus(volunteer: Volunteer, points: int, reason: str, key: str, actor: Actor) -> Posting:
    """Bonus points, with the reason they were given."""
    reason = reason.strip()
    if not reason:
        raise InvalidInput(gettext("请写奖励的原因"), "missing")
    if len(reason) > 300:
        raise InvalidInput(gettext("原因：最多 300 个字符"), "too_long")
    return post(volunteer.id, "bonus", points, f"bonus:{key}", actor.label, reason=reason)


ITEM_MAX = 190
"""What was redeemed; the ledger's reason holds `merchant name: item (code)` in 300."""


def _item(item: str | None) -> str:
    item = (item or "").strip()
    if not item or len(item) > ITEM_MAX:
        raise InvalidInput(gettext("请写兑换了什么（1 到 %(n)s 个字符）", n=ITEM_MAX), "missing")
    return item


def redeem(
    volunteer: Volunteer, merchant: Merchant, points: int, item: str | None, key: str, actor: Actor
) -> Posting:
    """Redeem points at a merchant (recorded on the merchant page)."""
    if merchant.community_id != volunteer.community_id or not merchant.is_active:
        raise InvalidInput(gettext("这个商家不服务这位志愿者的社区"), "bad_merchant")
    return post(
        volunteer.id,
        "redemption",
        -_whole_points(points),
        f"redeem:{key}",
        actor.label,
        reason=f"{merchant.name}: {_item(item)}",
        merchant_id=merchant.id,
    )


def normalise_code(text: str) -> str:
    """A code as typed (spaces, dashes, lower case) in its stored form."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def issue_code(
    volunteer: Volunteer, max_points: int, actor: Actor, days: int = CODE_DAYS
) -> tuple[RedemptionCode, str]:
    """A one-time code for up to `max_points`, valid `days`; the code is shown only now."""
    if not volunteer.is_active:
        raise Conflict(gettext("%(name)s 不是在册志愿者", name=volunteer.name), "inactive")
    max_points = _whole_points(max_points)
    if max_points > balance(volunteer.id):
        raise InsufficientPoints(
            gettext(
                "余额 %(balance)s 积分，少于 %(points)s",
                balance=balance(volunteer.id),
                points=max_points,
            )
        )
    text = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    code = RedemptionCode(
        volunteer_id=volunteer.id,
        code_hash=hash_secret(text),
        max_points=max_points,
        issued_by=actor.label,
        expires_at=utcnow() + timedelta(days=days),
    )
    db.session.add(code)
    db.session.flush()
    return code, f"{text[:5]}-{text[5:]}"


def _used(code: RedemptionCode) -> Conflict:
    where = db.session.get(Merchant, code.merchant_id) if code.merchant_id else None
    at = localtime(code.used_at) if code.used_at else None
    if at and where:
        used = gettext("这个兑换码已于 %(at)s 在 %(merchant)s 用过", at=at, merchant=where.name)
    elif at:
        used = gettext("这个兑换码已于 %(at)s 用过", at=at)
    elif where:
        used = gettext("这个兑换码已在 %(merchant)s 用过", merchant=where.name)
    else:
        used = gettext("这个兑换码已经用过")
    return Conflict(used, "code_used")


def _spend(code: RedemptionCode, merchant: Merchant) -> bool:
    """Mark the code used in one conditional UPDATE: of two merchants, the database picks one."""
    now = utcnow()
    spent = db.session.execute(
        sa.update(RedemptionCode)
        .where(
            RedemptionCode.id == code.id,
            RedemptionCode.used_at.is_(None),
            RedemptionCode.expires_at >= now,
        )
        .values(used_at=now, merchant_id=merchant.id)
        .returning(RedemptionCode.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    db.session.refresh(code)
    return spent is not None


def redeem_code(
    merchant: Merchant, code_text: str, points: int, item: str | None, actor: Actor
) -> Posting:
    """Redeem with a code the volunteer shows: once, before it expires, up to its limit.

    The code is spent by one conditional UPDATE before the posting, in the same transaction:
    when two merchants enter it at once, exactly one UPDATE matches (the other waits for its
    commit, on SQLite as on PostgreSQL) and the other is told the code was used.
    """
    code = db.session.execute(
        sa.select(RedemptionCode).where(
            RedemptionCode.code_hash == hash_secret(normalise_code(code_text))
        )
    ).scalar_one_or_none()
    if code is None:
        raise NotFound(gettext("没有这个兑换码；请核对字母"), "unknown_code")
    volunteer = db.session.get_one(Volunteer, code.volunteer_id)
    if volunteer.community_id != merchant.community_id or not merchant.is_active:
        raise NotFound(gettext("没有这个兑换码；请核对字母"), "unknown_code")
    if code.used_at is not None:
        raise _used(code)
    if code.expires_at < utcnow():
        raise Conflict(
            gettext("这个兑换码已于 %(day)s 过期", day=localtime(code.expires_at, "%Y-%m-%d")),
            "code_expired",
        )
    points = _whole_points(points)
    if points > code.max_points:
        raise InvalidInput(
            gettext("这个兑换码最多兑换 %(points)s 积分", points=code.max_points), "over_limit"
        )
    reason = f"{merchant.name}: {_item(item)} (code)"
    if not _spend(code, merchant):
        if code.used_at is not None:
            raise _used(code)
        raise Conflict(
            gettext("这个兑换码已于 %(day)s 过期", day=localtime(code.expires_at, "%Y-%m-%d")),
            "code_expired",
        )
    posting = post(
        volunteer.id,
        "redemption",
        -points,
        f"code:{code.id}",
        actor.label,
        reason=reason,
        merchant_id=merchant.id,
    )
    code.used_at = posting.entry.at
    code.entry_id = posting.entry.id
    db.session.flush()
    return posting


def register_merchant(community_id: int, name: str, address: str | None) -> tuple[Merchant, str]:
    """A merchant and the secret key of its page (shown only now)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput(gettext("商家名称为 1 到 100 个字符"), "bad_name")
    address = (address or "").strip()
    if len(address) > 200:
        raise InvalidInput(gettext("地址：最多 200 个字符"), "too_long")
    exists = sa.select(Merchant.id).where(
        Merchant.community_id == community_id, Merchant.name == name
    )
    if db.session.execute(exists).first():
        raise Conflict(gettext("商家 %(name)s 已登记", name=repr(name)), "exists")
    key = secrets.token_urlsafe(24)
    merchant = Merchant(
        community_id=community_id,
        name=name,
        address=address,
        key_hash=hash_secret(key),
    )
    db.session.add(merchant)
    db.session.flush()
    return merchant, key


def _audit_merchant(merchant: Merchant, what: str, actor: Actor, why: str) -> None:
    audit.record(actor, merchant.community_id, "change", f"merchant {merchant.name}: {what}", why)


def deactivate_merchant(merchant: Merchant, actor: Actor, why: str) -> None:
    """Close a merchant: its page key stops working and nothing more is redeemed there
    (audited; its past redemptions stay in the ledger)."""
    if not merchant.is_active:
        raise Conflict(gettext("商家 %(name)s 已经停用", name=repr(merchant.name)), "inactive")
    merchant.is_active = False
    db.session.flush()
    _audit_merchant(merchant, "deactivated", actor, why)


def rotate_merchant_key(merchant: Merchant, actor: Actor, why: str) -> str:
    """A new page key for the merchant (returned once); the old one stops working (audited)."""
    if not merchant.is_active:
        raise Conflict(gettext("商家 %(name)s 已停用", name=repr(merchant.name)), "inactive")
    key = secrets.token_urlsafe(24)
    merchant.key_hash = hash_secret(key)
    db.session.flush()
    _audit_merchant(merchant, "page key rotated", actor, why)
    return key


def merchant_named(community_id: int, name: str) -> Merchant:
    """A community's merchant by name, or `NotFound`."""
    merchant = db.session.execute(
        sa.select(Merchant).where(Merchant.community_id == community_id, Merchant.name == name)
    ).scalar_one_or_none()
    if merchant is None:
        raise NotFound(gettext("本社区没有名为 %(name)s 的商家", name=repr(name)))
    return merchant


def merchant_by_key(key: str) -> Merchant:
    """The active merchant whose page key this is, or `NotFound`."""
    merchant = db.session.execute(
        sa.select(Merchant).where(Merchant.key_hash == hash_secret(key), Merchant.is_active)
    ).scalar_one_or_none()
    if merchant is None:
        raise NotFound(gettext("没有这个商家页面"))
    return merchant


STATEMENT_PAGE = 100
"""Passbook entries shown per page (the latest first page; earlier ones a link away)."""


def statement(volunteer_id: int, before: int | None = None) -> tuple[list[LedgerEntry], int | None]:
    """One page of the volunteer's entries, oldest first: the latest STATEMENT_PAGE, or those
    before entry `before`; and the seq to pass as `before` for the page of earlier entries
    (None: this page starts at the first). A keyset on (volunteer_id, seq), the ledger's
    unique key, so a page reads what it shows however long the passbook."""
    stmt = sa.select(LedgerEntry).where(LedgerEntry.volunteer_id == volunteer_id)
    if before is not None:
        stmt = stmt.where(LedgerEntry.seq < before)
    found = list(
        db.session.execute(
            stmt.order_by(LedgerEntry.seq.desc()).limit(STATEMENT_PAGE + 1)
        ).scalars()
    )
    page = found[:STATEMENT_PAGE][::-1]
    return page, page[0].seq if len(found) > STATEMENT_PAGE else None


# --- verifying the chains -----------------------------------------------------------------------

ENTRY_FIELDS = (
    LedgerEntry.id,
    LedgerEntry.volunteer_id,
    LedgerEntry.seq,
    LedgerEntry.posting_key,
    LedgerEntry.kind,
    LedgerEntry.points,
    LedgerEntry.balance_after,
    LedgerEntry.reason,
    LedgerEntry.service_record_id,
    LedgerEntry.merchant_id,
    LedgerEntry.actor,
    LedgerEntry.at,
    LedgerEntry.prev_hash,
    LedgerEntry.hash,
)
"""An entry's columns as plain rows: verifying reads hundreds of thousands, and ORM objects
(with their joined merchant) cost several times the hashing."""

ACCOUNT_FIELDS = (
    PassbookAccount.volunteer_id.label("account"),
    PassbookAccount.entries.label("account_entries"),
    PassbookAccount.balance.label("account_balance"),
    PassbookAccount.head_hash.label("account_head"),
)


@dataclass
class _Chain:
    """One volunteer's chain as it is walked in order: the entry it has got to, and the
    checkpoint (the entry verified before, whose hash must not have changed since)."""

    volunteer_id: int
    checkpoint_seq: int = 0
    checkpoint_hash: str = GENESIS
    seq: int = 0
    hash: str = GENESIS
    balance: int = 0

    def _where(self, entry: sa.Row[*tuple[Any, ...]]) -> str:
        return f"volunteer {self.volunteer_id} entry {entry.seq} (id {entry.id})"

    def _checkpoint_missing(self) -> str:
        vid, seq = self.volunteer_id, self.checkpoint_seq
        return f"volunteer {vid}: entry {seq}, verified before, is missing"

    def start_at_checkpoint(self, entry: sa.Row[*tuple[Any, ...]] | None) -> list[str]:
        """Take up the walk at the checkpoint entry: it must be the one verified, unchanged."""
        problems = []
        if entry is None or entry.seq != self.checkpoint_seq:
            return [self._checkpoint_missing()]
        if entry.hash != self.checkpoint_hash:
            problems.append(f"{self._where(entry)}: its hash changed since it was verified")
        if entry.hash != entry_hash(entry):
            problems.append(f"{self._where(entry)}: its content does not match its hash (edited)")
        self.seq, self.hash, self.balance = entry.seq, entry.hash, entry.balance_after
        return problems

    def follow(self, entry: sa.Row[*tuple[Any, ...]]) -> list[str]:
        """The problems of the next entry (sequence, link, hash, balance); the walk moves on."""
        problems = []
        if entry.seq != self.seq + 1:
            problems.append(f"expected entry {self.seq + 1}; entries are missing")
        if entry.prev_hash != self.hash:
            problems.append("does not link to the entry before it")
        if entry.hash != entry_hash(entry):
            problems.append("its content does not match its hash (edited)")
        if entry.balance_after != self.balance + entry.points or entry.balance_after < 0:
            problems.append(f"balance {entry.balance_after} != {self.balance} + points")
        if entry.seq == self.checkpoint_seq and entry.hash != self.checkpoint_hash:
            problems.append("its hash changed since it was verified")
        self.seq, self.hash, self.balance = entry.seq, entry.hash, entry.balance_after
        return [f"{self._where(entry)}: {problem}" for problem in problems]

    def end(self, account: sa.Row[*tuple[Any, ...]]) -> list[str]:
        """The problems of the account (entries, balance, head) against the walked chain."""
        vid = self.volunteer_id
        problems = []
        if self.checkpoint_seq > self.seq:
            problems.append(self._checkpoint_missing())
        if account.account_entries != self.seq:
            problems.append(
                f"volunteer {vid}: account says {account.account_entries} entries, "
                f"the ledger ends at entry {self.seq}"
            )
        if account.account_balance != self.balance:
            problems.append(
                f"volunteer {vid}: account balance {account.account_balance} "
                f"!= ledger {self.balance}"
            )
        if account.account_head != self.hash:
            problems.append(f"volunteer {vid}: the last entry is not the account's head")
        return problems


@dataclass
class ChainReport:
    """What `check_chain` checked, every problem it found, and where each intact chain ends."""

    accounts: int = 0
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    heads: dict[int, tuple[int, str]] = field(default_factory=dict)
    """Volunteer id: (seq, hash) of the last entry of each chain found intact."""
    started_at: datetime = field(default_factory=utcnow)

    @property
    def ok(self) -> bool:
        """True when every chain is intact."""
        return not self.problems

    def __str__(self) -> str:
        return f"{self.accounts} accounts, {self.entries} entries"


class ChainBroken(LinliError):
    """`verify_chain` found an edited, deleted or missing entry; `report` lists every problem."""

    status = 500
    code = "chain_broken"

    def __init__(self, report: ChainReport) -> None:
        super().__init__(
            f"the passbook chain is NOT intact ({report}): {len(report.problems)} problems, "
            f"first: {report.problems[0]}"
        )
        self.report = report


def verify_chain(
    volunteer_id: int | None = None, progress: Callable[[int], object] | None = None
) -> ChainReport:
    """Check every chain (or one volunteer's) in full, move the intact ones' checkpoints
    forward, and raise `ChainBroken` unless all are intact.

    The report says how much was checked (`str(report)`: "N accounts, M entries"); the caller
    commits (the intact chains' checkpoints hold even when another chain is broken).
    """
    report = check_chain(volunteer_id, progress)
    record_checkpoints(report)
    if not report.ok:
        raise ChainBroken(report)
    return report


def check_chain(
    volunteer_id: int | None = None, progress: Callable[[int], object] | None = None
) -> ChainReport:
    """Recompute every chain (or one volunteer's): hashes, links, sequence, balances, the
    account's head, and that the entry of each checkpoint still has the hash verified.

    Never raises for a broken chain: the report lists the problems. Each account is read with
    its entries in one statement (one snapshot), so a posting made meanwhile is no false
    alarm. `progress`, when given, is called with the number of entries checked since its
    last call.
    """
    report = ChainReport()
    stream = (
        sa.select(
            *ACCOUNT_FIELDS,
            PassbookCheckpoint.seq.label("checkpoint_seq"),
            PassbookCheckpoint.hash.label("checkpoint_hash"),
            *ENTRY_FIELDS,
        )
        .outerjoin(
            PassbookCheckpoint, PassbookCheckpoint.volunteer_id == PassbookAccount.volunteer_id
        )
        .outerjoin(LedgerEntry, LedgerEntry.volunteer_id == PassbookAccount.volunteer_id)
        .order_by(PassbookAccount.volunteer_id, LedgerEntry.seq)
    )
    orphans = (
        sa.select(LedgerEntry.volunteer_id)
        .where(~sa.exists().where(PassbookAccount.volunteer_id == LedgerEntry.volunteer_id))
        .group_by(LedgerEntry.volunteer_id)
    )
    if volunteer_id is not None:
        stream = stream.where(PassbookAccount.volunteer_id == volunteer_id)
        orphans = orphans.where(LedgerEntry.volunteer_id == volunteer_id)
    # On the session's connection: the same transaction, without the ORM's handling of rows.
    rows = db.session.connection().execute(stream.execution_options(yield_per=2000))
    for vid, group in itertools.groupby(rows, key=lambda row: row.account):
        report.accounts += 1
        first = next(group)
        chain = _Chain(vid, first.checkpoint_seq or 0, first.checkpoint_hash or GENESIS)
        problems: list[str] = []
        for row in itertools.chain([first], group):
            if row.seq is None:  # an account without entries: one row, its entry all NULL
                continue
            problems += chain.follow(row)
            report.entries += 1
            if progress is not None and report.entries % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
        problems += chain.end(first)
        report.problems += problems
        if not problems and chain.seq:
            report.heads[vid] = (chain.seq, chain.hash)
    for vid in db.session.execute(orphans).scalars():
        report.problems.append(f"volunteer {vid}: entries without an account")
    if progress is not None:
        progress(report.entries % PROGRESS_EVERY)
    return report


def record_checkpoints(report: ChainReport) -> None:
    """Move each chain `report` found intact to a checkpoint at its last entry, only forward:
    a check that read an older ledger (it started first, or a posting raced it) never moves
    back a checkpoint another check set further on."""
    if not report.heads:
        return
    upsert = insert_for(PassbookCheckpoint)
    newer = upsert.excluded
    upsert = upsert.on_conflict_do_update(
        index_elements=["volunteer_id"],
        set_={"seq": newer.seq, "hash": newer.hash, "verified_at": newer.verified_at},
        where=sa.or_(
            PassbookCheckpoint.seq < newer.seq,
            sa.and_(
                PassbookCheckpoint.seq == newer.seq,
                PassbookCheckpoint.verified_at < newer.verified_at,
            ),
        ),
    )
    db.session.execute(
        upsert,
        [
            {"volunteer_id": vid, "seq": seq, "hash": head, "verified_at": report.started_at}
            for vid, (seq, head) in report.heads.items()
        ],
    )


@dataclass(frozen=True)
class RecentCheck:
    """What the passbook page checked: entries 1 to `verified_seq` were verified in full at
    `verified_at` (0 and None: no checkpoint, the whole chain was checked now), and the
    `checked` entries after them now; `ok` when what was checked now is intact."""

    ok: bool
    checked: int
    verified_seq: int = 0
    verified_at: datetime | None = None


def check_recent(volunteer_id: int) -> RecentCheck:
    """Check the volunteer's chain from its checkpoint on: the checkpoint entry against the
    hash verified then, the entries after it, and the account's count, balance and head.

    The cost follows the entries posted since the last full check (the nightly job's), not
    the length of the passbook. Without a checkpoint the whole chain is checked, and when it
    is intact a checkpoint is recorded, so the next view checks only what comes after.
    """
    started = utcnow()
    checkpoint = db.session.get(PassbookCheckpoint, volunteer_id)
    chain = _Chain(volunteer_id)
    if checkpoint is not None:
        chain.checkpoint_seq, chain.checkpoint_hash = checkpoint.seq, checkpoint.hash
    rows = db.session.execute(
        sa.select(*ACCOUNT_FIELDS, *ENTRY_FIELDS)
        .outerjoin(
            LedgerEntry,
            sa.and_(
                LedgerEntry.volunteer_id == PassbookAccount.volunteer_id,
                LedgerEntry.seq >= chain.checkpoint_seq,
            ),
        )
        .where(PassbookAccount.volunteer_id == volunteer_id)
        .order_by(LedgerEntry.seq)
    ).all()
    if not rows:
        orphan = sa.select(LedgerEntry.id).where(LedgerEntry.volunteer_id == volunteer_id)
        return RecentCheck(ok=db.session.execute(orphan.limit(1)).first() is None, checked=0)
    entries = [row for row in rows if row.seq is not None]
    problems = []
    if checkpoint is not None:
        problems += chain.start_at_checkpoint(entries.pop(0) if entries else None)
    for entry in entries:
        problems += chain.follow(entry)
    problems += chain.end(rows[0])
    if checkpoint is None:
        if not problems and chain.seq:
            heads = {volunteer_id: (chain.seq, chain.hash)}
            record_checkpoints(ChainReport(heads=heads, started_at=started))
        return RecentCheck(ok=not problems, checked=len(entries))
    return RecentCheck(
        ok=not problems,
        checked=len(entries),
        verified_seq=checkpoint.seq,
        verified_at=checkpoint.verified_at,
    )
