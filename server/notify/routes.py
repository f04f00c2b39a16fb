"""Notification channels of a community (administrators), and the failed-channel banner.

GET  /console/notify                         the channels, masked, with their state
POST /console/notify                         add a channel
POST /console/notify/<channel_id>/active     switch a channel on or off
POST /console/notify/<channel_id>/credentials replace its address or secret
POST /console/notify/<channel_id>/retry      send its given-up notifications of the last day again
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from server.audit.actor import Actor
from server.auth import access
from server.inputs import optional_int, parse_int
from server.notify import queries, services
from server.notify.models import CHANNEL_KINDS

bp = Blueprint("notify", __name__, url_prefix="/console/notify", template_folder="templates")


@bp.app_context_processor
def _failed_channels() -> dict[str, Any]:
    """`failed_channels()` in every page: the banner for staff of a channel given up."""

    def failed() -> list[Any]:
        if not current_user.is_authenticated:
            return []
        return queries.failed_channels(access.community_scope(access.FIELD))

    return {"failed_channels": failed}


@bp.get("")
def channels() -> ResponseReturnValue:
    """The channels of the communities the administrator manages."""
    scope = access.community_scope()
    return render_template(
        "notify/channels.html",
        channels=queries.channels_of(scope),
        teams=queries.teams_of(scope),
        communities=access.scoped_communities(),
        kinds=CHANNEL_KINDS,
        masked_url=services.masked_url,
        mask=services.mask,
    )


@bp.post("")
def add_channel() -> ResponseReturnValue:
    """Add a group robot or an SMS sender (its secrets are never shown back)."""
    form = request.form
    community_id = parse_int(form.get("community", ""), "community", code="bad_community")
    access.require_community(community_id)
    spec = services.ChannelSpec(
        kind=form.get("kind", ""),
        name=form.get("name", ""),
        url=form.get("url", ""),
        secret=form.get("secret", ""),
        key_id=form.get("key_id", ""),
        sign_name=form.get("sign_name", ""),
        template_code=form.get("template_code", ""),
        phones=form.get("phones", ""),
        team_id=optional_int(form.get("team", ""), "team"),
    )
    services.add_channel(community_id, spec, Actor.of_user(access.user()))
    flash(_("已添加通知渠道"))
    return redirect(url_for("notify.channels"), 303)


@bp.post("/<int:channel_id>/active")
def set_active(channel_id: int) -> ResponseReturnValue:
    """Switch a channel on or off."""
    found = queries.channel(channel_id, access.community_scope())
    services.set_channel_active(
        found, request.form.get("active") == "1", Actor.of_user(access.user())
    )
    flash(_("已更新通知渠道"))
    return redirect(url_for("notify.channels"), 303)


@bp.post("/<int:channel_id>/credentials")
def replace_credentials(channel_id: int) -> ResponseReturnValue:
    """Replace a channel's webhook address or secret (never shown back)."""
    found = queries.channel(channel_id, access.community_scope())
    form = request.form
    services.replace_credentials(
        found, form.get("url", ""), form.get("secret", ""), Actor.of_user(access.user())
    )
    flash(_("已更新通知渠道"))
    return redirect(url_for("notify.channels"), 303)


@bp.post("/<int:channel_id>/retry")
def retry(channel_id: int) -> ResponseReturnValue:
    """Send the channel's notifications given up in the last day again."""
    found = queries.channel(channel_id, access.community_scope())
    count = services.retry_failed(found, Actor.of_user(access.user()))
    flash(_("%(n)s 条通知将重新发送", n=count))
    return redirect(url_for("notify.channels"), 303)
