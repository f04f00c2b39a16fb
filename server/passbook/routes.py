"""The passbook pages, merchants, and the merchants' own redemption page.

GET  /passbook/<volunteer_id>                  printable passbook; bonus and code forms
POST /passbook/<volunteer_id>/bonus            award bonus points with a reason
POST /passbook/<volunteer_id>/code             issue a one-time redemption code (shown once)
GET  /passbook/merchants                       registered merchants; register one
POST /passbook/merchants                       register a merchant (its page link shown once)
GET  /passbook/merchants/<id>                  a merchant's redemptions; redeem for a volunteer
POST /passbook/merchants/<id>/redeem           redeem points (a volunteer, or a code)
POST /passbook/merchants/<id>/deactivate       close the merchant: its key stops working (audited)
POST /passbook/merchants/<id>/rotate-key       new page key, shown once; old one stops (audited)
GET  /merchant                                 the merchant's own page: its key once, then redeem
POST /merchant/key                             enter the merchant's key (kept in the session)
POST /merchant                                 redeem a code the volunteer shows
GET  /merchant/<key>                           an old link with the key in it: the same page,
POST /merchant/<key>                           and the phone is signed in (its form posts to
                                               /merchant); new keys are never shown as links

Every posting form carries a key made when the form was shown, so a form sent twice posts once.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from server.audit.actor import Actor
from server.auth import access
from server.errors import InvalidInput, LinliError, NotFound
from server.inputs import optional_int
from server.pages import form_failed
from server.passbook import forms, queries, services
from server.passbook.models import Merchant
from server.volunteers.models import Volunteer
from server.volunteers.services import volunteer_in

bp = Blueprint("passbook", __name__, template_folder="templates")


@bp.app_template_global("points_balance")
def points_balance(volunteer_id: int) -> int:
    """A volunteer's points, for any page that shows them (the volunteer's profile)."""
    return services.balance(volunteer_id)


def _actor() -> Actor:
    return Actor.of_user(access.user())


def _passbook_context(volunteer: Volunteer, **extra: Any) -> dict[str, Any]:
    entries, earlier = services.statement(
        volunteer.id, optional_int(request.args.get("before"), "before")
    )
    return {
        "volunteer": volunteer,
        "community": queries.community(volunteer.community_id),
        "entries": entries,
        "earlier": earlier,
        "balance": services.balance(volunteer.id),
        "chain": services.check_recent(volunteer.id),
        "form_key": uuid.uuid4().hex,
        **extra,
    }


@bp.get("/passbook/<int:volunteer_id>")
def passbook(volunteer_id: int) -> ResponseReturnValue:
    """The volunteer's passbook (积分存折), printable."""
    volunteer = volunteer_in(access.community_scope(), volunteer_id)
    return render_template("passbook/passbook.html", **_passbook_context(volunteer))


@bp.post("/passbook/<int:volunteer_id>/bonus")
def bonus(volunteer_id: int) -> ResponseReturnValue:
    """Award bonus points with a reason."""
    volunteer = volunteer_in(access.community_scope(), volunteer_id)
    try:
        form = forms.checked(forms.BonusForm)
        posting = services.award_bonus(
            volunteer, form.points.data, form.reason.data, forms.form_key(form.key.data), _actor()
        )
    except LinliError as exc:
        return form_failed(exc, "passbook/passbook.html", lambda: _passbook_context(volunteer))
    flash(
        gettext("已记录过")
        if posting.replayed
        else gettext("奖励 %(points)s 积分", points=posting.entry.points)
    )
    return redirect(url_for("passbook.passbook", volunteer_id=volunteer.id), 303)


@bp.post("/passbook/<int:volunteer_id>/code")
def issue_code(volunteer_id: int) -> ResponseReturnValue:
    """Issue a one-time code for the volunteer to show a merchant; shown on this page only."""
    volunteer = volunteer_in(access.community_scope(), volunteer_id)
    try:
        points = forms.checked(forms.CodeForm).points.data
        code, text = services.issue_code(volunteer, points, _actor())
    except LinliError as exc:
        return form_failed(exc, "passbook/passbook.html", lambda: _passbook_context(volunteer))
    context = _passbook_context(volunteer, new_code=text, code=code)
    return render_template("passbook/passbook.html", **context)


# --- merchants (staff) -------------------------------------------------------------------------


def _merchants_context(**extra: Any) -> dict[str, Any]:
    return {**queries.merchants_context(access.community_scope()), **extra}


@bp.get("/passbook/merchants")
def merchants() -> ResponseReturnValue:
    """Registered merchants."""
    return render_template("passbook/merchants.html", **_merchants_context())


@bp.post("/passbook/merchants")
def register_merchant() -> ResponseReturnValue:
    """Register a merchant; the link to its own page is shown once."""
    try:
        form = forms.checked(forms.MerchantForm)
        if form.community.data not in access.community_scope():
            raise InvalidInput(gettext("请选择您的社区之一"), "bad_community")
        merchant, key = services.register_merchant(
            form.community.data, form.name.data, form.address.data
        )
    except LinliError as exc:
        return form_failed(exc, "passbook/merchants.html", _merchants_context)
    page = url_for("passbook.merchant_home", _external=True)
    context = _merchants_context(new_merchant=merchant, new_page=page, new_key=key)
    return render_template("passbook/merchants.html", **context)


def _merchant(merchant_id: int) -> Merchant:
    merchant = queries.merchant(merchant_id)
    if merchant is None:
        raise NotFound(gettext("没有这个商家"))
    access.require_community(merchant.community_id)
    return merchant


def _merchant_context(merchant: Merchant, **extra: Any) -> dict[str, Any]:
    return {
        "merchant": merchant,
        **queries.merchant_context(merchant),
        "form_key": uuid.uuid4().hex,
        **extra,
    }


@bp.get("/passbook/merchants/<int:merchant_id>")
def merchant(merchant_id: int) -> ResponseReturnValue:
    """A merchant's redemptions, and a form to redeem points there."""
    found = _merchant(merchant_id)
    return render_template("passbook/merchant.html", **_merchant_context(found))


@bp.post("/passbook/merchants/<int:merchant_id>/redeem")
def redeem(merchant_id: int) -> ResponseReturnValue:
    """Redeem a volunteer's points at this merchant (chosen volunteer, or a code)."""
    found = _merchant(merchant_id)
    try:
        form = forms.checked(forms.RedeemForm)
        points, item, code = form.points.data, form.item.data, form.code.data.strip()
        if code:
            posting = services.redeem_code(found, code, points, item, _actor())
        else:
            if form.volunteer.data is None:
                raise InvalidInput(gettext("请选择志愿者或输入兑换码"), "missing")
            volunteer = volunteer_in(frozenset({found.community_id}), form.volunteer.data)
            key = forms.form_key(form.key.data)
            posting = services.redeem(volunteer, found, points, item, key, _actor())
    except LinliError as exc:
        return form_failed(exc, "passbook/merchant.html", lambda: _merchant_context(found))
    flash(
        gettext("已记录过")
        if posting.replayed
        else gettext(
            "已兑换 %(points)s 积分；余额 %(balance)s",
            points=-posting.entry.points,
            balance=posting.entry.balance_after,
        )
    )
    return redirect(url_for("passbook.merchant", merchant_id=found.id), 303)


@bp.post("/passbook/merchants/<int:merchant_id>/deactivate")
def deactivate_merchant(merchant_id: int) -> ResponseReturnValue:
    """Close a merchant: its page key stops working and nothing more is redeemed there."""
    found = _merchant(merchant_id)
    user = access.user()
    services.deactivate_merchant(found, Actor.of_user(user), "merchants page")
    flash(gettext("%(name)s：已停用；它的密钥已失效", name=found.name))
    return redirect(url_for("passbook.merchant", merchant_id=found.id), 303)


@bp.post("/passbook/merchants/<int:merchant_id>/rotate-key")
def rotate_merchant_key(merchant_id: int) -> ResponseReturnValue:
    """Give the merchant a new page key (shown once); the old key and phones signed in with
    it stop working."""
    found = _merchant(merchant_id)
    user = access.user()
    key = services.rotate_merchant_key(found, Actor.of_user(user), "merchants page")
    page = url_for("passbook.merchant_home", _external=True)
    context = _merchant_context(found, new_page=page, new_key=key)
    return render_template("passbook/merchant.html", **context)


# --- the merchant's own page -------------------------------------------------------------------


MERCHANT_HOURS = 12
"""How long a phone stays signed in as a merchant after its key was entered."""


def _sign_in_merchant(found: Merchant) -> None:
    """Remember the merchant in the session; a new key or deactivation ends it."""
    session["merchant"] = {
        "id": found.id,
        "key": found.key_hash[:16],
        "until": int(time.time()) + MERCHANT_HOURS * 3600,
    }


def _signed_in_merchant() -> Merchant | None:
    """The merchant this phone entered the key of, while that key and the merchant last."""
    held = session.get("merchant")
    if not isinstance(held, dict) or not isinstance(held.get("id"), int):
        return None
    found = queries.merchant(held["id"])
    if (
        found is None
        or not found.is_active
        or held.get("key") != found.key_hash[:16]
        or held.get("until", 0) < time.time()
    ):
        session.pop("merchant", None)
        return None
    return found


@bp.get("/merchant")
def merchant_home() -> ResponseReturnValue:
    """The merchant's own page: the key form until the key was entered, then redemption."""
    found = _signed_in_merchant()
    if found is None:
        return render_template("passbook/merchant_key.html")
    return render_template("passbook/merchant_public.html", merchant=found)


@bp.post("/merchant/key")
def merchant_key() -> ResponseReturnValue:
    """Enter the merchant's key (sent in the form body, so it is in no address or log)."""
    try:
        found = services.merchant_by_key((request.form.get("key") or "").strip())
    except NotFound:
        page = render_template("passbook/merchant_key.html", error=gettext("密钥不对"))
        return page, 404
    _sign_in_merchant(found)
    return redirect(url_for("passbook.merchant_home"), 303)


@bp.route("/merchant/<key>", methods=["GET", "POST"])
def merchant_page(key: str) -> ResponseReturnValue:
    """A link with the key in it (as handed out before keys were typed in): the merchant's
    page, and the phone is signed in so its form posts to /merchant without the key."""
    found = services.merchant_by_key(key)
    if request.method == "GET":
        _sign_in_merchant(found)
        return render_template("passbook/merchant_public.html", merchant=found)
    return _redeem_at(found)


@bp.post("/merchant")
def merchant_redeem() -> ResponseReturnValue:
    """The merchant enters the code a volunteer shows, the points and what was bought."""
    found = _signed_in_merchant()
    if found is None:
        page = render_template("passbook/merchant_key.html", error=gettext("请先输入商家密钥"))
        return page, 401
    return _redeem_at(found)


def _redeem_at(found: Merchant) -> ResponseReturnValue:
    """Redeem the code in the form at this merchant; the page again with the outcome."""
    try:
        form = forms.checked(forms.CodeRedeemForm)
        posting = services.redeem_code(
            found, form.code.data, form.points.data, form.item.data, Actor.merchant(found.name)
        )
    except LinliError as exc:
        page, status = form_failed(exc, "passbook/merchant_public.html", {"merchant": found})
        return page, status if status in (404, 409) else 400
    done = gettext("已兑换 %(points)s 积分", points=-posting.entry.points)
    return render_template("passbook/merchant_public.html", merchant=found, done=done)
