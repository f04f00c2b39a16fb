"""`linli server ...` commands. Each runs in an app context and commits once at the end."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from flask import Flask
from flask_babel import gettext

from server.errors import LinliError

F = TypeVar("F", bound=Callable[..., Any])


def _app() -> Flask:
    """The app from the environment's settings; a bad setting is one clear line and exit 1."""
    from server import create_app

    try:
        return create_app()
    except ValueError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def in_app(func: F) -> F:
    """Run the command in an app context; commit on success, one clear line on failure."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from server.extensions import db

        app = _app()
        with app.app_context():
            try:
                result = func(*args, **kwargs)
                db.session.commit()
                return result
            except LinliError as exc:
                db.session.rollback()
                _fail(exc.detail)
            except Exception as exc:
                db.session.rollback()
                from sqlalchemy.exc import OperationalError

                if isinstance(exc, OperationalError):
                    _fail(
                        f"database error: {exc.orig}; is the database upgraded "
                        "('linli server db upgrade')?"
                    )
                raise

    return wrapper  # type: ignore[return-value]


@click.group("server")
def server_group() -> None:
    """The central server: database, communities, kiosks, API tokens, and running it."""


@server_group.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
def run(host: str, port: int) -> None:
    """Serve the app with a threaded server (use gunicorn behind nginx in production)."""
    from werkzeug.serving import make_server

    app = _app()
    httpd = make_server(host, port, app, threaded=True)
    click.echo(f"Linli server listening on http://{host}:{httpd.server_port}/", err=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@server_group.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply pending migrations, all or up to REVISION (run before starting a new version)."""
    import flask_migrate

    app = _app()
    with app.app_context():
        flask_migrate.upgrade(revision=revision)
    where = "the latest migration" if revision == "head" else f"migration {revision}"
    click.echo(f"database is at {where}", err=True)


@server_group.group("community")
def community_group() -> None:
    """Communities."""


@community_group.command("create")
@click.option("--slug", required=True, help="Short stable id, e.g. lanqiao.")
@click.option("--name", required=True, help="Display name, e.g. 蓝桥社区.")
@click.option("--phone", default=None, help="The centre's phone number shown on kiosks.")
@in_app
def community_create(slug: str, name: str, phone: str | None) -> None:
    """Create a community."""
    from server.admin import services

    community = services.create_community(services.CLI, slug, name, phone)
    click.echo(f"created community {community.slug} ({community.name})")


@server_group.group("rooms")
def rooms_group() -> None:
    """Rooms (building-unit-room) of a community."""


@rooms_group.command("import")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@in_app
def rooms_import(slug: str, file: Path) -> None:
    """Import rooms from a CSV file with columns building,unit,room (all or nothing)."""
    from server.admin import services
    from server.communities.services import community_by_slug, parse_rooms_csv

    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LinliError(
            gettext(
                "%(file)s：不是 UTF-8 文本（第 %(byte)s 字节：%(reason)s）",
                file=file,
                reason=exc.reason,
                byte=exc.start,
            )
        ) from exc
    community = community_by_slug(slug)
    rows = parse_rooms_csv(text, str(file))
    result = services.import_rooms(services.CLI, community, rows, file.name)
    click.echo(
        f"{file}: {len(rows)} rows, {result.added} rooms added, {result.present} already present"
    )


@server_group.group("kiosk")
def kiosk_group() -> None:
    """Kiosks: enrolment codes and revocation."""


@kiosk_group.command("enroll")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--name", required=True, help="A unique kiosk name, e.g. lanqiao-hall.")
@in_app
def kiosk_enroll(slug: str, name: str) -> None:
    """Print a one-time enrolment code for a kiosk (new, or re-enrolling)."""
    from flask import current_app

    from server.admin import services
    from server.communities.services import community_by_slug

    hours = current_app.config["LINLI_ENROLL_CODE_HOURS"]
    kiosk, code = services.enrol_kiosk(services.CLI, community_by_slug(slug), name, hours)
    click.echo(f"kiosk {kiosk.name}: one-time code, valid for {hours} h:")
    click.echo(code)


@kiosk_group.command("revoke")
@click.argument("name")
@in_app
def kiosk_revoke(name: str) -> None:
    """Revoke a kiosk's token (its queue is kept; enrol it again to resume)."""
    from server.admin import services
    from server.kiosks.services import kiosk_by_name

    kiosk = kiosk_by_name(name)
    services.revoke_kiosk(services.CLI, kiosk)
    click.echo(f"kiosk {kiosk.name} revoked")


@server_group.group("api-token")
def api_token_group() -> None:
    """API tokens for staff integrations."""


@api_token_group.command("create")
@click.option("--name", required=True, help="Who or what uses the token.")
@click.option(
    "--community",
    "communities",
    multiple=True,
    help="Limit to this community (repeatable); none means all communities.",
)
@in_app
def api_token_create(name: str, communities: tuple[str, ...]) -> None:
    """Print a new API token (shown once)."""
    from server.admin import services

    token, secret = services.create_token(services.CLI, name, list(communities))
    scope = ", ".join(c.slug for c in token.communities) or "all communities"
    click.echo(f"API token {token.name} for {scope}:")
    click.echo(secret)


@api_token_group.command("list")
@in_app
def api_token_list() -> None:
    """List API tokens: id, name, communities, created, last used, revoked (never secrets)."""
    from server.staffapi.services import list_api_tokens

    def when(at: Any) -> str:
        return at.strftime("%Y-%m-%d %H:%M UTC") if at else "-"

    click.echo("id\tname\tcommunities\tcreated\tlast used\trevoked")
    for token in list_api_tokens():
        scope = ",".join(sorted(c.slug for c in token.communities)) or "all"
        click.echo(
            f"{token.id}\t{token.name}\t{scope}\t{when(token.created_at)}\t"
            f"{when(token.last_used_at)}\t{when(token.revoked_at)}"
        )


@api_token_group.command("revoke")
@click.argument("name_or_id")
@in_app
def api_token_revoke(name_or_id: str) -> None:
    """Revoke an API token by name (or id); every call with it is refused from now on."""
    from server.admin import services
    from server.staffapi.services import api_token_named

    token = api_token_named(name_or_id)
    services.revoke_token(services.CLI, token)
    click.echo(f"API token {token.name} revoked")


@server_group.group("choices")
def choices_group() -> None:
    """Sub-choices: what is wrong within a category, as a community words it (kiosk tiles)."""


@choices_group.command("list")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--category", default=None, help="Only this category (its code, e.g. meals).")
@in_app
def choices_list(slug: str, category: str | None) -> None:
    """Print a community's sub-choices: category, code, Chinese, English, active or retired."""
    from server.communities.services import community_by_slug
    from server.subchoices.queries import choices_of
    from server.subchoices.services import category_by_code

    community = community_by_slug(slug)
    category_id = category_by_code(category).id if category else None
    for c in choices_of(community.id, category_id):
        state = "active" if c.is_active else "retired"
        click.echo(f"{c.category.code}\t{c.code}\t{c.name_zh}\t{c.name_en}\t{state}")


@choices_group.command("seed")
@click.option("--community", "slug", required=True, help="Community slug.")
@in_app
def choices_seed(slug: str) -> None:
    """Give a community the default sub-choices it lacks (kiosks learn them at their next sync)."""
    from server.communities.services import community_by_slug
    from server.subchoices.services import seed_defaults

    added = seed_defaults(community_by_slug(slug))
    click.echo(f"{added} default sub-choices added")


@choices_group.command("edit")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--category", required=True, help="The category's code, e.g. electrical.")
@click.argument(
    "action", type=click.Choice(("add", "rename", "up", "down", "retire", "restore", "remove"))
)
@click.option("--code", default="", help="The sub-choice (all actions but add).")
@click.option("--name-zh", default="", help="Chinese words (add, rename), e.g. 灯不亮.")
@click.option("--name-en", default="", help="English words (add, rename).")
@in_app
def choices_edit(
    slug: str, category: str, action: str, code: str, name_zh: str, name_en: str
) -> None:
    """Add, rename, move up or down, retire, restore or remove a sub-choice (audited); one that
    requests use is never removed, only retired."""
    from server.audit.actor import Actor
    from server.communities.services import community_by_slug
    from server.subchoices.services import category_by_code, edit_choices

    done = edit_choices(
        community_by_slug(slug),
        category_by_code(category),
        action,
        {"code": code, "name_zh": name_zh, "name_en": name_en},
        Actor("command line"),
    )
    click.echo(done)


@server_group.group("merchant")
def merchant_group() -> None:
    """Passbook merchants: close one, or give it a new page key."""


def _merchant(slug: str, name: str) -> Any:
    from server.communities.services import community_by_slug
    from server.passbook.services import merchant_named

    return merchant_named(community_by_slug(slug).id, name)


@merchant_group.command("deactivate")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("name")
@in_app
def merchant_deactivate(slug: str, name: str) -> None:
    """Close a merchant: its page key stops working and nothing is redeemed there (audited)."""
    from server.audit.actor import Actor
    from server.passbook.services import deactivate_merchant

    merchant = _merchant(slug, name)
    deactivate_merchant(merchant, Actor("command line"), "linli server merchant deactivate")
    click.echo(f"merchant {merchant.name} deactivated")


@merchant_group.command("rotate-key")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("name")
@in_app
def merchant_rotate_key(slug: str, name: str) -> None:
    """Print a new page key for a merchant (typed once on its page, /merchant); the old key stops
    working (audited)."""
    from server.audit.actor import Actor
    from server.passbook.services import rotate_merchant_key

    merchant = _merchant(slug, name)
    key = rotate_merchant_key(merchant, Actor("command line"), "linli server merchant rotate-key")
    click.echo(f"merchant {merchant.name}: new page key (typed once on its page, /merchant):")
    click.echo(key)


@server_group.group("user")
def user_group() -> None:
    """Console users."""


@user_group.command("create")
@click.option("--username", required=True, help="Sign-in name (no spaces).")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "social_worker", "team_lead", "viewer"]),
    help="What the user may do in their communities.",
)
@click.option(
    "--community",
    "communities",
    multiple=True,
    help="A community the user works for (repeatable).",
)
@click.option(
    "--all-communities",
    is_flag=True,
    help="The role in every community, present and future (instead of --community).",
)
@click.option("--name", "display_name", default="", help="Name shown in timelines.")
@in_app
def user_create(
    username: str,
    role: str,
    communities: tuple[str, ...],
    all_communities: bool,
    display_name: str,
) -> None:
    """Create a user; the password is asked for, or read from stdin when it is not a terminal."""
    from server.auth.services import create_user

    if bool(communities) == all_communities:
        raise LinliError(gettext("请指定 --community（可重复）或 --all-communities"))
    if sys.stdin.isatty():
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    user = create_user(
        username, password, role, list(communities), display_name, all_communities=all_communities
    )
    scope = ", ".join(c.slug for c in user.communities) or "all communities"
    click.echo(f"created user {user.username} ({role}) for {scope}")


@user_group.command("unlock")
@click.argument("username")
@in_app
def user_unlock(username: str) -> None:
    """Lift a user's sign-in lockout and forget their failed sign-ins (audited)."""
    from server.audit.actor import Actor
    from server.auth.services import unlock

    failures = unlock(username, Actor("command line"), "linli server user unlock")
    click.echo(f"unlocked {username} (forgot {failures} failed sign-ins)")


@server_group.group("team")
def team_group() -> None:
    """Volunteer teams that take dispatched requests."""


@team_group.command("create")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--name", required=True, help="Team name, e.g. 小蜜蜂.")
@click.option("--category", "categories", multiple=True, help="A category it takes (repeatable).")
@click.option("--lead", default=None, help="User name of the team lead.")
@in_app
def team_create(slug: str, name: str, categories: tuple[str, ...], lead: str | None) -> None:
    """Create a team (its focus list is set on the admin screens)."""
    from server.admin import services
    from server.communities.services import community_by_slug

    given = services.TeamInput(name, list(categories), lead, "")
    team = services.create_team(services.CLI, community_by_slug(slug), given)
    click.echo(f"created team {team.name}")


@server_group.group("notify")
def notify_group() -> None:
    """Where notifications of dispatches, emergencies and overdue jobs go."""


def _read_secret(label: str) -> str:
    """A credential from a hidden prompt, or the next line of stdin when it is not a terminal
    (never an argument: arguments stay in the shell's history and the process list)."""
    if sys.stdin.isatty():
        return str(click.prompt(label, hide_input=True, default="", show_default=False))
    return sys.stdin.readline().strip()


@notify_group.command("add")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option(
    "--kind", required=True, type=click.Choice(["wecom", "dingtalk", "sms"]), help="Channel kind."
)
@click.option("--name", required=True, help="Name shown on the console, e.g. 小蜜蜂群.")
@click.option("--team", default=None, help="The team whose own group or lead this is.")
@click.option("--key-id", default="", help="SMS: the AccessKey id.")
@click.option("--sign-name", default="", help="SMS: the approved signature (签名).")
@click.option("--template", "template_code", default="", help="SMS: the approved template code.")
@click.option("--phones", default="", help="SMS: the team leads' numbers, comma-separated.")
@in_app
def notify_add(
    slug: str,
    kind: str,
    name: str,
    team: str | None,
    key_id: str,
    sign_name: str,
    template_code: str,
    phones: str,
) -> None:
    """Add a channel; the webhook address (robots) and the secret (钉钉 加签, SMS AccessKey
    secret) are asked for, or read from stdin, one a line."""
    from server.audit.actor import Actor
    from server.communities.services import community_by_slug
    from server.notify.queries import team_named
    from server.notify.services import ChannelSpec, add_channel

    community = community_by_slug(slug)
    team_id = team_named(community.id, team).id if team else None
    url = "" if kind == "sms" else _read_secret("webhook address")
    secret = _read_secret("secret (empty: none)")
    spec = ChannelSpec(kind, name, url, secret, key_id, sign_name, template_code, phones, team_id)
    channel = add_channel(community.id, spec, Actor("command line"))
    click.echo(f"added {kind} channel {channel.name} (id {channel.id})")


@notify_group.command("list")
@click.option("--community", "slug", required=True, help="Community slug.")
@in_app
def notify_list(slug: str) -> None:
    """List a community's channels, credentials masked, and which ones are failing."""
    from server.communities.services import community_by_slug
    from server.notify.queries import channels_of
    from server.notify.services import mask, masked_url

    for c in channels_of([community_by_slug(slug).id]):
        state = "off" if not c.is_active else ("FAILED" if c.failed_at else "ok")
        secret = mask(c.secret) or "-"
        click.echo(f"{c.id}\t{c.kind}\t{c.name}\t{masked_url(c.url)}\t{secret}\t{state}")


@server_group.group("agency")
def agency_group() -> None:
    """Outside agencies requests are escalated to."""


@agency_group.command("create")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--name", required=True, help="Agency name.")
@click.option(
    "--kind", required=True, type=click.Choice(["department", "charity", "property"]), help="Kind."
)
@click.option("--url", default="", help="Endpoint that receives escalations as JSON POSTs.")
@click.option(
    "--delivery",
    type=click.Choice(["webhook", "order"]),
    default="webhook",
    show_default=True,
    help="webhook: POST JSON to --url; order: a 转办单 with a reply link (no --url).",
)
@click.option("--reply-days", type=int, default=3, show_default=True, help="Days to reply.")
@in_app
def agency_create(
    slug: str, name: str, kind: str, url: str, delivery: str, reply_days: int
) -> None:
    """Create an agency."""
    from server.admin import services
    from server.communities.services import community_by_slug
    from server.dispatch.services import AgencyInput

    given = AgencyInput(name, kind, url, delivery=delivery, reply_days=reply_days)
    agency = services.create_agency(services.CLI, community_by_slug(slug), given)
    click.echo(f"created agency {agency.name}")


@server_group.group("escalations")
def escalations_group() -> None:
    """Deliveries of escalations to agencies."""


@escalations_group.command("deliver")
@in_app
def escalations_deliver() -> None:
    """Every few minutes: mark requests newly overdue (notifying their groups), evaluate the care
    watch (under the nightly lock), then send every outbox message that is due (escalation
    deliveries, notifications, care-watch visit tasks)."""
    from flask import current_app

    from server.ops.nightly import frequent, mark_overdue
    from server.timeutil import utcnow

    click.echo(mark_overdue(utcnow()))
    watch, attempted = frequent(current_app._get_current_object())  # type: ignore[attr-defined]
    click.echo(f"care watch: {watch}")
    click.echo(f"{attempted} deliveries attempted")


def _progress(length: int, label: str) -> Any:
    """A progress bar on a terminal's stderr; silent (nothing printed) when not a terminal."""
    from contextlib import nullcontext

    if not sys.stderr.isatty():
        return nullcontext(None)
    return click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True)


@server_group.group("volunteers")
def volunteers_group() -> None:
    """Volunteers: import the lists communities keep."""


@volunteers_group.command("import")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--accept-team-matches",
    is_flag=True,
    help="Import although team names were matched loosely (小蜜蜂 → 小蜜蜂维修队).",
)
@in_app
def volunteers_import(slug: str, file: Path, accept_team_matches: bool) -> None:
    """Import volunteers from a CSV or XLSX file (every row is checked first; all or nothing).
    Columns Linli does not keep are listed as ignored; teams named loosely are listed and
    imported only with --accept-team-matches."""
    import sqlalchemy as sa

    from server.communities.services import community_by_slug
    from server.dispatch.models import Team
    from server.extensions import db
    from server.volunteers.imports import parse_volunteers
    from server.volunteers.services import import_volunteers

    community = community_by_slug(slug)
    teams = set(
        db.session.execute(sa.select(Team.name).where(Team.community_id == community.id)).scalars()
    )
    parsed = parse_volunteers(str(file), file.read_bytes(), teams)
    if parsed.ignored:
        click.echo(f"{file}: ignored columns: {', '.join(parsed.ignored)}", err=True)
    for given, team in parsed.team_matches.items():
        click.echo(f"{file}: team {given!r} matched to {team!r}", err=True)
    for error in parsed.errors:
        click.echo(error.describe(str(file)), err=True)
    if parsed.errors:
        bad_lines = len({e.line for e in parsed.errors})
        raise LinliError(
            gettext(
                "%(file)s：%(rows)s 行中有 %(bad)s 行出错，共 %(errors)s 处；什么也没有导入",
                file=file,
                errors=len(parsed.errors),
                bad=bad_lines,
                rows=len(parsed.rows) + bad_lines,
            )
        )
    if parsed.team_matches and not accept_team_matches:
        raise LinliError(
            gettext(
                "%(file)s：队伍名称是近似匹配的（见上方列表）；请核对后加上"
                " --accept-team-matches 再运行；什么也没有导入",
                file=file,
            )
        )
    added = present = 0
    chunks = [parsed.rows[i : i + 500] for i in range(0, len(parsed.rows), 500)]
    with _progress(len(parsed.rows), "importing") as bar:
        for chunk in chunks:
            result = import_volunteers(community, chunk)
            added, present = added + result.added, present + result.present
            if bar is not None:
                bar.update(len(chunk))
    click.echo(
        f"{file}: {len(parsed.rows)} rows, {added} volunteers added, {present} already present"
    )


@server_group.group("care")
def care_group() -> None:
    """The care watch (平安守望): evaluate it, import meal and activity attendance."""


@care_group.command("evaluate")
def care_evaluate() -> None:
    """Raise the care watch's due follow-up steps now, under the nightly lock."""
    from server.ops.nightly import AlreadyRunning, care_watch, exclusive
    from server.timeutil import utcnow

    app = _app()
    with app.app_context():
        try:
            with exclusive(app):
                click.echo(f"care watch: {care_watch(utcnow())}")
        except AlreadyRunning as exc:
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(75)


@care_group.command("import")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@in_app
def care_import(slug: str, file: Path) -> None:
    """Import canteen meals and activity attendance (CSV: room,name,kind,at) as signs of life;
    every line is checked first (all or nothing), a line imported before counts once."""
    import csv
    import io
    from datetime import datetime

    from server.carewatch.services import Attendance, import_attendance
    from server.communities.services import community_by_slug
    from server.localtime import local_zone

    community = community_by_slug(slug)
    rows = []
    reader = csv.DictReader(io.StringIO(file.read_text(encoding="utf-8-sig")))
    for number, line in enumerate(reader, start=2):
        try:
            at = datetime.fromisoformat((line.get("at") or "").strip())
        except ValueError:
            raise LinliError(
                gettext(
                    "%(file)s:%(number)s：at 须为日期和时间，例如 2026-11-30 11:30",
                    file=file,
                    number=number,
                )
            ) from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=local_zone())
        rows.append(
            Attendance(
                room=(line.get("room") or "").strip(),
                name=(line.get("name") or "").strip(),
                kind=(line.get("kind") or "").strip(),
                at=at,
            )
        )
    added, present = import_attendance(community.id, rows, f"import:{file.name}")
    click.echo(
        f"{file}: {len(rows)} rows, {added} signs of life recorded, {present} already present"
    )


@server_group.group("passbook")
def passbook_group() -> None:
    """The points passbook (积分存折)."""


@passbook_group.command("verify")
@in_app
def passbook_verify() -> None:
    """Check every passbook's hash chain and balances in full; exit 1 when anything was
    changed. Each intact chain's checkpoint moves forward to its last entry (the passbook page
    re-checks only the entries after it)."""
    import sqlalchemy as sa

    from server.extensions import db
    from server.passbook.models import LedgerEntry
    from server.passbook.services import check_chain, record_checkpoints

    total = db.session.execute(sa.select(sa.func.count()).select_from(LedgerEntry)).scalar_one()
    with _progress(total, "verifying") as bar:
        report = check_chain(progress=bar.update if bar is not None else None)
    record_checkpoints(report)
    # Committed here, not by in_app: the intact chains' checkpoints hold when another is broken.
    db.session.commit()
    for problem in report.problems:
        click.echo(problem, err=True)
    if not report.ok:
        raise LinliError(
            gettext(
                "积分簿：%(report)s，%(count)s 个问题：账链不完整",
                report=report,
                count=len(report.problems),
            )
        )
    click.echo(f"passbook: {report}, chain intact")


@server_group.command("nightly")
def nightly() -> None:
    """Nightly job: roll up statistics, mark overdue, purge, back up, verify the passbook."""
    from server.ops.nightly import AlreadyRunning, run_nightly

    app = _app()
    with app.app_context():
        try:
            report = run_nightly(app, _backup_dir(app))
        except AlreadyRunning as exc:
            # A distinct status (EX_TEMPFAIL), so a timer can tell "another host has it" apart.
            click.echo(f"error: {exc.detail}", err=True)
            sys.exit(75)
    click.echo(f"nightly: {report.summary()}")
    if not report.ok:
        sys.exit(1)


def _backup_dir(app: Flask) -> Path:
    configured = app.config.get("LINLI_BACKUP_DIR")
    return Path(configured) if configured else Path(app.instance_path) / "backups"


@db_group.command("backup")
def db_backup() -> None:
    """Make a consistent backup now (SQLite online backup or pg_dump), with rotation."""
    from server.ops.backup import BackupFailed, make_backup
    from server.timeutil import utcnow

    app = _app()
    try:
        target = make_backup(
            app.config["SQLALCHEMY_DATABASE_URI"],
            _backup_dir(app),
            utcnow(),
            app.config["LINLI_BACKUP_KEEP"],
        )
    except BackupFailed as exc:
        _fail(exc.detail)
    except OSError as exc:
        _fail(f"{exc.filename or _backup_dir(app)}: {exc.strerror or exc}")
    click.echo(str(target))


@db_group.command("restore")
@click.argument("backup", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_restore(backup: Path, yes: bool) -> None:
    """Replace the database with BACKUP (stop the server first); kiosks then reconcile.

    The backup is restored into a new database, brought to the installed migration and given a
    new sync epoch; only then is it swapped in, and the replaced database is kept aside.
    """
    from server.ops.backup import BackupFailed, restore_backup
    from server.timeutil import utcnow

    app = _app()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if not yes:
        click.confirm(f"Replace the database {url} with {backup}?", abort=True)
    steps = iter(range(1, 100))
    tty = sys.stderr.isatty()

    def progress(text: str) -> None:
        if tty:
            click.echo(f"[{next(steps)}] {text}", err=True)

    try:
        restored = restore_backup(url, backup, _backup_dir(app), utcnow(), progress)
    except BackupFailed as exc:
        _fail(exc.detail)
    except OSError as exc:
        _fail(f"{exc.filename or backup}: {exc.strerror or exc}")
    click.echo(f"{restored.summary()}; kiosks will re-download state and reconcile")


@server_group.group("skill-words")
def skill_words_group() -> None:
    """The words in volunteers' skills that count for a category (dispatch suggestions)."""


@skill_words_group.command("list")
@click.option("--community", "slug", required=True, help="Community slug.")
@in_app
def skill_words_list(slug: str) -> None:
    """Print the community's word list, one category a line."""
    from server.communities.services import community_by_slug
    from server.field.queries import skill_word_list

    for entry in skill_word_list(community_by_slug(slug).id):
        click.echo(f"{entry.category.code}\t{' '.join(w.word for w in entry.words)}")


@skill_words_group.command("add")
@click.option("--community", "slug", required=True, help="Community slug.")
@click.option("--category", "code", required=True, help="Category code, e.g. electrical.")
@click.argument("words", nargs=-1, required=True)
@in_app
def skill_words_add(slug: str, code: str, words: tuple[str, ...]) -> None:
    """Count these words for the category (e.g. 电工 水电维修 for electrical)."""
    from server.audit.actor import Actor
    from server.communities.services import community_by_slug
    from server.field.queries import category_by_code
    from server.field.services import add_skill_word

    community = community_by_slug(slug)
    category = category_by_code(code)
    if category is None:
        _fail(f"no active category {code!r}")
    for word in words:
        add_skill_word(community.id, category, word, Actor("command line"))
    click.echo(f"{len(words)} word(s) added to {code} in {slug}")


@skill_words_group.command("suggested")
@click.option("--community", "slug", required=True, help="Community slug.")
@in_app
def skill_words_suggested(slug: str) -> None:
    """Add the suggested words (电工, 水电维修 ...) the community lacks."""
    from server.audit.actor import Actor
    from server.communities.services import community_by_slug
    from server.field.services import add_suggested_words

    added = add_suggested_words(community_by_slug(slug).id, Actor("command line"))
    click.echo(f"{added} suggested word(s) added in {slug}")
