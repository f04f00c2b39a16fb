"""The reports' query arguments as a form: a period of local dates."""

from __future__ import annotations

from datetime import date

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from server import inputs
from server.errors import InvalidInput


class ReportDateField(inputs.ParsedField):
    """A local date like 2026-03-31, or None."""

    def parse(self, text: str) -> date:
        """The date, or `InvalidInput` (code `bad_date`)."""
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            raise InvalidInput(
                gettext(
                    "%(field)s %(text)s 不是 2026-03-31 这样的日期",
                    field=self.label.text,
                    text=repr(text),
                ),
                "bad_date",
            ) from exc


class PeriodForm(inputs.TranslatedForm):
    """`start` and `end`, both included; either may be left out."""

    start = ReportDateField(_l("开始日期"))
    end = ReportDateField(_l("结束日期"))
