"""The admin screens' forms (Flask-WTF). The access policy checks every POST's CSRF token
before a view runs, so the forms themselves carry none. A bad field keeps what was typed
and shows its message beside it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional

from server.dispatch.models import AGENCY_KINDS, AGENCY_REPLY_DAYS


class AdminForm(FlaskForm):  # type: ignore[misc]  # flask-wtf ships no type hints
    """Base of the admin forms: the access policy has checked the CSRF token already."""

    class Meta:
        csrf = False


def _required() -> DataRequired:
    return DataRequired(message=_l("请填写此项"))


class CommunityForm(AdminForm):
    """A new community."""

    slug = StringField(_l("代号（小写字母、数字）"), [_required(), Length(max=64)])
    name = StringField(_l("社区名称"), [_required(), Length(max=200)])
    phone = StringField(_l("值班电话"), [Optional(), Length(max=32)])


class SettingsForm(AdminForm):
    """A community's settings."""

    name = StringField(_l("社区名称"), [_required(), Length(max=200)])
    phone = StringField(_l("值班电话"), [Optional(), Length(max=32)])
    timezone = StringField(_l("时区"), [Optional(), Length(max=64)])
    points_per_hour = IntegerField(
        _l("每小时积分"),
        [Optional(), NumberRange(min=0, max=1000, message=_l("须在0到1000之间"))],
    )


class RoomForm(AdminForm):
    """One room to add."""

    building = StringField(_l("楼栋"), [_required(), Length(max=16)])
    unit = StringField(_l("单元"), [_required(), Length(max=16)])
    room = StringField(_l("房间号"), [_required(), Length(max=16)])


class RoomsFileForm(AdminForm):
    """A rooms file to preview (`file`), or the previewed text to import (`text`)."""

    file = FileField(_l("房间表（CSV：楼栋,单元,房间号）"))
    text = HiddenField()
    filename = HiddenField()


def _multi_checkbox() -> dict[str, object]:
    return {
        "widget": widgets.ListWidget(prefix_label=False),
        "option_widget": widgets.CheckboxInput(),
    }


class TeamForm(AdminForm):
    """A team: name, the categories it takes, its lead and focus list."""

    name = StringField(_l("队名"), [_required(), Length(max=100)])
    categories = SelectMultipleField(_l("服务范围（类别）"), choices=[], **_multi_checkbox())
    lead = SelectField(_l("队长"), choices=[], validate_choice=True)
    focus = TextAreaField(_l("一队一重点（每行一项）"), [Optional(), Length(max=2100)])


class AgencyForm(AdminForm):
    """An agency: name, kind, contact, and where escalations go."""

    name = StringField(_l("机构名称"), [_required(), Length(max=100)])
    kind = SelectField(_l("类型"), choices=[])
    contact_name = StringField(_l("联系人"), [Optional(), Length(max=100)])
    contact_phone = StringField(_l("联系电话"), [Optional(), Length(max=32)])
    delivery = SelectField(_l("转办方式"), choices=[], default="webhook")
    endpoint_url = StringField(
        _l("接收转办的网址（webhook）"),
        [Optional(), Length(max=500), URL(require_tld=False, message=_l("请填写 http(s) 网址"))],
    )
    reply_days = IntegerField(
        _l("反馈期限（天）"),
        [Optional(), NumberRange(1, 60, _l("反馈期限须为 1 到 60 天"))],
        default=AGENCY_REPLY_DAYS,
    )

    def fill_choices(self) -> None:
        """The kinds, in words."""
        words = {"department": _l("职能部门"), "charity": _l("公益组织"), "property": _l("物业")}
        self.kind.choices = [SelectChoice(kind, words[kind]) for kind in AGENCY_KINDS]
        self.delivery.choices = [
            SelectChoice("webhook", _l("网络接口（webhook）")),
            SelectChoice("order", _l("转办单（带回复链接）")),
        ]


class KioskForm(AdminForm):
    """A kiosk's name (to enrol a new one, or rename)."""

    name = StringField(_l("终端名称"), [_required(), Length(max=100)])


class DeadlineForm(AdminForm):
    """A category's deadline in minutes (blank: none)."""

    minutes = IntegerField(
        _l("时限（分钟）"),
        [Optional(), NumberRange(min=1, max=43200, message=_l("须在1到43200之间"))],
    )


class TokenForm(AdminForm):
    """A new API token: who uses it, and for which communities."""

    name = StringField(_l("使用者"), [_required(), Length(max=100)])
    communities = SelectMultipleField(_l("社区"), choices=[], coerce=str, **_multi_checkbox())
    everywhere = SelectField(
        _l("范围"),
        choices=[SelectChoice("no", _l("所选社区")), SelectChoice("yes", _l("全部社区"))],
        default="no",
    )
