"""The sign-in and user forms (CSRF is checked for every form by the policy).

The services check the values themselves (lengths, password rules), so these forms only read.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms import PasswordField, StringField

from server.errors import NotFound
from server.inputs import TranslatedForm

ROLE_FIELD = "role_"
"""`role_<community slug>`: the role to give in that community (empty: none)."""


class AuthForm(TranslatedForm):
    """Base of the sign-in and user forms."""


class LoginForm(AuthForm):
    """A user name and a password."""

    username = StringField(_l("用户名"))
    password = PasswordField(_l("密码"))


class NewUserForm(AuthForm):
    """A new user's name, first password and shown name."""

    username = StringField(_l("用户名"))
    password = PasswordField(_l("密码"))
    display_name = StringField(_l("姓名"))


class PasswordForm(AuthForm):
    """A new password."""

    password = PasswordField(_l("密码"))


def roles_from(formdata: MultiDict[str, str], allowed: Iterable[str]) -> dict[str, str]:
    """The form's `role_<slug>` fields that name a role (empty: no role there), community slug
    → role. A field for a community outside `allowed` is refused as unknown."""
    allowed = set(allowed)
    roles = {}
    for key in formdata:
        if key.startswith(ROLE_FIELD):
            slug = key.removeprefix(ROLE_FIELD)
            if slug not in allowed:
                raise NotFound(gettext("没有这个社区"))
            if formdata[key]:
                roles[slug] = formdata[key]
    return roles
