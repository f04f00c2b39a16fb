"""Admin screens for a community's admins (and all-communities admins).

GET  /console/admin/                                  communities I administer; new community
POST /console/admin/communities                       make a community (all-communities admins)
GET  /console/admin/<c>/settings                      name, duty phone, time zone, points rate
POST /console/admin/<c>/settings                      change them
GET  /console/admin/<c>/rooms                         rooms; add one; import a CSV with a preview
POST /console/admin/<c>/rooms                         add one room
POST /console/admin/<c>/rooms/import                  preview a file, or import the previewed rows
POST /console/admin/<c>/rooms/<room>/retire           retire a room
GET  /console/admin/<c>/teams                         teams; new team
POST /console/admin/<c>/teams                         make a team
GET  /console/admin/<c>/teams/<team>                  a team's scope, lead, focus list
POST /console/admin/<c>/teams/<team>                  change them
GET  /console/admin/<c>/agencies                      agencies; new agency
POST /console/admin/<c>/agencies                      make an agency
GET  /console/admin/<c>/agencies/<agency>             an agency's contact and webhook
POST /console/admin/<c>/agencies/<agency>             change them
GET  /console/admin/<c>/kiosks                        kiosks; enrol a new one
POST /console/admin/<c>/kiosks                        enrolment code for a new kiosk (QR + text)
POST /console/admin/<c>/kiosks/<kiosk>/<action>       rename, revoke, reenrol
GET  /console/admin/categories                        categories, deadlines, link to sub-choices
POST /console/admin/categories/<code>/deadline        set a deadline (all-communities admins)
GET  /console/admin/tokens                            API tokens I manage
POST /console/admin/tokens                            make one (its secret shown once)
POST /console/admin/tokens/<id>/revoke                revoke one
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from server.admin import forms, queries, services
from server.audit.actor import Actor
from server.auth import access
from server.communities.models import Community
from server.communities.services import Settings, check_rooms_csv, settings_of
from server.dispatch.models import AGENCY_REPLY_DAYS
from server.dispatch.services import AgencyInput
from server.errors import InvalidInput, LinliError, NotFound
from server.pages import form_failed

bp = Blueprint("admin", __name__, url_prefix="/console/admin", template_folder="templates")

Context = Callable[[], dict[str, Any]]


def _actor() -> Actor:
    return Actor.of_user(access.user())


def _community(community_id: int) -> Community:
    return queries.community(access.admin_scope(), community_id)


def _everywhere_only() -> None:
    """What every community shares is out of a community admin's scope: as if missing."""
    if not access.admins_everywhere():
        raise NotFound(_("没有这个记录"))


def _invalid(template: str, context: Context) -> tuple[str, int]:
    """The page again with the form's errors beside its fields (nothing typed is lost)."""
    return render_template(template, **context()), 400


def _refused(
    exc: LinliError, form: Any, fields: dict[str, str], template: str, context: Context
) -> tuple[str, int]:
    """A service refused: roll back, show its message at the top and beside its field."""
    name = fields.get(exc.code)
    if name is not None:
        form[name].errors = [*form[name].errors, exc.detail]
    return form_failed(exc, template, context)


# --- communities ---------------------------------------------------------------------------


def _index_context(form: forms.CommunityForm | None = None) -> dict[str, Any]:
    everywhere = access.admins_everywhere()
    return {
        "communities": queries.communities(access.admin_scope()),
        "everywhere": everywhere,
        "form": form or (forms.CommunityForm(formdata=None) if everywhere else None),
    }


@bp.get("/")
def index() -> ResponseReturnValue:
    """The communities I administer, and a new community for all-communities admins."""
    return render_template("admin/index.html", **_index_context())


@bp.post("/communities")
def create_community() -> ResponseReturnValue:
    """Make a community, then set it up."""
    _everywhere_only()
    form = forms.CommunityForm()
    page = "admin/index.html"
    if not form.validate():
        return _invalid(page, lambda: _index_context(form))
    try:
        community = services.create_community(
            _actor(),
            (form.slug.data or "").strip(),
            form.name.data,
            (form.phone.data or "").strip() or None,
        )
    except LinliError as exc:
        fields = {"bad_slug": "slug", "community_exists": "slug", "bad_name": "name"}
        return _refused(exc, form, fields, page, lambda: _index_context(form))
    flash(_("已新建社区 %(name)s", name=community.name))
    return redirect(url_for("admin.settings", community_id=community.id), 303)


def _settings_context(community: Community, form: forms.SettingsForm) -> dict[str, Any]:
    return {
        "community": community,
        "form": form,
        "default_timezone": current_app.config["LINLI_TIMEZONE"],
        "default_points": current_app.config["LINLI_POINTS_PER_HOUR"],
    }


@bp.route("/<int:community_id>/settings", methods=["GET", "POST"])
def settings(community_id: int) -> ResponseReturnValue:
    """A community's name, duty phone, time zone and points per hour."""
    community = _community(community_id)
    page = "admin/settings.html"
    if not forms.SettingsForm().is_submitted():
        form = forms.SettingsForm(obj=settings_of(community))
        return render_template(page, **_settings_context(community, form))
    form = forms.SettingsForm()
    if not form.validate():
        return _invalid(page, lambda: _settings_context(community, form))
    given = Settings(form.name.data, form.phone.data, form.timezone.data, form.points_per_hour.data)
    try:
        services.update_settings(_actor(), community, given)
    except LinliError as exc:
        fields = {
            "bad_name": "name",
            "bad_phone": "phone",
            "bad_timezone": "timezone",
            "bad_points": "points_per_hour",
        }
        return _refused(
            exc, form, fields, page, lambda: _settings_context(_community(community_id), form)
        )
    flash(_("已保存"))
    return redirect(url_for("admin.settings", community_id=community.id), 303)


# --- rooms ---------------------------------------------------------------------------------


def _rooms_context(community_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "community": _community(community_id),
        "rooms": queries.rooms(community_id),
        "form": extra.pop("form", None) or forms.RoomForm(formdata=None),
        "file_form": extra.pop("file_form", None) or forms.RoomsFileForm(formdata=None),
        **extra,
    }


@bp.get("/<int:community_id>/rooms")
def rooms(community_id: int) -> ResponseReturnValue:
    """A community's rooms; add one, or import a file."""
    _community(community_id)
    return render_template("admin/rooms.html", **_rooms_context(community_id))


@bp.post("/<int:community_id>/rooms")
def add_room(community_id: int) -> ResponseReturnValue:
    """Add one room."""
    community = _community(community_id)
    form = forms.RoomForm()
    page = "admin/rooms.html"
    if not form.validate():
        return _invalid(page, lambda: _rooms_context(community_id, form=form))
    try:
        room = services.add_room(
            _actor(), community, form.building.data, form.unit.data, form.room.data
        )
    except LinliError as exc:
        fields = {
            "bad_building": "building",
            "bad_unit": "unit",
            "bad_room": "room",
            "room_exists": "room",
        }
        return _refused(exc, form, fields, page, lambda: _rooms_context(community_id, form=form))
    flash(_("已添加房间 %(code)s", code=room.code))
    return redirect(url_for("admin.rooms", community_id=community_id), 303)


@bp.post("/<int:community_id>/rooms/import")
def import_rooms(community_id: int) -> ResponseReturnValue:
    """A file's preview (every bad line and field named), or the import of a clean preview."""
    community = _community(community_id)
    form = forms.RoomsFileForm()
    page = "admin/rooms.html"
    if form.text.data:
        text, filename = form.text.data, form.filename.data or "rooms.csv"
    else:
        upload = form.file.data
        if upload is None or not getattr(upload, "filename", ""):
            form.file.errors = [_("请选择一个 CSV 文件")]
            return _invalid(page, lambda: _rooms_context(community_id, file_form=form))
        filename = upload.filename
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            form.file.errors = [_("文件不是 UTF-8 编码的文本")]
            return _invalid(page, lambda: _rooms_context(community_id, file_form=form))
    checked = check_rooms_csv(text)
    if checked.problems or not form.text.data:
        preview = {
            "rows": checked.rows,
            "problems": checked.problems,
            "text": text,
            "filename": filename,
        }
        status = 400 if checked.problems else 200
        return render_template(
            page, **_rooms_context(community_id, file_form=form, preview=preview)
        ), status
    result = services.import_rooms(_actor(), community, checked.rows, filename)
    flash(
        _(
            "%(file)s：新增 %(added)s 间，已有 %(present)s 间",
            file=filename,
            added=result.added,
            present=result.present,
        )
    )
    return redirect(url_for("admin.rooms", community_id=community_id), 303)


@bp.post("/<int:community_id>/rooms/<int:room_id>/retire")
def retire_room(community_id: int, room_id: int) -> ResponseReturnValue:
    """Retire a room: kiosks no longer offer it."""
    community = _community(community_id)
    try:
        room = services.retire_room(_actor(), community, room_id)
    except LinliError as exc:
        if exc.status == 404:
            raise
        return form_failed(exc, "admin/rooms.html", lambda: _rooms_context(community_id))
    flash(_("已停用房间 %(code)s", code=room.code))
    return redirect(url_for("admin.rooms", community_id=community_id), 303)


# --- teams ---------------------------------------------------------------------------------


def _team_form(community_id: int, form: forms.TeamForm | None = None, **data: Any) -> Any:
    form = form or forms.TeamForm(formdata=None, data=data)
    form.categories.choices = [SelectChoice(c.code, c.name_zh) for c in queries.categories(True)]
    leads = queries.team_leads(community_id)
    form.lead.choices = [SelectChoice("", _("（无）"))] + [SelectChoice(n, n) for n in leads]
    return form


def _team_input(form: forms.TeamForm) -> services.TeamInput:
    return services.TeamInput(
        form.name.data,
        list(form.categories.data or []),
        form.lead.data or None,
        form.focus.data or "",
    )


def _teams_context(community_id: int, form: forms.TeamForm | None = None) -> dict[str, Any]:
    return {
        "community": _community(community_id),
        "teams": queries.teams(community_id),
        "categories": {c.code: c.name_zh for c in queries.categories()},
        "form": _team_form(community_id, form),
    }


TEAM_FIELDS = {
    "bad_name": "name",
    "team_exists": "name",
    "bad_lead": "lead",
    "bad_category": "categories",
    "bad_focus": "focus",
}


@bp.route("/<int:community_id>/teams", methods=["GET", "POST"])
def teams(community_id: int) -> ResponseReturnValue:
    """A community's teams with their scope, lead and focus list; a new team."""
    community = _community(community_id)
    page = "admin/teams.html"
    if not forms.TeamForm().is_submitted():
        return render_template(page, **_teams_context(community_id))
    form = _team_form(community_id, forms.TeamForm())
    if not form.validate():
        return _invalid(page, lambda: _teams_context(community_id, form))
    try:
        team = services.create_team(_actor(), community, _team_input(form))
    except LinliError as exc:
        return _refused(exc, form, TEAM_FIELDS, page, lambda: _teams_context(community_id, form))
    flash(_("已新建队伍 %(name)s", name=team.name))
    return redirect(url_for("admin.teams", community_id=community_id), 303)


@bp.route("/<int:community_id>/teams/<int:team_id>", methods=["GET", "POST"])
def edit_team(community_id: int, team_id: int) -> ResponseReturnValue:
    """One team's name, scope, lead and focus list."""
    community = _community(community_id)
    team = queries.team(community.id, team_id)
    page = "admin/team.html"

    def context(form: Any) -> Context:
        return lambda: {
            "community": _community(community_id),
            "team": queries.team(community_id, team_id),
            "form": form,
        }

    if not forms.TeamForm().is_submitted():
        [row] = [r for r in queries.teams(community.id) if r.team.id == team.id]
        form = _team_form(
            community.id,
            name=team.name,
            categories=list(team.category_codes),
            lead=row.lead or "",
            focus="\n".join(row.focus),
        )
        return render_template(page, **context(form)())
    form = _team_form(community.id, forms.TeamForm())
    if not form.validate():
        return _invalid(page, context(form))
    try:
        services.update_team(_actor(), team, _team_input(form))
    except LinliError as exc:
        return _refused(exc, form, TEAM_FIELDS, page, context(form))
    flash(_("已保存"))
    return redirect(url_for("admin.teams", community_id=community_id), 303)


# --- agencies ------------------------------------------------------------------------------

AGENCY_FIELDS = {
    "bad_name": "name",
    "agency_exists": "name",
    "bad_kind": "kind",
    "bad_url": "endpoint_url",
    "bad_contact_phone": "contact_phone",
    "bad_contact": "contact_name",
    "bad_delivery": "delivery",
    "bad_reply_days": "reply_days",
}


def _agency_form(form: forms.AgencyForm | None = None, obj: Any = None) -> forms.AgencyForm:
    form = form or forms.AgencyForm(formdata=None, obj=obj)
    form.fill_choices()
    return form


def _agency_input(form: forms.AgencyForm) -> AgencyInput:
    return AgencyInput(
        form.name.data,
        form.kind.data,
        form.endpoint_url.data.strip(),
        form.contact_name.data,
        form.contact_phone.data,
        form.delivery.data or "webhook",
        form.reply_days.data or AGENCY_REPLY_DAYS,
    )


def _agencies_context(community_id: int, form: forms.AgencyForm | None = None) -> dict[str, Any]:
    return {
        "community": _community(community_id),
        "agencies": queries.agencies(community_id),
        "form": _agency_form(form),
    }


@bp.route("/<int:community_id>/agencies", methods=["GET", "POST"])
def agencies(community_id: int) -> ResponseReturnValue:
    """A community's agencies with their contacts and how they receive escalations."""
    community = _community(community_id)
    page = "admin/agencies.html"
    if not forms.AgencyForm().is_submitted():
        return render_template(page, **_agencies_context(community_id))
    form = _agency_form(forms.AgencyForm())
    if not form.validate():
        return _invalid(page, lambda: _agencies_context(community_id, form))
    try:
        agency = services.create_agency(_actor(), community, _agency_input(form))
    except LinliError as exc:
        return _refused(
            exc, form, AGENCY_FIELDS, page, lambda: _agencies_context(community_id, form)
        )
    flash(_("已新建机构 %(name)s", name=agency.name))
    return redirect(url_for("admin.agencies", community_id=community_id), 303)


@bp.route("/<int:community_id>/agencies/<int:agency_id>", methods=["GET", "POST"])
def edit_agency(community_id: int, agency_id: int) -> ResponseReturnValue:
    """One agency's name, kind, contact and webhook."""
    community = _community(community_id)
    agency = queries.agency(community.id, agency_id)
    page = "admin/agency.html"

    def context(form: Any) -> Context:
        return lambda: {
            "community": _community(community_id),
            "agency": queries.agency(community_id, agency_id),
            "form": form,
        }

    if not forms.AgencyForm().is_submitted():
        return render_template(page, **context(_agency_form(obj=agency))())
    form = _agency_form(forms.AgencyForm())
    if not form.validate():
        return _invalid(page, context(form))
    try:
        services.update_agency(_actor(), agency, _agency_input(form))
    except LinliError as exc:
        return _refused(exc, form, AGENCY_FIELDS, page, context(form))
    flash(_("已保存"))
    return redirect(url_for("admin.agencies", community_id=community_id), 303)


# --- kiosks --------------------------------------------------------------------------------


def _kiosks_context(community_id: int, **extra: Any) -> dict[str, Any]:
    from server.kiosks.services import kiosks_of

    return {
        "community": _community(community_id),
        "kiosks": kiosks_of(community_id),
        "form": extra.pop("form", None) or forms.KioskForm(formdata=None),
        "hours": current_app.config["LINLI_ENROLL_CODE_HOURS"],
        **extra,
    }


def _code_page(community_id: int, kiosk_name: str, code: str) -> str:
    """The kiosks page with a new one-time code, as text and as a QR code of that text."""
    qr = segno.make(code, micro=False).svg_inline(scale=8, title=code)
    context = _kiosks_context(community_id, new_kiosk=kiosk_name, new_code=code, qr=qr)
    return render_template("admin/kiosks.html", **context)


@bp.route("/<int:community_id>/kiosks", methods=["GET", "POST"])
def kiosks(community_id: int) -> ResponseReturnValue:
    """A community's kiosks; a new kiosk's enrolment code."""
    community = _community(community_id)
    page = "admin/kiosks.html"
    if not forms.KioskForm().is_submitted():
        return render_template(page, **_kiosks_context(community_id))
    form = forms.KioskForm()
    if not form.validate():
        return _invalid(page, lambda: _kiosks_context(community_id, form=form))
    hours = current_app.config["LINLI_ENROLL_CODE_HOURS"]
    try:
        kiosk, code = services.enrol_kiosk(_actor(), community, form.name.data, hours)
    except LinliError as exc:
        fields = {"bad_name": "name", "kiosk_elsewhere": "name"}
        return _refused(exc, form, fields, page, lambda: _kiosks_context(community_id, form=form))
    return _code_page(community_id, kiosk.name, code)


@bp.post("/<int:community_id>/kiosks/<int:kiosk_id>/<action>")
def kiosk_action(community_id: int, kiosk_id: int, action: str) -> ResponseReturnValue:
    """Rename, revoke or re-enrol a kiosk."""
    community = _community(community_id)
    kiosk = queries.kiosk(community.id, kiosk_id)
    actor = _actor()
    page = "admin/kiosks.html"
    try:
        if action == "rename":
            form = forms.KioskForm()
            if not form.validate():
                raise InvalidInput(_("终端名称须为1至100个字符"), "bad_name")
            services.rename_kiosk(actor, kiosk, form.name.data)
            flash(_("已改名为 %(name)s", name=kiosk.name))
        elif action == "revoke":
            services.revoke_kiosk(actor, kiosk)
            flash(_("已停用终端 %(name)s", name=kiosk.name))
        elif action == "reenrol":
            hours = current_app.config["LINLI_ENROLL_CODE_HOURS"]
            _kiosk, code = services.enrol_kiosk(actor, community, kiosk.name, hours)
            return _code_page(community_id, kiosk.name, code)
        else:
            raise NotFound(_("没有这个操作"))
    except LinliError as exc:
        if exc.status == 404:
            raise
        typed = {"kiosk": kiosk_id, "name": request.form.get("name", ""), "error": exc.detail}
        return form_failed(exc, page, lambda: _kiosks_context(community_id, renaming=typed))
    return redirect(url_for("admin.kiosks", community_id=community_id), 303)


# --- categories ----------------------------------------------------------------------------


def _categories_context(**extra: Any) -> dict[str, Any]:
    return {
        "categories": queries.categories(),
        "everywhere": access.admins_everywhere(),
        "form": forms.DeadlineForm(formdata=None),
        **extra,
    }


@bp.get("/categories")
def categories() -> ResponseReturnValue:
    """Categories with their deadlines (and links to their sub-choices)."""
    return render_template("admin/categories.html", **_categories_context())


@bp.post("/categories/<code>/deadline")
def category_deadline(code: str) -> ResponseReturnValue:
    """Set a category's deadline (shared by every community)."""
    _everywhere_only()
    form = forms.DeadlineForm()
    page = "admin/categories.html"
    if not form.validate():
        return _invalid(page, lambda: _categories_context(form=form, failed=code))
    try:
        category = services.set_deadline(_actor(), code, form.minutes.data)
    except LinliError as exc:
        if exc.status == 404:
            raise
        return _refused(
            exc,
            form,
            {"bad_deadline": "minutes"},
            page,
            lambda: _categories_context(form=form, failed=code),
        )
    flash(_("%(name)s：时限已保存", name=category.name_zh))
    return redirect(url_for("admin.categories"), 303)


# --- API tokens ----------------------------------------------------------------------------


def _token_form(form: forms.TokenForm | None = None) -> forms.TokenForm:
    form = form or forms.TokenForm(formdata=None)
    mine = queries.communities(access.admin_scope())
    form.communities.choices = [SelectChoice(c.slug, c.name) for c in mine]
    if not access.admins_everywhere():
        form.everywhere.choices = [SelectChoice("no", _("所选社区"))]
    return form


def _tokens_context(form: forms.TokenForm | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "tokens": queries.tokens(access.admin_scope(), access.admins_everywhere()),
        "form": _token_form(form),
        **extra,
    }


@bp.route("/tokens", methods=["GET", "POST"])
def tokens() -> ResponseReturnValue:
    """API tokens I manage; a new one (its secret is shown only now)."""
    page = "admin/tokens.html"
    if not forms.TokenForm().is_submitted():
        return render_template(page, **_tokens_context())
    form = _token_form(forms.TokenForm())
    if not form.validate():
        return _invalid(page, lambda: _tokens_context(form))
    slugs = [] if form.everywhere.data == "yes" else list(form.communities.data or [])
    try:
        if not slugs and form.everywhere.data != "yes":
            raise InvalidInput(_("请至少选一个社区"), "bad_communities")
        token, secret = services.create_token(_actor(), form.name.data, slugs)
    except LinliError as exc:
        fields = {"bad_name": "name", "token_exists": "name", "bad_communities": "communities"}
        return _refused(exc, form, fields, page, lambda: _tokens_context(form))
    return render_template(page, **_tokens_context(new_token=token.name, new_secret=secret))


@bp.post("/tokens/<int:api_token_id>/revoke")
def revoke_token(api_token_id: int) -> ResponseReturnValue:
    """Revoke an API token: every call with it is refused from now on."""
    token = queries.token(access.admin_scope(), access.admins_everywhere(), api_token_id)
    try:
        services.revoke_token(_actor(), token)
    except LinliError as exc:
        if exc.status == 404:
            raise
        return form_failed(exc, "admin/tokens.html", _tokens_context)
    flash(_("已停用令牌 %(name)s", name=token.name))
    return redirect(url_for("admin.tokens"), 303)
