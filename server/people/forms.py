"""The residents' forms (CSRF is checked for every form by the policy)."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, Form, StringField
from wtforms.validators import AnyOf, DataRequired, Length, NumberRange, Optional

from server.errors import InvalidInput
from server.inputs import StrictIntegerField, TranslatedForm, form_problems
from server.people import services
from server.people.models import MOBILITY


def invalid(form: Form) -> InvalidInput:
    """What is wrong with a form that did not validate, as the error that shows it again."""
    return InvalidInput(form_problems(form))


class ProfileForm(TranslatedForm):
    """A resident's profile fields."""

    community = StringField(_l("社区"))
    room = StringField(_l("房间（楼-单元-室）"), [DataRequired(_l("请填写房间")), Length(max=50)])
    name = StringField(_l("姓名"), [DataRequired(_l("请填写姓名")), Length(max=100)])
    phone = StringField(_l("电话"), [Optional(), Length(max=20)])
    birth_year = StrictIntegerField(
        _l("出生年份"), [Optional(), NumberRange(1900, 2100, _l("请填写年份"))]
    )
    is_living_alone = BooleanField(_l("独居"))
    mobility = StringField(_l("行动能力"), [AnyOf(MOBILITY, _l("请选择行动能力"))])
    emergency_contact_name = StringField(_l("紧急联系人"), [Optional(), Length(max=100)])
    emergency_contact_phone = StringField(_l("紧急联系人电话"), [Optional(), Length(max=20)])
    access_notes = StringField(_l("门禁与进门说明"), [Optional(), Length(max=300)])
    reason = StringField(_l("更正原因"), [Optional(), Length(max=300)])

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


class ReasonForm(TranslatedForm):
    """Why personal data is exported or deleted (kept in the audit trail)."""

    reason = StringField(_l("原因"))

    def checked_reason(self) -> str:
        """The reason given, or `InvalidInput` when there is none or it is too long."""
        reason = (self.reason.data or "").strip()
        if not reason or len(reason) > 300:
            raise InvalidInput(gettext("请写原因（最多 300 个字符）"), "missing_reason")
        return reason


class DeleteForm(ReasonForm):
    """Erasing a person's data: the confirmation word and a reason."""

    confirm = StringField(_l("输入 DELETE 确认"))


class ConsentForm(TranslatedForm):
    """A consent given: its kind and the version of the text agreed to."""

    kind = StringField(_l("类型"))
    version = StringField(_l("版本"))
