"""The volunteer pages' forms (CSRF is checked for every form by the access policy).

A bad field is an `InvalidInput` naming it, with the message and code the pages always gave
(see `server.inputs.checked`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from flask import request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms import Form, StringField, TextAreaField

from server import inputs
from server.errors import InvalidInput
from server.inputs import INT32_MAX, optional_int, required
from server.localtime import local_today, local_zone


class VolunteerForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """Base of the volunteer pages' forms."""


F = TypeVar("F", bound=VolunteerForm)


def checked(form_class: type[F]) -> F:
    """The posted form, or `InvalidInput` for its first bad field."""
    return inputs.checked(form_class, request.form)


class WholeNumberField(inputs.ParsedField):
    """A whole number in the database's range (ASCII digits), or None."""

    def parse(self, text: str) -> int | None:
        """The number, or `InvalidInput` (code `bad_number`)."""
        return optional_int(text, self.label.text, low=-INT32_MAX)


class LocalDateTimeField(inputs.ParsedField):
    """A `datetime-local` value in the app's local zone, as UTC; blank is None (now)."""

    def parse(self, text: str) -> datetime:
        """The moment, or `InvalidInput` (code `bad_time`)."""
        try:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=local_zone())
            return parsed.astimezone(UTC)
        except (ValueError, OverflowError) as exc:
            raise InvalidInput(
                gettext(
                    "%(field)s %(text)s 不是日期和时间", field=self.label.text, text=repr(text)
                ),
                "bad_time",
            ) from exc


class DayField(inputs.ParsedField):
    """A date like 2026-03-01, or None."""

    def parse(self, text: str) -> date:
        """The date, or `InvalidInput` (code `bad_date`)."""
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(
                gettext(
                    "%(field)s %(text)s 不是 2026-03-01 这样的日期",
                    field=self.label.text,
                    text=repr(text),
                ),
                "bad_date",
            ) from exc


class PeriodForm(VolunteerForm):
    """The printable service record's period: local dates `start` and `end`, both included."""

    start = DayField(_l("开始日期"))
    end = DayField(_l("结束日期"))


EARLIEST = date(1900, 1, 1)
"""No service record is older; an earlier start is read as this day (and stays in range)."""


def _year_before(day: date) -> date:
    """The day after the same date a year before: twelve months ending on `day`."""
    try:
        year_ago = day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        year_ago = day.replace(year=day.year - 1, day=28)
    return year_ago + timedelta(days=1)


def record_period(args: Any) -> tuple[date, date]:
    """The period asked in `args` (`start`, `end`), ending today at the latest; by default
    the twelve months up to today. A volunteer asks for a certificate of recent service (for
    school, work or an annual commendation) at any time of year: the last twelve months are
    never a near-empty January, and a calendar year is one click away on the page."""
    form = inputs.checked(PeriodForm, args)
    today = local_today()
    end = max(min(form.end.data or today, today), EARLIEST)
    start = max(form.start.data or _year_before(end), EARLIEST)
    if end < start:
        raise InvalidInput(gettext("时段的结束早于开始"), "bad_period")
    return start, end


class DetailsForm(VolunteerForm):
    """A volunteer's details, checked by the same rules as a row of an imported list."""

    name = StringField("name", default="")
    phone = StringField("phone", default="")
    gender = StringField("gender", default="")
    birth_year = StringField("birth_year", default="")
    registration_no = StringField("registration_no", default="")
    skills = StringField("skills", default="")
    availability = StringField("availability", default="")
    joined = StringField("joined", default="")


class NoteForm(VolunteerForm):
    """A training, award or evaluation."""

    kind = StringField("kind", default="")
    noted_on = DayField("date")
    text = TextAreaField("text")


class FocusForm(VolunteerForm):
    """A team's focus list, one item per line."""

    focus = TextAreaField("focus")


class MemberForm(VolunteerForm):
    """The volunteer to add to or remove from a team."""

    volunteer = WholeNumberField("volunteer", [required("volunteer is required")])
    is_lead = StringField("is_lead")


class CheckInForm(VolunteerForm):
    """Check a volunteer in."""

    volunteer = WholeNumberField("volunteer", [required("volunteer is required")])
    at = LocalDateTimeField("check-in time")
    request = WholeNumberField("request")
    team = WholeNumberField("team")
    content = StringField("content")


class CheckOutForm(VolunteerForm):
    """Check out."""

    at = LocalDateTimeField("check-out time")
    content = StringField("content")


class FromJobForm(VolunteerForm):
    """A volunteer's hours on a finished job."""

    volunteer = WholeNumberField("volunteer", [required("volunteer is required")])
    request = WholeNumberField("request", [required("request is required")])
    minutes = WholeNumberField("minutes")


class ManualForm(VolunteerForm):
    """Hours added by hand."""

    volunteer = WholeNumberField("volunteer", [required("volunteer is required")])
    started_at = LocalDateTimeField(
        "service time", [required("give the date and time of the service")]
    )
    minutes = WholeNumberField("minutes", [required("minutes is required")])
    content = StringField("content")
    team = WholeNumberField("team")
    request = WholeNumberField("request")


class ApproveForm(VolunteerForm):
    """Approve hours (the minutes may be corrected)."""

    minutes = WholeNumberField("minutes")
    note = StringField("note")


class DeclineForm(VolunteerForm):
    """Decline hours."""

    reason = StringField("reason")
