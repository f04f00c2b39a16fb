"""Sign-in, sign-out, and the admin's user list.

GET  /login                              the sign-in form
POST /login                              check the credentials (rate limited), start a session
POST /logout                             end the session, on the server too
GET  /language/<lang>                    switch the console's language (cookie, and the user's)
GET  /console/users                      users all of whose communities the admin administers
POST /console/users                      create a user with roles in the admin's communities
POST /console/users/<id>/deactivate      stop a user signing in, ending their sessions
POST /console/users/<id>/password        set a new password, ending their sessions
POST /console/users/<id>/access          set a user's role in each community

An admin manages only users all of whose communities they administer (`access.manages`), and
grants roles only in the communities they administer; every change is audited.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, logout_user

from server.auth import access, forms, queries, services
from server.auth.forms import LoginForm
from server.auth.models import ROLES
from server.errors import InvalidInput, LinliError, error_response
from server.i18n import LANGUAGE_COOKIE, LANGUAGES
from server.pages import form_failed
from sync.redirects import local_path

bp = Blueprint("auth", __name__)
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
"""The language cookie lasts a year: a shared kiosk-room PC keeps its language."""


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect (see sync.redirects)."""
    return local_path(target) or url_for("console.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Show the form, or sign in."""
    if request.method == "GET":
        expired = request.args.get("expired")
        return render_template("login.html", expired=bool(expired), username="")
    form = LoginForm(request.form)
    username = form.username.data or ""
    try:
        user = services.authenticate(username, form.password.data or "")
    except (services.LockedOut, services.HashingBusy) as exc:
        return _refused(exc, username)
    if user is None:
        return (
            render_template(
                "login.html", error=gettext("用户名或密码错误"), username=username[:64]
            ),
            401,
        )
    access.start_session(user)
    return redirect(_safe_next(request.args.get("next")), 303)


def _refused(exc: LinliError, username: str) -> ResponseReturnValue:
    """A sign-in refused before its password was checked: the login page (or JSON) saying
    why, and when to try again."""
    if request.accept_mimetypes.best == "application/json":
        response = error_response(exc.status, exc.code, exc.detail)
    else:
        page = render_template("login.html", error=exc.detail, username=username[:64])
        response = make_response(page, exc.status)
    response.headers["Retry-After"] = str(exc.extra["retry_after"])
    return response


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc: RateLimitExceeded) -> ResponseReturnValue:
    """Too many sign-ins from this address (or for this name from it)."""
    refusal = services.TooManyTries(
        gettext("登录尝试过多：请等一分钟再试"),
        retry_after=exc.limit.limit.get_expiry(),
    )
    return _refused(refusal, LoginForm(request.form).username.data or "")


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session; a copy of its cookie no longer signs anyone in.

    Cookies carry the session, so ending it on the server means bumping the user's session
    generation (as deactivation does): this signs the user out of every browser at once.
    """
    services.end_sessions(access.user())
    logout_user()
    session.clear()
    flash(gettext("已退出登录"))
    return redirect(url_for("auth.login"), 303)


@bp.get("/language/<lang>")
def language(lang: str) -> ResponseReturnValue:
    """Switch the console's language: remembered in a cookie, and for a signed-in user in
    their account too; back to the page the switch was pressed on.

    A link, not a form: one click from any page, and the sign-in page keeps a single button.
    """
    if lang not in LANGUAGES:
        raise InvalidInput(gettext("未知的语言：%(language)s", language=lang))
    if current_user.is_authenticated:
        services.set_language(access.user(), lang)
    response = redirect(local_path(request.args.get("next")) or url_for("console.index"), 303)
    response.set_cookie(
        LANGUAGE_COOKIE, lang, max_age=LANGUAGE_COOKIE_AGE, samesite="Lax", httponly=True
    )
    return response


def _roles_from_form() -> dict[str, str]:
    """The roles the form gives, in the communities the admin administers only."""
    return forms.roles_from(request.form, (c.slug for c in queries.administered_communities()))


def _users_context() -> dict[str, Any]:
    return {
        "users": services.users(access.managed_users()),
        "communities": queries.administered_communities(),
        "roles": ROLES,
    }


@bp.get("/console/users")
def users() -> ResponseReturnValue:
    """The users this admin manages."""
    return render_template("users.html", **_users_context())


@bp.post("/console/users")
def user_create() -> ResponseReturnValue:
    """Create a user; the admin grants roles only in the communities they administer."""
    roles = _roles_from_form()
    form = forms.NewUserForm(request.form)
    try:
        user = services.create_user_with_roles(
            form.username.data or "", form.password.data or "", roles, form.display_name.data or ""
        )
        services.audit_created(access.user(), user)
    except LinliError as exc:
        return form_failed(exc, "users.html", _users_context)
    flash(gettext("已创建用户 %(name)s", name=user.username))
    return redirect(url_for("auth.users"), 303)


@bp.post("/console/users/<int:user_id>/deactivate")
def user_deactivate(user_id: int) -> ResponseReturnValue:
    """Stop a user signing in; their open sessions end at their next request."""
    user = queries.managed_user(user_id)
    if user.id == access.user().id:
        raise InvalidInput(gettext("不能停用自己"), "self_deactivate")
    services.deactivate(access.user(), user)
    flash(gettext("已停用 %(name)s", name=user.username))
    return redirect(url_for("auth.users"), 303)


@bp.post("/console/users/<int:user_id>/password")
def user_password(user_id: int) -> ResponseReturnValue:
    """Set a new password; the user's open sessions end at their next request."""
    user = queries.managed_user(user_id)
    form = forms.PasswordForm(request.form)
    try:
        services.reset_password(access.user(), user, form.password.data or "")
    except InvalidInput as exc:
        return form_failed(exc, "users.html", _users_context)
    if user.id == access.user().id:
        logout_user()
        session.clear()
        flash(gettext("您的密码已更改：请重新登录"))
        return redirect(url_for("auth.login"), 303)
    flash(gettext("已为 %(name)s 设置新密码；其登录已全部结束", name=user.username))
    return redirect(url_for("auth.users"), 303)


@bp.post("/console/users/<int:user_id>/access")
def user_access(user_id: int) -> ResponseReturnValue:
    """Set a user's role in each of the communities the admin administers."""
    user = queries.managed_user(user_id)
    if user.id == access.user().id:
        # An admin demoting or unscoping themselves could leave nobody to manage users.
        raise InvalidInput(gettext("自己的角色请由另一位管理员修改"), "self_change")
    roles = _roles_from_form()
    try:
        services.update_roles(access.user(), user, roles, access.community_scope(access.ADMINS))
    except InvalidInput as exc:
        return form_failed(exc, "users.html", _users_context)
    flash(gettext("已更新 %(name)s：%(roles)s", name=user.username, roles=user.role_summary))
    return redirect(url_for("auth.users"), 303)


@bp.app_template_global("reaches")
def _reaches(endpoint: str, community_id: int | None = None) -> bool:
    """Templates: whether the user may open this endpoint in the community (None: in any)."""
    return access.reaches(endpoint, community_id)
