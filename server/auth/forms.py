"""The sign-in and user forms (CSRF is checked for every form by the policy).

The services check the values themselves (lengths, password rules), so these forms only read.
"""

from __future__ import annotations

from collections.abc import Iterable

from werkzeug.datastructures import MultiDict
from wtforms import Form, PasswordField, StringField

from server.errors import NotFound

ROLE_FIELD = "role_"
"""`role_<community slug>`: the role to give in that community (empty: none)."""


class AuthForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """Base of the sign-in and user forms."""


class LoginForm(AuthForm):
    """A user name and a password."""

    username = StringField("user name")
    password = PasswordField("password")


class NewUserForm(AuthForm):
    """A new user's name, first password and shown name."""

    username = StringField("user name")
    password = PasswordField("password")
    display_name = StringField("display name")


class PasswordForm(AuthForm):
    """A new password."""

    password = PasswordField("password")


def roles_from(formdata: MultiDict[str, str], allowed: Iterable[str]) -> dict[str, str]:
    """The form's `role_<slug>` fields that name a role (empty: no role there), community slug
    → role. A field for a community outside `allowed` is refused as unknown."""
    allowed = set(allowed)
    roles = {}
    for key in formdata:
        if key.startswith(ROLE_FIELD):
            slug = key.removeprefix(ROLE_FIELD)
            if slug not in allowed:
                raise NotFound("no such community")
            if formdata[key]:
                roles[slug] = formdata[key]
    return roles
