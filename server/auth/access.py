"""The one place access is decided: per (user, community, action), denied by default.

A user has a role in each community they work for (`User.roles()`). The action is the
endpoint: `POLICY` names the roles that may call it. Every request passes `enforce()` before
its view runs: an endpoint missing from `POLICY` is refused, so a new route is closed until
someone decides who may use it, and a user with none of its roles in any community gets 403.
Records are then scoped by `require_community` / `community_scope`, which every loader calls:
the scope is the communities where the user's role may do this endpoint's action, so a
social worker in A who is a viewer in B triages in A and only reads in B. Out-of-scope
records answer 404, as if they did not exist. Who may manage which users is decided here too
(`manages`, `managed_users`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa
from flask import current_app, g, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFProtect

from server.auth.models import User
from server.errors import NotAllowed, NotFound, Unauthorized
from server.extensions import db
from server.hooks import Hook
from server.inputs import optional_int

if TYPE_CHECKING:
    from server.communities.models import Community

ADMIN = "admin"
SOCIAL_WORKER = "social_worker"
TEAM_LEAD = "team_lead"
VIEWER = "viewer"

READERS = frozenset({ADMIN, SOCIAL_WORKER, VIEWER})
"""May read the queue and request pages (viewers see no phone numbers or profiles)."""
STAFF = frozenset({ADMIN, SOCIAL_WORKER})
"""May run the lifecycle and handle residents' personal data."""
FIELD = frozenset({ADMIN, SOCIAL_WORKER, TEAM_LEAD})
"""May do the team's steps: accept, decline, arrive, complete."""
ANY_USER = frozenset({ADMIN, SOCIAL_WORKER, TEAM_LEAD, VIEWER})
ADMINS = frozenset({ADMIN})
"""May manage the users all of whose communities they administer."""
WHOLE_COMMUNITY = frozenset({ADMIN, SOCIAL_WORKER})
"""Work on every job of the community; a team lead only on the jobs of teams they lead."""


@dataclass(frozen=True)
class Rule:
    """Who may call an endpoint.

    kind: `public` (anyone; forms still need a CSRF token), `token` (the view checks a device
    or API token itself; no cookies, so no CSRF), `session` (a signed-in user with one of
    `roles`; unsafe methods need a CSRF token), or `volunteer` (a volunteer's phone signed in
    by their card's link: a separate audience with its own cookie, never a console user;
    unsafe methods need the `X-Linli-Field` header, which no other site's form can send).
    `keeps_alive` False: the request does not count as activity for the idle timeout (the live
    queue's stream). `before_pin` True: a volunteer's phone that still owes its PIN may call it.
    """

    kind: Literal["public", "token", "session", "volunteer"]
    roles: frozenset[str] = frozenset()
    keeps_alive: bool = True
    before_pin: bool = False


PUBLIC = Rule("public")
TOKEN = Rule("token")
VOLUNTEER = Rule("volunteer")
"""A volunteer's own phone pages: they see only their own jobs (the views load through
`volunteer_id()`), whatever a console session in the same browser may hold."""


@dataclass(frozen=True)
class PhoneSession:
    """A volunteer's signed-in phone, as the field feature found it from its cookie."""

    volunteer_id: int
    device_id: int
    pin_checked: bool


VOLUNTEER_SESSION: Hook[Callable[[], PhoneSession | None]] = Hook("volunteer_session")
"""Finds the volunteer's phone from its cookie (implemented by the field feature, above)."""
FIELD_HEADER = "X-Linli-Field"

POLICY: dict[str, Rule] = {
    "static": Rule("public", keeps_alive=False),
    "health.healthz": Rule("public", keeps_alive=False),
    # Aggregate counters only, no personal data; nginx limits it to the monitoring network.
    "health.metrics": Rule("public", keeps_alive=False),
    "home.index": Rule("public", keeps_alive=False),
    "auth.login": PUBLIC,
    "auth.logout": Rule("session", ANY_USER),
    "auth.language": PUBLIC,
    "auth.users": Rule("session", ADMINS),
    "auth.user_create": Rule("session", ADMINS),
    "auth.user_deactivate": Rule("session", ADMINS),
    "auth.user_password": Rule("session", ADMINS),
    "auth.user_access": Rule("session", ADMINS),
    "console.index": Rule("session", ANY_USER),
    "console.queue": Rule("session", READERS),
    "console.queue_rows": Rule("session", READERS),
    "console.queue_stream": Rule("session", READERS, keeps_alive=False),
    "console.request_page": Rule("session", READERS),
    "console.possible_duplicates": Rule("session", STAFF),
    "console.request_action": Rule("session", STAFF),
    # The 派工单 carries the resident's name and phone: staff, and a team lead for the jobs of
    # the teams they lead (the route loads it through the job scope); never a viewer.
    "console.work_order": Rule("session", FIELD),
    "console.transfer_order": Rule("session", STAFF),
    "console.new_request": Rule("session", STAFF),
    "replies_console.issue": Rule("session", STAFF),
    "replies_console.photo": Rule("session", STAFF),
    "minsheng.index": Rule("session", READERS),
    "minsheng.community_list": Rule("session", READERS),
    "minsheng.item_page": Rule("session", READERS),
    "minsheng.create": Rule("session", STAFF),
    "minsheng.adopt": Rule("session", STAFF),
    "minsheng.link": Rule("session", STAFF),
    "minsheng.move": Rule("session", STAFF),
    "minsheng.decide": Rule("session", STAFF),
    "minsheng.outcome": Rule("session", STAFF),
    # The agency's reply page: the 转办单's link is the key (hashed, one escalation's, expiring
    # when used up or the request closes); it shows only what the 转办单 shows; rate-limited.
    "replies.answer_page": PUBLIC,
    "replies.answer": PUBLIC,
    "console.rooms": Rule("session", STAFF),
    "console.jobs": Rule("session", FIELD),
    "console.job_page": Rule("session", FIELD),
    "console.job_action": Rule("session", FIELD),
    "console.kiosks": Rule("session", READERS),
    "console.kiosk_rejections": Rule("session", STAFF),
    "people.index": Rule("session", STAFF),
    "people.new": Rule("session", STAFF),
    "people.profile": Rule("session", STAFF),
    "people.edit": Rule("session", STAFF),
    "people.consent": Rule("session", STAFF),
    "people.export": Rule("session", STAFF),
    "people.delete": Rule("session", STAFF),
    # The care watch names watched elders and their care: staff of the community only.
    "carewatch.index": Rule("session", STAFF),
    "carewatch.board": Rule("session", STAFF),
    "carewatch.plan": Rule("session", STAFF),
    "carewatch.contact": Rule("session", STAFF),
    "open311.discovery": TOKEN,
    "open311.services_index": TOKEN,
    "open311.service": TOKEN,
    "open311.requests_index": TOKEN,
    "open311.requests_create": TOKEN,
    "open311.request_one": TOKEN,
    "open311.token": TOKEN,
    "volunteers.index": Rule("session", STAFF),
    "volunteers.profile": Rule("session", STAFF),
    "volunteers.new": Rule("session", STAFF),
    "volunteers.edit": Rule("session", STAFF),
    "volunteers.set_active": Rule("session", STAFF),
    "volunteers.add_note": Rule("session", STAFF),
    "volunteers.service_record": Rule("session", STAFF),
    "volunteers.import_form": Rule("session", STAFF),
    "volunteers.import_preview": Rule("session", STAFF),
    "volunteers.import_confirm": Rule("session", STAFF),
    "volunteers.teams": Rule("session", STAFF),
    "volunteers.team_action": Rule("session", STAFF),
    "volunteers.hours": Rule("session", FIELD),
    "volunteers.check_in": Rule("session", FIELD),
    "volunteers.check_out": Rule("session", FIELD),
    "volunteers.from_job": Rule("session", FIELD),
    "volunteers.add_manual": Rule("session", STAFF),
    "volunteers.approve": Rule("session", STAFF),
    "volunteers.decline": Rule("session", STAFF),
    "passbook.passbook": Rule("session", STAFF),
    "passbook.bonus": Rule("session", STAFF),
    "passbook.issue_code": Rule("session", STAFF),
    "passbook.merchants": Rule("session", STAFF),
    "passbook.register_merchant": Rule("session", STAFF),
    "passbook.merchant": Rule("session", STAFF),
    "passbook.redeem": Rule("session", STAFF),
    "passbook.deactivate_merchant": Rule("session", STAFF),
    "passbook.rotate_merchant_key": Rule("session", STAFF),
    # The merchant's key, entered once, is the credential (kept in the session).
    "passbook.merchant_home": PUBLIC,
    "passbook.merchant_key": PUBLIC,
    "passbook.merchant_page": PUBLIC,
    "passbook.merchant_redeem": PUBLIC,
    "reports.index": Rule("session", READERS),
    "reports.overview": Rule("session", READERS),
    "reports.needs_map": Rule("session", READERS),
    "reports.meeting": Rule("session", READERS),
    "reports.promise": Rule("session", READERS),
    "reports.requests_csv": Rule("session", READERS),
    "reports.hours_csv": Rule("session", STAFF),
    # The card's link is the credential; the manifest and service worker hold no data.
    "field.open_link": PUBLIC,
    "field.manifest": Rule("public", keeps_alive=False),
    "field.service_worker": Rule("public", keeps_alive=False),
    "field.static": Rule("public", keeps_alive=False),
    "field.pin_page": Rule("volunteer", before_pin=True),
    "field.pin_check": Rule("volunteer", before_pin=True),
    "field.sign_out": Rule("volunteer", before_pin=True),
    "field.tasks": VOLUNTEER,
    "field.tasks_json": Rule("volunteer", keeps_alive=False),
    "field.job_page": VOLUNTEER,
    "field.actions": VOLUNTEER,
    "field.watch": VOLUNTEER,
    "field.elder": VOLUNTEER,
    "field.today": VOLUNTEER,
    "field.hours": VOLUNTEER,
    "field.code": VOLUNTEER,
    "field.record": VOLUNTEER,
    "field.pin_set": VOLUNTEER,
    "field_console.card": Rule("session", STAFF),
    "field_console.card_issue": Rule("session", STAFF),
    "field_console.card_revoke": Rule("session", STAFF),
    "field_console.card_user": Rule("session", STAFF),
    "field_console.card_buildings": Rule("session", STAFF),
    "field_console.skill_words": Rule("session", ADMINS),
    "field_console.skill_word_add": Rule("session", ADMINS),
    "field_console.skill_words_suggested": Rule("session", ADMINS),
    "field_console.skill_word_remove": Rule("session", ADMINS),
    # A console user linked to their volunteer record opens their own phone pages.
    "field_console.my_phone": Rule("session", ANY_USER),
    # A community's sub-choices (what is wrong, per category): its administrators edit them.
    "subchoices.choices": Rule("session", ADMINS),
    "subchoices.choice_action": Rule("session", ADMINS),
    # Channels hold webhook tokens and SMS keys (shown masked): administrators configure them.
    "notify.channels": Rule("session", ADMINS),
    "notify.add_channel": Rule("session", ADMINS),
    "notify.set_active": Rule("session", ADMINS),
    "notify.replace_credentials": Rule("session", ADMINS),
    "notify.retry": Rule("session", ADMINS),
    # Admin screens: records load through `admin_scope`; what every community shares
    # (categories, new communities, tokens for all) needs `admins_everywhere`, else 404.
    "admin.index": Rule("session", ADMINS),
    "admin.create_community": Rule("session", ADMINS),
    "admin.settings": Rule("session", ADMINS),
    "admin.rooms": Rule("session", ADMINS),
    "admin.add_room": Rule("session", ADMINS),
    "admin.import_rooms": Rule("session", ADMINS),
    "admin.retire_room": Rule("session", ADMINS),
    "admin.teams": Rule("session", ADMINS),
    "admin.edit_team": Rule("session", ADMINS),
    "admin.agencies": Rule("session", ADMINS),
    "admin.edit_agency": Rule("session", ADMINS),
    "admin.kiosks": Rule("session", ADMINS),
    "admin.kiosk_action": Rule("session", ADMINS),
    "admin.categories": Rule("session", ADMINS),
    "admin.category_deadline": Rule("session", ADMINS),
    "admin.tokens": Rule("session", ADMINS),
    "admin.revoke_token": Rule("session", ADMINS),
}

TOKEN_BLUEPRINTS = frozenset({"syncapi", "staffapi"})
"""Blueprints whose every view authenticates a kiosk or API token itself (see their routes);
the access-matrix test proves each of their endpoints refuses a call without one."""

csrf = CSRFProtect()


def rule_for(endpoint: str) -> Rule | None:
    """The rule for an endpoint, or None (denied)."""
    rule = POLICY.get(endpoint)
    if rule is None and endpoint.partition(".")[0] in TOKEN_BLUEPRINTS and "." in endpoint:
        return TOKEN
    return rule


def enforce() -> ResponseReturnValue | None:
    """Before every request: expire sessions, then apply the endpoint's rule and CSRF."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: routing answers 404 or 405
    rule = rule_for(endpoint)
    if rule is None:
        raise NotAllowed(
            gettext("%(endpoint)s 不在访问策略中（server/auth/access.py）", endpoint=endpoint),
            "not_in_policy",
        )
    g.access_rule = rule
    if rule.kind == "token":
        return None
    if rule.kind == "volunteer":
        return _enforce_volunteer(rule)
    expired = _expire_session(rule)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    if rule.kind == "public":
        return None
    if not current_user.is_authenticated:
        if request.method == "GET" and _wants_html():
            target = request.full_path.rstrip("?")
            return redirect(url_for("auth.login", next=target, expired=1 if expired else None))
        raise Unauthorized(gettext("请先登录"), "not_signed_in")
    # An all-communities role holds before any community exists (the first one is made on
    # the admin screens); records are still scoped by `community_scope`.
    if not community_scope(rule.roles) and user().all_communities_role not in rule.roles:
        raise NotAllowed(gettext("您的角色不能做这件事"), "role_forbidden")
    return None


def _enforce_volunteer(rule: Rule) -> ResponseReturnValue | None:
    """A volunteer's phone: signed in by its cookie, PIN given if one is set; unsafe methods
    carry the field header (the phone's script sends it; another site's form cannot)."""
    phone = VOLUNTEER_SESSION.get()()
    if request.method not in ("GET", "HEAD", "OPTIONS") and not request.headers.get(FIELD_HEADER):
        raise NotAllowed(gettext("志愿者页面只接受本页面发出的操作"), "no_header")
    if phone is None:
        raise Unauthorized(gettext("请用手机扫描你的志愿者卡上的二维码"), "not_signed_in")
    if not phone.pin_checked and not rule.before_pin:
        if request.method == "GET" and _wants_html():
            return redirect(url_for("field.pin_page"))
        raise Unauthorized(gettext("请先输入 PIN"), "pin_needed")
    g.phone = phone
    return None


def phone() -> PhoneSession:
    """The signed-in volunteer's phone (only called behind a `volunteer` rule)."""
    found: PhoneSession = g.phone
    return found


def _wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "text/html"


def _expire_session(rule: Rule) -> bool:
    """End a session past its idle or absolute limit; True when one was ended."""
    if "login_at" not in session:
        return False
    now = int(time.time())
    idle = current_app.config["LINLI_SESSION_IDLE_MINUTES"] * 60
    longest = current_app.config["LINLI_SESSION_MAX_HOURS"] * 3600
    if now - session.get("seen_at", 0) > idle or now - session["login_at"] > longest:
        logout_user()
        session.clear()
        return True
    if rule.keeps_alive:
        session["seen_at"] = now
    return False


def start_session(user: User) -> None:
    """A fresh session for a user who just signed in (nothing carried over from before)."""
    from flask_login import login_user

    session.clear()
    session.permanent = True
    login_user(user)
    now = int(time.time())
    session["sid"] = secrets.token_urlsafe(16)
    session["login_at"] = now
    session["seen_at"] = now


def user() -> User:
    """The signed-in user (only called behind a `session` rule)."""
    return current_user._get_current_object()  # type: ignore[no-any-return]


def community_scope(roles: frozenset[str] | None = None) -> frozenset[int]:
    """Ids of the communities where the signed-in user's role is among `roles` (default: the
    roles the current endpoint's rule allows)."""
    if roles is None:
        rule = g.get("access_rule")
        roles = rule.roles if rule is not None else frozenset()
    # Asked a score of times a page (the loaders, every link the menu shows): worked out once
    # a request per user and roles, not over a city admin's 200 memberships each time.
    me = user()
    known: dict[tuple[int, frozenset[str]], frozenset[int]] = g.setdefault("scopes", {})
    key = (me.id, roles)
    if key not in known:
        known[key] = frozenset(cid for cid, role in me.roles().items() if role in roles)
    return known[key]


def scoped_communities() -> list[Community]:
    """The communities the signed-in user may see, by name (for filters and forms)."""
    from server.communities.models import Community

    return list(
        db.session.execute(
            sa.select(Community).where(Community.id.in_(community_scope())).order_by(Community.name)
        ).scalars()
    )


def community_choice() -> tuple[list[Community], Community | None]:
    """The communities this endpoint's page may show, by name (its chooser), and the one
    `?community=` (an id) chose: the user's only community when they have one, None when they
    have several and chose none. A community outside the scope is a 404, as its records are."""
    communities = scoped_communities()
    chosen = optional_int(request.values.get("community"), "community")
    if chosen is None:
        return communities, communities[0] if len(communities) == 1 else None
    for community in communities:
        if community.id == chosen:
            return communities, community
    raise NotFound(gettext("没有这条记录"))


def field_split(within: frozenset[int] | None = None) -> tuple[frozenset[int], frozenset[int]]:
    """The communities where the user works on every job, and those where only on the jobs of
    the teams they lead (the team and job scopes of `dispatch` and `requests` build on it);
    only those `within` these, when given (a page showing one community)."""
    scope = community_scope() if within is None else community_scope() & within
    whole = scope & community_scope(WHOLE_COMMUNITY)
    return whole, scope & community_scope(frozenset({TEAM_LEAD}))


def require_community(community_id: int) -> None:
    """`NotFound` unless the user's role in the record's community allows this endpoint."""
    if community_id not in community_scope():
        raise NotFound(gettext("没有这条记录"))


def may(roles: frozenset[str], community_id: int | None = None) -> bool:
    """Whether the signed-in user has one of `roles` in the community (None: in any one), for
    showing or hiding controls."""
    if not current_user.is_authenticated:
        return False
    scope = community_scope(roles)
    if community_id is None:
        return bool(scope) or user().all_communities_role in roles
    return community_id in scope


def reaches(endpoint: str, community_id: int | None = None) -> bool:
    """Whether the signed-in user may call the endpoint in the community (None: in some
    community), for showing links."""
    rule = rule_for(endpoint)
    return rule is not None and rule.kind == "session" and may(rule.roles, community_id)


def manages(target: User) -> bool:
    """Whether the signed-in user may manage `target`: they administer every community the
    target works for (an all-communities user: only an all-communities admin)."""
    me = user()
    if me.all_communities_role == ADMIN:
        return True
    if target.all_communities_role is not None:
        return False
    ids = target.community_ids
    return bool(ids) and ids <= community_scope(ADMINS)


def managed_users() -> sa.ColumnElement[bool]:
    """`manages` as a clause on users, for the user list."""
    from server.auth.models import Membership

    if user().all_communities_role == ADMIN:
        return sa.true()
    outside = sa.select(Membership.user_id).where(
        Membership.community_id.not_in(community_scope(ADMINS))
    )
    return sa.and_(
        User.all_communities_role.is_(None),
        User.id.in_(sa.select(Membership.user_id)),
        User.id.not_in(outside),
    )


def admin_scope() -> frozenset[int]:
    """The communities the signed-in user administers."""
    return community_scope(ADMINS)


def admins_everywhere() -> bool:
    """Whether the signed-in user is an all-communities admin: the one who may make
    communities, change what every community shares (categories), and hold tokens for all."""
    return user().all_communities_role == ADMIN
