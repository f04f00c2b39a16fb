"""Form parsing for the console's actions (CSRF is checked for every form by the policy)."""

from __future__ import annotations

import re

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from wtforms import (
    DecimalField,
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

from server.inputs import StrictIntegerField, TranslatedForm, as_id
from server.requests.models import CHANNELS, REPORTER_KINDS
from server.requests.services import OUTCOMES, PRIORITIES, Intake
from sync.messages import PREFERRED_TIMES


class ConsoleForm(TranslatedForm):
    """Base of the console's forms."""


class NoteForm(ConsoleForm):
    """An internal note."""

    text = TextAreaField(_l("备注"), [DataRequired(_l("请写备注")), Length(max=2000)])


class PublicNoteForm(ConsoleForm):
    """The status note the kiosk shows."""

    text = StringField(_l("公开说明"), [DataRequired(_l("请写备注")), Length(max=200)])


class TriageForm(ConsoleForm):
    """Category and priority."""

    category = StringField(_l("类别"), [DataRequired(_l("请选择类别"))])
    priority = StringField(_l("优先级"), [AnyOf(PRIORITIES, _l("请选择一般、优先或紧急"))])
    note = TextAreaField(_l("备注"), [Optional(), Length(max=2000)])


class DispatchForm(ConsoleForm):
    """The team (the volunteers picked from its roster are read as a list by the route)."""

    team = StringField(_l("服务队"), [DataRequired(_l("请选择服务队"))])
    note = TextAreaField(_l("备注"), [Optional(), Length(max=2000)])


class ReasonForm(ConsoleForm):
    """Any action that needs a reason (decline, cancel, reopen, answering a cancellation)."""

    reason = TextAreaField(_l("原因"), [DataRequired(_l("请写原因")), Length(max=500)])


class CancelAnswerForm(ReasonForm):
    """Accept or refuse the kiosk's cancellation request."""

    accept = StringField(
        _l("答复"), [InputRequired(_l("请选择同意或不同意")), AnyOf(("yes", "no"))]
    )


class CompleteForm(ConsoleForm):
    """What was done and the hours claimed."""

    note = TextAreaField(_l("处理情况"), [DataRequired(_l("请写处理情况")), Length(max=2000)])
    hours = DecimalField(
        _l("工时"),
        [
            InputRequired(_l("请填写工时")),
            NumberRange(min=0.1, max=24, message=_l("0.1 到 24 小时")),
        ],
        places=2,
    )


class FollowUpForm(ConsoleForm):
    """The 回访 call's outcome."""

    outcome = StringField(
        _l("结果"), [InputRequired(_l("请选择结果")), AnyOf(OUTCOMES, _l("请选择结果"))]
    )
    satisfaction = StrictIntegerField(
        _l("满意度"),
        [InputRequired(_l("请填写满意度 1 到 5")), NumberRange(min=1, max=5, message=_l("1 到 5"))],
    )
    note = TextAreaField(_l("备注"), [Optional(), Length(max=2000)])


class CloseForm(ConsoleForm):
    """Closing after follow-up."""

    note = TextAreaField(_l("备注"), [Optional(), Length(max=2000)])


class EscalateForm(ConsoleForm):
    """Hand-off to an outside agency."""

    agency = StringField(_l("职能部门"), [DataRequired(_l("请选择职能部门"))])
    note = TextAreaField(_l("备注"), [Optional(), Length(max=2000)])


class FeedbackForm(ConsoleForm):
    """What the agency reported back."""

    note = TextAreaField(_l("反馈"), [DataRequired(_l("请写反馈")), Length(max=2000)])


TICKET = re.compile(r"#?[A-Za-z]{1,2}-[0-9A-Za-z]{1,5}")
"""A kiosk's ticket such as A-0012 (an Open311 one: O-3F2A); a pasted leading # is allowed."""


class MergeForm(ConsoleForm):
    """Merge into another request, named by its number (#12 or 12) or its ticket (A-0012)."""

    into = StringField(
        _l("编号或小票号"),
        [DataRequired(_l("请填写编号或小票号")), Length(max=12)],
    )
    note = TextAreaField(_l("备注"), [Optional(), Length(max=2000)])

    def validate_into(self, field: StringField) -> None:
        """A number within the id range, or the shape of a ticket."""
        text = field.data.strip()
        if as_id(text.removeprefix("#")) is None and not TICKET.fullmatch(text):
            raise ValidationError(
                gettext("%(text)s 既不是编号，也不是 A-0012 这样的小票号", text=repr(text))
            )

    def target(self) -> int | str:
        """The request number, or the ticket (upper case, without a #)."""
        text = str(self.into.data).strip().removeprefix("#")
        number = as_id(text)
        return number if number is not None else text.upper()


class LinkForm(ConsoleForm):
    """Confirm the resident a request is from."""

    resident = StrictIntegerField(_l("居民"), [InputRequired(_l("请选择居民"))])


class RetryForm(ConsoleForm):
    """Retry an escalation's delivery."""

    escalation = StrictIntegerField(_l("转办"), [InputRequired()])


class EmptyForm(ConsoleForm):
    """Actions without fields (accept, arrive)."""


class IntakeForm(ConsoleForm):
    """新建求助: a request told to staff (by phone, at the desk, by a building captain...)."""

    community = StringField(_l("社区"), [DataRequired(_l("请选择社区"))])
    room = StringField(_l("房间"), [DataRequired(_l("请填写房间")), Length(max=50)])
    category = StringField(_l("类别"), [DataRequired(_l("请选择类别"))])
    details = TextAreaField(_l("原话"), [Optional(), Length(max=2000)])
    phone = StringField(_l("电话"), [Optional(), Length(max=20)])
    channel = StringField(_l("渠道"), [AnyOf(CHANNELS[1:], _l("请选择求助来源"))])
    reporter_kind = StringField(_l("报告人"), [Optional(), AnyOf(REPORTER_KINDS)])
    reporter_name = StringField(_l("报告人姓名"), [Optional(), Length(max=100)])
    on_behalf = StringField(_l("代他人求助"), [Optional(), AnyOf(("yes", "no"))])
    choice = StringField(_l("具体问题"), [Optional(), Length(max=32)])
    preferred_time = StringField(_l("希望时间"), [Optional(), AnyOf(PREFERRED_TIMES)])

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
