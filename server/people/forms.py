"""The residents' forms (CSRF is checked for every form by the policy)."""

from __future__ import annotations

from flask_babel import lazy_gettext
from wtforms import BooleanField, Form, StringField
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional

from server.errors import InvalidInput
from server.inputs import StrictIntegerField
from server.people import services
from server.people.models import MOBILITY


def invalid(form: Form) -> InvalidInput:
    """What is wrong with a form that did not validate, as the error that shows it again."""
    return InvalidInput("; ".join(f"{k}: {v[0]}" for k, v in form.errors.items()))


class ProfileForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """A resident's profile fields."""

    community = StringField("community")
    room = StringField("room (building-unit-room)", [DataRequired("give the room"), Length(max=50)])
    name = StringField("name", [DataRequired("give the name"), Length(max=100)])
    phone = StringField("phone", [Optional(), Length(max=20)])
    birth_year = StrictIntegerField("birth year", [Optional(), NumberRange(1900, 2100, "a year")])
    is_living_alone = BooleanField("lives alone")
    mobility = StringField("mobility", [AnyOf(MOBILITY, "choose a mobility")])
    emergency_contact_name = StringField("emergency contact", [Optional(), Length(max=100)])
    emergency_contact_phone = StringField("emergency contact phone", [Optional(), Length(max=20)])
    access_notes = StringField(lazy_gettext("门禁与进门说明"), [Optional(), Length(max=300)])
    reason = StringField("reason for the change", [Optional(), Length(max=300)])

    def to_input(self) -> services.ProfileInput:
        """The validated fields for the service."""
        return services.ProfileInput(
            room_code=self.room.data or "",
            name=(self.name.data or "").strip(),
            phone=(self.phone.data or "").strip() or None,
            birth_year=self.birth_year.data,
            is_living_alone=bool(self.is_living_alone.data),
            mobility=self.mobility.data or "independent",
            emergency_contact_name=(self.emergency_contact_name.data or "").strip() or None,
            emergency_contact_phone=(self.emergency_contact_phone.data or "").strip() or None,
            access_notes=(self.access_notes.data or "").strip() or None,
        )


class ReasonForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """Why personal data is exported or deleted (kept in the audit trail)."""

    reason = StringField("reason")

    def checked_reason(self) -> str:
        """The reason given, or `InvalidInput` when there is none or it is too long."""
        reason = (self.reason.data or "").strip()
        if not reason or len(reason) > 300:
            raise InvalidInput("give a reason (up to 300 characters)", "missing_reason")
        return reason


class DeleteForm(ReasonForm):
    """Erasing a person's data: the confirmation word and a reason."""

    confirm = StringField("type DELETE to confirm")


class ConsentForm(Form):  # type: ignore[misc]  # wtforms ships no type hints
    """A consent given: its kind and the version of the text agreed to."""

    kind = StringField("kind")
    version = StringField("version")
