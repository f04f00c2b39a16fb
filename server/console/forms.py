"""Form parsing for the console's actions (CSRF is checked for every form by the policy)."""

from __future__ import annotations

import re

from wtforms import (
    DecimalField,
    Form,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    AnyOf,
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from server.inputs import StrictIntegerField, as_id
from server.requests.models import CHANNELS, REPORTER_KINDS
from server.requests.services import OUTCOMES, PRIORITIES, Intake
from sync.messages import PREFERRED_TIMES


class ConsoleForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """Base of the console's forms."""


class NoteForm(ConsoleForm):
    """An internal note."""

    text = TextAreaField("note", [DataRequired("write the note"), Length(max=2000)])


class PublicNoteForm(ConsoleForm):
    """The status note the kiosk shows."""

    text = StringField("public note", [DataRequired("write the note"), Length(max=200)])


class TriageForm(ConsoleForm):
    """Category and priority."""

    category = StringField("category", [DataRequired("choose a category")])
    priority = StringField("priority", [AnyOf(PRIORITIES, "choose normal, high or emergency")])
    note = TextAreaField("note", [Optional(), Length(max=2000)])


class DispatchForm(ConsoleForm):
    """Team and volunteers."""

    team = StringField("team", [DataRequired("choose a team")])
    volunteers = StringField("volunteers", [Optional(), Length(max=300)])
    note = TextAreaField("note", [Optional(), Length(max=2000)])


class ReasonForm(ConsoleForm):
    """Any action that needs a reason (decline, cancel, reopen, answering a cancellation)."""

    reason = TextAreaField("reason", [DataRequired("give a reason"), Length(max=500)])


class CancelAnswerForm(ReasonForm):
    """Accept or refuse the kiosk's cancellation request."""

    accept = StringField("answer", [InputRequired("accept or refuse"), AnyOf(("yes", "no"))])


class CompleteForm(ConsoleForm):
    """What was done and the hours claimed."""

    note = TextAreaField("what was done", [DataRequired("say what was done"), Length(max=2000)])
    hours = DecimalField(
        "hours",
        [InputRequired("give the hours"), NumberRange(min=0.1, max=24, message="0.1 to 24 hours")],
        places=2,
    )


class FollowUpForm(ConsoleForm):
    """The 回访 call's outcome."""

    outcome = StringField(
        "outcome", [InputRequired("choose the outcome"), AnyOf(OUTCOMES, "choose the outcome")]
    )
    satisfaction = StrictIntegerField(
        "satisfaction",
        [InputRequired("give satisfaction 1 to 5"), NumberRange(min=1, max=5, message="1 to 5")],
    )
    note = TextAreaField("note", [Optional(), Length(max=2000)])


class CloseForm(ConsoleForm):
    """Closing after follow-up."""

    note = TextAreaField("note", [Optional(), Length(max=2000)])


class EscalateForm(ConsoleForm):
    """Hand-off to an outside agency."""

    agency = StringField("agency", [DataRequired("choose an agency")])
    note = TextAreaField("note", [Optional(), Length(max=2000)])


class FeedbackForm(ConsoleForm):
    """What the agency reported back."""

    note = TextAreaField("feedback", [DataRequired("write the feedback"), Length(max=2000)])


TICKET = re.compile(r"#?[A-Za-z]{1,2}-[0-9A-Za-z]{1,5}")
"""A kiosk's ticket such as A-0012 (an Open311 one: O-3F2A); a pasted leading # is allowed."""


class MergeForm(ConsoleForm):
    """Merge into another request, named by its number (#12 or 12) or its ticket (A-0012)."""

    into = StringField(
        "request number or ticket",
        [DataRequired("give the request number or ticket"), Length(max=12)],
    )
    note = TextAreaField("note", [Optional(), Length(max=2000)])

    def validate_into(self, field: StringField) -> None:
        """A number within the id range, or the shape of a ticket."""
        text = field.data.strip()
        if as_id(text.removeprefix("#")) is None and not TICKET.fullmatch(text):
            raise ValidationError(
                f"{text!r} is neither a request number nor a ticket such as A-0012"
            )

    def target(self) -> int | str:
        """The request number, or the ticket (upper case, without a #)."""
        text = str(self.into.data).strip().removeprefix("#")
        number = as_id(text)
        return number if number is not None else text.upper()


class LinkForm(ConsoleForm):
    """Confirm the resident a request is from."""

    resident = StrictIntegerField("resident", [InputRequired("choose a resident")])


class RetryForm(ConsoleForm):
    """Retry an escalation's delivery."""

    escalation = StrictIntegerField("escalation", [InputRequired()])


class EmptyForm(ConsoleForm):
    """Actions without fields (accept, arrive)."""


class IntakeForm(ConsoleForm):
    """新建求助: a request told to staff (by phone, at the desk, by a building captain...)."""

    community = StringField("community", [DataRequired("choose a community")])
    room = StringField("room", [DataRequired("type the room"), Length(max=50)])
    category = StringField("category", [DataRequired("choose a category")])
    details = TextAreaField("words", [Optional(), Length(max=2000)])
    phone = StringField("phone", [Optional(), Length(max=20)])
    channel = StringField("channel", [AnyOf(CHANNELS[1:], "choose how the request came in")])
    reporter_kind = StringField("reporter", [Optional(), AnyOf(REPORTER_KINDS)])
    reporter_name = StringField("reporter's name", [Optional(), Length(max=100)])
    on_behalf = StringField("on behalf", [Optional(), AnyOf(("yes", "no"))])
    choice = StringField("sub-choice", [Optional(), Length(max=32)])
    preferred_time = StringField("preferred time", [Optional(), AnyOf(PREFERRED_TIMES)])

    def to_intake(self, community_id: int) -> Intake:
        """The checked fields as the service's input."""
        return Intake(
            community_id=community_id,
            room=self.room.data,
            category=self.category.data,
            channel=self.channel.data,
            details=self.details.data,
            phone=self.phone.data,
            reporter_kind=self.reporter_kind.data or None,
            reporter_name=self.reporter_name.data,
            on_behalf=self.on_behalf.data == "yes",
            choice=self.choice.data or None,
            preferred_time=self.preferred_time.data or None,
        )
