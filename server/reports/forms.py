"""The reports' query arguments as a form: a period of local dates."""

from __future__ import annotations

from datetime import date

from wtforms import Form

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
                f"{self.label.text} {text!r} is not a date like 2026-03-31", "bad_date"
            ) from exc


class PeriodForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """`start` and `end`, both included; either may be left out."""

    start = ReportDateField("start")
    end = ReportDateField("end")
