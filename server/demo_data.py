"""Fixed-seed demo data for the three pilot communities: people, teams, a few weeks of work.

Everything goes through the same services the console uses, so the demo shows real
timelines, passbooks and reports; only the event times are then spread over past weeks.
Residents, volunteers and phone numbers are fictional.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from server.audit.actor import Actor
from server.dispatch.models import Agency, Team
from server.extensions import db
from server.requests import services as life
from server.requests.models import Category, HelpRequest, RequestEvent
from server.timeutil import utcnow
from sync import statuses
from sync.choices import DEFAULT_CHOICES
from sync.messages import OTHER_CHOICE, PREFERRED_TIMES

DEMO_PASSWORD = "linli-demo-2026"  # noqa: S105  (printed to the demo user on purpose)
"""Password of every demo user (at least 12 characters, as the console requires)."""

TEAMS = {
    "lanqiao": [
        ("小蜜蜂维修队", ["electrical", "plumbing", "appliance"], "水电维修"),
        ("帮帮团", ["errands", "meals", "other"], "代买代办"),
        ("健康使者团", ["health", "company"], "测血压"),
    ],
    "feicui": [
        ("红马甲维修队", ["electrical", "plumbing", "appliance"], "家电维修"),
        ("暖心助餐队", ["meals", "errands"], "送餐"),
        ("银龄陪伴团", ["company", "health", "other"], "陪伴聊天"),
    ],
    "beiyuan": [
        ("北苑啄木鸟", ["electrical", "plumbing", "appliance"], "电工"),
        ("邻里帮帮", ["errands", "meals", "company", "other"], "跑腿"),
        ("健康小屋", ["health"], "健康咨询"),
    ],
}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = [
    "秀英",
    "桂兰",
    "建国",
    "淑珍",
    "德福",
    "玉梅",
    "振华",
    "凤芝",
    "志强",
    "秀珍",
    "长顺",
    "玉兰",
]
WORDS = {
    "electrical": ["客厅的灯不亮了", "插座冒火花，不敢用", "厨房的灯一闪一闪的"],
    "plumbing": ["卫生间水管漏水", "暖气片不热", "下水道堵了"],
    "appliance": ["电视没有声音", "冰箱不制冷了", "洗衣机不转"],
    "health": ["想量一下血压", "最近头晕，想请人看看", "需要帮忙预约体检"],
    "meals": ["这周想订助餐", "腿不方便，想请人送饭"],
    "company": ["一个人在家闷，想有人聊聊天", "想请人陪我去公园走走"],
    "errands": ["帮忙去药店买降压药", "帮忙交一下水电费"],
    "emergency": ["摔倒了，起不来", "闻到煤气味"],
    "other": ["想问问社区活动的时间", "窗户关不上"],
}
TARGETS: list[statuses.RequestStatus] = [
    "received",
    "received",
    "triaged",
    "dispatched",
    "accepted",
    "on_site",
    "completed",
    "followed_up",
    "closed_fixed",
    "closed_fixed",
    "closed_fixed",
    "closed_not_fixed",
    "escalated",
    "external_feedback",
    "cancelled",
    "duplicate",
    "reopened",
]
"""Where the demo's requests end up (some more often than others); every status at least once."""


@dataclass(frozen=True)
class DemoLogin:
    """A demo user to print."""

    username: str
    role: str
    communities: str


def _phone(rng: random.Random) -> str:
    return "13" + "".join(rng.choice("0123456789") for _ in range(9))


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def seed_people(slugs: list[str], rng: random.Random) -> list[DemoLogin]:
    """Users of every role, teams, volunteers, merchants, agencies and residents."""
    from server.auth.services import create_user
    from server.communities.models import Building, Community, Room
    from server.dispatch.services import create_agency, create_team, set_team_lead
    from server.field.services import add_suggested_words, set_captain_buildings
    from server.passbook.services import register_merchant
    from server.people.services import ProfileInput, add_consent, create_resident
    from server.volunteers.imports import ImportRow
    from server.volunteers.services import add_member, create_volunteer

    logins = [DemoLogin("admin", "admin", "all")]
    create_user("admin", DEMO_PASSWORD, "admin", [], "管理员", all_communities=True)
    who = Actor("demo")
    for slug in slugs:
        community = db.session.execute(
            sa.select(Community).where(Community.slug == slug)
        ).scalar_one()
        for role, prefix, label in (
            ("social_worker", "sw", "社工"),
            ("team_lead", "lead", "队长"),
            ("viewer", "viewer", "观察员"),
        ):
            username = f"{prefix}_{slug}"
            create_user(username, DEMO_PASSWORD, role, [slug], f"{label}{_name(rng)}")
            logins.append(DemoLogin(username, role, slug))
        line = 0
        for index, (team_name, categories, skill) in enumerate(TEAMS[slug]):
            team = create_team(slug, team_name, categories)
            if index == 0:
                set_team_lead(team, f"lead_{slug}")
            for member in range(4):
                line += 1
                volunteer = create_volunteer(
                    community,
                    ImportRow(
                        line=line,
                        name=_name(rng),
                        phone=_phone(rng),
                        gender=rng.choice(["男", "女"]),
                        birth_year=rng.randint(1950, 2002),
                        skills=(skill,),
                        availability=rng.choice(["周末", "工作日晚上", "随时"]),
                    ),
                )
                add_member(team, volunteer, is_lead=member == 0)
                if index == 0 and member == 1:  # 楼长 of the first building
                    first = db.session.execute(
                        sa.select(Building.code)
                        .where(Building.community_id == community.id)
                        .order_by(Building.id)
                        .limit(1)
                    ).scalar_one_or_none()
                    set_captain_buildings(volunteer, [first] if first else [], who)
        add_suggested_words(community.id, who)
        register_merchant(community.id, f"{community.name.split()[-1]}便民超市", "社区东门")
        create_agency(slug, "区供电所", "department", "http://127.0.0.1:9/linli-demo-agency")
        rooms = list(
            db.session.execute(
                sa.select(Room.code).where(Room.community_id == community.id).order_by(Room.id)
            ).scalars()
        )
        for room in rng.sample(rooms, min(15, len(rooms))):
            resident = create_resident(
                community.id,
                ProfileInput(
                    room_code=room,
                    name=_name(rng),
                    phone=_phone(rng),
                    birth_year=rng.randint(1934, 1956),
                    is_living_alone=rng.random() < 0.45,
                    mobility=rng.choice(["independent", "independent", "walking_aid"]),
                    emergency_contact_name=_name(rng),
                    emergency_contact_phone=_phone(rng),
                ),
                who,
                "demo data",
            )
            if rng.random() < 0.5:
                add_consent(resident, "health", "health-consent-v1", who)
    return logins


DEMO_CHANNELS = ("phone", "walk_in", "phone", "building_captain", "hotline", "phone")
"""How the demo's requests came in (they are made here, not at a kiosk)."""


def seed_requests(slugs: list[str], rng: random.Random, per_community: int = 24) -> int:
    """A few weeks of requests, every community's walked through the lifecycle to every state."""
    from server.communities.models import Community
    from server.people.models import Resident
    from server.volunteers.models import TeamMember, Volunteer
    from server.volunteers.services import approve, record_from_job
    from sync.ids import uuid7

    categories = {c.code: c for c in db.session.execute(sa.select(Category)).scalars()}
    worker = Actor("社工 demo")
    made = 0
    now = utcnow()
    for slug in slugs:
        community = db.session.execute(
            sa.select(Community).where(Community.slug == slug)
        ).scalar_one()
        residents = list(
            db.session.execute(
                sa.select(Resident).where(Resident.community_id == community.id)
            ).scalars()
        )
        teams = list(
            db.session.execute(sa.select(Team).where(Team.community_id == community.id)).scalars()
        )
        agency = db.session.execute(
            sa.select(Agency).where(Agency.community_id == community.id)
        ).scalar_one()
        previous: HelpRequest | None = None
        for n in range(per_community):
            resident = rng.choice(residents)
            code = rng.choice([c for c in WORDS if c != "emergency"] * 6 + ["emergency"])
            received = now - timedelta(days=rng.uniform(0.2, 21))
            # What is wrong and when, taken in turn (not drawn: the demo's other draws stay).
            said = [c for c, _, _ in DEFAULT_CHOICES.get(code, ())]
            said += [OTHER_CHOICE] if said else []
            req = HelpRequest(
                client_id=uuid7(),
                community_id=community.id,
                kiosk_id=None,
                category_id=categories[code].id,
                room_id=resident.room_id,
                ticket=life.next_staff_ticket(community.id),
                channel=DEMO_CHANNELS[n % len(DEMO_CHANNELS)],
                phone=resident.phone,
                details=rng.choice(WORDS[code]),
                is_on_behalf=rng.random() < 0.2,
                choice_code=said[n % len(said)] if said and n % 4 else None,
                preferred_time=(*PREFERRED_TIMES, None)[n % 5],
                status="received",
                is_urgent=categories[code].is_urgent,
                is_cancel_requested=False,
                device_created_at=received,
                received_at=received,
                updated_at=received,
            )
            db.session.add(req)
            db.session.flush()
            db.session.add(
                RequestEvent(request_id=req.id, at=received, actor="demo", to_status="received")
            )
            target = TARGETS[n % len(TARGETS)]
            team = next((t for t in teams if code in t.category_codes), teams[0])
            _walk(req, target, team, agency, previous, worker, categories[code], rng)
            if req.status in statuses.DONE:
                member = db.session.execute(
                    sa.select(Volunteer)
                    .join(TeamMember, TeamMember.volunteer_id == Volunteer.id)
                    .where(TeamMember.team_id == team.id)
                    .limit(1)
                ).scalar_one()
                record = record_from_job(req, member, Actor("demo"))
                if rng.random() < 0.8:
                    approve(record, Actor("demo"), 10)
            _spread(req, rng)
            if req.status not in statuses.FINAL:
                previous = req
            made += 1
    return made


def _walk(
    req: HelpRequest,
    target: str,
    team: Team,
    agency: Agency,
    previous: HelpRequest | None,
    worker: Actor,
    category: Category,
    rng: random.Random,
) -> None:
    """Take a request from received to `target` through the lifecycle services."""
    lead = Actor("队长 demo")
    if target == "received":
        return
    if target == "cancelled":
        life.cancel(req, worker, "老人说已经自己处理好了")
        return
    life.triage(req, worker, category, "normal", None)
    if target == "triaged":
        return
    if target in ("escalated", "external_feedback"):
        life.escalate(req, worker, agency, "需要供电所检修线路")
        if target == "external_feedback":
            life.record_external_feedback(req, worker, "供电所已派人检修")
        return
    if target == "duplicate":
        if previous is not None and previous.status not in statuses.FINAL:
            life.merge_duplicate(req, previous, worker, "同一件事")
        return
    steps: list[tuple[str, Callable[[], None]]] = [
        ("dispatched", lambda: life.dispatch(req, worker, team, None, None)),
        ("accepted", lambda: life.accept(req, lead)),
        ("on_site", lambda: life.arrive(req, lead)),
        ("completed", lambda: life.complete(req, lead, "已处理", rng.choice([0.5, 1.0, 2.0]))),
        (
            "followed_up",
            lambda: life.follow_up(
                req,
                worker,
                "not_fixed" if target == "closed_not_fixed" else "fixed",
                rng.randint(3, 5),
                "电话回访",
            ),
        ),
        ("closed", lambda: life.close(req, worker, None)),
    ]
    last = "closed" if target.startswith("closed_") or target == "reopened" else target
    for name, step in steps:
        step()
        if name == last:
            break
    if target == "reopened":
        life.reopen(req, worker, "老人说灯又不亮了")


def _spread(req: HelpRequest, rng: random.Random) -> None:
    """Spread the request's events over plausible minutes after receipt (not all 'now')."""
    events = list(
        db.session.execute(
            sa.select(RequestEvent)
            .where(RequestEvent.request_id == req.id)
            .order_by(RequestEvent.id)
        ).scalars()
    )
    at = req.received_at
    for event in events[1:]:
        at = at + timedelta(minutes=rng.randint(3, 240))
        event.at = min(at, utcnow())
        if event.to_status == "on_site":
            req.arrived_at = event.at
        if event.to_status and event.to_status.startswith("closed_"):
            req.closed_at = event.at
    req.updated_at = events[-1].at if events else req.received_at
    db.session.flush()


CARE_CHANNELS = ("kiosk", "kiosk", "meal", "meal", "activity", "visit", "call", "staff_call")
"""How the demo's watched elders are seen between follow-ups."""


@dataclass
class _Watched:
    """A watched elder of the demo: their plan and the times they are next seen."""

    plan_id: int
    resident_id: int
    rhythm_hours: int
    stop_at: timedelta | None
    """How long before now the last sign of life comes (None: seen on rhythm to the end)."""


def seed_care(slugs: list[str], rng: random.Random, days: int = 21) -> int:
    """Watched elders in every community with three weeks of check-ins: most on rhythm, some
    missed rhythms answered by a visit (for the reports), and at the end one overdue at each
    step, one paused in hospital and one who declined. The watch is evaluated hour by hour over
    the three weeks, as the timer would have. Returns how many elders are watched."""
    from server.carewatch.models import RHYTHMS, CarePlan, CareStep, SignOfLife
    from server.carewatch.services import PlanInput, Sign, evaluate, record_sign, set_plan
    from server.communities.models import Community
    from server.people.models import Resident
    from server.volunteers.models import Volunteer

    grace = 6
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=days)
    who = Actor("社工 demo")
    watched = 0
    for slug in slugs:
        community = db.session.execute(
            sa.select(Community).where(Community.slug == slug)
        ).scalar_one()
        residents = list(
            db.session.execute(
                sa.select(Resident)
                .where(Resident.community_id == community.id)
                .order_by(Resident.is_living_alone.desc(), Resident.id)
            ).scalars()
        )
        captains = list(
            db.session.execute(
                sa.select(Volunteer.id).where(Volunteer.community_id == community.id)
            ).scalars()
        )
        people: list[_Watched] = []
        for index, resident in enumerate(residents[:11]):
            reason = ("living_alone", "elderly", "disabled_family", "after_hospital")[index % 4]
            rhythm = ("daily", "daily", "every_2_3_days", "weekly")[index % 4]
            declined = index == 10
            quiet = index == 9
            plan = set_plan(
                resident,
                PlanInput(
                    is_watched=not declined,
                    reason=reason,
                    rhythm=rhythm,
                    consent="declined" if declined else "given",
                    consent_note="本人婉拒，子女知情" if declined else "本人当面同意",
                    captain_id=rng.choice(captains),
                    buddy_id=rng.choice(captains),
                    family_name=resident.emergency_contact_name,
                    family_phone=resident.emergency_contact_phone,
                    quiet_reason="in_hospital" if quiet else None,
                    quiet_until=now + timedelta(days=4) if quiet else None,
                ),
                who,
                "demo data: 社工入户评估",
            )
            plan.watched_since = start
            if declined:
                continue
            watched += 1
            hours = RHYTHMS[rhythm]
            # Overdue at the end: step 1 (missed 2 h ago), step 2 (6 h), step 3 (11 h).
            overdue = {6: 2, 7: 6, 8: 11}.get(index)
            stop = timedelta(hours=hours + grace + overdue) if overdue is not None else None
            if quiet:
                stop = timedelta(days=3)
            people.append(_Watched(plan.id, resident.id, hours, stop))
        db.session.flush()
        signs: list[tuple[datetime, str, int, str]] = []
        for person in people:
            at = start + timedelta(hours=rng.uniform(1, 12))
            end = now - person.stop_at if person.stop_at is not None else now
            while at < end:
                signs.append((at, rng.choice(CARE_CHANNELS), person.resident_id, "ok"))
                # A missed rhythm now and then, answered before the end (the ones left open
                # at the end are the three overdue on purpose).
                answered_by = at + timedelta(hours=person.rhythm_hours * 1.5 + grace + 10)
                late = rng.random() < 0.12 and person.stop_at is None and answered_by < now
                factor = rng.uniform(1.3, 1.5) if late else rng.uniform(0.3, 0.95)
                at = at + timedelta(hours=person.rhythm_hours * factor)
            if person.stop_at is not None:
                signs.append((end, rng.choice(CARE_CHANNELS), person.resident_id, "ok"))
        signs.sort(key=lambda s: s[0])
        tick = start
        n = 0
        while tick <= now:
            while n < len(signs) and signs[n][0] <= tick:
                at, channel, resident_id, outcome = signs[n]
                sign = Sign(community.id, channel, at, f"demo:{slug}:{n}", "demo", resident_id)
                record_sign(replace(sign, outcome=outcome))
                n += 1
            evaluate(tick, community.id)
            # A captain answers a fresh visit task within hours (not the three left overdue).
            fresh = db.session.execute(
                sa.select(CareStep.plan_id, CarePlan.resident_id)
                .join(CarePlan, CarePlan.id == CareStep.plan_id)
                .where(
                    CareStep.community_id == community.id,
                    CareStep.created_at == tick,
                    CareStep.step == 1,
                )
            ).all()
            for _plan_id, resident_id in fresh:
                person = next(p for p in people if p.resident_id == resident_id)
                if person.stop_at is None:
                    reply = tick + timedelta(hours=rng.uniform(0.5, 9))
                    signs.append((reply, "visit", resident_id, "ok"))
                    signs.sort(key=lambda s: s[0])
            tick += timedelta(hours=1)
    # Steps closed by a sign of life are closed when that sign came, as they would have been.
    for step in db.session.execute(
        sa.select(CareStep).where(CareStep.closed_by_sign_id.is_not(None))
    ).scalars():
        step.closed_at = db.session.get_one(SignOfLife, step.closed_by_sign_id).at
    db.session.flush()
    return watched
