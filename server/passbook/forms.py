"""The passbook pages' forms (CSRF is checked for every form by the access policy).

A bad field is an `InvalidInput` with the message and code these pages always gave (see
`server.inputs.checked`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms import Form, StringField

from server import inputs
from server.errors import InvalidInput
from server.inputs import INT32_MAX, parse_int, required

POINTS_MESSAGE = _l("积分须为 0 到 %(high)s 的整数", high=INT32_MAX)


class PassbookForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """Base of the passbook pages' forms."""


F = TypeVar("F", bound=PassbookForm)


def checked(form_class: type[F]) -> F:
    """The posted form, or `InvalidInput` for its first bad field."""
    return inputs.checked(form_class, request.form)


class NumberField(inputs.ParsedField):
    """A whole number from 0 (ASCII digits); a bad one is refused with the field's `code`."""

    def __init__(
        self,
        label: str | None = None,
        validators: list[object] | None = None,
        *,
        code: str = "bad_number",
        **kwargs: Any,
    ) -> None:
        super().__init__(label, validators, **kwargs)
        self.code = code

    def parse(self, text: str) -> int:
        """The number, or `InvalidInput` with this field's code."""
        return parse_int(text, self.label.text, code=self.code)


def form_key(text: str | None) -> str:
    """The key made when the form was shown, so a form sent twice posts once."""
    key = (text or "").strip()
    if not key or len(key) > 64:
        raise InvalidInput(gettext("表单缺少它的标识；请重新载入页面"), "bad_key")
    return key


def _points() -> NumberField:
    return NumberField(_l("积分"), [required(POINTS_MESSAGE, "bad_points")], code="bad_points")


class BonusForm(PassbookForm):
    """Bonus points with a reason."""

    points = _points()
    reason = StringField("reason", default="")
    key = StringField("key")


class CodeForm(PassbookForm):
    """A one-time code for up to these points."""

    points = _points()


class MerchantForm(PassbookForm):
    """A merchant to register."""

    community = NumberField(
        _l("社区"),
        [required(_l("社区须为 0 到 %(high)s 的整数", high=INT32_MAX), "bad_community")],
        code="bad_community",
    )
    name = StringField("name", default="")
    address = StringField("address")


class RedeemForm(PassbookForm):
    """Points redeemed at a merchant, for a volunteer chosen or by the code they show."""

    points = _points()
    item = StringField("item")
    code = StringField("code", default="")
    volunteer = NumberField("volunteer", code="bad_volunteer")
    key = StringField("key")


class CodeRedeemForm(PassbookForm):
    """The code a volunteer shows the merchant, the points and what was bought."""

    code = StringField("code", default="")
    points = _points()
    item = StringField("item")
