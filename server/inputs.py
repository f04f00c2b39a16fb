"""Untrusted input made safe in one place: whole numbers, text bound for the database, and
spreadsheet cells in exports.

- `parse_int` is the only way a number from a URL, a query string or a form becomes an `int`:
  ASCII digits only (Python's `int()` and `str.isdigit()` also take `²` and `٣`), bounded, so a
  bad value is a 400 naming the field, never a 500 from the database.
- `StrictIntConverter` replaces Flask's `<int:...>` converter (which matches `\\d+`, Unicode
  digits included) app-wide; `StrictIntegerField` does the same for WTForms.
- `refuse_nul` stops NUL characters in query strings and forms (PostgreSQL cannot store them),
  and `check_columns` checks every bounded text column before a flush, so an over-long value is
  a 400 naming the column on SQLite and PostgreSQL alike.
- `safe_cell` neutralises CSV cells a spreadsheet would run as a formula.
- `checked` fills a WTForms form whose `ParsedField`s and `required` fields fail with the
  same `InvalidInput` (message and code) a hand-written parser would raise.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import request
from flask_babel import LazyString, gettext
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter
from wtforms import Field, Form, IntegerField
from wtforms.i18n import get_translations as wtforms_translations
from wtforms.validators import StopValidation

from server.errors import InvalidInput
from server.i18n import current_language

INT32_MAX = 2**31 - 1
"""The largest value of the database's `INTEGER` columns (ids, minutes, points)."""
_INTEGER = re.compile(r"-?[0-9]{1,19}")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is run as a formula by Excel, LibreOffice or Sheets."""


def parse_int(
    raw: str | None,
    field: str,
    *,
    low: int = 0,
    high: int = INT32_MAX,
    code: str = "bad_number",
) -> int:
    """`raw` as a whole number from `low` to `high` (ASCII digits), or `InvalidInput` naming
    `field`."""
    text = (raw or "").strip()
    if not _INTEGER.fullmatch(text) or not low <= int(text) <= high:
        raise InvalidInput(
            gettext("%(field)s须为 %(low)s 到 %(high)s 的整数", field=field, low=low, high=high),
            code,
        )
    return int(text)


def optional_int(
    raw: str | None,
    field: str,
    *,
    low: int = 0,
    high: int = INT32_MAX,
    code: str = "bad_number",
) -> int | None:
    """Like `parse_int`, but a missing or blank value is None."""
    if raw is None or not raw.strip():
        return None
    return parse_int(raw, field, low=low, high=high, code=code)


def as_id(raw: str | None) -> int | None:
    """`raw` as a record id (ASCII digits, at most `INT32_MAX`), or None when it cannot be one
    (for lookups that answer "no such record" the same way for any bad value)."""
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > INT32_MAX:
        return None
    return int(text)


class StrictIntConverter(IntegerConverter):
    """`<int:...>` for ids: ASCII digits up to `INT32_MAX`; anything else that looks like a
    number (`٣`, thirty nines) is a 400 rather than a match on another record or a 500."""

    def to_python(self, value: str) -> int:
        """The id, or `BadRequest`."""
        if as_id(value) is None:
            raise BadRequest(
                gettext(
                    "地址中的 %(value)s 不是 0 到 %(high)s 的数字",
                    value=repr(value),
                    high=INT32_MAX,
                )
            )
        return int(value)


class StrictIntegerField(IntegerField):  # type: ignore[misc]  # wtforms ships no type hints
    """An IntegerField that takes only ASCII digits within the database's integer range."""

    def process_formdata(self, valuelist: list[str]) -> None:
        """Parse the submitted text with `parse_int`; a bad value is a form error."""
        if not valuelist or not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = parse_int(valuelist[0], self.label.text)
        except InvalidInput as exc:
            self.data = None
            raise ValueError(exc.detail) from exc


def refuse_nul() -> None:
    """Before every request: a NUL character in a query argument or form field is a 400."""
    fields: Iterable[tuple[str, str]] = request.args.items(multi=True)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields = itertools.chain(fields, request.form.items(multi=True))
    for name, value in fields:
        if "\x00" in name or "\x00" in value:
            raise InvalidInput(
                gettext("%(field)s：含有 NUL 字符", field=name.strip(chr(0))), "bad_text"
            )


def check_columns(session: Any, _context: Any, _instances: Any) -> None:
    """Before a flush: text for a bounded column fits it, and no text holds a NUL."""
    for obj in itertools.chain(session.new, session.dirty):
        state = sa.inspect(obj)
        for attr in state.mapper.column_attrs:
            value = state.dict.get(attr.key)
            if not isinstance(value, str):
                continue
            column_type = attr.columns[0].type
            if "\x00" in value:
                raise InvalidInput(gettext("%(field)s：含有 NUL 字符", field=attr.key), "bad_text")
            length = getattr(column_type, "length", None)
            if isinstance(column_type, sa.String) and length and len(value) > length:
                raise InvalidInput(
                    gettext("%(field)s：最多 %(n)s 个字符", field=attr.key, n=length), "too_long"
                )


def safe_cell(value: object) -> object:
    """A CSV cell that no spreadsheet runs as a formula.

    Numbers (int, float, Decimal; not bool) are written as they are, so `-3` minutes stays a
    number. Every text cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a
    leading `'`, which spreadsheets show as text and do not evaluate.
    """
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_row(row: Sequence[object]) -> list[object]:
    """`safe_cell` of every cell, with the common cells (exactly str, int or float) checked
    inline: an export of a year calls this for some 20,000 rows of 17 cells."""
    return [
        ("'" + cell if cell.startswith(FORMULA_STARTS) else cell)
        if type(cell) is str
        else cell
        if type(cell) in (int, float)
        else safe_cell(cell)
        for cell in row
    ]


class TranslatedMeta:
    """A form's `Meta`: WTForms' own messages ("Not a valid integer value.") in the reader's
    language, from the catalogs WTForms ships (Chinese unless the reader chose English)."""

    def get_translations(self, form: Form) -> Any:
        """WTForms' Chinese catalog, or None (its English) for an English reader."""
        return None if current_language() == "en" else _wtforms_chinese()


@lru_cache(maxsize=1)
def _wtforms_chinese() -> Any:
    return wtforms_translations(["zh"])


class TranslatedForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """Base of every server form: WTForms' messages in the reader's language."""

    Meta = TranslatedMeta


def form_problems(form: Form) -> str:
    """What is wrong with a form that did not validate, each field named by its label."""
    return "; ".join(
        gettext("%(field)s：%(problem)s", field=form[name].label.text, problem=messages[0])
        for name, messages in form.errors.items()
    )


FormT = TypeVar("FormT", bound=Form)


class ParsedField(Field):  # type: ignore[misc]  # wtforms ships no type hints
    """A form field whose text is parsed by `parse`; blank is None. The `InvalidInput` a
    refusal raises is kept as the field's `failure`, so `checked` answers it unchanged."""

    data: Any
    failure: InvalidInput | None = None

    def parse(self, text: str) -> Any:
        """The value of `text` (not blank), or `InvalidInput`."""
        raise NotImplementedError

    def process_formdata(self, valuelist: list[str]) -> None:
        """Blank is None; otherwise `parse`, whose refusal becomes this field's error."""
        text = valuelist[0].strip() if valuelist else ""
        self.data = None
        if not text:
            return
        try:
            self.data = self.parse(text)
        except InvalidInput as exc:
            self.failure = exc
            raise ValueError(exc.detail) from exc

    def _value(self) -> str:
        return self.raw_data[0] if self.raw_data else ""


def required(message: str | LazyString, code: str = "missing") -> Callable[[Form, Field], None]:
    """A validator: the field must not be blank, else `InvalidInput(message, code)`."""

    def check(_form: Form, field: Field) -> None:
        if not (field.raw_data and field.raw_data[0].strip()):
            field.failure = InvalidInput(str(message), code)
            raise StopValidation(message)

    return check


def checked(form_class: type[FormT], formdata: Any) -> FormT:
    """The form filled from `formdata`, or the `InvalidInput` of its first bad field.

    A field without a `failure` of its own fails with its first message and code `bad_input`.
    """
    form: FormT = form_class(formdata)
    if not form.validate():
        name, messages = next(iter(form.errors.items()))
        failure: InvalidInput | None = getattr(form[name], "failure", None)
        raise failure or InvalidInput(str(messages[0]), "bad_input")
    return form
